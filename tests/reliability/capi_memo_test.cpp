// Memoization through the C API (issue 14, DESIGN section 13): bc_get_or_compute_ex
// (max age, BC_CALL_REFRESH, BC_CALL_SKIP_CACHE), BC_OPT_DISABLED and BUCKETCACHE_DISABLE,
// BC_OPT_ENTRY_SIZE_LIMIT_BYTES, and stale-while-revalidate (BC_OPT_STALE_TTL_US) in one
// process and across processes, including a close during a refresh.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bucketcache/bucketcache.h"
#include "capi_util.hpp"
#include "rel_util.hpp"

using reltest::ScratchDir;
using namespace std::chrono_literals;

namespace {

using capitest::open_bucket;
using capitest::value_of;

constexpr std::int64_t kHourUs = 3600LL * 1000 * 1000;

// A compute callback returning `value` and counting its calls; fails when `fail` is set.
struct Counted {
  std::string value;
  std::atomic<int> calls{0};
  bool fail = false;
};

int counted_fn(void* user, const void*, size_t, bc_buf* out) {
  auto* c = static_cast<Counted*>(user);
  c->calls.fetch_add(1);
  if (c->fail) return 7;
  out->data = c->value.data();
  out->size = c->value.size();
  return 0;
}

struct Result {
  int rc = 0;
  std::string value;
  int hit = -1;
  std::int64_t expires_us = -1;
};

Result call_ex(bc_bucket* b, const std::string& key, bc_compute_fn fn, void* user,
               std::int64_t max_age_us = 0, int flags = 0) {
  Result r;
  bc_buf out{nullptr, 0};
  r.rc = bc_get_or_compute_ex(b, key.data(), key.size(), fn, user, max_age_us, flags, &out, &r.hit,
                              &r.expires_us);
  if (r.rc == BC_OK) r.value.assign(static_cast<const char*>(out.data), out.size);
  bc_buf_dispose(&out);
  return r;
}

// An entry already expired (its own lifetime of 1 us), so within a stale window.
void set_expired(bc_bucket* b, const std::string& k, const std::string& v) {
  ASSERT_EQ(bc_set_ex(b, k.data(), k.size(), v.data(), v.size(), 1), BC_OK);
  std::this_thread::sleep_for(2ms);  // past its expiry (no assertion depends on how long)
}

}  // namespace

TEST(CapiMemo, OptionsAreValidated) {
  bc_options* o = nullptr;
  ASSERT_EQ(bc_options_new(&o), BC_OK);
  EXPECT_EQ(bc_options_set_int(o, BC_OPT_STALE_TTL_US, -1), BC_EINVAL);
  EXPECT_EQ(bc_options_set_int(o, BC_OPT_DISABLED, 2), BC_EINVAL);
  EXPECT_EQ(bc_options_set_int(o, BC_OPT_ENTRY_SIZE_LIMIT_BYTES, -5), BC_EINVAL);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_STALE_TTL_US, "1"), BC_EINVAL);
  EXPECT_EQ(bc_options_set_int(o, BC_OPT_STALE_TTL_US, 1000), BC_OK);
  EXPECT_EQ(bc_options_set_int(o, BC_OPT_DISABLED, 1), BC_OK);
  EXPECT_EQ(bc_options_set_int(o, BC_OPT_ENTRY_SIZE_LIMIT_BYTES, 10), BC_OK);
  bc_options_free(o);
}

