// Deferred writes: keep sets in memory and write them in one go (docs/deferred.md).
//
//   ./deferred_example [cache-dir]
// Every feature is shown with a check; the program exits non-zero if a value is on disk
// before it should be, or missing after. The snippets in docs/deferred.md are copied from
// the regions marked "snippet" below (checked by the doc_snippets test).
#include <bucketcache/backends/json.hpp>
#include <bucketcache/bucketcache.hpp>
#include <bucketcache/deferred.hpp>
#include <bucketcache/memoize.hpp>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

int failures = 0;
void check(bool ok, const char* what) {
  std::cout << (ok ? "ok      " : "FAILED  ") << what << "\n";
  if (!ok) ++failures;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "bucketcache-deferred";
  try {
    using Bucket = bucketcache::Bucket<bucketcache::JsonBackend>;
    using DeferredBucket = bucketcache::DeferredWriteBucket<bucketcache::JsonBackend>;
    Bucket bucket(dir);
    for (int i = 0; i < 1000; ++i) bucket.erase(i);  // a clean slate for the checks below
    for (const char* key : {"total", "oops", "kept", "a", "b"}) bucket.erase(key);
    {
      auto square = bucketcache::memoize(bucket, "square", [](int x) { return x * x; });
      for (int i = 0; i < 100; ++i) square.erase(i);
    }

    {
      // snippet-begin: bucket
      DeferredBucket deferred(dir);
      for (int i = 0; i < 1000; ++i) deferred.set(i, i * i);  // in memory only

      int v = deferred.get<int>(7);       // 49: reads see pending values
      bool on_disk = bucket.contains(7);  // false: other buckets see nothing yet
      deferred.sync();                    // 1000 atomic writes; throws on failure
      bool after = bucket.contains(7);    // true
      // snippet-end: bucket
      check(v == 49 && !on_disk, "pending values are read back, not on disk");
      check(after && bucket.get<int>(999) == 998001, "on disk after sync()");

      deferred.set("total", 1);
      deferred.unload_key("total");  // syncs first
      check(deferred.pending_count() == 0 && bucket.get<int>("total") == 1,
            "unload_key syncs first");

      // snippet-begin: sync-error
      deferred.set("total", 2);
      try {
        deferred.sync();
      } catch (const bucketcache::IoError& e) {
        // The entries that failed stay pending (deferred.pending_count()); the others were
        // written; entries already on disk are intact. Fix the cause and call sync() again,
        // or discard() to drop them.
        std::cerr << "could not write " << deferred.pending_count() << " entries: " << e.what()
                  << "\n";
      }
      // snippet-end: sync-error
      deferred.set("kept", true);
    }  // the destructor syncs "kept"
    check(bucket.get<bool>("kept"), "destruction syncs unsynced values");

    // snippet-begin: scope
    {
      auto scope = bucketcache::deferred_write(bucket);
      scope.set("a", 1);
      scope.set("b", 2);
      // scope.get<int>("a") == 1; bucket.contains("a") == false
    }  // written here; bucket.get<int>("a") == 1
    // snippet-end: scope
    check(bucket.get<int>("a") == 1 && bucket.get<int>("b") == 2, "scope writes at its end");

    // snippet-begin: scope-exception
    try {
      auto scope = bucketcache::deferred_write(bucket);
      scope.set("oops", 1);
      try {
        throw std::runtime_error("failed half way");
      } catch (...) {
        scope.discard();  // drop the pending values; without this they would be written
        throw;
      }
    } catch (const std::runtime_error&) {
    }
    // bucket.contains("oops") == false
    // snippet-end: scope-exception
    check(!bucket.contains("oops"), "discard() drops the scope's values");

    // snippet-begin: scope-memoize
    int calls = 0;
    auto square = [&calls](int x) {
      ++calls;
      return x * x;
    };
    {
      auto scope = bucketcache::deferred_write(bucket);
      auto cached_square = bucketcache::memoize(scope, "square", square);
      for (int i = 0; i < 100; ++i) cached_square(i);  // results pending in the scope
    }                                                  // 100 entries written here
    auto cached_square = bucketcache::memoize(bucket, "square", square);
    cached_square(42);  // served from the cache: calls is still 100
    // snippet-end: scope-memoize
    check(calls == 100 && cached_square(42) == 1764, "memoize on a deferred_write scope");
    const int before = calls;
    cached_square(7);
    check(calls == before, "the scope's memoized results are on disk");

    if (failures != 0) {
      std::cerr << failures << " check(s) failed\n";
      return 1;
    }
    std::cout << "all deferred-write checks passed; cache directory: " << bucket.path() << "\n";
    return 0;
  } catch (const bucketcache::Error& e) {
    std::cerr << "bucketcache error (" << bucketcache::error_code_name(e.code())
              << "): " << e.what() << "\n";
    return 1;
  }
}
