'use strict';

// Result codes of the C API (include/bucketcache/bucketcache.h). Fixed values.
const codes = Object.freeze({
  BC_OK: 0,
  BC_ENOTFOUND: -1,
  BC_EINVAL: -2,
  BC_EIO: -3,
  BC_ECORRUPT: -4,
  BC_ESERIALIZE: -5,
  BC_ENOMEM: -6,
  BC_EUNSUPPORTED: -7,
  BC_ETIMEOUT: -8,
  BC_EUSER: -9,
  BC_ERROR: -10,
  BC_EEXISTS: -11,
});

const names = new Map(Object.entries(codes).map(([name, value]) => [value, name]));

// Any failure reported by the library. `code` is the C API's name ('BC_EIO'), `errno`
// its value (-3), `detail` the library's bc_last_error_message() text.
class BucketCacheError extends Error {
  constructor(errno, detail, description) {
    const code = names.get(errno) || 'BC_ERROR';
    const what = description || code;
    super(detail ? `${what}: ${detail}` : what);
    this.name = 'BucketCacheError';
    this.code = code;
    this.errno = errno;
    this.detail = detail || '';
  }
}

module.exports = { codes, BucketCacheError };
