// Quick start: cache an expensive computation on disk.
//
//   ./quickstart [cache-dir]
// The first run computes and says so; the next run (a new process) is served from disk.
#include <bucketcache/backends/json.hpp>
#include <bucketcache/bucketcache.hpp>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {

// Stands in for something slow: the primes below n, with a pause to make it obvious.
std::vector<std::uint64_t> primes_below(std::uint64_t n) {
  std::this_thread::sleep_for(std::chrono::seconds(1));
  std::vector<bool> composite(n, false);
  std::vector<std::uint64_t> primes;
  for (std::uint64_t i = 2; i < n; ++i) {
    if (composite[i]) continue;
    primes.push_back(i);
    for (std::uint64_t j = i * i; j < n; j += i) composite[j] = true;
  }
  return primes;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "bucketcache-quickstart";
  try {
    bucketcache::Options options;
    options.lifetime = bucketcache::days(7);  // entries expire a week after they are set
    bucketcache::Bucket<bucketcache::JsonBackend> bucket(dir, options);

    const std::uint64_t n = 2000000;
    // Keys can be any JSON-like C++ value; this one names the function and its argument.
    const auto key = std::make_pair(std::string("primes_below"), n);

    auto start = std::chrono::steady_clock::now();
    std::optional<std::vector<std::uint64_t>> primes =
        bucket.try_get<std::vector<std::uint64_t>>(key);
    const bool cached = primes.has_value();
    if (!cached) {
      primes = primes_below(n);
      bucket.set(key, *primes);
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    std::cout << (cached ? "served from the cache" : "computed (cache miss), stored in the cache")
              << ": " << primes->size() << " primes below " << n << ", largest " << primes->back()
              << ", in " << ms << " ms\n"
              << "cache directory: " << bucket.path() << "\n";
    return 0;
  } catch (const bucketcache::Error& e) {
    std::cerr << "bucketcache error (" << bucketcache::error_code_name(e.code())
              << "): " << e.what() << "\n";
    return 1;
  }
}