TEST(CapiMemo, ExRejectsBadArguments) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"));
  Counted c{"v"};
  bc_buf out{nullptr, 0};
  EXPECT_EQ(bc_get_or_compute_ex(nullptr, "k", 1, counted_fn, &c, 0, 0, &out, nullptr, nullptr),
            BC_EINVAL);
  EXPECT_EQ(bc_get_or_compute_ex(b, "k", 1, nullptr, &c, 0, 0, &out, nullptr, nullptr), BC_EINVAL);
  EXPECT_EQ(bc_get_or_compute_ex(b, "k", 1, counted_fn, &c, 0, 0, nullptr, nullptr, nullptr),
            BC_EINVAL);
  EXPECT_EQ(bc_get_or_compute_ex(b, "k", 1, counted_fn, &c, 0, 4, &out, nullptr, nullptr),
            BC_EINVAL);
  EXPECT_NE(std::string(bc_last_error_message()).find("flags"), std::string::npos);
  EXPECT_EQ(bc_get_or_compute_ex(b, "k", 1, counted_fn, &c, 0, BC_CALL_REFRESH | BC_CALL_SKIP_CACHE,
                                 &out, nullptr, nullptr),
            BC_EINVAL);
  EXPECT_EQ(bc_get_or_compute_ex(b, "k", 1, counted_fn, &c, -1, 0, &out, nullptr, nullptr),
            BC_EINVAL);
  EXPECT_EQ(c.calls.load(), 0);
  bc_bucket_close(b);
}

// A callback that returns 0 without setting out->size (what a foreign-function layer does
// when it gives up on a callback) fails the call; an explicit empty value is stored.
int forgets_out(void*, const void*, size_t, bc_buf*) { return 0; }
int empty_value(void*, const void*, size_t, bc_buf* out) {
  out->data = nullptr;
  out->size = 0;
  return 0;
}

TEST(CapiMemo, ACallbackThatLeavesOutUnsetIsAnError) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"));
  bc_buf out{nullptr, 0};
  EXPECT_EQ(bc_get_or_compute(b, "k", 1, forgets_out, nullptr, &out, nullptr), BC_EUSER);
  EXPECT_NE(std::string(bc_last_error_message()).find("out->size"), std::string::npos)
      << bc_last_error_message();
  EXPECT_EQ(value_of(b, "k"), "<miss>");
  ASSERT_EQ(bc_get_or_compute(b, "k", 1, empty_value, nullptr, &out, nullptr), BC_OK);
  EXPECT_EQ(out.size, 0u);
  bc_buf_dispose(&out);
  EXPECT_EQ(value_of(b, "k"), "");
  bc_bucket_close(b);
}

TEST(CapiMemo, RefreshComputesAndOverwrites) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"));
  Counted one{"one"}, two{"two"};
  EXPECT_EQ(call_ex(b, "k", counted_fn, &one).value, "one");
  Result r = call_ex(b, "k", counted_fn, &two);
  EXPECT_EQ(r.value, "one");
  EXPECT_EQ(r.hit, 1);
  r = call_ex(b, "k", counted_fn, &two, 0, BC_CALL_REFRESH);
  EXPECT_EQ(r.value, "two");
  EXPECT_EQ(r.hit, 0);
  EXPECT_EQ(two.calls.load(), 1);
  EXPECT_EQ(value_of(b, "k"), "two");
  bc_bucket_close(b);
}

TEST(CapiMemo, SkipCacheNeitherReadsNorWrites) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"));
  Counted one{"one"}, two{"two"};
  Result r = call_ex(b, "absent", counted_fn, &one, 0, BC_CALL_SKIP_CACHE);
  EXPECT_EQ(r.value, "one");
  EXPECT_EQ(r.hit, 0);
  EXPECT_EQ(value_of(b, "absent"), "<miss>");
  ASSERT_EQ(bc_set(b, "k", 1, "cached", 6), BC_OK);
  r = call_ex(b, "k", counted_fn, &two, 0, BC_CALL_SKIP_CACHE);
  EXPECT_EQ(r.value, "two");
  EXPECT_EQ(r.hit, 0);
  EXPECT_EQ(value_of(b, "k"), "cached");
  bc_bucket_close(b);
}

