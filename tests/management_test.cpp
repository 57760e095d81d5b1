// Cache management (issue 14, entries): per-entry lifetime, add, touch, update/incr, pop,
// max age, clear, for_each, multi get/set - on Store and the typed front.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bucketcache/backends/json.hpp"
#include "bucketcache/backends/raw.hpp"
#include "bucketcache/bucket.hpp"
#include "bucketcache/deferred.hpp"
#include "bucketcache/error.hpp"
#include "bucketcache/store.hpp"
#include "storage/entry_format.hpp"
#include "test_util.hpp"

namespace bc = bucketcache;
using bctest::TempDir;
using namespace std::chrono_literals;

namespace {

bc::Options lifetime_of(std::chrono::microseconds l) {
  bc::Options o;
  o.lifetime = l;
  return o;
}

std::string get_string(bc::Store& s, const std::string& k) {
  bc::Entry e;
  if (s.get(s.digest(k), e) != bc::ReadStatus::found) return "<miss>";
  return *e.value;
}

bc::format::EntryHeader header_of(const bc::Store& s, const std::string& k) {
  const std::string bytes = bctest::read_file(s.entry_path(s.digest(k)));
  bc::format::EntryHeader h;
  EXPECT_EQ(bc::format::decode_header(reinterpret_cast<const unsigned char*>(bytes.data()), h),
            bc::format::HeaderStatus::ok);
  return h;
}

void set(bc::Store& s, const std::string& k, const std::string& v) {
  s.set(bc::KeyRef(s.digest(k), k), v);
}

}  // namespace

TEST(Management, SetExRecordsExplicitLifetimeAndEscapesTheLifetimeRule) {
  TempDir dir;
  {
    bc::Store writer(dir.path(), "raw", "raw", lifetime_of(1h));
    writer.set_ex(bc::KeyRef(writer.digest("long"), "long"), "v",
                  std::chrono::microseconds(240h).count());
    writer.set_ex(bc::KeyRef(writer.digest("never"), "never"), "n", 0);
    writer.set_ex(bc::KeyRef(writer.digest("default"), "default"), "d", bc::kBucketLifetime);
    set(writer, "plain", "p");
    EXPECT_NE(header_of(writer, "long").flags & bc::format::kExplicitLifetime, 0u);
    EXPECT_EQ(header_of(writer, "never").expires_us, 0);
    EXPECT_EQ(header_of(writer, "default").flags & bc::format::kExplicitLifetime, 0u);
  }
  // A bucket of a shorter lifetime: entries of the bucket's default kind with a longer
  // recorded lifetime are misses; entries given their own lifetime are honoured.
  bc::Store reader(dir.path(), "raw", "raw", lifetime_of(1min));
  EXPECT_EQ(get_string(reader, "long"), "v");
  EXPECT_EQ(get_string(reader, "never"), "n");
  EXPECT_EQ(get_string(reader, "default"), "<miss>");
  EXPECT_EQ(get_string(reader, "plain"), "<miss>");
}

TEST(Management, SetExShortLifetimeExpires) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw", lifetime_of(0us));
  s.set_ex(bc::KeyRef(s.digest("k"), "k"), "v", 20000);
  EXPECT_EQ(get_string(s, "k"), "v");
  std::this_thread::sleep_for(40ms);
  EXPECT_EQ(get_string(s, "k"), "<miss>");
}

TEST(Management, AddOnlyIfAbsent) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  const bc::KeyRef k(s.digest("k"), "k");
  EXPECT_TRUE(s.add(k, "first"));
  EXPECT_FALSE(s.add(k, "second"));
  EXPECT_EQ(get_string(s, "k"), "first");
  ASSERT_TRUE(s.erase(k.digest));
  EXPECT_TRUE(s.add(k, "third"));
  EXPECT_EQ(get_string(s, "k"), "third");
}

