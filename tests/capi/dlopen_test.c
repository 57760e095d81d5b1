/* Loads libbucketcache with dlopen and uses a bucket through dlsym'd functions only, as
 * another runtime would. Usage: dlopen_test <library-path> <scratch-dir> */
#include <bucketcache/bucketcache.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define LOAD(var, name)                                    \
  do {                                                     \
    *(void**)(&var) = dlsym(lib, name);                    \
    if (var == NULL) {                                     \
      fprintf(stderr, "dlsym(%s): %s\n", name, dlerror()); \
      return 1;                                            \
    }                                                      \
  } while (0)

int main(int argc, char** argv) {
  void* lib;
  int (*open_fn)(bc_bucket**, const char*, const bc_options*);
  void (*close_fn)(bc_bucket*);
  int (*set_fn)(bc_bucket*, const void*, size_t, const void*, size_t);
  int (*get_fn)(bc_bucket*, const void*, size_t, bc_buf*);
  void (*dispose_fn)(bc_buf*);
  const char* (*version_fn)(void);
  const char* (*strerror_fn)(int);
  bc_bucket* b = NULL;
  bc_buf out = {NULL, 0};
  int ok;
  if (argc != 3) return 2;
  lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  LOAD(open_fn, "bc_bucket_open");
  LOAD(close_fn, "bc_bucket_close");
  LOAD(set_fn, "bc_set");
  LOAD(get_fn, "bc_get");
  LOAD(dispose_fn, "bc_buf_dispose");
  LOAD(version_fn, "bc_version_string");
  LOAD(strerror_fn, "bc_strerror");
  printf("loaded bucketcache %s\n", version_fn());
  if (open_fn(&b, argv[2], NULL) != BC_OK) return 1;
  if (get_fn(b, "k", 1, &out) != BC_ENOTFOUND) return 1;
  printf("miss: %s\n", strerror_fn(BC_ENOTFOUND));
  if (set_fn(b, "k", 1, "value", 5) != BC_OK) return 1;
  if (get_fn(b, "k", 1, &out) != BC_OK) return 1;
  ok = out.size == 5 && memcmp(out.data, "value", 5) == 0;
  dispose_fn(&out);
  close_fn(b);
  dlclose(lib);
  printf(ok ? "1 passed, 0 failed\n" : "0 passed, 1 failed\n");
  return ok ? 0 : 1;
}
