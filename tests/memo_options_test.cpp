// Memoization options in C++ (issue 14, docs/memoize.md): Options::stale_ttl, disabled and
// entry_size_limit_bytes; Store::get_or_compute with a ComputeCall (max age, refresh, skip
// cache, background refresh); memoize's call_with.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "bucketcache/backends/json.hpp"
#include "bucketcache/bucket.hpp"
#include "bucketcache/error.hpp"
#include "bucketcache/memoize.hpp"
#include "bucketcache/store.hpp"
#include "test_util.hpp"

namespace bc = bucketcache;
using bctest::TempDir;
using namespace std::chrono_literals;

namespace {

bc::Options opts() {
  bc::Options o;
  o.lifetime = std::chrono::hours(1);
  return o;
}

std::string key_bytes(const char* k) { return std::string("\"") + k + "\""; }

struct StoreKey {
  std::string bytes;
  bc::Digest digest;
  StoreKey(const bc::Store& s, const char* k) : bytes(key_bytes(k)), digest(s.digest(bytes)) {}
  bc::KeyRef ref() const { return bc::KeyRef(digest, bytes); }
};

}  // namespace

TEST(MemoOptions, OptionsRoundTripAndValidation) {
  TempDir dir;
  bc::Options o = opts();
  o.stale_ttl = 5s;
  o.disabled = true;
  o.entry_size_limit_bytes = 123;
  bc::Store s(dir.sub("b"), "json", "json", o);
  EXPECT_EQ(s.options().stale_ttl, 5s);
  EXPECT_TRUE(s.options().disabled);
  EXPECT_EQ(s.options().entry_size_limit_bytes, 123u);
  EXPECT_EQ(s.option(bc::OptionKey::stale_ttl_us), 5000000);
  o.stale_ttl = -1us;
  EXPECT_THROW(bc::Store(dir.sub("c"), "json", "json", o), bc::InvalidArgument);
}

TEST(MemoOptions, ComputeCallFlags) {
  TempDir dir;
  bc::Store s(dir.sub("b"), "json", "json", opts());
  const StoreKey k(s, "k");
  int n = 0;
  auto next = [&] { return std::to_string(++n); };
  bool hit = true;
  EXPECT_EQ(*s.get_or_compute(k.ref(), next, bc::ComputeCall{}, &hit).value, "1");
  EXPECT_FALSE(hit);
  EXPECT_EQ(*s.get_or_compute(k.ref(), next, bc::ComputeCall{}, &hit).value, "1");
  EXPECT_TRUE(hit);
  bc::ComputeCall refresh;
  refresh.refresh = true;
  EXPECT_EQ(*s.get_or_compute(k.ref(), next, refresh, &hit).value, "2");
  EXPECT_FALSE(hit);
  bc::ComputeCall skip;
  skip.skip_cache = true;
  EXPECT_EQ(*s.get_or_compute(k.ref(), next, skip, &hit).value, "3");
  bc::Entry e;
  ASSERT_EQ(s.get(k.digest, e), bc::ReadStatus::found);
  EXPECT_EQ(*e.value, "2");
  std::this_thread::sleep_for(5ms);
  bc::ComputeCall young;
  young.max_age_us = 1000;
  EXPECT_EQ(*s.get_or_compute(k.ref(), next, young, &hit).value, "4");
  EXPECT_FALSE(hit);
  young.max_age_us = 3600LL * 1000000;
  EXPECT_EQ(*s.get_or_compute(k.ref(), next, young, &hit).value, "4");
  EXPECT_TRUE(hit);
}

TEST(MemoOptions, DisabledStoreMissesAndStoresNothing) {
  TempDir dir;
  {
    bc::Store s(dir.sub("b"), "json", "json", opts());
    s.set(StoreKey(s, "k").ref(), "1");
  }
  bc::Options o = opts();
  o.disabled = true;
  bc::Store off(dir.sub("b"), "json", "json", o);
  const StoreKey k(off, "k");
  bc::Entry e;
  EXPECT_NE(off.get(k.digest, e), bc::ReadStatus::found);
  EXPECT_FALSE(off.contains(k.digest));
  off.set(StoreKey(off, "n").ref(), "2");
  int n = 0;
  bool hit = true;
  off.get_or_compute(
      k.ref(), [&] { return std::to_string(++n); }, &hit);
  off.get_or_compute(
      k.ref(), [&] { return std::to_string(++n); }, &hit);
  EXPECT_EQ(n, 2);
  EXPECT_FALSE(hit);
  bc::Store on(dir.sub("b"), "json", "json", opts());
  ASSERT_EQ(on.get(k.digest, e), bc::ReadStatus::found);
  EXPECT_EQ(*e.value, "1");
  EXPECT_FALSE(on.contains(StoreKey(on, "n").digest));
}

TEST(MemoOptions, DisableEnvironmentVariable) {
  TempDir dir;
  ASSERT_EQ(setenv("BUCKETCACHE_DISABLE", "1", 1), 0);
  bc::Store off(dir.sub("b"), "json", "json", opts());
  ASSERT_EQ(unsetenv("BUCKETCACHE_DISABLE"), 0);
  EXPECT_TRUE(off.options().disabled);
  bc::Store on(dir.sub("b"), "json", "json", opts());
  EXPECT_FALSE(on.options().disabled);
}

