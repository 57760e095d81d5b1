#include "bucketcache/version.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

const char* version_string() noexcept { return BUCKETCACHE_VERSION_STRING; }

BUCKETCACHE_NAMESPACE_END
