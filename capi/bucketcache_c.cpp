// The C API: each function is a few lines over the C++ core; no exception escapes.
#include "bucketcache/bucketcache.h"

#include "bucketcache/error.hpp"
#include "bucketcache/version.hpp"

extern "C" {

const char* bc_strerror(int code) {
  if (code > 0 || code < BC_ERROR) return "unknown error code";
  return bucketcache::error_code_name(static_cast<bucketcache::ErrorCode>(code));
}

const char* bc_version_string(void) { return bucketcache::version_string(); }

unsigned bc_version_number(void) {
  return BUCKETCACHE_VERSION_MAJOR * 10000u + BUCKETCACHE_VERSION_MINOR * 100u +
         BUCKETCACHE_VERSION_PATCH;
}

}  // extern "C"
