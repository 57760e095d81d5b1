// Crash safety: writers SIGKILLed at random moments never leave a torn, mixed or wrong
// entry; every key reads as a miss or as a complete value some writer wrote; prune removes
// the temp and lock files the killed writers left (docs/reliability.md, "Crashes").
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "bucketcache/error.hpp"
#include "bucketcache/store.hpp"
#include "rel_util.hpp"

namespace bc = bucketcache;

namespace {

constexpr std::uint32_t kKeys = 12;

std::string key_name(std::uint32_t k) { return "crash-key-" + std::to_string(k); }

// Value lengths from 0 to 256 KiB, weighted to small values (most real entries) with page
// and header boundaries and the largest size represented.
std::size_t pick_length(reltest::Rng& rng) {
  switch (rng.below(10)) {
    case 0:
      return 0;
    case 1:
      return rng.below(reltest::kCheckedHeader);  // short, pattern-checked values
    case 2:
      return 4096 + rng.below(3) - 1;  // around a page
    case 3:
      return 256 * 1024;  // the largest
    case 4:
    case 5:
      return 64 * 1024 + rng.below(192 * 1024);
    default:
      return reltest::kCheckedHeader + rng.below(8192);
  }
}

// A writer: sets, erases, memoizes and prunes until it is killed. Returns only on error.
int writer(const std::string& bucket, std::uint64_t seed, bool fsync) {
  reltest::Rng rng(seed);
  bc::Options o;
  o.memory_limit_bytes = rng.below(2) == 0 ? 0 : std::size_t{1} << 20;
  o.fsync = fsync;
  bc::Store s(bucket, "raw", "raw", o);
  std::uint64_t counter = 0;
  const std::uint64_t pid = static_cast<std::uint64_t>(::getpid());
  for (;;) {
    const std::uint32_t k = static_cast<std::uint32_t>(rng.below(kKeys));
    const bc::Digest d = s.digest(key_name(k));
    const std::uint64_t gen = (pid << 32) | ++counter;
    const std::uint64_t op = rng.below(100);
    if (op < 80) {
      s.set(d, reltest::make_value(k, gen, pick_length(rng)));
    } else if (op < 88) {
      s.erase(d);
    } else if (op < 97) {
      const std::size_t len = pick_length(rng);
      const bc::Entry e = s.get_or_compute(d, [&] { return reltest::make_value(k, gen, len); });
      const std::string bad = reltest::check_value(k, *e.value);
      if (!bad.empty()) {
        std::fprintf(stderr, "writer: get_or_compute returned a wrong value: %s\n", bad.c_str());
        return 2;
      }
    } else {
      s.prune_directory();
    }
  }
}

struct Verdict {
  int found = 0;
  int absent = 0;
  std::vector<std::string> problems;
};

// Reads every key with a fresh store (no memory layer): each must be absent or a complete,
// self-consistent value of that key. Corrupt or foreign entries are failures too: a crash
// must never leave a torn entry file.
Verdict verify_all(const std::string& bucket) {
  Verdict v;
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(bucket, "raw", "raw", o);
  for (std::uint32_t k = 0; k < kKeys; ++k) {
    bc::Entry e;
    const bc::ReadStatus st = s.get(s.digest(key_name(k)), e);
    if (st == bc::ReadStatus::absent) {
      ++v.absent;
    } else if (st != bc::ReadStatus::found) {
      v.problems.push_back("key " + std::to_string(k) + ": status " +
                           std::to_string(static_cast<int>(st)) + " (a torn entry file?)");
    } else {
      ++v.found;
      const std::string bad = reltest::check_value(k, *e.value);
      if (!bad.empty()) v.problems.push_back("key " + std::to_string(k) + ": " + bad);
    }
  }
  return v;
}

// `rounds` rounds (or, with rounds 0, rounds until `seconds` have passed) of: start two
// writers, let them run for a random 0-20 ms, SIGKILL both, check every key.
void run_crash_rounds(int rounds, double seconds) {
  const std::uint64_t seed = reltest::base_seed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (set BUCKETCACHE_TEST_SEED to repeat)");
  reltest::ScratchDir dir;
  const std::string bucket = dir.sub("bucket");
  reltest::Rng rng(seed);
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int kills = 0;
  int round = 0;
  int found_total = 0;
  for (;; ++round) {
    if (rounds > 0 ? round >= rounds : std::chrono::steady_clock::now() >= until) break;
    std::vector<pid_t> pids;
    for (int w = 0; w < 2; ++w) {
      const std::uint64_t wseed = rng.next();
      const bool fsync = round % 16 == 15;
      pids.push_back(reltest::spawn([&] { return writer(bucket, wseed, fsync); }));
      ASSERT_GT(pids.back(), 0) << "fork failed";
    }
    // A random moment: often within the first write, sometimes deep into a run of writes.
    const std::uint64_t delay_us = rng.below(4) == 0 ? rng.below(1000) : rng.below(20000);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    for (pid_t p : pids) ::kill(p, SIGKILL);
    for (const reltest::ChildStatus& c : reltest::wait_children(pids, 60)) {
      ASSERT_TRUE(!c.exited && c.signal == SIGKILL)
          << "round " << round
          << ": a writer stopped by itself (it hit an error): " << c.describe();
      ++kills;
    }
    const Verdict v = verify_all(bucket);
    found_total += v.found;
    for (const std::string& p : v.problems) ADD_FAILURE() << "round " << round << ": " << p;
    if (!v.problems.empty()) return;
  }
  EXPECT_GE(kills, rounds > 0 ? 2 * rounds : 2);
  std::printf("%d writers killed in %d rounds; %d values found intact, the rest misses\n", kills,
              round, found_total);

  // Killed writers leave temp files (and lock files of interrupted get_or_compute calls).
  // prune removes temp files only once they are 60 s old: age them instead of waiting.
  const std::vector<std::string> left = reltest::leftovers(bucket);
  std::printf("leftover temp/lock files after the kills: %zu\n", left.size());
  for (const std::string& p : left) ASSERT_TRUE(reltest::age_file(bucket + "/" + p)) << p;
  bc::Store s(bucket, "raw", "raw");
  const bc::PrunedFilesInfo info = s.prune_directory();
  EXPECT_EQ(info.files, left.size());  // all writers are dead: every leftover is stale
  const std::vector<std::string> still = reltest::leftovers(bucket);
  EXPECT_TRUE(still.empty()) << still.size() << " temp/lock files survived prune, e.g. "
                             << still.front();
  // prune removed only leftovers: no entry was lost or damaged by it.
  const Verdict after = verify_all(bucket);
  EXPECT_TRUE(after.problems.empty());
  // And the bucket works normally afterwards.
  for (std::uint32_t k = 0; k < kKeys; ++k) {
    const bc::Digest d = s.digest(key_name(k));
    const std::string value = reltest::make_value(k, 7, 1000 + k);
    s.set(d, value);
    bc::Entry e;
    ASSERT_EQ(s.get(d, e), bc::ReadStatus::found);
    EXPECT_EQ(*e.value, value);
  }
}

}  // namespace