TEST(CapiMemo, MaxAgeRecomputesOlderEntries) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"));
  ASSERT_EQ(bc_set(b, "k", 1, "old", 3), BC_OK);
  std::this_thread::sleep_for(5ms);
  Counted fresh{"fresh"};
  // A bound far longer than the entry's age: a hit.
  Result r = call_ex(b, "k", counted_fn, &fresh, kHourUs);
  EXPECT_EQ(r.value, "old");
  EXPECT_EQ(r.hit, 1);
  // A bound shorter than its age: recomputed and overwritten.
  r = call_ex(b, "k", counted_fn, &fresh, 1000);
  EXPECT_EQ(r.value, "fresh");
  EXPECT_EQ(r.hit, 0);
  EXPECT_EQ(r.expires_us, 0);  // the bucket's lifetime: never
  EXPECT_EQ(value_of(b, "k"), "fresh");
  EXPECT_EQ(fresh.calls.load(), 1);
  bc_bucket_close(b);
}

TEST(CapiMemo, ExOnADeferredBucket) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"), {{{BC_OPT_DEFERRED, 1}}});
  Counted one{"one"}, two{"two"};
  EXPECT_EQ(call_ex(b, "k", counted_fn, &one).value, "one");
  EXPECT_EQ(call_ex(b, "k", counted_fn, &two, 0, BC_CALL_REFRESH).value, "two");
  EXPECT_EQ(call_ex(b, "k", counted_fn, &one, 0, BC_CALL_SKIP_CACHE).value, "one");
  EXPECT_EQ(value_of(b, "k"), "two");
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(call_ex(b, "k", counted_fn, &one, 1000).value, "one");
  EXPECT_EQ(value_of(b, "k"), "one");
  bc_bucket_close(b);
}

TEST(CapiMemo, DisabledMissesAndStoresNothing) {
  ScratchDir dir;
  {
    bc_bucket* b = open_bucket(dir.sub("b"));
    ASSERT_EQ(bc_set(b, "k", 1, "stored", 6), BC_OK);
    bc_bucket_close(b);
  }
  bc_bucket* b = open_bucket(dir.sub("b"), {{{BC_OPT_DISABLED, 1}}});
  EXPECT_EQ(value_of(b, "k"), "<miss>");
  EXPECT_EQ(bc_contains(b, "k", 1), 0);
  ASSERT_EQ(bc_set(b, "n", 1, "new", 3), BC_OK);
  Counted c{"computed"};
  Result r = call_ex(b, "k", counted_fn, &c);
  EXPECT_EQ(r.value, "computed");
  EXPECT_EQ(r.hit, 0);
  r = call_ex(b, "k", counted_fn, &c);
  EXPECT_EQ(r.hit, 0);
  EXPECT_EQ(c.calls.load(), 2);
  bc_bucket_close(b);
  // Enabled again: the stored entry is untouched, nothing new was stored.
  b = open_bucket(dir.sub("b"));
  EXPECT_EQ(value_of(b, "k"), "stored");
  EXPECT_EQ(value_of(b, "n"), "<miss>");
  bc_bucket_close(b);
}

TEST(CapiMemo, DisableEnvironmentVariableAppliesAtOpen) {
  ScratchDir dir;
  bc_bucket* before = open_bucket(dir.sub("b"));
  ASSERT_EQ(setenv("BUCKETCACHE_DISABLE", "1", 1), 0);
  bc_bucket* b = open_bucket(dir.sub("b"));
  ASSERT_EQ(unsetenv("BUCKETCACHE_DISABLE"), 0);
  ASSERT_EQ(bc_set(b, "k", 1, "v", 1), BC_OK);
  EXPECT_EQ(value_of(b, "k"), "<miss>");
  EXPECT_EQ(value_of(before, "k"), "<miss>");  // nothing was stored
  ASSERT_EQ(bc_set(before, "k", 1, "v", 1), BC_OK);
  EXPECT_EQ(value_of(before, "k"), "v");  // opened before: not disabled
  EXPECT_EQ(value_of(b, "k"), "<miss>");
  bc_bucket_close(b);
  bc_bucket_close(before);
}