TEST(Management, AddReplacesExpiredCorruptAndLongerLifetimeEntries) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw", lifetime_of(1h));
  const bc::KeyRef k(s.digest("k"), "k");
  s.set_ex(k, "old", 1000);
  std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(s.add(k, "after expiry"));
  EXPECT_EQ(get_string(s, "k"), "after expiry");

  bctest::write_file(s.entry_path(k.digest), "garbage that is not an entry");
  EXPECT_TRUE(s.add(k, "after corrupt"));
  EXPECT_EQ(get_string(s, "k"), "after corrupt");

  {
    bc::Store longer(dir.path(), "raw", "raw", lifetime_of(100h));
    set(longer, "k", "longer");
  }
  s.unload_all();
  EXPECT_EQ(get_string(s, "k"), "<miss>");
  EXPECT_TRUE(s.add(k, "after longer"));
  EXPECT_EQ(get_string(s, "k"), "after longer");
}

TEST(Management, AddKeepsMemoryLayerCoherent) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  const bc::KeyRef k(s.digest("k"), "k");
  set(s, "k", "cached");
  EXPECT_EQ(get_string(s, "k"), "cached");  // in memory now
  EXPECT_FALSE(s.add(k, "x"));
  EXPECT_EQ(get_string(s, "k"), "cached");
}

TEST(Management, ThreadsAddingOneKeyExactlyOneWins) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  for (int round = 0; round < 20; ++round) {
    const std::string key = "k" + std::to_string(round);
    std::atomic<int> wins{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        if (s.add(bc::KeyRef(s.digest(key), key), std::to_string(t))) ++wins;
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(wins.load(), 1) << key;
  }
}

TEST(Management, TouchSetsNewExpiryAndDropsMemoryCopy) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw", lifetime_of(1h));
  const bc::Digest d = s.digest("k");
  EXPECT_FALSE(s.touch(d, 1000));  // no entry
  set(s, "k", "v");
  bc::Entry e;
  ASSERT_EQ(s.get(d, e), bc::ReadStatus::found);
  const std::int64_t first = e.expires_us;
  EXPECT_TRUE(s.touch(d, std::chrono::microseconds(2h).count()));
  ASSERT_EQ(s.get(d, e), bc::ReadStatus::found);
  EXPECT_GT(e.expires_us, first);  // memory did not keep the old expiry
  EXPECT_NE(header_of(s, "k").flags & bc::format::kExplicitLifetime, 0u);
  EXPECT_EQ(header_of(s, "k").flags & bc::format::kKeyOmitted, 0u);
  EXPECT_TRUE(s.touch(d, 0));
  ASSERT_EQ(s.get(d, e), bc::ReadStatus::found);
  EXPECT_EQ(e.expires_us, 0);
  EXPECT_EQ(*e.value, "v");
  EXPECT_TRUE(s.touch(d, 10000));
  std::this_thread::sleep_for(30ms);
  EXPECT_NE(s.get(d, e), bc::ReadStatus::found);
  EXPECT_FALSE(s.touch(d, 1000));  // expired: not usable
}

TEST(Management, TouchWithBucketLifetimeKeepsEntryUsable) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw", lifetime_of(200ms));
  set(s, "k", "v");
  std::this_thread::sleep_for(120ms);
  ASSERT_TRUE(s.touch(s.digest("k")));
  std::this_thread::sleep_for(120ms);
  s.unload_all();
  EXPECT_EQ(get_string(s, "k"), "v");  // 240 ms after creation, 120 after the touch
}

TEST(Management, TouchKeepsKeyOmittedFlag) {
  TempDir dir;
  bc::Options o;
  o.store_keys = false;
  bc::Store s(dir.path(), "raw", "raw", o);
  set(s, "k", "v");
  ASSERT_TRUE(s.touch(s.digest("k"), 0));
  EXPECT_NE(header_of(s, "k").flags & bc::format::kKeyOmitted, 0u);
  s.unload_all();
  EXPECT_EQ(get_string(s, "k"), "v");
}

