// DeferredWriteBucket, deferred_write() scopes and the DeferredWrites core.
#include "bucketcache/deferred.hpp"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bucketcache/backends/json.hpp"
#include "bucketcache/logging.hpp"
#include "bucketcache/memoize.hpp"
#include "test_util.hpp"

namespace bc = bucketcache;
using bctest::TempDir;
using JsonBucket = bc::Bucket<bc::JsonBackend>;
using JsonDeferred = bc::DeferredWriteBucket<bc::JsonBackend>;

namespace {

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

template <class B, class K>
std::string entry_file(const B& b, const K& key) {
  return b.store().entry_path(b.digest(key));
}

// The level-2 shard directory of key's entry.
template <class B, class K>
std::string shard_dir(const B& b, const K& key) {
  const std::string p = entry_file(b, key);
  return p.substr(0, p.rfind('/'));
}

// A key whose entry lives under another first-level shard than `other`'s.
template <class B>
std::string key_in_another_shard(const B& b, const std::string& other) {
  const std::string first = b.digest(other).hex().substr(0, 2);
  for (int i = 0;; ++i) {
    std::string k = "key-" + std::to_string(i);
    if (b.digest(k).hex().substr(0, 2) != first) return k;
  }
}

// Waits for a child with a deadline; kills it if it overruns. Exit code, or -1.
int wait_child(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ADD_FAILURE() << "child did not finish in " << limit.count() << " s; killed";
  return -1;
}

// ---- DeferredWriteBucket ----

TEST(DeferredWriteBucket, SetsStayInMemoryUntilSync) {
  TempDir dir;
  JsonDeferred d(dir.path());
  JsonBucket other(dir.path());
  d.set("a", 1);
  d.set(std::vector<int>{1, 2}, std::string("two"));
  EXPECT_EQ(d.pending_count(), 2u);
  EXPECT_GT(d.pending_bytes(), 0u);
  // Reads through the deferred bucket see the pending values...
  EXPECT_EQ(d.get<int>("a"), 1);
  EXPECT_TRUE(d.contains("a"));
  EXPECT_EQ(d.try_get<std::string>(std::vector<int>{1, 2}), "two");
  // ...nothing is on disk, and another bucket on the directory sees nothing.
  EXPECT_FALSE(exists(entry_file(d, "a")));
  EXPECT_FALSE(other.try_get<int>("a").has_value());
  EXPECT_FALSE(other.contains("a"));

  d.sync();
  EXPECT_EQ(d.pending_count(), 0u);
  EXPECT_EQ(d.pending_bytes(), 0u);
  EXPECT_TRUE(exists(entry_file(d, "a")));
  EXPECT_EQ(other.get<int>("a"), 1);
  EXPECT_EQ(other.get<std::string>(std::vector<int>{1, 2}), "two");
  EXPECT_EQ(d.get<int>("a"), 1);  // now from the store

  // A later set replaces the pending value, and sync writes the last one.
  d.set("a", 2);
  d.set("a", 3);
  EXPECT_EQ(d.pending_count(), 1u);
  EXPECT_EQ(other.get<int>("a"), 1);
  d.sync();
  other.unload_key("a");
  EXPECT_EQ(other.get<int>("a"), 3);
}

TEST(DeferredWriteBucket, UnloadKeySyncsFirst) {
  TempDir dir;
  JsonDeferred d(dir.path());
  d.set("a", 1);
  d.set("b", 2);
  d.unload_key("a");
  EXPECT_EQ(d.pending_count(), 0u);
  EXPECT_TRUE(exists(entry_file(d, "a")));
  EXPECT_TRUE(exists(entry_file(d, "b")));
  EXPECT_EQ(d.get<int>("a"), 1);  // read back from the file
  JsonBucket other(dir.path());
  EXPECT_EQ(other.get<int>("b"), 2);
}

TEST(DeferredWriteBucket, DestructionSyncsUnsyncedData) {
  TempDir dir;
  {
    JsonDeferred d(dir.path());
    d.set("a", std::string("kept"));
  }
  JsonBucket b(dir.path());
  EXPECT_EQ(b.get<std::string>("a"), "kept");
}

TEST(DeferredWriteBucket, DiscardDropsPendingWrites) {
  TempDir dir;
  {
    JsonDeferred d(dir.path());
    d.set("a", 1);
    d.set("b", 2);
    EXPECT_EQ(d.discard(), 2u);
    EXPECT_FALSE(d.contains("a"));
  }
  JsonBucket b(dir.path());
  EXPECT_FALSE(b.contains("a"));
}

TEST(DeferredWriteBucket, EraseDropsThePendingValueAndTheFile) {
  TempDir dir;
  JsonBucket b(dir.path());
  b.set("a", 1);
  JsonDeferred d(dir.path());
  d.set("a", 2);
  d.set("c", 3);
  EXPECT_TRUE(d.erase("a"));
  EXPECT_FALSE(d.contains("a"));
  EXPECT_FALSE(exists(entry_file(d, "a")));
  EXPECT_TRUE(d.erase("c"));  // pending only
  EXPECT_FALSE(d.erase("never"));
  d.sync();
  EXPECT_FALSE(exists(entry_file(d, "c")));
}

TEST(DeferredWriteBucket, SyncWritesTheExpiryGivenAtSet) {
  TempDir dir;
  bc::Options o;
  o.lifetime = std::chrono::hours(2);
  JsonDeferred d(dir.path(), o);
  d.set("a", 1);
  std::int64_t pending_expiry = 0;
  ASSERT_TRUE(d.try_get<int>("a", pending_expiry).has_value());
  EXPECT_GT(pending_expiry, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  d.sync();
  JsonBucket b(dir.path(), o);
  std::int64_t disk_expiry = 0;
  ASSERT_TRUE(b.try_get<int>("a", disk_expiry).has_value());
  EXPECT_EQ(disk_expiry, pending_expiry);
}

TEST(DeferredWriteBucket, ThreadsSetReadAndSyncConcurrently) {
  TempDir dir;
  JsonDeferred d(dir.path());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&d, t] {
      for (int i = 0; i < 50; ++i) {
        const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
        d.set(key, i);
        EXPECT_EQ(d.get<int>(key), i);
        if (i % 10 == 0) d.sync();
      }
    });
  }
  for (auto& th : threads) th.join();
  d.sync();
  JsonBucket b(dir.path());
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 50; ++i) {
      EXPECT_EQ(b.get<int>("t" + std::to_string(t) + "-" + std::to_string(i)), i);
    }
  }
}