// Hundreds of SIGKILLs at random moments (a fixed count: part of every test run).
TEST(Crash, KilledWritersLeaveOnlyCompleteValuesAndPrunableTempFiles) {
  run_crash_rounds(150, 0);  // 2 writers a round: 300 kills
}

// The same for BUCKETCACHE_STRESS_SECONDS (label "stress").
TEST(StressCrash, KilledWritersForTheStressDuration) {
  run_crash_rounds(0, reltest::stress_seconds(15));
}

// A writer killed while it holds a key's compute lock does not block others: the kernel
// drops its flock, so the next caller computes at once (well within lock_wait).
TEST(Crash, KilledComputeLockHolderDoesNotBlockOthers) {
  reltest::ScratchDir dir;
  const std::string bucket = dir.sub("bucket");
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t holder = reltest::spawn([&] {
    bc::Store s(bucket, "raw", "raw");
    s.get_or_compute(s.digest("k"), [&]() -> std::string {
      char c = 1;
      if (::write(ready[1], &c, 1) != 1) return "";
      ::pause();  // killed while computing
      return "";
    });
    return 3;
  });
  ASSERT_GT(holder, 0);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ::close(ready[1]);
  ::kill(holder, SIGKILL);
  const reltest::ChildStatus st = reltest::wait_child(holder, 60);
  ASSERT_EQ(st.signal, SIGKILL) << st.describe();
  ASSERT_EQ(reltest::leftovers(bucket).size(), 1u) << "the dead holder's lock file";

  bc::Options o;
  o.lock_wait = std::chrono::minutes(10);  // were the lock still held, this would hang
  bc::Store s(bucket, "raw", "raw", o);
  bool hit = true;
  const bc::Entry e = s.get_or_compute(
      s.digest("k"), [] { return std::string("computed"); }, &hit);
  EXPECT_FALSE(hit);
  EXPECT_EQ(*e.value, "computed");
  s.prune_directory();
  EXPECT_TRUE(reltest::leftovers(bucket).empty());
}