TEST(Management, UpdateReadModifyWrite) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw", lifetime_of(1h));
  const bc::KeyRef k(s.digest("n"), "n");
  auto add_one = [](const bc::Entry* cur) {
    return std::to_string(cur == nullptr ? 1 : std::stoll(*cur->value) + 1);
  };
  EXPECT_EQ(*s.update(k, add_one).value, "1");
  EXPECT_EQ(*s.update(k, add_one).value, "2");
  EXPECT_EQ(get_string(s, "n"), "2");
  // An exception from f writes nothing.
  EXPECT_THROW(
      s.update(k, [](const bc::Entry*) -> std::string { throw bc::InvalidArgument("no"); }),
      bc::InvalidArgument);
  EXPECT_EQ(get_string(s, "n"), "2");
  // An entry of its own lifetime keeps its expiry.
  s.set_ex(k, "10", 0);
  EXPECT_EQ(s.update(k, add_one).expires_us, 0);
  EXPECT_NE(header_of(s, "n").flags & bc::format::kExplicitLifetime, 0u);
}

TEST(Management, UpdateOfAnotherKeyInsideUpdateAndReentry) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  const bc::KeyRef a(s.digest("a"), "a");
  const bc::KeyRef b(s.digest("b"), "b");
  s.update(a, [&](const bc::Entry*) {
    s.update(b, [](const bc::Entry*) { return std::string("inner"); });
    return std::string("outer");
  });
  EXPECT_EQ(get_string(s, "a"), "outer");
  EXPECT_EQ(get_string(s, "b"), "inner");
  // The same key from inside its own update, or from its own computation: at once, an error.
  EXPECT_THROW(s.update(a, [&](const bc::Entry*) { return *s.update(a, {}).value; }),
               bc::InvalidArgument);
  const bc::KeyRef c(s.digest("c"), "c");
  EXPECT_THROW(
      s.get_or_compute(
          c, [&] { return *s.update(c, [](const bc::Entry*) { return std::string("x"); }).value; }),
      bc::InvalidArgument);
  EXPECT_EQ(get_string(s, "a"), "outer");
}

TEST(Management, ThreadsIncrementingOneKeyLoseNothing) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> b(dir.path());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) b.incr(std::string("counter"));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(b.get<std::int64_t>(std::string("counter")), 1000);
}

TEST(Management, TypedIncrDecr) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> b(dir.path());
  EXPECT_EQ(b.incr(std::string("a")), 1);
  EXPECT_EQ(b.incr(std::string("a"), 5), 6);
  EXPECT_EQ(b.decr(std::string("a"), 10), -4);
  EXPECT_EQ(b.incr(std::string("b"), 1, 100), 101);
  b.set(std::string("s"), std::string("text"));
  EXPECT_THROW(b.incr(std::string("s")), bc::InvalidArgument);
  EXPECT_EQ(b.get<std::string>(std::string("s")), "text");
  b.set(std::string("max"), std::numeric_limits<std::int64_t>::max());
  EXPECT_THROW(b.incr(std::string("max")), bc::InvalidArgument);
  EXPECT_EQ(b.get<std::int64_t>(std::string("max")), std::numeric_limits<std::int64_t>::max());
}

TEST(Management, PopRemovesAndReturns) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> b(dir.path());
  b.set(std::string("k"), 42);
  EXPECT_EQ(b.pop<int>(std::string("k")), 42);
  EXPECT_EQ(b.pop<int>(std::string("k")), std::nullopt);
  EXPECT_FALSE(b.contains(std::string("k")));
}

TEST(Management, ThreadsPoppingOneEntryExactlyOneGetsIt) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  for (int round = 0; round < 20; ++round) {
    set(s, "k", "v" + std::to_string(round));
    std::atomic<int> got{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        bc::Entry e;
        if (s.pop(s.digest("k"), e)) ++got;
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(got.load(), 1);
  }
}

TEST(Management, MaxAgeIsAMissNotADeletion) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> b(dir.path());
  b.set(std::string("k"), 1);
  EXPECT_EQ(b.try_get_within<int>(std::string("k"), 10s), 1);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(b.try_get_within<int>(std::string("k"), 5ms), std::nullopt);
  EXPECT_EQ(b.try_get_within<int>(std::string("k"), 0us), 1);  // no bound
  EXPECT_EQ(b.try_get<int>(std::string("k")), 1);              // still there
}