// ---- Sync failures ----

TEST(DeferredSyncFailure, FailedEntryStaysPendingOthersAreWrittenAndRetryWorks) {
  // The shard directory of one key is replaced by a regular file, which fails for root too.
  TempDir dir;
  JsonBucket b(dir.path());
  b.set("ok", std::string("old"));
  const std::string bad = key_in_another_shard(b, "ok");
  JsonDeferred d(dir.path());
  const std::string shard = shard_dir(d, bad);
  bctest::write_file(shard, "not a directory");

  d.set("ok", std::string("new"));
  d.set(bad, std::string("pending"));
  try {
    d.sync();
    FAIL() << "sync() did not report the failure";
  } catch (const bc::IoError& e) {
    EXPECT_EQ(e.code(), bc::ErrorCode::io);
    EXPECT_NE(std::string(e.what()).find("1 of 2"), std::string::npos) << e.what();
  }
  EXPECT_EQ(d.pending_count(), 1u);  // the failed one
  EXPECT_EQ(d.get<std::string>(bad), "pending");
  JsonBucket reader(dir.path());
  EXPECT_EQ(reader.get<std::string>("ok"), "new");  // the other entry was written
  EXPECT_FALSE(reader.contains(bad));

  // unload_key reports the failure too (it syncs first).
  EXPECT_THROW(d.unload_key("ok"), bc::IoError);

  ASSERT_EQ(::unlink(shard.c_str()), 0);
  d.sync();
  EXPECT_EQ(d.pending_count(), 0u);
  EXPECT_EQ(reader.get<std::string>(bad), "pending");
}

