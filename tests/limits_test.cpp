// Bounds and statistics (issue 14): the size limit with lrs / lru eviction, and the
// persisted counters (Store::stats, reset_stats) - on Store and the typed front.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bucketcache/backends/raw.hpp"
#include "bucketcache/bucket.hpp"
#include "bucketcache/error.hpp"
#include "bucketcache/store.hpp"
#include "test_util.hpp"

namespace bc = bucketcache;
using bctest::TempDir;
using namespace std::chrono_literals;

namespace {

void set(bc::Store& s, const std::string& k, const std::string& v) {
  s.set(bc::KeyRef(s.digest(k), k), v);
}

bool has(bc::Store& s, const std::string& k) {
  s.unload_key(s.digest(k));
  return s.contains(s.digest(k));
}

std::string key_of(int i) { return "key-" + std::to_string(1000 + i); }

// Bytes one entry of key_of(i) and a value of n bytes costs (header, key, value).
std::uint64_t entry_bytes(std::size_t n) { return 128 + key_of(0).size() + n; }

bc::Options limited(std::uint64_t limit, bc::Eviction eviction = bc::Eviction::lrs) {
  bc::Options o;
  o.size_limit_bytes = limit;
  o.eviction = eviction;
  return o;
}

}  // namespace

TEST(Limits, OptionsRoundTripAndBadValuesAreRejected) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw", limited(12345, bc::Eviction::lru));
  EXPECT_EQ(s.options().size_limit_bytes, 12345u);
  EXPECT_EQ(s.options().eviction, bc::Eviction::lru);
  EXPECT_EQ(s.option(bc::OptionKey::size_limit_bytes), 12345);
  EXPECT_EQ(s.option(bc::OptionKey::eviction), 1);
  bc::Store d(dir.path(), "raw", "raw");
  EXPECT_EQ(d.options().size_limit_bytes, 0u);  // off by default
  EXPECT_EQ(d.options().eviction, bc::Eviction::lrs);
  EXPECT_THROW(bc::Store(dir.path(), "raw", "raw", {{bc::OptionKey::eviction, 2}}),
               bc::InvalidArgument);
  EXPECT_THROW(bc::Store(dir.path(), "raw", "raw", {{bc::OptionKey::size_limit_bytes, -1}}),
               bc::InvalidArgument);
}

TEST(Limits, NoLimitNeverEvicts) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  for (int i = 0; i < 50; ++i) set(s, key_of(i), std::string(1000, 'v'));
  const bc::Stats st = s.stats();
  EXPECT_EQ(st.entries, 50u);
  EXPECT_EQ(st.evictions, 0u);
}

TEST(Limits, LrsEvictsTheOldestStoredAndKeepsTheNewest) {
  TempDir dir;
  const std::size_t value = 1000;
  const std::uint64_t limit = 10 * entry_bytes(value);
  bc::Store s(dir.path(), "raw", "raw", limited(limit));
  const int n = 40;
  for (int i = 0; i < n; ++i) {
    set(s, key_of(i), std::string(value, static_cast<char>('a' + i % 26)));
    const bc::Stats st = s.stats();
    // Settled after every write: within the limit.
    ASSERT_LE(st.bytes, limit) << "after write " << i;
  }
  // The kept entries are exactly the newest: no entry is kept while a newer one is gone.
  std::vector<bool> kept;
  for (int i = 0; i < n; ++i) kept.push_back(has(s, key_of(i)));
  int first_kept = n;
  for (int i = 0; i < n; ++i) {
    if (kept[static_cast<std::size_t>(i)]) {
      first_kept = i;
      break;
    }
  }
  for (int i = first_kept; i < n; ++i) EXPECT_TRUE(kept[static_cast<std::size_t>(i)]) << i;
  EXPECT_TRUE(kept.back());
  const bc::Stats st = s.stats();
  EXPECT_EQ(st.entries, static_cast<std::uint64_t>(n - first_kept));
  EXPECT_EQ(st.evictions, static_cast<std::uint64_t>(first_kept));
  EXPECT_EQ(st.writes, static_cast<std::uint64_t>(n));
  EXPECT_GE(st.entries, 8u);  // evicts down to 90% of the limit, not further
}

