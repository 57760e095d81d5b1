// Correctness of the core under concurrency and hostile states (docs/reliability.md): the
// memory layer never serves a value older than a completed set or erase, the lifetime rule
// never deletes a live entry, expired entries are deleted without a window for fresh ones,
// and re-entrant computes and log reconfiguration behave.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bucketcache/deferred_writes.hpp"
#include "bucketcache/error.hpp"
#include "bucketcache/logging.hpp"
#include "bucketcache/store.hpp"
#include "rel_util.hpp"
#include "support/clock.hpp"

namespace bc = bucketcache;

namespace {

std::size_t count_entries(const std::string& root) {
  std::size_t n = 0;
  for (const reltest::TreeItem& t : reltest::walk_tree(root)) {
    if (t.path.size() > 4 && t.path.compare(t.path.size() - 4, 4, ".bce") == 0) ++n;
  }
  return n;
}

TEST(Correctness, DeferredReadsSeeTheLatestSyncedSetWhileOthersUnload) {
  reltest::ScratchDir dir;
  bc::Store store(dir.sub("b"), "raw", "raw");
  bc::DeferredWrites deferred(store);
  const bc::Digest k = store.digest("k");
  std::atomic<bool> stop{false};
  std::thread other([&] {
    bc::Entry e;
    while (!stop.load()) {
      store.unload_key(k);
      store.get(k, e);
    }
  });
  long wrong = 0;
  for (int i = 0; i < 5000; ++i) {
    const std::string want = std::to_string(i);
    deferred.set(k, want);
    if (i % 2 == 0) deferred.sync();
    bc::Entry e;
    if (deferred.get(k, e) != bc::ReadStatus::found || *e.value != want) ++wrong;
    if (i % 2 == 0 && (store.get(k, e) != bc::ReadStatus::found || *e.value != want)) ++wrong;
  }
  stop = true;
  other.join();
  EXPECT_EQ(wrong, 0);
}

// Sets of fresh keys with a 1-hour lifetime while another thread prunes: nothing is lost.
TEST(Correctness, PruneConcurrentWithSetsDeletesNoFreshEntry) {
  reltest::ScratchDir dir;
  bc::Options o;
  o.lifetime = std::chrono::hours(1);
  bc::Store s(dir.sub("b"), "raw", "raw", o);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> pruned{0};
  std::thread pruner([&] {
    while (!stop.load()) pruned += s.prune_directory().files;
  });
  const int n = 1500;
  for (int i = 0; i < n; ++i) s.set(s.digest("k" + std::to_string(i)), "v");
  stop = true;
  pruner.join();
  EXPECT_EQ(pruned.load(), 0u);
  EXPECT_EQ(count_entries(dir.sub("b")), static_cast<std::size_t>(n));
}

// Two processes re-set one key with a 10 s lifetime while readers with the memory layer off
// read it: every read finds it (it always exists).
TEST(Correctness, AKeyThatAlwaysExistsIsNeverMissed) {
  reltest::ScratchDir dir;
  const std::string root = dir.sub("b");
  bc::Options o;
  o.lifetime = std::chrono::seconds(10);
  o.memory_limit_bytes = 0;
  {
    bc::Store s(root, "raw", "raw", o);
    s.set(s.digest("k"), "v");
  }
  std::vector<pid_t> writers;
  for (int p = 0; p < 2; ++p) {
    writers.push_back(reltest::spawn([&] {
      bc::Store s(root, "raw", "raw", o);
      for (int i = 0; i < 1500; ++i) s.set(s.digest("k"), "v");
      return 0;
    }));
  }
  bc::Store s(root, "raw", "raw", o);
  long misses = 0;
  std::vector<std::thread> readers;
  std::mutex mu;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      long local = 0;
      bc::Entry e;
      for (int i = 0; i < 3000; ++i) {
        if (s.get(s.digest("k"), e) != bc::ReadStatus::found) ++local;
      }
      std::lock_guard<std::mutex> lock(mu);
      misses += local;
    });
  }
  for (auto& t : readers) t.join();
  for (const auto& st : reltest::wait_children(writers, 120)) {
    EXPECT_TRUE(st.exited && st.code == 0) << st.describe();
  }
  EXPECT_EQ(misses, 0);
}

