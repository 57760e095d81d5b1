// Bucket<Backend, KeyMaker>: the typed front over Store.
#include "bucketcache/bucket.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "bucketcache/backends/json.hpp"
#include "bucketcache/backends/raw.hpp"
#include "bucketcache/deferred.hpp"
#include "test_util.hpp"

namespace bc = bucketcache;
using bctest::TempDir;

TEST(Bucket, SetGetWithStructuredKeys) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> b(dir.path());
  const std::map<std::string, int> key{{"b", 1}, {"a", 2}};
  b.set(key, std::vector<std::string>{"x", "y"});
  EXPECT_EQ(b.get<std::vector<std::string>>(key), (std::vector<std::string>{"x", "y"}));
  // An equal key built differently names the same entry.
  const std::unordered_map<std::string, int> same{{"a", 2}, {"b", 1}};
  EXPECT_EQ(b.get<std::vector<std::string>>(same), (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(b.contains(same));
}

TEST(Bucket, MissThrowsKeyErrorAndTryGetIsEmpty) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> b(dir.path());
  EXPECT_THROW(b.get<int>("absent"), bc::KeyError);
  try {
    b.get<int>("absent");
  } catch (const bc::Error& e) {
    EXPECT_EQ(e.code(), bc::ErrorCode::not_found);
  }
  EXPECT_FALSE(b.try_get<int>("absent").has_value());
}

TEST(Bucket, EraseUnloadContains) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> b(dir.path());
  b.set(std::make_tuple(1, "two", 3.5), 7);
  EXPECT_TRUE(b.unload_key(std::make_tuple(1, "two", 3.5)));
  EXPECT_EQ(b.get<int>(std::make_tuple(1, "two", 3.5)), 7);  // reloaded from the file
  EXPECT_TRUE(b.erase(std::make_tuple(1, "two", 3.5)));
  EXPECT_FALSE(b.contains(std::make_tuple(1, "two", 3.5)));
  EXPECT_FALSE(b.erase(std::make_tuple(1, "two", 3.5)));
}

TEST(Bucket, LifetimeFromChronoDurations) {
  TempDir dir;
  bc::Options o;
  o.lifetime = bc::days(2);
  bc::Bucket<bc::JsonBackend> b(dir.path(), o);
  EXPECT_EQ(b.lifetime(), std::chrono::hours(48));
  b.set("k", 1);
  std::int64_t expires = 0;
  ASSERT_TRUE(b.try_get<int>("k", expires).has_value());
  EXPECT_GT(expires, 0);

  o.lifetime = std::chrono::microseconds(250);
  EXPECT_EQ(bc::Bucket<bc::JsonBackend>(dir.path(), o).lifetime().count(), 250);
  o.lifetime = bc::weeks(1);
  EXPECT_EQ(bc::Bucket<bc::JsonBackend>(dir.path(), o).lifetime(), std::chrono::hours(168));
  o.lifetime = std::chrono::milliseconds(-5);
  EXPECT_THROW(bc::Bucket<bc::JsonBackend>(dir.path(), o), bc::InvalidArgument);
}

TEST(Bucket, WrongValueTypeIsAMissThatKeepsTheEntry) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> b(dir.path());
  b.set("k", std::string("text"));
  EXPECT_FALSE(b.try_get<std::vector<int>>("k").has_value());
  EXPECT_THROW(b.get<int>("k"), bc::KeyError);
  EXPECT_EQ(b.get<std::string>("k"), "text");
}

TEST(Bucket, InvalidKeysAreRejectedWithoutTouchingStoredEntries) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> b(dir.path());
  b.set("good", 1);
  EXPECT_THROW(b.set(std::numeric_limits<double>::quiet_NaN(), 1), bc::InvalidArgument);
  EXPECT_THROW(b.set(std::string("\xff"), 1), bc::InvalidArgument);
  EXPECT_THROW(b.get<int>(std::numeric_limits<double>::infinity()), bc::InvalidArgument);
  EXPECT_EQ(b.get<int>("good"), 1);
}

TEST(Bucket, KeymakersAgreeAndRawKeysAreSeparate) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> plain(dir.path());
  bc::Bucket<bc::JsonBackend, bc::StreamingDefaultKeyMaker> streaming(dir.path());
  bc::Bucket<bc::JsonBackend, bc::RawKeyMaker> raw(dir.path());
  plain.set(std::vector<int>{1, 2, 3}, std::string("from plain"));
  EXPECT_EQ(streaming.get<std::string>(std::vector<int>{1, 2, 3}), "from plain");
  // The raw key "[1,2,3]" is a different entry from the JSON key [1,2,3].
  EXPECT_FALSE(raw.contains(std::string("[1,2,3]")));
  raw.set(std::string("[1,2,3]"), std::string("from raw"));
  EXPECT_EQ(plain.get<std::string>(std::vector<int>{1, 2, 3}), "from plain");
}

TEST(Bucket, BackendsHaveSeparateEntries) {
  TempDir dir;
  bc::Bucket<bc::JsonBackend> json(dir.path());
  bc::Bucket<bc::RawBackend> raw(dir.path());
  json.set("k", std::string("json value"));
  EXPECT_FALSE(raw.contains("k"));
  raw.set("k", std::string("raw value"));
  EXPECT_EQ(json.get<std::string>("k"), "json value");
  EXPECT_EQ(raw.get<std::string>("k"), "raw value");
}

