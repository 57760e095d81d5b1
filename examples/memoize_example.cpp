// Memoization: serve a function's results from a bucket (docs/memoize.md).
//
//   ./memoize_example [cache-dir]
// Every feature is shown with a check; the program exits non-zero if a call that should
// be served from the cache is not (or the other way round). The snippets in
// docs/memoize.md are copied from the regions marked "snippet" below (checked by the
// doc_snippets test).
#include <atomic>
#include <bucketcache/backends/json.hpp>
#include <bucketcache/bucketcache.hpp>
#include <bucketcache/memoize.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

int failures = 0;
void check(bool ok, const char* what) {
  std::cout << (ok ? "ok      " : "FAILED  ") << what << "\n";
  if (!ok) ++failures;
}

std::atomic<int> fib_calls{0};

// snippet-begin: function
// Stands in for something slow.
std::uint64_t slow_fib(int n) {
  ++fib_calls;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::uint64_t a = 0, b = 1;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t next = a + b;
    a = b;
    b = next;
  }
  return a;
}
// snippet-end: function

// snippet-begin: method-class
struct Account {
  std::string currency;
  std::int64_t cents = 0;
  std::string owner;  // not part of the key: the result does not depend on it

  std::string format(const std::string& decimal_mark) const {
    const std::int64_t fraction = cents % 100;
    return currency + " " + std::to_string(cents / 100) + decimal_mark +
           (fraction < 10 ? "0" : "") + std::to_string(fraction);
  }

  // The key customization point (keys.hpp): the state that memoized methods depend on.
  void write_key(bucketcache::KeyWriter& w) const {
    w.begin_object();
    w.key("cents");
    w.integer(cents);
    w.key("currency");
    w.string(currency);
    w.end_object();
  }
};
// snippet-end: method-class

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "bucketcache-memoize";
  try {
    // snippet-begin: basic
    bucketcache::Options options;
    options.lifetime = std::chrono::hours(24);     // memoized results expire after a day
    options.lock_wait = std::chrono::seconds(30);  // single flight: wait at most this long
    bucketcache::Bucket<bucketcache::JsonBackend> bucket(dir, options);

    auto fib = bucketcache::memoize(bucket, "slow_fib", slow_fib);
    fib.erase(80);                   // start from a miss, so this run shows both cases
    std::uint64_t first = fib(80);   // computes (fib_calls == 1) and stores the result
    std::uint64_t second = fib(80);  // served from the bucket, here and in later runs
    // snippet-end: basic
    check(first == 23416728348467685u && second == first, "fib(80) is right");
    check(fib_calls == 1, "second call served from the cache");
    check(fib.canonical_key(80) == R"({"args":[80],"name":"slow_fib"})",
          "key is {\"args\":[...],\"name\":...}");

    // snippet-begin: lambda
    int lambda_calls = 0;
    auto shout = bucketcache::memoize(bucket, "shout", [&](const std::string& s, int times) {
      ++lambda_calls;
      std::string out;
      for (int i = 0; i < times; ++i) out += s + "!";
      return out;
    });
    shout("hey", 2);  // "hey!hey!"
    // snippet-end: lambda
    shout.erase("hey", 2);
    lambda_calls = 0;
    shout("hey", 2);
    check(shout("hey", 2) == "hey!hey!" && lambda_calls == 1, "lambda memoized");

    // snippet-begin: generic
    auto twice = [](auto x) { return x + x; };  // generic: no signature to build a key from
    auto twice_int = bucketcache::memoize(bucket, "twice", std::function<int(int)>(twice));
    // snippet-end: generic
    check(twice_int(21) == 42 && twice_int.cached(21), "generic lambda through std::function");

    // snippet-begin: on-hit
    std::optional<std::string> last_hit;
    fib.on_hit([&](const bucketcache::CachedCallInfo<std::uint64_t>& info) {
      // info.arguments: canonical JSON of the arguments, e.g. [80]
      // info.value: the cached result; info.expires: when it expires (nullopt: never)
      last_hit = info.name + info.arguments;
    });
    fib(80);  // a hit: the callback runs before the value is returned
    // snippet-end: on-hit
    check(last_hit == std::string("slow_fib[80]"), "on_hit called with the arguments");

    // snippet-begin: refresh
    fib.refresh(80);               // calls slow_fib again and overwrites the entry
    fib.precache(55, 10);          // stores fib(10) = 55 without calling slow_fib
    bool cached = fib.cached(10);  // true
    fib.erase(10);                 // removes the entry
    // snippet-end: refresh
    check(fib_calls == 2, "refresh called the function again");
    check(cached && !fib.cached(10), "precache, cached, erase");

    // snippet-begin: ignore
    int query_calls = 0;
    auto query = bucketcache::memoize(
        bucket, "query",
        [&](const std::string& sql, std::ostream& log) {
          ++query_calls;
          log << "running " << sql << "\n";
          return sql.size();
        },
        bucketcache::ignore_args<1>{});  // the log stream is not part of the key
    std::ostringstream log1, log2;
    query("select 1", log1);
    query("select 1", log2);  // a hit, although log2 is another stream
    // snippet-end: ignore
    query.erase("select 1", log1);
    query_calls = 0;
    query("select 1", log1);
    query("select 1", log2);
    check(query_calls == 1, "ignored argument left out of the key");
    check(query.canonical_key("select 1", log1) == R"({"args":["select 1"],"name":"query"})",
          "ignored argument absent from the key text");

    // snippet-begin: method
    auto format = bucketcache::memoize_method(bucket, "Account::format", &Account::format);
    Account alice{"EUR", 12345, "alice"};
    Account bob{"EUR", 12345, "bob"};  // equal state: shares alice's entries
    format(alice, ".");                // computes "EUR 123.45"
    format(bob, ".");                  // served from the cache
    // snippet-end: method
    int method_hits = 0;
    format.on_hit([&](const bucketcache::CachedCallInfo<std::string>&) { ++method_hits; });
    format.erase(alice, ".");
    format(alice, ".");
    check(format(bob, ".") == "EUR 123.45" && method_hits == 1, "equal objects share entries");
    check(format.canonical_key(alice, ".") ==
              R"({"args":["."],"name":"Account::format","self":{"cents":12345,"currency":"EUR"}})",
          "method key includes the object's state");

    // snippet-begin: exceptions
    auto parse = bucketcache::memoize(bucket, "parse", [](const std::string& s) {
      return std::stoi(s);  // throws std::invalid_argument for "x"
    });
    try {
      parse("x");
    } catch (const std::invalid_argument&) {
      // propagated to the caller; nothing was cached, the next call tries again
    }
    // snippet-end: exceptions
    check(!parse.cached("x"), "an exception caches nothing");

    // snippet-begin: single-flight
    auto shared_fib = bucketcache::memoize(bucket, "slow_fib", slow_fib);  // same entries
    shared_fib.erase(90);
    fib_calls = 0;
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) threads.emplace_back([&] { shared_fib(90); });
    for (auto& t : threads) t.join();
    // fib_calls == 1: one thread computed, the others waited for its result
    // snippet-end: single-flight
    check(fib_calls == 1, "four threads, one computation");

    if (failures != 0) {
      std::cerr << failures << " check(s) failed\n";
      return 1;
    }
    std::cout << "all memoization checks passed; cache directory: " << bucket.path() << "\n";
    return 0;
  } catch (const bucketcache::Error& e) {
    std::cerr << "bucketcache error (" << bucketcache::error_code_name(e.code())
              << "): " << e.what() << "\n";
    return 1;
  }
}