TEST(CapiMemo, EntrySizeLimitReturnsButDoesNotStore) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"), {{{BC_OPT_ENTRY_SIZE_LIMIT_BYTES, 4}}});
  Counted big{"12345"}, small{"1234"};
  Result r = call_ex(b, "big", counted_fn, &big);
  EXPECT_EQ(r.rc, BC_OK);
  EXPECT_EQ(r.value, "12345");
  EXPECT_EQ(value_of(b, "big"), "<miss>");
  EXPECT_EQ(call_ex(b, "small", counted_fn, &small).value, "1234");
  EXPECT_EQ(value_of(b, "small"), "1234");
  // bc_set is not bound by it.
  ASSERT_EQ(bc_set(b, "set", 3, "123456", 6), BC_OK);
  EXPECT_EQ(value_of(b, "set"), "123456");
  bc_bucket_close(b);
  // Deferred buckets too.
  b = open_bucket(dir.sub("d"), {{{BC_OPT_ENTRY_SIZE_LIMIT_BYTES, 4}, {BC_OPT_DEFERRED, 1}}});
  EXPECT_EQ(call_ex(b, "big", counted_fn, &big).value, "12345");
  EXPECT_EQ(value_of(b, "big"), "<miss>");
  bc_bucket_close(b);
}

// ---- Stale-while-revalidate ------------------------------------------------------------

namespace {

// A compute that blocks until released, recording entries and returns.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  int entered = 0;
  int returned = 0;
  bool fail = false;
  std::string value = "new";

  void release() {
    const std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
  void wait_entered(int n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return entered >= n; });
  }
  void wait_returned(int n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return returned >= n; });
  }
};

int gate_fn(void* user, const void*, size_t, bc_buf* out) {
  auto* g = static_cast<Gate*>(user);
  std::unique_lock<std::mutex> lock(g->mu);
  ++g->entered;
  g->cv.notify_all();
  g->cv.wait(lock, [&] { return g->released; });
  ++g->returned;
  g->cv.notify_all();
  if (g->fail) return 3;
  out->data = g->value.data();
  out->size = g->value.size();
  return 0;
}

// Calls until the returned value is `want` (a refresh landed); each call may queue another
// refresh, which finds the entry fresh and computes nothing.
Result until_value(bc_bucket* b, const std::string& key, bc_compute_fn fn, void* user,
                   const std::string& want) {
  for (;;) {
    Result r = call_ex(b, key, fn, user);
    if (r.rc != BC_OK || r.value == want) return r;
    std::this_thread::sleep_for(1ms);
  }
}

}  // namespace

// Also on a deferred bucket: the refresh is written to the store at once, not kept pending.
TEST(CapiMemo, StaleValueServedWhileOneRefreshRuns) {
  for (const std::int64_t deferred : {0, 1}) {
    SCOPED_TRACE(deferred ? "deferred" : "direct");
    ScratchDir dir;
    bc_bucket* b = open_bucket(dir.sub("b"), {{{BC_OPT_STALE_TTL_US, kHourUs},
                                               {BC_OPT_LIFETIME_US, kHourUs},
                                               {BC_OPT_DEFERRED, deferred}}});
    set_expired(b, "k", "old");
    EXPECT_EQ(value_of(b, "k"), "<miss>");  // bc_get does not serve stale values...
    Gate g;
    // ...bc_get_or_compute does, at once, while the compute is still blocked.
    Result r = call_ex(b, "k", gate_fn, &g);
    EXPECT_EQ(r.rc, BC_OK);
    EXPECT_EQ(r.value, "old");
    EXPECT_EQ(r.hit, 1);
    EXPECT_GT(r.expires_us, 0);
    g.wait_entered(1);
    // More callers, in threads: all get the stale value; no second refresh starts.
    std::vector<std::thread> threads;
    std::atomic<int> stale{0};
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&] {
        const Result t = call_ex(b, "k", gate_fn, &g);
        if (t.rc == BC_OK && t.value == "old" && t.hit == 1) stale.fetch_add(1);
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(stale.load(), 4);
    g.release();
    r = until_value(b, "k", gate_fn, &g, "new");
    EXPECT_EQ(r.value, "new");
    EXPECT_EQ(r.hit, 1);
    EXPECT_EQ(value_of(b, "k"), "new");  // fresh: the bucket's lifetime from the refresh
    {
      const std::lock_guard<std::mutex> lock(g.mu);
      EXPECT_EQ(g.entered, 1);
    }
    std::size_t pending = 99;
    EXPECT_EQ(bc_pending_count(b, &pending), BC_OK);
    EXPECT_EQ(pending, 0u);
    bc_bucket_close(b);
  }
}