TEST(Bucket, PruneThroughTheBucket) {
  TempDir dir;
  {
    bc::Options brief;
    brief.lifetime = std::chrono::microseconds(1);
    bc::Bucket<bc::JsonBackend> expiring(dir.path(), brief);
    for (int i = 0; i < 5; ++i) expiring.set(i, i);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2));  // past a 1 us lifetime
  bc::Options o;
  o.lifetime = std::chrono::hours(1);
  bc::Bucket<bc::JsonBackend> b(dir.path(), o);
  b.set("fresh", 1);
  const bc::PrunedFilesInfo info = b.prune_directory();
  EXPECT_EQ(info.files, 5u);
  EXPECT_GT(info.bytes, 5u * 128);
  EXPECT_EQ(b.get<int>("fresh"), 1);
}

TEST(Bucket, FourThreadsOnOneBucket) {
  TempDir dir;
  bc::Options o;
  o.memory_limit_bytes = 32 * 1024;
  bc::Bucket<bc::JsonBackend> b(dir.path(), o);
  std::atomic<int> wrong{0}, hits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        const int k = (i * 7 + t) % 32;
        const auto key = std::make_pair(std::string("key"), k);
        if ((i + t) % 3 == 0) {
          b.set(key, std::vector<int>(static_cast<std::size_t>(k) + 1, k));
        } else if (auto v = b.try_get<std::vector<int>>(key)) {
          ++hits;
          if (v->size() != static_cast<std::size_t>(k) + 1 || (*v)[0] != k) ++wrong;
        }
        if (i % 40 == 0) b.unload_key(key);
        if (i % 97 == 0) b.erase(key);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(hits.load(), 0);
}

// RawBackend takes the bytes of a value the caller gives up without copying them, and
// Bucket::get gives it a value only it refers to (memory layer off); a value the memory
// layer shares is copied, so it stays intact for the next get.
TEST(Bucket, RawGetMovesAnUnsharedValueAndCopiesASharedOne) {
  std::string bytes(100000, 'v');
  const char* const at = bytes.data();
  const std::string taken = bc::RawBackend::load<std::string>(std::move(bytes), {});
  EXPECT_EQ(taken.data(), at);  // the same buffer: no copy
  EXPECT_EQ(taken, std::string(100000, 'v'));

  const std::string value = std::string(70000, 'a') + std::string(70000, 'b');
  for (std::uint64_t memory : {std::uint64_t{0}, std::uint64_t{16} << 20}) {
    TempDir dir;
    bc::Options o;
    o.memory_limit_bytes = memory;
    bc::Bucket<bc::RawBackend> b(dir.path(), o);
    b.set("k", value);
    std::vector<std::thread> readers;
    std::atomic<int> wrong{0};
    for (int t = 0; t < 4; ++t) {
      readers.emplace_back([&] {
        for (int i = 0; i < 50; ++i) {
          if (b.get<std::string>("k") != value) ++wrong;
          if (b.get<std::vector<unsigned char>>("k").size() != value.size()) ++wrong;
        }
      });
    }
    for (std::thread& r : readers) r.join();
    EXPECT_EQ(wrong.load(), 0) << "memory layer " << memory;
    EXPECT_EQ(b.get<std::string>("k"), value);
  }
}

// try_get_into: the value in the caller's string, whatever path it comes by (the file read
// into the stack, in one pass, in two passes; the memory layer; a pending deferred value).
TEST(Bucket, TryGetIntoGivesTheValueInTheCallersString) {
  for (const std::uint64_t memory : {std::uint64_t{0}, std::uint64_t{64} << 20}) {
    TempDir dir;
    bc::Options o;
    o.memory_limit_bytes = memory;
    bc::Bucket<bc::RawBackend> b(dir.path(), o);
    std::string into = "left over";
    EXPECT_FALSE(b.try_get_into(std::string("absent"), into));
    for (const std::size_t size : {std::size_t{0}, std::size_t{100}, std::size_t{10000},
                                   std::size_t{70000}, std::size_t{1} << 20}) {
      std::string value(size, '\0');
      for (std::size_t i = 0; i < size; ++i) value[i] = static_cast<char>(i * 13 + size);
      b.set("k" + std::to_string(size), value);
      ASSERT_TRUE(b.try_get_into("k" + std::to_string(size), into)) << size;
      EXPECT_TRUE(into == value) << size << " memory " << memory;
    }
    // A string of the value's size is reused: same buffer, no reallocation.
    const std::string big(std::size_t{1} << 20, 'b');
    b.set(std::string("big"), big);
    ASSERT_TRUE(b.try_get_into(std::string("big"), into));
    const char* buffer = into.data();
    ASSERT_TRUE(b.try_get_into(std::string("big"), into));
    EXPECT_EQ(into.data(), buffer);
    EXPECT_TRUE(into == big);
  }
}

TEST(Bucket, TryGetIntoSeesPendingDeferredValues) {
  TempDir dir;
  bc::DeferredWriteBucket<bc::RawBackend> d(dir.path());
  d.set(std::string("k"), std::string("pending"));
  std::string into;
  ASSERT_TRUE(d.try_get_into(std::string("k"), into));
  EXPECT_EQ(into, "pending");
  d.sync();
  d.unload_key(std::string("k"));
  into.clear();
  ASSERT_TRUE(d.try_get_into(std::string("k"), into));
  EXPECT_EQ(into, "pending");
}