// Exit codes of the RLIMIT_FSIZE child: 0 = all checks passed.
int file_size_limit_child(const std::string& path) {
  ::signal(SIGXFSZ, SIG_IGN);  // the write fails with EFBIG instead of killing us
  JsonBucket b(path);
  b.set("big", std::string("old value"));
  JsonDeferred d(path);
  d.set("big", std::string(1 << 20, 'x'));  // a 1 MiB entry
  d.set("small", std::string("s"));
  struct rlimit old_limit;
  if (::getrlimit(RLIMIT_FSIZE, &old_limit) != 0) return 10;
  struct rlimit limit = old_limit;
  limit.rlim_cur = 64 << 10;  // files may not grow past 64 KiB
  if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 11;
  bool threw = false;
  try {
    d.sync();
  } catch (const bc::IoError& e) {
    threw = e.errno_value() == EFBIG;
  }
  if (!threw) return 12;
  if (d.pending_count() != 1) return 13;
  JsonBucket reader(path);
  if (reader.try_get<std::string>("big") != std::string("old value")) return 14;
  if (reader.try_get<std::string>("small") != std::string("s")) return 15;
  if (d.get<std::string>("big").size() != (1u << 20)) return 16;  // still pending, readable
  // No temp file is left next to the entry.
  const std::string entry = entry_file(d, "big");
  const std::string shard = entry.substr(0, entry.rfind('/'));
  int files = 0;
  if (auto* dp = ::opendir(shard.c_str())) {
    while (auto* de = ::readdir(dp)) files += de->d_name[0] != '.';
    ::closedir(dp);
  }
  if (files != 1) return 17;
  if (::setrlimit(RLIMIT_FSIZE, &old_limit) != 0) return 18;
  d.sync();
  reader.unload_key("big");
  if (reader.get<std::string>("big").size() != (1u << 20)) return 19;
  return 0;
}

TEST(DeferredSyncFailure, FileSizeLimitLeavesThePreviousValueOnDisk) {
  TempDir dir;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int code = 20;
    try {
      code = file_size_limit_child(dir.path());
    } catch (...) {
    }
    ::_exit(code);
  }
  EXPECT_EQ(wait_child(pid, std::chrono::seconds(30)), 0)
      << "see file_size_limit_child for the meaning of the code";
}

TEST(DeferredSyncFailure, DestructorLogsWhatItCouldNotWrite) {
  TempDir dir;
  std::vector<std::string> lines;
  std::mutex mu;
  const bc::LogLevel saved = bc::log_level();
  bc::set_log_level(bc::LogLevel::error);
  bc::set_log_callback([&](bc::LogLevel level, std::string_view msg) {
    std::lock_guard<std::mutex> lock(mu);
    if (level >= bc::LogLevel::error) lines.emplace_back(msg);
  });
  {
    JsonDeferred d(dir.path());
    const std::string shard = shard_dir(d, "k");
    bctest::write_file(shard, "x");
    d.set("k", 1);
  }  // must not throw
  bc::set_log_callback({});
  bc::set_log_level(saved);
  bool lost = false;
  for (const auto& l : lines) lost |= l.find("lost: 1 entries not written") != std::string::npos;
  EXPECT_TRUE(lost);
}

// ---- deferred_write() scopes ----

TEST(DeferredScope, WritesLandAtTheEndAndTheBucketSeesThem) {
  TempDir dir;
  JsonBucket b(dir.path());
  b.set("before", 0);
  {
    auto scope = bc::deferred_write(b);
    scope.set("a", 1);
    scope.set("b", std::string("two"));
    EXPECT_EQ(scope.get<int>("a"), 1);
    EXPECT_EQ(scope.get<int>("before"), 0);  // reads fall through to the bucket
    EXPECT_EQ(scope.pending_count(), 2u);
    EXPECT_FALSE(exists(entry_file(b, "a")));
    EXPECT_FALSE(b.contains("a"));
    EXPECT_FALSE(b.try_get<int>("a").has_value());
  }
  EXPECT_TRUE(exists(entry_file(b, "a")));
  EXPECT_EQ(b.get<int>("a"), 1);
  EXPECT_EQ(b.get<std::string>("b"), "two");
  JsonBucket other(dir.path());
  EXPECT_EQ(other.get<int>("a"), 1);
}