TEST(Management, ClearRemovesOnlyThisBucketsEntries) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> json(dir.path());
  bc::Bucket<bc::RawBackend> raw(dir.path());
  bc::Bucket<bc::JsonBackend, bc::RawKeyMaker> rawkeys(dir.path());
  for (int i = 0; i < 5; ++i) json.set(i, i);
  raw.set(std::string("r"), std::string("raw value"));
  rawkeys.set(std::string("rk"), 7);
  EXPECT_EQ(json.size(), 5u);
  EXPECT_EQ(json.clear(), 5u);
  EXPECT_EQ(json.size(), 0u);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(json.try_get<int>(i)) << i;  // memory too
  EXPECT_EQ(raw.get<std::string>(std::string("r")), "raw value");
  EXPECT_EQ(rawkeys.get<int>(std::string("rk")), 7);
}

TEST(Management, ForEachReportsUsableEntriesWithKeys) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> b(dir.path(), lifetime_of(1h));
  b.set(std::string("a"), std::string("12345"));
  b.set(std::vector<int>{1, 2}, 7);
  b.set(std::string("gone"), 1, 1ms);  // own lifetime, expires
  {
    bc::Bucket<bc::JsonBackend> longer(dir.path(), lifetime_of(10h));
    longer.set(std::string("longer"), 1);  // a miss for b: not reported
  }
  bc::Bucket<bc::RawBackend> other(dir.path());
  other.set(std::string("other"), std::string("x"));
  std::this_thread::sleep_for(5ms);
  std::multiset<std::string> keys;
  std::uint64_t size_a = 0;
  EXPECT_TRUE(b.for_each([&](const bc::EntryInfo& e) {
    keys.insert(std::string(e.key_bytes));
    if (e.key_bytes == "\"a\"") size_a = e.size;
    EXPECT_GT(e.created_us, 0);
    EXPECT_GT(e.expires_us, e.created_us);
    return true;
  }));
  EXPECT_EQ(keys, (std::multiset<std::string>{"\"a\"", "[1,2]"}));
  EXPECT_EQ(size_a, 7u);  // "12345" as JSON
  int calls = 0;
  EXPECT_FALSE(b.for_each([&](const bc::EntryInfo&) { return ++calls < 1; }));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(b.size(), 2u);
}

TEST(Management, GetManySetMany) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> b(dir.path());
  b.set_many(std::vector<std::pair<std::string, int>>{{"a", 1}, {"b", 2}});
  const auto got = b.get_many<int>(std::vector<std::string>{"a", "x", "b"});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], 1);
  EXPECT_EQ(got[1], std::nullopt);
  EXPECT_EQ(got[2], 2);
}

TEST(Management, DeferredBucketWritesPendingFirstAndClearDropsThem) {
  TempDir dir;
  bc::DeferredWriteBucket<bc::JsonBackend> d(dir.path());
  d.set(std::string("k"), 1);
  EXPECT_FALSE(d.add(std::string("k"), 2));  // the pending write landed first
  EXPECT_EQ(d.pending_count(), 0u);
  EXPECT_EQ(d.incr(std::string("k")), 2);
  d.set(std::string("p"), 1);
  EXPECT_EQ(d.clear(), 1u);  // "k"; "p" was pending and is dropped
  EXPECT_EQ(d.pending_count(), 0u);
  EXPECT_FALSE(d.try_get<int>(std::string("p")));
}

TEST(Management, OlderThan) {
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  EXPECT_FALSE(bc::older_than(100, 0, 1000));   // no bound
  EXPECT_FALSE(bc::older_than(100, -5, 1000));  // no bound
  EXPECT_FALSE(bc::older_than(900, 100, 1000));
  EXPECT_TRUE(bc::older_than(899, 100, 1000));
  EXPECT_TRUE(bc::older_than(kMin, 1, 1700000000000000));
  EXPECT_TRUE(bc::older_than(kMin, kMax, 1700000000000000));  // the age exceeds int64
  EXPECT_FALSE(bc::older_than(kMax, 1, 1700000000000000));    // from the future: not old
}