TEST(CapiMemo, StaleWindowPassedComputesOnTheCallingThread) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"), {{{BC_OPT_STALE_TTL_US, 1}}});
  set_expired(b, "k", "old");
  Counted c{"computed"};
  const Result r = call_ex(b, "k", counted_fn, &c);
  EXPECT_EQ(r.value, "computed");
  EXPECT_EQ(r.hit, 0);
  bc_bucket_close(b);
}

TEST(CapiMemo, StaleEntryIsKeptByReadsInTheWindowAndPrunedAfter) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"), {{{BC_OPT_STALE_TTL_US, kHourUs}}});
  set_expired(b, "k", "old");
  EXPECT_EQ(value_of(b, "k"), "<miss>");
  Counted c{"new"};
  c.fail = true;  // the refresh fails: the stale value is served again
  EXPECT_EQ(call_ex(b, "k", counted_fn, &c).value, "old");
  bc_prune_info info{0, 0};
  ASSERT_EQ(bc_prune_directory(b, &info), BC_OK);
  EXPECT_GE(info.files, 1u);  // prune deletes expired entries, stale window or not
  Counted ok{"fresh"};
  const Result r = call_ex(b, "k", counted_fn, &ok);
  EXPECT_EQ(r.value, "fresh");
  EXPECT_EQ(r.hit, 0);
  bc_bucket_close(b);
}

TEST(CapiMemo, FailedRefreshKeepsTheStaleValueAndIsLogged) {
  ScratchDir dir;
  static std::mutex log_mu;
  static std::condition_variable log_cv;
  static std::vector<std::string> warnings;
  ASSERT_EQ(bc_set_log_level(BC_LOG_WARN), BC_OK);
  ASSERT_EQ(bc_set_log_callback(
                [](void*, int level, const char* m, size_t n) {
                  if (level < BC_LOG_WARN) return;
                  const std::lock_guard<std::mutex> lock(log_mu);
                  warnings.emplace_back(m, n);
                  log_cv.notify_all();
                },
                nullptr),
            BC_OK);
  bc_bucket* b = open_bucket(dir.sub("b"), {{{BC_OPT_STALE_TTL_US, kHourUs}}});
  set_expired(b, "k", "old");
  Counted c{"new"};
  c.fail = true;
  EXPECT_EQ(call_ex(b, "k", counted_fn, &c).value, "old");
  {
    std::unique_lock<std::mutex> lock(log_mu);
    log_cv.wait(lock, [] {
      for (const auto& w : warnings) {
        if (w.find("background refresh") != std::string::npos) return true;
      }
      return false;
    });
  }
  const Result r = call_ex(b, "k", counted_fn, &c);
  EXPECT_EQ(r.value, "old");
  EXPECT_EQ(r.hit, 1);
  EXPECT_GE(c.calls.load(), 1);
  bc_bucket_close(b);
  bc_set_log_callback(nullptr, nullptr);
  bc_set_log_level(BC_LOG_OFF);
}