TEST(DeferredScope, AnExceptionEndingTheScopeStillWritesPendingValues) {
  TempDir dir;
  JsonBucket b(dir.path());
  try {
    auto scope = bc::deferred_write(b);
    scope.set("a", 1);
    throw std::runtime_error("leaving the scope");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(b.get<int>("a"), 1);
}

TEST(DeferredScope, DiscardInAHandlerDropsPendingValues) {
  TempDir dir;
  JsonBucket b(dir.path());
  try {
    auto scope = bc::deferred_write(b);
    try {
      scope.set("a", 1);
      throw std::runtime_error("failed half way");
    } catch (...) {
      EXPECT_EQ(scope.discard(), 1u);
      throw;
    }
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(b.contains("a"));
  EXPECT_FALSE(exists(entry_file(b, "a")));
}

TEST(DeferredScope, SyncInsideTheScopeAndUnloadKeySyncs) {
  TempDir dir;
  JsonBucket b(dir.path());
  auto scope = bc::deferred_write(b);
  scope.set("a", 1);
  scope.sync();
  EXPECT_EQ(b.get<int>("a"), 1);
  scope.set("b", 2);
  scope.unload_key("b");
  EXPECT_EQ(scope.pending_count(), 0u);
  EXPECT_EQ(b.get<int>("b"), 2);
  EXPECT_EQ(&scope.bucket(), &b);
}

// ---- Memoized functions on deferred buckets ----

TEST(DeferredMemoize, MemoizeOnAScope) {
  TempDir dir;
  JsonBucket b(dir.path());
  int calls = 0;
  auto square = [&calls](int x) {
    ++calls;
    return x * x;
  };
  {
    auto scope = bc::deferred_write(b);
    auto f = bc::memoize(scope, "square", square);
    EXPECT_EQ(f(3), 9);
    EXPECT_EQ(f(3), 9);  // served from the pending value
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(scope.pending_count(), 1u);
    EXPECT_FALSE(exists(b.store().entry_path(b.store().digest(f.canonical_key(3)))));
    f.precache(100, 10);
    EXPECT_EQ(f.refresh(4), 16);
    EXPECT_EQ(scope.pending_count(), 3u);
  }
  auto g = bc::memoize(b, "square", square);
  EXPECT_EQ(g(3), 9);
  EXPECT_EQ(g(10), 100);
  EXPECT_EQ(g(4), 16);
  EXPECT_EQ(calls, 2);
}

TEST(DeferredMemoize, MemoizeOnADeferredWriteBucketComputesOnceAcrossThreads) {
  TempDir dir;
  JsonDeferred d(dir.path());
  std::atomic<int> calls{0};
  auto slow = bc::memoize(d, "slow", [&calls](int x) {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return x + 1;
  });
  std::atomic<int> ready{0};
  std::vector<int> results(4, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < 4) std::this_thread::yield();
      results[static_cast<std::size_t>(i)] = slow(41);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), 1);
  for (int r : results) EXPECT_EQ(r, 42);
  EXPECT_EQ(d.pending_count(), 1u);
  d.sync();
  JsonBucket b(dir.path());
  auto check = bc::memoize(b, "slow", [](int) { return -1; });
  EXPECT_EQ(check(41), 42);
}

