#include "support/clock.hpp"

namespace bucketcache {
inline namespace v1 {

std::int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace v1
}  // namespace bucketcache
