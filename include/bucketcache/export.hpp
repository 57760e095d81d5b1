// Visibility and ABI-namespace macros for bucketcache's C++ API.
#pragma once

#if defined(BUCKETCACHE_STATIC_DEFINE)
#define BUCKETCACHE_API
#else
#define BUCKETCACHE_API __attribute__((visibility("default")))
#endif

// Incompatible C++ ABI changes bump this inline namespace, so that mixing headers and a
// library of different C++ ABI versions fails at link time rather than at run time.
#define BUCKETCACHE_NAMESPACE_BEGIN \
  namespace bucketcache {           \
  inline namespace v1 {
#define BUCKETCACHE_NAMESPACE_END \
  }                               \
  }