TEST(Limits, LruKeepsARecentlyReadEntryOverOlderStoredOnes) {
  TempDir dir;
  const std::size_t value = 1000;
  const std::uint64_t limit = 10 * entry_bytes(value);
  bc::Store s(dir.path(), "raw", "raw", limited(limit, bc::Eviction::lru));
  for (int i = 0; i < 10; ++i) set(s, key_of(i), std::string(value, 'x'));
  bc::Entry e;
  ASSERT_EQ(s.get(s.digest(key_of(0)), e),
            bc::ReadStatus::found);  // the oldest stored, now the most recently used
  for (int i = 10; i < 14; ++i) set(s, key_of(i), std::string(value, 'y'));
  EXPECT_TRUE(has(s, key_of(0)));
  EXPECT_FALSE(has(s, key_of(1)));  // the least recently used goes first
  EXPECT_TRUE(has(s, key_of(13)));
  EXPECT_LE(s.stats().bytes, limit);
  // Scans (stats, the evictions themselves) read every header: they are not uses, so the
  // entry read stays newer than the older ones only written, round after round.
  for (int i = 14; i < 17; ++i) set(s, key_of(i), std::string(value, 'z'));
  EXPECT_LE(s.stats().bytes, limit);
  EXPECT_TRUE(has(s, key_of(0)));
  for (int i = 5; i < 9; ++i) EXPECT_FALSE(has(s, key_of(i))) << i;
  EXPECT_TRUE(has(s, key_of(9)));

  // The same sequence under lrs evicts key 0.
  TempDir other;
  bc::Store t(other.path(), "raw", "raw", limited(limit));
  for (int i = 0; i < 10; ++i) set(t, key_of(i), std::string(value, 'x'));
  ASSERT_EQ(t.get(t.digest(key_of(0)), e), bc::ReadStatus::found);
  for (int i = 10; i < 14; ++i) set(t, key_of(i), std::string(value, 'y'));
  EXPECT_FALSE(has(t, key_of(0)));
}

TEST(Limits, LruRefreshesTheAccessTimeNotTheEntryVersion) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw", limited(1 << 20, bc::Eviction::lru));
  set(s, "k", "v");
  const std::string path = s.entry_path(s.digest("k"));
  struct timespec old_times[2] = {{1000, 0}, {0, UTIME_OMIT}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), old_times, 0), 0);
  struct stat before;
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  bc::Entry e;
  ASSERT_EQ(s.get(s.digest("k"), e), bc::ReadStatus::found);  // a memory hit
  struct stat after;
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_GT(after.st_atim.tv_sec, 1000);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
}

TEST(Limits, EvictionLeavesOtherBucketsAndForeignFiles) {
  TempDir dir;
  const std::size_t value = 1000;
  const std::uint64_t limit = 5 * entry_bytes(value);
  bc::Store json(dir.path(), "raw", "json");    // another key format, same directory
  bc::Store other(dir.path(), "other", "raw");  // another backend
  for (int i = 0; i < 20; ++i) {
    set(json, key_of(i), std::string(value, 'j'));
    set(other, key_of(i), std::string(value, 'o'));
  }
  const std::string foreign = dir.path() + "/notes.txt";
  std::ofstream(foreign) << "not an entry";
  bc::Store s(dir.path(), "raw", "raw", limited(limit));
  for (int i = 0; i < 20; ++i) set(s, key_of(i), std::string(value, 's'));
  EXPECT_LE(s.stats().bytes, limit);
  EXPECT_EQ(json.stats().entries, 20u);
  EXPECT_EQ(other.stats().entries, 20u);
  EXPECT_EQ(bctest::read_file(foreign), "not an entry");
}

TEST(Limits, OneEntryLargerThanTheLimitIsNotKept) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw", limited(1000));
  set(s, "small", "x");
  set(s, "big", std::string(5000, 'b'));
  const bc::Stats st = s.stats();
  EXPECT_LE(st.bytes, 1000u);
  EXPECT_EQ(st.evictions, 2u);
}

TEST(Limits, ThreadsWritingSettleWithinTheLimit) {
  TempDir dir;
  const std::size_t value = 500;
  const std::uint64_t limit = 20 * entry_bytes(value);
  bc::Store s(dir.path(), "raw", "raw", limited(limit));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&s, t, value] {
      for (int i = 0; i < 100; ++i) set(s, key_of(t * 1000 + i), std::string(value, 't'));
    });
  }
  for (auto& th : threads) th.join();
  const bc::Stats st = s.stats();
  EXPECT_LE(st.bytes, limit);
  EXPECT_EQ(st.writes, 400u);
  EXPECT_EQ(st.entries + st.evictions, 400u);
}

