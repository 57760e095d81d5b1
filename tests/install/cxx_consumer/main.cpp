// A C++ program built against an installed bucketcache through find_package.
#include <bucketcache/backends/raw.hpp>
#include <bucketcache/bucketcache.hpp>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) return 1;
  bucketcache::Bucket<bucketcache::RawBackend> bucket(argv[1]);
  bucket.set(std::string("from"), std::string("c++"));
  const bool ok = bucket.get<std::string>(std::string("from")) == "c++";
  try {
    bucket.get<std::string>(std::string("absent"));
    return 1;
  } catch (const bucketcache::KeyError&) {
    // The exception type crosses the library boundary.
  }
  std::cout << "c++ consumer: " << (ok ? "ok" : "FAILED") << " (library "
            << bucketcache::version_string() << ")\n";
  return ok ? 0 : 1;
}
