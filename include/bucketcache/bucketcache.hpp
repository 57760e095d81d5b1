// bucketcache's C++ API: persistent, keyed caches on disk.
//
// Include this for the core and the typed Bucket; include the header of the backend you
// use (bucketcache/backends/json.hpp, msgpack.hpp, boost.hpp, raw.hpp) beside it.
#pragma once

#include "bucketcache/bucket.hpp"
#include "bucketcache/canonical.hpp"
#include "bucketcache/deferred.hpp"
#include "bucketcache/deferred_writes.hpp"
#include "bucketcache/digest.hpp"
#include "bucketcache/error.hpp"
#include "bucketcache/keys.hpp"
#include "bucketcache/logging.hpp"
#include "bucketcache/memoize.hpp"
#include "bucketcache/store.hpp"
#include "bucketcache/version.hpp"