TEST(Stats, CountsHitsMissesWritesAndExpired) {
  TempDir dir;
  bc::Options o;
  o.lifetime = 1h;
  bc::Store s(dir.path(), "raw", "raw", o);
  s.reset_stats();
  set(s, "a", "1");
  set(s, "b", "2");
  bc::Entry e;
  EXPECT_EQ(s.get(s.digest("a"), e), bc::ReadStatus::found);  // memory hit
  s.unload_all();
  EXPECT_EQ(s.get(s.digest("a"), e), bc::ReadStatus::found);  // file hit
  EXPECT_NE(s.get(s.digest("z"), e), bc::ReadStatus::found);  // miss
  bool hit = true;
  s.get_or_compute(
      bc::KeyRef(s.digest("c"), "c"), [] { return std::string("3"); }, &hit);
  EXPECT_FALSE(hit);
  s.get_or_compute(
      bc::KeyRef(s.digest("c"), "c"), [] { return std::string("3"); }, &hit);
  EXPECT_TRUE(hit);
  s.set_ex(bc::KeyRef(s.digest("old"), "old"), "x", 1);  // expires 1 us after being set
  std::this_thread::sleep_for(2ms);
  EXPECT_NE(s.get(s.digest("old"), e), bc::ReadStatus::found);  // found expired and deleted: a miss
  const bc::Stats st = s.stats();
  EXPECT_EQ(st.hits, 3u);
  EXPECT_EQ(st.misses, 3u);  // z, c's compute, old
  EXPECT_EQ(st.writes, 4u);  // a, b, c, old
  EXPECT_EQ(st.expired, 1u);
  EXPECT_EQ(st.evictions, 0u);
  EXPECT_EQ(st.entries, 3u);
  EXPECT_EQ(st.bytes, (128 + 1 + 1) * 3u);
  const bc::Stats counters_only = s.stats(false);
  EXPECT_EQ(counters_only.hits, 3u);
  EXPECT_EQ(counters_only.entries, 0u);
}

TEST(Stats, PruneCountsExpiredEntries) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  for (int i = 0; i < 3; ++i) s.set_ex(bc::KeyRef(s.digest(key_of(i)), key_of(i)), "x", 1);
  std::this_thread::sleep_for(2ms);
  s.prune_directory();
  EXPECT_EQ(s.stats().expired, 3u);
}

TEST(Stats, PersistedAtCloseAndSharedByEveryStoreOfTheBucket) {
  TempDir dir;
  {
    bc::Store a(dir.path(), "raw", "raw");
    bc::Store b(dir.path(), "raw", "raw");
    set(a, "k", "v");
    bc::Entry e;
    for (int i = 0; i < 5; ++i) EXPECT_EQ(a.get(a.digest("k"), e), bc::ReadStatus::found);
    for (int i = 0; i < 7; ++i) EXPECT_EQ(b.get(b.digest("k"), e), bc::ReadStatus::found);
    EXPECT_NE(b.get(b.digest("nope"), e), bc::ReadStatus::found);
  }
  bc::Store c(dir.path(), "raw", "raw");
  bc::Stats st = c.stats();
  EXPECT_EQ(st.hits, 12u);
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.writes, 1u);
  // Another bucket of the directory has its own counters.
  bc::Store json(dir.path(), "raw", "json");
  EXPECT_EQ(json.stats().hits, 0u);
  c.reset_stats();
  st = c.stats();
  EXPECT_EQ(st.hits, 0u);
  EXPECT_EQ(st.misses, 0u);
  EXPECT_EQ(st.writes, 0u);
  EXPECT_EQ(st.entries, 1u);  // the store is untouched
}

TEST(Stats, ThreadsCountExactly) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  set(s, "k", "v");
  s.reset_stats();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&s] {
      bc::Entry e;
      for (int i = 0; i < 10000; ++i) s.get(s.digest(i % 2 == 0 ? "k" : "absent"), e);
    });
  }
  for (auto& th : threads) th.join();
  const bc::Stats st = s.stats(false);
  EXPECT_EQ(st.hits, 20000u);
  EXPECT_EQ(st.misses, 20000u);
}

TEST(Stats, TypedBucketCounts) {
  TempDir dir;
  bc::Bucket<bc::RawBackend> b(dir.path());
  b.set(std::string("k"), std::string("v"));
  EXPECT_EQ(b.get<std::string>(std::string("k")), "v");
  EXPECT_FALSE(b.try_get<std::string>(std::string("none")).has_value());
  const bc::Stats st = b.stats();
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.writes, 1u);
  EXPECT_EQ(st.entries, 1u);
  b.reset_stats();
  EXPECT_EQ(b.stats().hits, 0u);
}