TEST(MemoOptions, EntrySizeLimit) {
  TempDir dir;
  bc::Options o = opts();
  o.entry_size_limit_bytes = 3;
  bc::Store s(dir.sub("b"), "json", "json", o);
  const StoreKey big(s, "big"), small(s, "small");
  EXPECT_EQ(*s.get_or_compute(big.ref(), [] { return std::string("1234"); }).value, "1234");
  EXPECT_FALSE(s.contains(big.digest));
  EXPECT_EQ(*s.get_or_compute(small.ref(), [] { return std::string("123"); }).value, "123");
  EXPECT_TRUE(s.contains(small.digest));
}

TEST(MemoOptions, StoreServesStaleAndRefreshesInTheBackground) {
  TempDir dir;
  bc::Options o = opts();
  o.stale_ttl = std::chrono::hours(1);
  bc::Store s(dir.sub("b"), "json", "json", o);
  const StoreKey k(s, "k");
  s.set_ex(k.ref(), "\"old\"", 1);
  std::this_thread::sleep_for(2ms);
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  std::atomic<int> computes{0};
  bc::ComputeCall call;
  call.background = [&] {
    computes.fetch_add(1);
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return released; });
    return std::string("\"new\"");
  };
  bool hit = false;
  // Without a background compute: computed on the calling thread, as without stale_ttl.
  bc::Store plain(dir.sub("p"), "json", "json", o);
  const StoreKey pk(plain, "k");
  plain.set_ex(pk.ref(), "\"old\"", 1);
  std::this_thread::sleep_for(2ms);
  EXPECT_EQ(*plain
                 .get_or_compute(
                     pk.ref(), [] { return std::string("\"sync\""); }, &hit)
                 .value,
            "\"sync\"");
  // With one: the stale value at once; the refresh blocked meanwhile.
  auto fail = [] { return std::string("\"calling thread\""); };
  const bc::Entry e = s.get_or_compute(k.ref(), fail, call, &hit);
  EXPECT_EQ(*e.value, "\"old\"");
  EXPECT_TRUE(hit);
  EXPECT_GT(e.expires_us, 0);
  {
    const std::lock_guard<std::mutex> lock(mu);
    released = true;
  }
  cv.notify_all();
  for (;;) {
    const bc::Entry now = s.get_or_compute(k.ref(), fail, call, &hit);
    if (*now.value == "\"new\"") break;
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(computes.load(), 1);
}

namespace {

int g_calls = 0;
int square(int x) {
  ++g_calls;
  return x * x + g_calls;
}

}  // namespace

TEST(MemoOptions, MemoizeCallWith) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> bucket(dir.sub("b"));
  g_calls = 0;
  auto sq = bc::memoize(bucket, "square", square);
  EXPECT_EQ(sq(3), 10);
  EXPECT_EQ(sq(3), 10);
  bc::CallOptions refresh;
  refresh.refresh = true;
  EXPECT_EQ(sq.call_with(refresh, 3), 11);
  EXPECT_EQ(sq(3), 11);
  bc::CallOptions skip;
  skip.skip_cache = true;
  EXPECT_EQ(sq.call_with(skip, 3), 12);
  EXPECT_EQ(sq(3), 11);
  std::this_thread::sleep_for(5ms);
  bc::CallOptions young;
  young.max_age = std::chrono::hours(1);
  EXPECT_EQ(sq.call_with(young, 3), 11);
  young.max_age = 1ms;
  EXPECT_EQ(sq.call_with(young, 3), 13);
  EXPECT_EQ(sq(3), 13);
}

TEST(MemoOptions, MemoizeServesStaleAndRefreshesInTheBackground) {
  TempDir dir;
  bc::Options o = opts();
  o.stale_ttl = std::chrono::hours(1);
  bc::Bucket<bc::JsonBackend> bucket(dir.sub("b"), o);
  std::atomic<int> calls{0};
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  auto f = bc::memoize(bucket, "f", std::function<int(int)>([&](int x) {
                         const int n = calls.fetch_add(1) + 1;
                         if (n > 1) {
                           std::unique_lock<std::mutex> lock(mu);
                           cv.wait(lock, [&] { return released; });
                         }
                         return x * 100 + n;
                       }));
  EXPECT_EQ(f(1), 101);
  // Expire the entry now (its own lifetime of 1 us): stale from here on.
  bucket.store().set_ex(bc::KeyRef(bucket.store().digest(f.canonical_key(1)), f.canonical_key(1)),
                        "101", 1);
  std::this_thread::sleep_for(2ms);
  EXPECT_EQ(f(1), 101);  // stale, at once: the refresh is blocked
  EXPECT_EQ(f(1), 101);
  {
    const std::lock_guard<std::mutex> lock(mu);
    released = true;
  }
  cv.notify_all();
  while (f(1) != 102) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(calls.load(), 2);
}