// A bucket with a short lifetime misses, but never deletes, entries that other programs
// wrote with a longer lifetime or none; the first such miss is logged at info.
TEST(Correctness, ShortLifetimeBucketsKeepOtherProgramsEntries) {
  reltest::ScratchDir dir;
  const std::string root = dir.sub("b");
  bc::Options week;
  week.lifetime = bc::days(7);
  bc::Store writer(root, "raw", "raw", week);
  for (int i = 0; i < 20; ++i) writer.set(writer.digest(std::to_string(i)), "v");

  std::vector<std::string> lines;
  std::mutex mu;
  bc::set_log_callback([&](bc::LogLevel level, std::string_view line) {
    std::lock_guard<std::mutex> lock(mu);
    if (level == bc::LogLevel::info && line.find("longer recorded lifetime") != line.npos) {
      lines.emplace_back(line);
    }
  });
  bc::set_log_level(bc::LogLevel::info);
  {
    bc::Options hour;
    hour.lifetime = std::chrono::hours(1);
    bc::Store reader(root, "raw", "raw", hour);
    bc::Entry e;
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(reader.get(reader.digest(std::to_string(i)), e), bc::ReadStatus::longer_lifetime);
      EXPECT_FALSE(reader.contains(reader.digest(std::to_string(i))));
    }
    EXPECT_EQ(reader.prune_directory().files, 0u);
  }
  bc::set_log_level(bc::LogLevel::off);
  bc::set_log_callback(nullptr);
  EXPECT_EQ(lines.size(), 1u);
  EXPECT_EQ(count_entries(root), 20u);
  writer.unload_all();
  bc::Entry e;
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(writer.get(writer.digest(std::to_string(i)), e), bc::ReadStatus::found);
}

// Readers deleting an expired entry never delete the fresh entry that replaces it.
TEST(Correctness, DeletingAnExpiredEntryNeverRemovesItsFreshReplacement) {
  reltest::ScratchDir dir;
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(dir.sub("b"), "raw", "raw", o);
  const int n = 2000;
  std::vector<bc::Digest> keys;
  for (int i = 0; i < n; ++i) keys.push_back(s.digest("k" + std::to_string(i)));
  std::atomic<int> current{-1};
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      bc::Entry e;
      while (!stop.load()) {
        const int i = current.load();
        if (i >= 0) s.get(keys[static_cast<std::size_t>(i)], e);
      }
    });
  }
  for (int i = 0; i < n; ++i) {
    s.set_entry(keys[static_cast<std::size_t>(i)], "old", 1, 2);  // long expired
    current = i;
    std::this_thread::sleep_for(std::chrono::microseconds(5 + i % 20));
    s.set(keys[static_cast<std::size_t>(i)], "fresh");
  }
  stop = true;
  for (auto& t : readers) t.join();
  long missing = 0;
  bc::Entry e;
  for (const bc::Digest& k : keys) {
    if (s.get(k, e) != bc::ReadStatus::found || *e.value != "fresh") ++missing;
  }
  EXPECT_EQ(missing, 0);
}

TEST(Correctness, PruneRemovesEmptyShardDirectoriesAndWritersStillSucceed) {
  reltest::ScratchDir dir;
  const std::string root = dir.sub("b");
  bc::Store s(root, "raw", "raw");
  for (int i = 0; i < 50; ++i) s.set(s.digest(std::to_string(i)), "v");
  for (int i = 0; i < 50; ++i) s.erase(s.digest(std::to_string(i)));
  s.prune_directory();
  std::size_t dirs = 0;
  for (const reltest::TreeItem& t : reltest::walk_tree(root)) dirs += t.is_dir ? 1 : 0;
  EXPECT_EQ(dirs, 0u);

  // Sets racing a pruner that keeps removing empty shards all land.
  std::atomic<bool> stop{false};
  std::thread pruner([&] {
    while (!stop.load()) s.prune_directory();
  });
  for (int i = 0; i < 1000; ++i) {
    const bc::Digest k = s.digest("r" + std::to_string(i));
    try {
      s.set(k, "v");
    } catch (const std::exception& e) {
      FAIL() << i << ": " << e.what();
    }
    ASSERT_NO_THROW(s.erase(k)) << i;
  }
  stop = true;
  pruner.join();
}

