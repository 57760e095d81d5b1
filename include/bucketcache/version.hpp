// Run-time library version (the library loaded may differ from the headers compiled with).
#pragma once

#include "bucketcache/export.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

// "MAJOR.MINOR.PATCH" of the loaded library.
BUCKETCACHE_API const char* version_string() noexcept;

BUCKETCACHE_NAMESPACE_END
