/* System call costs of one small-entry read (docs/performance.md, "get from disk"): the
 * raw reader's open+read+close against the library's calls (before and after it kept the
 * bucket directory open) and alternatives, in interleaved rounds on one existing entry
 * file. The bucket directory is SHARD_DIR's parent. Not built by CMake:
 *
 *   cc -O2 -o /tmp/syscall_costs bench/syscall_costs.c
 *   f=$(find BUCKET -name '*.bce' -size -2k | head -1)
 *   /tmp/syscall_costs "$f" "$(dirname "$f")" "$(basename "$f")" 5000
 *
 * Prints microseconds per read and the ratio to open+read+close. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}
int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s ENTRY_PATH SHARD_DIR ENTRY_NAME ITERATIONS\n", argv[0]);
    return 2;
  }
  const char* path = argv[1];
  const char* dir = argv[2];
  const char* name = argv[3];
  int n = atoi(argv[4]);
  char buf[4096];
  enum { kVariants = 9 };
  double t[kVariants] = {0};
  int dfd = open(dir, O_PATH | O_DIRECTORY);
  char root[4096];
  snprintf(root, sizeof root, "%s", dir);
  char* slash = strrchr(root, '/');
  if (slash == NULL) {
    fprintf(stderr, "SHARD_DIR must have a parent directory\n");
    return 2;
  }
  *slash = 0;
  int rfd = open(root, O_PATH | O_DIRECTORY);
  const char* rel = path + strlen(root) + 1; /* "<shard>/<entry>" */
  for (int r = 0; r < 20; r++) {
    for (int v = 0; v < kVariants; v++) {
      double t0 = now();
      for (int i = 0; i < n; i++) {
        int fd;
        struct stat st;
        if (v == 0) {
          fd = open(path, O_RDONLY | O_CLOEXEC);
          read(fd, buf, sizeof buf);
          close(fd);
        } else if (v == 1) {
          fd = open(path, O_RDONLY | O_CLOEXEC);
          fstat(fd, &st);
          read(fd, buf, sizeof buf);
          close(fd);
        } else if (v == 2) {
          struct open_how h = {0};
          h.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
          h.resolve = RESOLVE_NO_SYMLINKS;
          fd = syscall(SYS_openat2, AT_FDCWD, path, &h, sizeof h);
          fstat(fd, &st);
          struct iovec iov[2] = {{buf, 128}, {buf + 128, st.st_size - 128}};
          readv(fd, iov, 2);
          close(fd);
        } else if (v == 3) {
          fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
          fstat(fd, &st);
          struct iovec iov[2] = {{buf, 128}, {buf + 128, st.st_size - 128}};
          readv(fd, iov, 2);
          close(fd);
        } else if (v == 4) {
          struct open_how h = {0};
          h.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
          h.resolve = RESOLVE_NO_SYMLINKS;
          fd = syscall(SYS_openat2, AT_FDCWD, path, &h, sizeof h);
          read(fd, buf, sizeof buf);
          close(fd);
        } else if (v == 5 || v == 6 || v == 7) {
          struct open_how h = {0};
          h.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
          h.resolve = RESOLVE_NO_SYMLINKS | (v == 7 ? RESOLVE_BENEATH : 0);
          fd = syscall(SYS_openat2, rfd, rel, &h, sizeof h);
          if (v == 6) {
            /* the library's small read now: header and up to 4 KiB, no fstat */
            struct iovec iov[2] = {{buf, 128}, {buf + 128, sizeof buf - 128}};
            readv(fd, iov, 2);
          } else {
            fstat(fd, &st);
            struct iovec iov[2] = {{buf, 128}, {buf + 128, st.st_size - 128}};
            readv(fd, iov, 2);
          }
          close(fd);
        } else {
          fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
          read(fd, buf, sizeof buf);
          close(fd);
        }
      }
      t[v] += now() - t0;
    }
  }
  const char* nm[] = {"open+read+close",
                      "open+fstat+read+close",
                      "openat2(path)+fstat+readv+close (lib before)",
                      "openat(shardfd)+fstat+readv+close",
                      "openat2+read+close",
                      "openat2(root, <shard>/<entry>)+fstat+readv+close",
                      "openat2(root, <shard>/<entry>)+readv+close (lib)",
                      "openat2(root, ..., +RESOLVE_BENEATH)+fstat+readv+close",
                      "open(NOFOLLOW|NONBLOCK)+read+close"};
  for (int v = 0; v < kVariants; v++)
    printf("%-56s %.3f us  %.2fx\n", nm[v], t[v] / (20.0 * n) * 1e6, t[v] / t[0]);
}
