/* A C program built against an installed bucketcache through pkg-config. */
#include <bucketcache/bucketcache.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char** argv) {
  bc_bucket* b = NULL;
  bc_buf out = {NULL, 0};
  int ok;
  if (argc != 2 || bc_bucket_open(&b, argv[1], NULL) != BC_OK) return 1;
  if (bc_set(b, "from", 4, "c", 1) != BC_OK || bc_get(b, "from", 4, &out) != BC_OK) return 1;
  ok = out.size == 1 && memcmp(out.data, "c", 1) == 0 && bc_version_number() == BC_VERSION_NUMBER;
  bc_buf_dispose(&out);
  bc_bucket_close(b);
  printf("c consumer: %s (library %s)\n", ok ? "ok" : "FAILED", bc_version_string());
  return ok ? 0 : 1;
}