TEST(CapiMemo, CloseDuringARefreshDoesNotHang) {
  ScratchDir dir;
  // lock_wait bounds how long close waits for a running refresh.
  bc_bucket* b =
      open_bucket(dir.sub("b"), {{{BC_OPT_STALE_TTL_US, kHourUs}, {BC_OPT_LOCK_WAIT_MS, 20}}});
  set_expired(b, "k", "old");
  static Gate g;  // outlives the abandoned refresh's thread
  EXPECT_EQ(call_ex(b, "k", gate_fn, &g).value, "old");
  g.wait_entered(1);
  bc_bucket_close(b);  // returns although the compute is blocked
  g.release();
  g.wait_returned(1);
  // The abandoned result is dropped; the entry is still the stale one, and the key is not
  // locked: a new bucket refreshes it.
  b = open_bucket(dir.sub("b"), {{{BC_OPT_STALE_TTL_US, kHourUs}}});
  Counted c{"again"};
  EXPECT_EQ(until_value(b, "k", counted_fn, &c, "again").value, "again");
  bc_bucket_close(b);
}

TEST(CapiMemo, CloseWaitsForARefreshThatEnds) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"), {{{BC_OPT_STALE_TTL_US, kHourUs}}});
  set_expired(b, "k", "old");
  Gate g;
  EXPECT_EQ(call_ex(b, "k", gate_fn, &g).value, "old");
  g.wait_entered(1);
  std::thread releaser([&] {
    std::this_thread::sleep_for(20ms);
    g.release();
  });
  bc_bucket_close(b);  // waits (lock_wait is 60 s) for the refresh, which stores its value
  releaser.join();
  b = open_bucket(dir.sub("b"));
  EXPECT_EQ(value_of(b, "k"), "new");
  bc_bucket_close(b);
}

namespace {

// The cross-process compute: appends one byte to <dir>/computes, waits until both
// processes have been served the stale value (<dir>/seen.0 and seen.1), returns "new".
struct CrossCompute {
  std::string dir;
};

int cross_fn(void* user, const void*, size_t, bc_buf* out) {
  const auto* c = static_cast<CrossCompute*>(user);
  const int fd = ::open((c->dir + "/computes").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0 || ::write(fd, "x", 1) != 1) return 1;
  ::close(fd);
  struct stat st {};
  while (::stat((c->dir + "/seen.0").c_str(), &st) != 0 ||
         ::stat((c->dir + "/seen.1").c_str(), &st) != 0) {
    std::this_thread::sleep_for(1ms);
  }
  static const char kNew[] = "new";
  out->data = const_cast<char*>(kNew);
  out->size = 3;
  return 0;
}

}  // namespace

TEST(CapiMemo, StaleWhileRevalidateAcrossProcessesComputesOnce) {
  ScratchDir dir;
  const std::string path = dir.sub("b");
  {
    bc_bucket* b = open_bucket(path);
    set_expired(b, "k", "old");
    bc_bucket_close(b);
  }
  std::vector<pid_t> pids;
  for (int p = 0; p < 2; ++p) {
    pids.push_back(reltest::spawn([&, p] {
      bc_bucket* b =
          open_bucket(path, {{{BC_OPT_STALE_TTL_US, kHourUs}, {BC_OPT_LIFETIME_US, kHourUs}}});
      CrossCompute c{dir.path()};
      const Result first = call_ex(b, "k", cross_fn, &c);
      if (first.rc != BC_OK || first.value != "old" || first.hit != 1) return 10;
      const int fd =
          ::open((dir.path() + "/seen." + std::to_string(p)).c_str(), O_WRONLY | O_CREAT, 0600);
      if (fd < 0) return 11;
      ::close(fd);
      const Result last = until_value(b, "k", cross_fn, &c, "new");
      bc_bucket_close(b);
      return last.rc == BC_OK && last.value == "new" ? 0 : 12;
    }));
  }
  for (const auto& st : reltest::wait_children(pids, 120)) {
    EXPECT_TRUE(st.exited && st.code == 0) << st.describe();
  }
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() + "/computes").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1) << "computes across both processes";
}

// ---- bc_pop ------------------------------------------------------------------------------

