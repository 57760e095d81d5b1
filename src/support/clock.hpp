// Time arithmetic for entries and waits, in one place that cannot overflow.
//
// Entry times are microseconds since the Unix epoch (int64); 0 as an expiry means "never".
// Every sum saturates, so an option such as a lifetime of INT64_MAX microseconds means "as
// long as representable", never a wrapped, negative time.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>

namespace bucketcache {
inline namespace v1 {

// Microseconds since the Unix epoch (system clock).
std::int64_t now_us();

// A monotonic clock in milliseconds read without a system call (the vDSO's coarse clock, a
// few milliseconds of resolution): cheap enough for every hit. For intervals, not entry times.
std::int64_t coarse_monotonic_ms() noexcept;

// a + b for b >= 0, saturated at INT64_MAX.
constexpr std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  return b > std::numeric_limits<std::int64_t>::max() - a ? std::numeric_limits<std::int64_t>::max()
                                                          : a + b;
}

// Expiry of an entry created at `created_us` that lives `lifetime_us` (0: never, returns 0).
constexpr std::int64_t expiry_after(std::int64_t created_us, std::int64_t lifetime_us) {
  return lifetime_us > 0 ? saturating_add(created_us, lifetime_us) : 0;
}

// Whether an entry is past its own recorded expiry at `now_us` (0: never expires). Such an
// entry is of no use to anyone and may be deleted.
constexpr bool past_expiry(std::int64_t expires_us, std::int64_t now) {
  return expires_us != 0 && expires_us <= now;
}

// The lifetime rule: whether an entry's recorded lifetime (expires - created, or "never")
// is longer than the bucket's lifetime `lifetime_us` (0: the bucket has none). Such an
// entry is a miss for this bucket but is not deleted: it may belong to another program
// sharing the directory. Judged from the entry's own times only, never from a clock.
constexpr bool outlives_bucket(std::int64_t created_us, std::int64_t expires_us,
                               std::int64_t lifetime_us) {
  if (lifetime_us <= 0) return false;
  if (expires_us == 0) return true;
  // expires - created without overflow: both are recorded times, created may be anything.
  if (created_us < 0 && expires_us > std::numeric_limits<std::int64_t>::max() + created_us) {
    return true;
  }
  return expires_us - created_us > lifetime_us;
}

// now + d for a wait, saturated so that a huge wait (INT64_MAX ms) means "a very long time"
// instead of an overflowed deadline in the past.
inline std::chrono::steady_clock::time_point deadline_after(std::chrono::milliseconds d) {
  using namespace std::chrono;
  const auto now = steady_clock::now();
  // About 100 years: far beyond any wait, far below the clock's range.
  constexpr milliseconds kMax = duration_cast<milliseconds>(hours(24 * 365 * 100));
  return now + (d > kMax ? kMax : d < milliseconds(0) ? milliseconds(0) : d);
}

}  // namespace v1
}  // namespace bucketcache