TEST(DeferredMemoize, ExceptionPendsNothingAndAWaiterComputesInstead) {
  TempDir dir;
  JsonDeferred d(dir.path());
  std::atomic<int> calls{0};
  std::promise<void> leader_in;
  auto leader_in_f = leader_in.get_future();
  std::promise<void> fail;
  std::shared_future<void> fail_f = fail.get_future().share();
  auto f = bc::memoize(d, "flaky", [&](int x) {
    if (calls++ == 0) {
      leader_in.set_value();
      fail_f.wait_for(std::chrono::seconds(30));
      throw std::runtime_error("boom");
    }
    return x;
  });
  std::thread leader([&] { EXPECT_THROW(f(1), std::runtime_error); });
  ASSERT_EQ(leader_in_f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto waiter = std::async(std::launch::async, [&] { return f(1); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  fail.set_value();
  leader.join();
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(waiter.get(), 1);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(d.pending_count(), 1u);

  auto g = bc::memoize(d, "always-fails", [](int) -> int { throw std::logic_error("no"); });
  EXPECT_THROW(g(1), std::logic_error);
  EXPECT_FALSE(g.cached(1));
  EXPECT_EQ(d.pending_count(), 1u);
}

TEST(DeferredMemoize, WaiterGivesUpAfterLockWait) {
  TempDir dir;
  bc::Options o;
  o.lock_wait = std::chrono::milliseconds(100);
  JsonDeferred d(dir.path(), o);
  std::promise<void> holder_in;
  auto holder_in_f = holder_in.get_future();
  std::promise<void> release;
  std::shared_future<void> release_f = release.get_future().share();
  std::atomic<int> calls{0};
  auto f = bc::memoize(d, "slow", [&](int x) {
    if (calls++ == 0) {
      holder_in.set_value();
      release_f.wait_for(std::chrono::seconds(30));
    }
    return x;
  });
  std::thread holder([&] { EXPECT_EQ(f(3), 3); });
  ASSERT_EQ(holder_in_f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto waiter = std::async(std::launch::async, [&] { return f(3); });
  const bool done = waiter.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  release.set_value();
  holder.join();
  ASSERT_TRUE(done) << "the waiter hung past lock_wait";
  EXPECT_EQ(waiter.get(), 3);
  EXPECT_EQ(calls.load(), 2);
}

}  // namespace

// ---- Options::disabled, entry_size_limit_bytes and stale_ttl on typed deferred buckets:
// as on a direct Bucket (docs/memoize.md).

namespace {

bc::Options hour_options() {
  bc::Options o;
  o.lifetime = std::chrono::hours(1);
  return o;
}

}  // namespace

TEST(DeferredOptions, DisabledKeepsNothingPendingAndComputesAlways) {
  TempDir dir;
  bc::Options o = hour_options();
  o.disabled = true;
  JsonDeferred d(dir.sub("b"), o);
  d.set("k", 1);
  EXPECT_EQ(d.pending_count(), 0u);
  EXPECT_FALSE(d.try_get<int>("k").has_value());
  int calls = 0;
  auto f = bc::memoize(d, "f", std::function<int(int)>([&](int x) { return x + ++calls; }));
  EXPECT_EQ(f(1), 2);
  EXPECT_EQ(f(1), 3);  // computed again: nothing cached
  bool hit = true;
  EXPECT_EQ(d.get_or_compute<int>(
                "g", [&] { return ++calls; }, &hit),
            3);
  EXPECT_FALSE(hit);
  EXPECT_EQ(d.pending_count(), 0u);
  d.sync();
  EXPECT_EQ(d.size(), 0u);

  // A deferred_write() scope on a disabled bucket: the same.
  JsonBucket b(dir.sub("s"), o);
  auto scope = bc::deferred_write(b);
  scope.set("k", 1);
  EXPECT_EQ(scope.get_or_compute<int>("g", [] { return 7; }), 7);
  EXPECT_EQ(scope.pending_count(), 0u);
}

TEST(DeferredOptions, ResultOverTheEntrySizeLimitIsReturnedNotKeptPending) {
  TempDir dir;
  bc::Options o = hour_options();
  o.entry_size_limit_bytes = 3;  // JSON bytes: 1234 is 4, 123 is 3
  JsonDeferred d(dir.sub("b"), o);
  int calls = 0;
  auto f = bc::memoize(d, "f", std::function<int(int)>([&](int x) {
                         ++calls;
                         return x;
                       }));
  EXPECT_EQ(f(1234), 1234);
  EXPECT_EQ(d.pending_count(), 0u);
  EXPECT_EQ(f(1234), 1234);
  EXPECT_EQ(calls, 2);  // not cached
  EXPECT_EQ(f(123), 123);
  EXPECT_EQ(d.pending_count(), 1u);
  EXPECT_EQ(f(123), 123);
  EXPECT_EQ(calls, 3);
  d.sync();
  EXPECT_EQ(d.size(), 1u);
  // set() is not bound by it, as on a direct bucket.
  d.set("big", 123456);
  EXPECT_EQ(d.pending_count(), 1u);
}

TEST(DeferredOptions, PerCallOptionsOfTheCore) {
  TempDir dir;
  bc::Store s(dir.sub("b"), "json", "json", hour_options());
  bc::DeferredWrites d(s);
  const std::string kb = "\"k\"";
  const bc::KeyRef k(s.digest(kb), kb);
  bool hit = false;
  EXPECT_EQ(*d.get_or_compute(
                  k, [] { return std::string("1"); }, &hit)
                 .value,
            "1");
  EXPECT_FALSE(hit);
  bc::ComputeCall skip;
  skip.skip_cache = true;
  EXPECT_EQ(*d.get_or_compute(
                  k, [] { return std::string("2"); }, skip, &hit)
                 .value,
            "2");
  EXPECT_EQ(*d.get_or_compute(
                  k, [] { return std::string("x"); }, &hit)
                 .value,
            "1");
  EXPECT_TRUE(hit);
  bc::ComputeCall refresh;
  refresh.refresh = true;
  EXPECT_EQ(*d.get_or_compute(
                  k, [] { return std::string("3"); }, refresh, &hit)
                 .value,
            "3");
  EXPECT_FALSE(hit);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  bc::ComputeCall young;
  young.max_age_us = 3600LL * 1000 * 1000;
  EXPECT_EQ(*d.get_or_compute(
                  k, [] { return std::string("x"); }, young, &hit)
                 .value,
            "3");
  EXPECT_TRUE(hit);
  young.max_age_us = 1;
  EXPECT_EQ(*d.get_or_compute(
                  k, [] { return std::string("4"); }, young, &hit)
                 .value,
            "4");
  EXPECT_FALSE(hit);
  EXPECT_EQ(d.pending_count(), 1u);
  d.sync();
  bc::Entry e;
  ASSERT_EQ(s.get(k.digest, e), bc::ReadStatus::found);
  EXPECT_EQ(*e.value, "4");
}

TEST(DeferredOptions, ServesStaleAndRefreshesIntoTheStore) {
  TempDir dir;
  bc::Options o = hour_options();
  o.stale_ttl = std::chrono::hours(1);
  JsonDeferred d(dir.sub("b"), o);
  std::atomic<int> calls{0};
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  auto f = bc::memoize(d, "f", std::function<int(int)>([&](int x) {
                         const int n = calls.fetch_add(1) + 1;
                         if (n > 1) {
                           std::unique_lock<std::mutex> lock(mu);
                           // Bounded, so that a refresh on the calling thread fails the
                           // test below instead of hanging it.
                           cv.wait_for(lock, std::chrono::seconds(30), [&] { return released; });
                         }
                         return x * 100 + n;
                       }));
  EXPECT_EQ(f(1), 101);
  d.sync();
  // Expire the stored entry now (its own lifetime of 1 us): stale from here on.
  const std::string key = f.canonical_key(1);
  d.store().set_ex(bc::KeyRef(d.store().digest(key), key), "101", 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  bool hit = false;
  EXPECT_EQ(d.get_or_compute_stale<int>(
                1, [] { return -1; }, [] { return -2; }, &hit),
            -1);  // another key (1, not the memoized call's): a miss, computed here
  EXPECT_FALSE(hit);
  EXPECT_EQ(f(1), 101);  // stale, at once: the refresh is blocked
  EXPECT_EQ(f(1), 101);
  {
    const std::lock_guard<std::mutex> lock(mu);
    released = true;
  }
  cv.notify_all();
  while (f(1) != 102) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(calls.load(), 2);
  // The refresh went into the store, not into the pending writes.
  EXPECT_EQ(d.pending_count(), 1u);  // only the miss above
  bc::Entry stored;
  ASSERT_EQ(d.store().get(d.store().digest(key), stored), bc::ReadStatus::found);
  EXPECT_EQ(*stored.value, "102");
}