TEST(Correctness, TimeArithmeticSaturates) {
  EXPECT_EQ(bc::expiry_after(1000, INT64_MAX), INT64_MAX);
  EXPECT_EQ(bc::expiry_after(1000, 0), 0);
  EXPECT_EQ(bc::expiry_after(1000, 5), 1005);
  EXPECT_FALSE(bc::outlives_bucket(1000, INT64_MAX, INT64_MAX));
  EXPECT_TRUE(bc::outlives_bucket(-5, INT64_MAX, INT64_MAX));
  EXPECT_TRUE(bc::outlives_bucket(1000, 0, 10));
  EXPECT_FALSE(bc::outlives_bucket(1000, 0, 0));
  EXPECT_GT(bc::deadline_after(std::chrono::milliseconds(INT64_MAX)),
            std::chrono::steady_clock::now() + std::chrono::hours(24 * 365));

  reltest::ScratchDir dir;
  bc::Options o;
  o.lifetime = std::chrono::microseconds(INT64_MAX);
  o.lock_wait = std::chrono::milliseconds(INT64_MAX);
  bc::Store s(dir.sub("b"), "raw", "raw", o);
  s.set(s.digest("k"), "v");
  s.unload_all();
  bc::Entry e;
  ASSERT_EQ(s.get(s.digest("k"), e), bc::ReadStatus::found);
  EXPECT_EQ(e.expires_us, INT64_MAX);
}

TEST(Correctness, AComputeAskingForItsOwnKeyThrowsInsteadOfWaiting) {
  reltest::ScratchDir dir;
  bc::Store s(dir.sub("b"), "raw", "raw");
  const bc::Digest k = s.digest("k");
  bool inner_threw = false;
  const bc::Entry e = s.get_or_compute(k, [&] {
    try {
      s.get_or_compute(k, [] { return std::string("inner"); });
    } catch (const bc::InvalidArgument&) {
      inner_threw = true;
    }
    return std::string("outer");
  });
  EXPECT_TRUE(inner_threw);
  EXPECT_EQ(*e.value, "outer");
  // Other keys from inside a compute are fine, and the key works again afterwards.
  const bc::Entry nested = s.get_or_compute(s.digest("a"), [&] {
    return *s.get_or_compute(s.digest("b"), [] { return std::string("b"); }).value + "a";
  });
  EXPECT_EQ(*nested.value, "ba");
  EXPECT_EQ(*s.get_or_compute(k, [] { return std::string("x"); }).value, "outer");

  bc::DeferredWrites deferred(s);
  bool deferred_threw = false;
  deferred.get_or_compute(deferred.target().digest("d"), [&] {
    try {
      deferred.get_or_compute(deferred.target().digest("d"), [] { return std::string("i"); });
    } catch (const bc::InvalidArgument&) {
      deferred_threw = true;
    }
    return std::string("o");
  });
  EXPECT_TRUE(deferred_threw);
}

// The callback receives the message alone, and a level set while a callback is being
// installed is never lost.
TEST(Correctness, LogCallbackGetsPlainLinesAndKeepsTheLatestLevel) {
  reltest::ScratchDir dir;
  bc::Store s(dir.sub("b"), "raw", "raw");
  std::atomic<int> received{0};
  std::string first;
  std::mutex mu;
  auto cb = [&](bc::LogLevel, std::string_view line) {
    std::lock_guard<std::mutex> lock(mu);
    if (received++ == 0) first = std::string(line);
  };
  for (int i = 0; i < 300; ++i) {
    bc::set_log_level(bc::LogLevel::off);
    std::thread a([&] { bc::set_log_callback(cb); });
    std::thread b([&] { bc::set_log_level(bc::LogLevel::info); });
    a.join();
    b.join();
    const int before = received.load();
    s.prune_directory();  // logs one line at info
    ASSERT_EQ(received.load(), before + 1) << "iteration " << i << ": the info level was lost";
  }
  bc::set_log_level(bc::LogLevel::off);
  bc::set_log_callback(nullptr);
  EXPECT_EQ(first.rfind("pruned ", 0), 0u) << first;
}

}  // namespace