TEST(CapiPop, GetAndDelete) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"));
  ASSERT_EQ(bc_set(b, "k", 1, "v", 1), BC_OK);
  bc_buf out{nullptr, 0};
  ASSERT_EQ(bc_pop(b, "k", 1, &out), BC_OK);
  EXPECT_EQ(std::string(static_cast<const char*>(out.data), out.size), "v");
  bc_buf_dispose(&out);
  EXPECT_EQ(value_of(b, "k"), "<miss>");
  EXPECT_EQ(bc_pop(b, "k", 1, &out), BC_ENOTFOUND);
  EXPECT_EQ(out.data, nullptr);
  EXPECT_EQ(bc_pop(nullptr, "k", 1, &out), BC_EINVAL);
  EXPECT_EQ(bc_pop(b, "k", 1, nullptr), BC_EINVAL);
  // An expired entry is not popped.
  ASSERT_EQ(bc_set_ex(b, "e", 1, "x", 1, 1), BC_OK);
  std::this_thread::sleep_for(2ms);
  EXPECT_EQ(bc_pop(b, "e", 1, &out), BC_ENOTFOUND);
  bc_bucket_close(b);
  // Deferred: the pending write is written first, then popped.
  b = open_bucket(dir.sub("d"), {{{BC_OPT_DEFERRED, 1}}});
  ASSERT_EQ(bc_set(b, "k", 1, "p", 1), BC_OK);
  ASSERT_EQ(bc_pop(b, "k", 1, &out), BC_OK);
  EXPECT_EQ(std::string(static_cast<const char*>(out.data), out.size), "p");
  bc_buf_dispose(&out);
  EXPECT_EQ(value_of(b, "k"), "<miss>");
  bc_bucket_close(b);
}

TEST(CapiPop, ConcurrentPopsAcrossProcessesExactlyOneGetsEachEntry) {
  ScratchDir dir;
  const std::string path = dir.sub("b");
  constexpr int kKeys = 200;
  constexpr int kProcs = 4;
  {
    bc_bucket* b = open_bucket(path);
    for (int i = 0; i < kKeys; ++i) {
      const std::string k = "k" + std::to_string(i);
      ASSERT_EQ(bc_set(b, k.data(), k.size(), k.data(), k.size()), BC_OK);
    }
    bc_bucket_close(b);
  }
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pids.push_back(reltest::spawn([&, p] {
      bc_bucket* b = open_bucket(path);
      const int fd = ::open((dir.path() + "/got." + std::to_string(p)).c_str(),
                            O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd < 0) return 10;
      for (int i = 0; i < kKeys; ++i) {
        const std::string k = "k" + std::to_string(i);
        bc_buf out{nullptr, 0};
        const int rc = bc_pop(b, k.data(), k.size(), &out);
        if (rc == BC_OK) {
          const std::string got(static_cast<const char*>(out.data), out.size);
          bc_buf_dispose(&out);
          if (got != k) return 11;
          const std::string line = k + "\n";
          if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
            return 12;
          }
        } else if (rc != BC_ENOTFOUND) {
          return 13;
        }
      }
      ::close(fd);
      bc_bucket_close(b);
      return 0;
    }));
  }
  for (const auto& st : reltest::wait_children(pids, 300)) {
    EXPECT_TRUE(st.exited && st.code == 0) << st.describe();
  }
  std::vector<int> times(kKeys, 0);
  for (int p = 0; p < kProcs; ++p) {
    FILE* f = std::fopen((dir.path() + "/got." + std::to_string(p)).c_str(), "r");
    ASSERT_NE(f, nullptr);
    char line[64];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      const int i = std::atoi(line + 1);
      ASSERT_GE(i, 0);
      ASSERT_LT(i, kKeys);
      ++times[static_cast<std::size_t>(i)];
    }
    std::fclose(f);
  }
  for (int i = 0; i < kKeys; ++i) EXPECT_EQ(times[static_cast<std::size_t>(i)], 1) << "k" << i;
}
