/* The C API, tested from C (C99): every function, error code and NULL argument.
 * Usage: capi_test <scratch-dir> <vectors-file>
 * Prints "N passed, N failed" and exits non-zero on any failure. */
#define _XOPEN_SOURCE 700
#include <bucketcache/bucketcache.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int passed = 0, failed = 0;

#define CHECK(cond)                                                                            \
  do {                                                                                         \
    if (cond) {                                                                                \
      ++passed;                                                                                \
    } else {                                                                                   \
      ++failed;                                                                                \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
              bc_last_error_message());                                                        \
    }                                                                                          \
  } while (0)

#define CHECK_RC(expr, want)                                                                \
  do {                                                                                      \
    int rc_ = (expr);                                                                       \
    if (rc_ == (want)) {                                                                    \
      ++passed;                                                                             \
    } else {                                                                                \
      ++failed;                                                                             \
      fprintf(stderr, "%s:%d: %s returned %d (%s), wanted %d (last error: %s)\n", __FILE__, \
              __LINE__, #expr, rc_, bc_strerror(rc_), (want), bc_last_error_message());     \
    }                                                                                       \
  } while (0)

static char scratch[4096];

static const char* dir(const char* name) {
  static char buf[8][4096];
  static int next = 0;
  char* p = buf[next++ % 8];
  snprintf(p, 4096, "%s/%s", scratch, name);
  return p;
}

static bc_bucket* open_bucket(const char* path, const char* backend, const char* key_format,
                              int64_t lifetime_us, int deferred) {
  bc_options* o = NULL;
  bc_bucket* b = NULL;
  CHECK_RC(bc_options_new(&o), BC_OK);
  CHECK_RC(bc_options_set_str(o, BC_OPT_BACKEND, backend), BC_OK);
  CHECK_RC(bc_options_set_str(o, BC_OPT_KEY_FORMAT, key_format), BC_OK);
  CHECK_RC(bc_options_set_int(o, BC_OPT_LIFETIME_US, lifetime_us), BC_OK);
  CHECK_RC(bc_options_set_int(o, BC_OPT_DEFERRED, deferred), BC_OK);
  CHECK_RC(bc_bucket_open(&b, path, o), BC_OK);
  bc_options_free(o);
  return b;
}

static int get_equals(bc_bucket* b, const char* key, const char* want) {
  bc_buf out = {NULL, 0};
  int ok;
  if (bc_get(b, key, strlen(key), &out) != BC_OK) return 0;
  ok = out.size == strlen(want) && memcmp(out.data, want, out.size) == 0;
  bc_buf_dispose(&out);
  return ok;
}

/* Path of the single entry file (*.bce) under root, found by walking the shards. */
static int find_entry(const char* root, char* path, size_t cap) {
  /* <root>/<2 hex>/<64 hex>.bce (format v2) */
  DIR* d1 = opendir(root);
  struct dirent* e1;
  int found = 0;
  if (d1 == NULL) return 0;
  while (!found && (e1 = readdir(d1)) != NULL) {
    char p1[4096];
    DIR* d2;
    struct dirent* e2;
    if (strlen(e1->d_name) != 2) continue;
    snprintf(p1, sizeof p1, "%s/%s", root, e1->d_name);
    d2 = opendir(p1);
    if (d2 == NULL) continue;
    while ((e2 = readdir(d2)) != NULL) {
      size_t n = strlen(e2->d_name);
      if (n > 4 && strcmp(e2->d_name + n - 4, ".bce") == 0) {
        snprintf(path, cap, "%s/%s", p1, e2->d_name);
        found = 1;
        break;
      }
    }
    closedir(d2);
  }
  closedir(d1);
  return found;
}

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

static void test_versions_and_errors(void) {
  int code;
  CHECK(strcmp(bc_version_string(), BC_VERSION_STRING) == 0);
  CHECK(bc_version_number() == BC_VERSION_NUMBER);
  CHECK(bc_format_version() == BC_FORMAT_VERSION);
  for (code = BC_ERROR; code <= BC_OK; ++code) {
    CHECK(bc_strerror(code) != NULL && bc_strerror(code)[0] != '\0');
  }
  CHECK(strcmp(bc_strerror(BC_ENOTFOUND), "not found") == 0);
  CHECK(strcmp(bc_strerror(12345), "unknown error code") == 0);
  CHECK(strcmp(bc_strerror(-12345), "unknown error code") == 0);
  CHECK(bc_last_error_message() != NULL);
  /* The codes are fixed forever. */
  CHECK(BC_ENOTFOUND == -1 && BC_EINVAL == -2 && BC_EIO == -3 && BC_ECORRUPT == -4);
  CHECK(BC_ESERIALIZE == -5 && BC_ENOMEM == -6 && BC_EUNSUPPORTED == -7);
  CHECK(BC_ETIMEOUT == -8 && BC_EUSER == -9 && BC_ERROR == -10);
}

static void test_null_arguments(void) {
  bc_bucket* b = open_bucket(dir("nulls"), "raw", "raw", 0, 0);
  bc_buf out = {NULL, 0};
  bc_options* o = NULL;
  bc_bucket* nb = NULL;
  int hit = 0;
  CHECK_RC(bc_options_new(NULL), BC_EINVAL);
  CHECK_RC(bc_options_set_int(NULL, BC_OPT_FSYNC, 1), BC_EINVAL);
  CHECK_RC(bc_options_set_str(NULL, BC_OPT_BACKEND, "raw"), BC_EINVAL);
  CHECK_RC(bc_options_new(&o), BC_OK);
  CHECK_RC(bc_options_set_str(o, BC_OPT_BACKEND, NULL), BC_EINVAL);
  bc_options_free(o);
  bc_options_free(NULL);
  CHECK_RC(bc_bucket_open(NULL, dir("x"), NULL), BC_EINVAL);
  CHECK_RC(bc_bucket_open(&nb, NULL, NULL), BC_EINVAL);
  CHECK(nb == NULL);
  CHECK_RC(bc_bucket_open(&nb, "", NULL), BC_EINVAL);
  bc_bucket_close(NULL);
  CHECK_RC(bc_set(NULL, "k", 1, "v", 1), BC_EINVAL);
  CHECK_RC(bc_set(b, NULL, 3, "v", 1), BC_EINVAL);
  CHECK_RC(bc_set(b, "k", 1, NULL, 3), BC_EINVAL);
  CHECK_RC(bc_get(NULL, "k", 1, &out), BC_EINVAL);
  CHECK_RC(bc_get(b, "k", 1, NULL), BC_EINVAL);
  CHECK_RC(bc_get(b, NULL, 2, &out), BC_EINVAL);
  CHECK(out.data == NULL && out.size == 0);
  CHECK_RC(bc_delete(NULL, "k", 1), BC_EINVAL);
  CHECK_RC(bc_contains(NULL, "k", 1), BC_EINVAL);
  CHECK_RC(bc_contains(b, NULL, 1), BC_EINVAL);
  CHECK_RC(bc_unload_key(NULL, "k", 1), BC_EINVAL);
  CHECK_RC(bc_sync(NULL), BC_EINVAL);
  CHECK_RC(bc_prune_directory(NULL, NULL), BC_EINVAL);
  CHECK_RC(bc_prune_directory(b, NULL), BC_OK);
  CHECK_RC(bc_get_or_compute(NULL, "k", 1, NULL, NULL, &out, &hit), BC_EINVAL);
  CHECK_RC(bc_get_or_compute(b, "k", 1, NULL, NULL, &out, &hit), BC_EINVAL);
  CHECK_RC(bc_get_expiry(b, "k", 1, NULL), BC_EINVAL);
  CHECK_RC(bc_canonical_key(NULL, "1", 1), BC_EINVAL);
  CHECK_RC(bc_canonical_key(&out, NULL, 1), BC_EINVAL);
  bc_buf_dispose(NULL);
  bc_buf_dispose(&out);
  /* NULL key with length 0 is the empty raw key. */
  CHECK_RC(bc_set(b, NULL, 0, "empty-key", 9), BC_OK);
  CHECK_RC(bc_get(b, NULL, 0, &out), BC_OK);
  CHECK(out.size == 9 && memcmp(out.data, "empty-key", 9) == 0);
  bc_buf_dispose(&out);
  CHECK(out.data == NULL && out.size == 0);
  bc_bucket_close(b);
}

static void test_options(void) {
  bc_options* o = NULL;
  CHECK_RC(bc_options_new(&o), BC_OK);
  CHECK_RC(bc_options_set_int(o, 9999, 1), BC_EUNSUPPORTED);
  CHECK_RC(bc_options_set_str(o, 9999, "x"), BC_EUNSUPPORTED);
  CHECK_RC(bc_options_set_int(o, BC_OPT_LIFETIME_US, -1), BC_EINVAL);
  CHECK_RC(bc_options_set_int(o, BC_OPT_MEMORY_LIMIT_BYTES, -1), BC_EINVAL);
  CHECK_RC(bc_options_set_int(o, BC_OPT_DEFERRED, 2), BC_EINVAL);
  CHECK_RC(bc_options_set_int(o, BC_OPT_FSYNC, -1), BC_EINVAL);
  CHECK_RC(bc_options_set_int(o, BC_OPT_CHECK_FILE, 7), BC_EINVAL);
  CHECK_RC(bc_options_set_int(o, BC_OPT_LOCK_WAIT_MS, -5), BC_EINVAL);
  CHECK_RC(bc_options_set_int(o, BC_OPT_DIRECTORY_MODE, 010000), BC_EINVAL);
  CHECK_RC(bc_options_set_int(o, BC_OPT_FILE_MODE, -1), BC_EINVAL);
  CHECK_RC(bc_options_set_int(o, BC_OPT_BACKEND, 1), BC_EINVAL);
  CHECK_RC(bc_options_set_str(o, BC_OPT_FSYNC, "1"), BC_EINVAL);
  /* Any 1-15 printable ASCII characters name a backend (a binding's own); others fail. */
  CHECK_RC(bc_options_set_str(o, BC_OPT_BACKEND, "yaml"), BC_OK);
  CHECK_RC(bc_options_set_str(o, BC_OPT_BACKEND, "way too long backend id"), BC_EINVAL);
  CHECK(strstr(bc_last_error_message(), "BC_OPT_BACKEND") != NULL);
  CHECK_RC(bc_options_set_str(o, BC_OPT_BACKEND, "has space"), BC_EINVAL);
  CHECK_RC(bc_options_set_str(o, BC_OPT_BACKEND, ""), BC_EINVAL);
  CHECK_RC(bc_options_set_str(o, BC_OPT_KEY_FORMAT, "yaml"), BC_EINVAL);
  CHECK_RC(bc_options_set_str(o, BC_OPT_BACKEND, "msgpack"), BC_OK);
  CHECK_RC(bc_options_set_str(o, BC_OPT_KEY_FORMAT, "json"), BC_OK);
  CHECK_RC(bc_options_set_int(o, BC_OPT_MEMORY_LIMIT_BYTES, 0), BC_OK);
  CHECK_RC(bc_options_set_int(o, BC_OPT_FSYNC, 1), BC_OK);
  CHECK_RC(bc_options_set_int(o, BC_OPT_CHECK_FILE, 1), BC_OK);
  CHECK_RC(bc_options_set_int(o, BC_OPT_LOCK_WAIT_MS, 100), BC_OK);
  CHECK_RC(bc_options_set_int(o, BC_OPT_DIRECTORY_MODE, 0750), BC_OK);
  CHECK_RC(bc_options_set_int(o, BC_OPT_FILE_MODE, 0640), BC_OK);
  {
    bc_bucket* b = NULL;
    struct stat st;
    mode_t old = umask(0);
    CHECK_RC(bc_bucket_open(&b, dir("modes/sub"), o), BC_OK);
    umask(old);
    CHECK(stat(dir("modes/sub"), &st) == 0 && (st.st_mode & 07777) == 0750);
    CHECK_RC(bc_set(b, "[1]", 3, "\x91\x01", 2), BC_OK);
    CHECK(get_equals(b, "[ 1 ]", "\x91\x01"));
    bc_bucket_close(b);
  }
  bc_options_free(o);
}

static void test_raw_round_trip(void) {
  bc_bucket* b = open_bucket(dir("raw"), "raw", "raw", 0, 0);
  bc_buf out = {NULL, 0};
  struct stat st;
  CHECK(stat(dir("raw"), &st) == 0 && (st.st_mode & 0777) == 0700);
  CHECK_RC(bc_get(b, "spam", 4, &out), BC_ENOTFOUND);
  CHECK(out.data == NULL && out.size == 0);
  CHECK_RC(bc_contains(b, "spam", 4), 0);
  CHECK_RC(bc_set(b, "spam", 4, "eggs\0ham", 8), BC_OK);
  CHECK_RC(bc_contains(b, "spam", 4), 1);
  CHECK_RC(bc_get(b, "spam", 4, &out), BC_OK);
  CHECK(out.size == 8 && memcmp(out.data, "eggs\0ham", 8) == 0);
  bc_buf_dispose(&out);
  /* Binary keys: NUL bytes are part of the key. */
  CHECK_RC(bc_set(b, "a\0b", 3, "x", 1), BC_OK);
  CHECK_RC(bc_contains(b, "a", 1), 0);
  CHECK_RC(bc_contains(b, "a\0b", 3), 1);
  /* Empty value. */
  CHECK_RC(bc_set(b, "empty", 5, NULL, 0), BC_OK);
  CHECK_RC(bc_get(b, "empty", 5, &out), BC_OK);
  CHECK(out.size == 0 && out.data != NULL);
  bc_buf_dispose(&out);
  /* unload keeps the file; delete removes it. */
  CHECK_RC(bc_unload_key(b, "spam", 4), BC_OK);
  CHECK_RC(bc_unload_key(b, "never-set", 9), BC_OK);
  CHECK_RC(bc_get(b, "spam", 4, &out), BC_OK);
  CHECK(out.size == 8 && memcmp(out.data, "eggs\0ham", 8) == 0);
  bc_buf_dispose(&out);
  CHECK_RC(bc_delete(b, "spam", 4), BC_OK);
  CHECK_RC(bc_delete(b, "spam", 4), BC_ENOTFOUND);
  CHECK_RC(bc_contains(b, "spam", 4), 0);
  bc_bucket_close(b);
  /* Persisted for a new handle. */
  b = open_bucket(dir("raw"), "raw", "raw", 0, 0);
  CHECK_RC(bc_contains(b, "a\0b", 3), 1);
  bc_bucket_close(b);
}

static void test_json_keys_and_vectors(const char* vectors_path) {
  bc_bucket* b = open_bucket(dir("jsonkeys"), "raw", "json", 0, 0);
  bc_bucket* rawkeys = open_bucket(dir("jsonkeys"), "raw", "raw", 0, 0);
  FILE* f = fopen(vectors_path, "r");
  char line[70000];
  int valid = 0, invalid = 0;
  CHECK(f != NULL);
  if (f == NULL) return;
  while (fgets(line, sizeof line, f) != NULL) {
    char kind = line[0];
    char* hex_in = strtok(line + 2, " \n");
    char* hex_out = strtok(NULL, " \n");
    unsigned char *in = malloc(strlen(hex_in) / 2 + 1), *want = NULL;
    size_t in_len = 0, want_len = 0, i;
    bc_buf canon = {NULL, 0};
    if (strcmp(hex_in, "-") != 0) {
      for (i = 0; hex_in[2 * i]; ++i) sscanf(hex_in + 2 * i, "%2hhx", &in[i]);
      in_len = i;
    }
    if (kind == 'V') {
      want = malloc(strlen(hex_out) / 2 + 1);
      for (i = 0; hex_out[2 * i]; ++i) sscanf(hex_out + 2 * i, "%2hhx", &want[i]);
      want_len = i;
      CHECK_RC(bc_canonical_key(&canon, in, in_len), BC_OK);
      CHECK(canon.size == want_len && memcmp(canon.data, want, want_len) == 0);
      bc_buf_dispose(&canon);
      /* The input and its canonical form name the same entry. */
      CHECK_RC(bc_set(b, in, in_len, "v", 1), BC_OK);
      CHECK_RC(bc_contains(b, want, want_len), 1);
      CHECK_RC(bc_delete(b, want, want_len), BC_OK);
      ++valid;
      free(want);
    } else {
      CHECK_RC(bc_canonical_key(&canon, in, in_len), BC_EINVAL);
      CHECK(canon.data == NULL);
      CHECK_RC(bc_set(b, in, in_len, "v", 1), BC_EINVAL);
      CHECK_RC(bc_contains(b, in, in_len), BC_EINVAL);
      ++invalid;
    }
    free(in);
  }
  fclose(f);
  CHECK(valid >= 50);
  CHECK(invalid >= 10);
  /* The parse error names the byte offset. */
  CHECK_RC(bc_set(b, "[1,2,}", 6, "v", 1), BC_EINVAL);
  CHECK(strstr(bc_last_error_message(), "byte") != NULL);
  /* JSON keys and raw keys are separate entries. */
  CHECK_RC(bc_set(b, "\"k\"", 3, "json", 4), BC_OK);
  CHECK_RC(bc_contains(rawkeys, "\"k\"", 3), 0);
  bc_bucket_close(rawkeys);
  bc_bucket_close(b);
}

static void test_backends_check_values(void) {
  bc_bucket* j = open_bucket(dir("json"), "json", "json", 0, 0);
  bc_bucket* m = open_bucket(dir("msgpack"), "msgpack", "json", 0, 0);
  CHECK_RC(bc_set(j, "1", 1, "{\"a\": [1, 2]}", 13), BC_OK);
  CHECK(get_equals(j, "1", "{\"a\": [1, 2]}"));
  CHECK_RC(bc_set(j, "2", 1, "{\"a\": ", 6), BC_EINVAL);
  CHECK_RC(bc_set(j, "2", 1, "", 0), BC_EINVAL);
  CHECK_RC(bc_set(j, "2", 1, "\"\xff\"", 3), BC_EINVAL);
  CHECK_RC(bc_contains(j, "2", 1), 0);
  CHECK_RC(bc_set(m, "1", 1, "\x93\x01\x02\x03", 4), BC_OK);
  CHECK(get_equals(m, "1", "\x93\x01\x02\x03"));
  CHECK_RC(bc_set(m, "2", 1, "\x93\x01", 2), BC_EINVAL);             /* truncated */
  CHECK_RC(bc_set(m, "2", 1, "\x01\x02", 2), BC_EINVAL);             /* trailing bytes */
  CHECK_RC(bc_set(m, "2", 1, "\xdd\xff\xff\xff\xff", 5), BC_EINVAL); /* forged length */
  CHECK_RC(bc_set(m, "2", 1, "\xc1", 1), BC_EINVAL);                 /* never-used byte */
  /* One key under two backends names two entries. */
  CHECK_RC(bc_contains(j, "1", 1), 1);
  {
    bc_bucket* r = open_bucket(dir("json"), "raw", "json", 0, 0);
    CHECK_RC(bc_contains(r, "1", 1), 0);
    bc_bucket_close(r);
  }
  bc_bucket_close(j);
  bc_bucket_close(m);
}

static void test_lifetimes_and_prune(void) {
  bc_bucket* b = open_bucket(dir("hour"), "raw", "raw", (int64_t)3600 * 1000000, 0);
  bc_bucket* forever;
  bc_buf out = {NULL, 0};
  bc_prune_info info = {99, 99};
  int64_t expires = -1;
  CHECK_RC(bc_set(b, "k", 1, "v", 1), BC_OK);
  CHECK_RC(bc_get_expiry(b, "k", 1, &expires), BC_OK);
  CHECK(expires > 0);
  bc_bucket_close(b);
  b = open_bucket(dir("life"), "raw", "raw", 1000, 0); /* 1 ms */
  CHECK_RC(bc_set(b, "k", 1, "v", 1), BC_OK);
  sleep_ms(20);
  CHECK_RC(bc_get(b, "k", 1, &out), BC_ENOTFOUND);
  CHECK(strstr(bc_last_error_message(), "expired") != NULL);
  bc_bucket_close(b);

  /* Lifetime rule: a never-expiring entry is a miss for a bucket with a lifetime, and is
     kept (it may be another program's). */
  forever = open_bucket(dir("rule"), "raw", "raw", 0, 0);
  CHECK_RC(bc_set(forever, "k", 1, "v", 1), BC_OK);
  CHECK_RC(bc_get_expiry(forever, "k", 1, &expires), BC_OK);
  CHECK(expires == 0);
  CHECK_RC(bc_set(forever, "k2", 2, "v", 1), BC_OK);
  bc_bucket_close(forever);
  b = open_bucket(dir("rule"), "raw", "raw", (int64_t)3600 * 1000000, 0);
  CHECK_RC(bc_contains(b, "k", 1), 0);
  CHECK_RC(bc_set(b, "fresh", 5, "v", 1), BC_OK);
  CHECK_RC(bc_prune_directory(b, &info), BC_OK);
  CHECK(info.files == 0);
  CHECK_RC(bc_contains(b, "fresh", 5), 1);
  bc_bucket_close(b);
  forever = open_bucket(dir("rule"), "raw", "raw", 0, 0);
  CHECK_RC(bc_contains(forever, "k", 1), 1);
  CHECK_RC(bc_contains(forever, "k2", 2), 1);
  bc_bucket_close(forever);
}

static void test_corruption_and_io_errors(void) {
  bc_bucket* b;
  bc_options* o = NULL;
  bc_buf out = {NULL, 0};
  char path[4096];
  FILE* f;
  CHECK_RC(bc_options_new(&o), BC_OK);
  CHECK_RC(bc_options_set_int(o, BC_OPT_MEMORY_LIMIT_BYTES, 0), BC_OK);
  CHECK_RC(bc_bucket_open(&b, dir("corrupt"), o), BC_OK);
  bc_options_free(o);
  CHECK_RC(bc_set(b, "k", 1, "value", 5), BC_OK);
  CHECK(find_entry(dir("corrupt"), path, sizeof path));
  f = fopen(path, "r+b");
  CHECK(f != NULL);
  if (f != NULL) {
    fseek(f, -1, SEEK_END);
    fputc('X', f);
    fclose(f);
  }
  CHECK_RC(bc_get(b, "k", 1, &out), BC_ECORRUPT);
  CHECK(out.data == NULL);
  CHECK_RC(bc_set(b, "k", 1, "value2", 6), BC_OK); /* a new write replaces it */
  CHECK(get_equals(b, "k", "value2"));
  bc_bucket_close(b);

  /* A bucket path below a regular file cannot be created: BC_EIO naming the path. */
  f = fopen(dir("plainfile"), "w");
  if (f != NULL) fclose(f);
  b = NULL;
  CHECK_RC(bc_bucket_open(&b, dir("plainfile/sub"), NULL), BC_EIO);
  CHECK(b == NULL);
  CHECK(strstr(bc_last_error_message(), "plainfile") != NULL);
}

static void test_deferred(void) {
  bc_bucket* d = open_bucket(dir("deferred"), "raw", "raw", 0, 1);
  bc_bucket* other = open_bucket(dir("deferred"), "raw", "raw", 0, 0);
  CHECK_RC(bc_set(d, "a", 1, "1", 1), BC_OK);
  CHECK(get_equals(d, "a", "1"));          /* reads see pending writes */
  CHECK_RC(bc_contains(other, "a", 1), 0); /* not on disk yet */
  CHECK_RC(bc_sync(d), BC_OK);
  CHECK_RC(bc_contains(other, "a", 1), 1);
  CHECK_RC(bc_set(d, "b", 1, "2", 1), BC_OK);
  CHECK_RC(bc_unload_key(d, "a", 1), BC_OK); /* syncs first */
  CHECK_RC(bc_contains(other, "b", 1), 1);
  CHECK_RC(bc_set(d, "c", 1, "3", 1), BC_OK);
  CHECK_RC(bc_contains(other, "c", 1), 0);
  {
    size_t n = 99;
    CHECK_RC(bc_pending_count(d, &n), BC_OK);
    CHECK(n == 1);
    CHECK_RC(bc_set(d, "dropped", 7, "x", 1), BC_OK);
    CHECK_RC(bc_discard(d, NULL), BC_OK);
    CHECK_RC(bc_pending_count(d, &n), BC_OK);
    CHECK(n == 0);
    CHECK_RC(bc_contains(d, "dropped", 7), 0);
    CHECK_RC(bc_set(d, "c", 1, "3", 1), BC_OK);
    CHECK_RC(bc_pending_count(other, &n), BC_OK);
    CHECK(n == 0);
    CHECK_RC(bc_discard(other, &n), BC_OK);
    CHECK(n == 0);
    CHECK_RC(bc_discard(NULL, &n), BC_EINVAL);
    CHECK_RC(bc_pending_count(d, NULL), BC_EINVAL);
  }
  bc_bucket_close(d); /* syncs */
  CHECK(get_equals(other, "c", "3"));
  CHECK_RC(bc_sync(other), BC_OK); /* no-op without BC_OPT_DEFERRED */
  bc_bucket_close(other);
}

struct compute_state {
  int calls;
  int fail;
  const char* value;
};

static int compute(void* user, const void* key, size_t klen, bc_buf* out) {
  struct compute_state* s = user;
  (void)key;
  (void)klen;
  s->calls++;
  if (s->fail) return 42;
  out->data = (void*)s->value;
  out->size = strlen(s->value);
  return 0;
}

static void test_get_or_compute(void) {
  bc_bucket* b = open_bucket(dir("compute"), "json", "json", 0, 0);
  struct compute_state s = {0, 0, "[1,2,3]"};
  bc_buf out = {NULL, 0};
  int hit = -1;
  CHECK_RC(bc_get_or_compute(b, "\"k\"", 3, compute, &s, &out, &hit), BC_OK);
  CHECK(hit == 0 && s.calls == 1);
  CHECK(out.size == 7 && memcmp(out.data, "[1,2,3]", 7) == 0);
  bc_buf_dispose(&out);
  CHECK_RC(bc_get_or_compute(b, "\"k\"", 3, compute, &s, &out, &hit), BC_OK);
  CHECK(hit == 1 && s.calls == 1);
  bc_buf_dispose(&out);
  CHECK_RC(bc_get_or_compute(b, "\"k\"", 3, compute, &s, &out, NULL), BC_OK);
  bc_buf_dispose(&out);
  /* A failing callback aborts with BC_EUSER and caches nothing. */
  s.fail = 1;
  CHECK_RC(bc_get_or_compute(b, "\"other\"", 7, compute, &s, &out, &hit), BC_EUSER);
  CHECK(out.data == NULL);
  CHECK_RC(bc_contains(b, "\"other\"", 7), 0);
  /* Bytes invalid for the backend are refused. */
  s.fail = 0;
  s.value = "not json";
  CHECK_RC(bc_get_or_compute(b, "\"bad\"", 5, compute, &s, &out, &hit), BC_EINVAL);
  CHECK_RC(bc_contains(b, "\"bad\"", 5), 0);
  /* Deferred: computed values are pending until sync. */
  {
    bc_bucket* d = open_bucket(dir("compute"), "json", "json", 0, 1);
    s.value = "7";
    CHECK_RC(bc_get_or_compute(d, "\"deferred\"", 10, compute, &s, &out, &hit), BC_OK);
    CHECK(hit == 0);
    bc_buf_dispose(&out);
    CHECK_RC(bc_contains(b, "\"deferred\"", 10), 0);
    CHECK_RC(bc_sync(d), BC_OK);
    CHECK_RC(bc_contains(b, "\"deferred\"", 10), 1);
    bc_bucket_close(d);
  }
  bc_bucket_close(b);
}

static int log_lines = 0;
static void on_log(void* user, int level, const char* message, size_t len) {
  (void)message;
  (void)len;
  (void)level;
  *(int*)user += 1;
}

static void test_logging(void) {
  bc_bucket* b = open_bucket(dir("log"), "raw", "raw", 0, 0);
  CHECK_RC(bc_set_log_callback(on_log, &log_lines), BC_OK);
  CHECK_RC(bc_set_log_level(BC_LOG_OFF), BC_OK);
  CHECK_RC(bc_set(b, "k", 1, "v", 1), BC_OK);
  CHECK(log_lines == 0);
  CHECK_RC(bc_set_log_level(BC_LOG_DEBUG), BC_OK);
  CHECK_RC(bc_set_log_full_keys(1), BC_OK);
  CHECK_RC(bc_set(b, "k", 1, "v", 1), BC_OK);
  CHECK(log_lines > 0);
  CHECK_RC(bc_set_log_level(99), BC_EINVAL);
  CHECK_RC(bc_set_log_full_keys(5), BC_EINVAL);
  CHECK_RC(bc_set_log_full_keys(0), BC_OK);
  CHECK_RC(bc_set_log_level(BC_LOG_OFF), BC_OK);
  CHECK_RC(bc_set_log_callback(NULL, NULL), BC_OK);
  bc_bucket_close(b);
}

/* bc_get_or_compute_ex's flags and max age, BC_OPT_DISABLED, BC_OPT_ENTRY_SIZE_LIMIT_BYTES
 * and bc_pop from C (the threaded and cross-process cases are in
 * tests/reliability/capi_memo_test.cpp). */
static void test_memoization_calls(void) {
  bc_bucket* b = open_bucket(dir("memo"), "json", "json", 0, 0);
  struct compute_state one = {0, 0, "1"};
  struct compute_state two = {0, 0, "2"};
  bc_buf out = {NULL, 0};
  int hit = -1;
  int64_t expires = -1;
  CHECK_RC(bc_get_or_compute_ex(b, "\"k\"", 3, compute, &one, 0, 0, &out, &hit, &expires), BC_OK);
  CHECK(hit == 0 && expires == 0 && out.size == 1 && memcmp(out.data, "1", 1) == 0);
  bc_buf_dispose(&out);
  CHECK_RC(bc_get_or_compute_ex(b, "\"k\"", 3, compute, &two, 0, BC_CALL_REFRESH, &out, &hit, NULL),
           BC_OK);
  CHECK(hit == 0 && two.calls == 1 && memcmp(out.data, "2", 1) == 0);
  bc_buf_dispose(&out);
  CHECK_RC(
      bc_get_or_compute_ex(b, "\"k\"", 3, compute, &one, 0, BC_CALL_SKIP_CACHE, &out, NULL, NULL),
      BC_OK);
  CHECK(memcmp(out.data, "1", 1) == 0);
  bc_buf_dispose(&out);
  CHECK(get_equals(b, "\"k\"", "2"));
  CHECK_RC(bc_get_or_compute_ex(b, "\"k\"", 3, compute, &one, 0, 3, &out, NULL, NULL), BC_EINVAL);
  CHECK_RC(bc_get_or_compute_ex(b, "\"k\"", 3, compute, &one, -1, 0, &out, NULL, NULL), BC_EINVAL);
  CHECK_RC(bc_pop(b, "\"k\"", 3, &out), BC_OK);
  CHECK(out.size == 1 && memcmp(out.data, "2", 1) == 0);
  bc_buf_dispose(&out);
  CHECK_RC(bc_pop(b, "\"k\"", 3, &out), BC_ENOTFOUND);
  bc_bucket_close(b);
  {
    bc_options* o = NULL;
    CHECK_RC(bc_options_new(&o), BC_OK);
    CHECK_RC(bc_options_set_str(o, BC_OPT_BACKEND, "json"), BC_OK);
    CHECK_RC(bc_options_set_str(o, BC_OPT_KEY_FORMAT, "json"), BC_OK);
    CHECK_RC(bc_options_set_int(o, BC_OPT_DISABLED, 1), BC_OK);
    CHECK_RC(bc_options_set_int(o, BC_OPT_ENTRY_SIZE_LIMIT_BYTES, 4), BC_OK);
    CHECK_RC(bc_options_set_int(o, BC_OPT_STALE_TTL_US, 1000000), BC_OK);
    CHECK_RC(bc_bucket_open(&b, dir("memo"), o), BC_OK);
    bc_options_free(o);
    CHECK_RC(bc_set(b, "\"n\"", 3, "5", 1), BC_OK);
    CHECK_RC(bc_get(b, "\"n\"", 3, &out), BC_ENOTFOUND);
    CHECK_RC(bc_get_or_compute(b, "\"n\"", 3, compute, &one, &out, &hit), BC_OK);
    CHECK(hit == 0);
    bc_buf_dispose(&out);
    bc_bucket_close(b);
  }
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s <scratch-dir> <vectors-file>\n", argv[0]);
    return 2;
  }
  snprintf(scratch, sizeof scratch, "%s", argv[1]);
  test_versions_and_errors();
  test_null_arguments();
  test_options();
  test_raw_round_trip();
  test_json_keys_and_vectors(argv[2]);
  test_backends_check_values();
  test_lifetimes_and_prune();
  test_corruption_and_io_errors();
  test_deferred();
  test_get_or_compute();
  test_memoization_calls();
  test_logging();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
