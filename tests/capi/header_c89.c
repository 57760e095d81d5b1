/* Compiled with -std=c89 -pedantic -Werror (and again as C99): the header is valid C. */
#include <bucketcache/bucketcache.h>

int bc_header_check(void);
int bc_header_check(void) {
  bc_buf buf;
  bc_prune_info info;
  buf.data = 0;
  buf.size = 0;
  info.bytes = 0;
  info.files = 0;
  return (int)(buf.size + info.files) + BC_OK + BC_FORMAT_VERSION;
}
