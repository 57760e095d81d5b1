// Concurrency: several processes, each with several threads and two stores, share one
// directory doing set, get, erase, unload, prune and memoized calls for a bounded time:
// zero wrong values, zero unexpected errors, no deadlock (a watchdog kills stragglers and
// fails the test). docs/reliability.md, "Concurrent writers".
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bucketcache/error.hpp"
#include "bucketcache/store.hpp"
#include "rel_util.hpp"

namespace bc = bucketcache;

namespace {

constexpr std::uint32_t kKeys = 24;
constexpr int kProcesses = 3;
constexpr int kThreads = 3;

std::string key_name(std::uint32_t k) { return "shared-key-" + std::to_string(k); }

std::size_t pick_length(reltest::Rng& rng) {
  switch (rng.below(8)) {
    case 0:
      return rng.below(reltest::kCheckedHeader);
    case 1:
      return 32 * 1024 + rng.below(96 * 1024);
    default:
      return reltest::kCheckedHeader + rng.below(4096);
  }
}

// Two differently configured stores per process, so memory layers, check_file, eviction,
// the lifetime rule (entries without expiry read as expired under a lifetime, and are
// deleted by reads and prune) and fsync all interleave.
bc::Options options_for(int process, int which) {
  bc::Options o;
  o.lock_wait = std::chrono::seconds(20);
  switch (process * 2 + which) {
    case 0:
      break;  // defaults: 64 MiB memory layer
    case 1:
      o.memory_limit_bytes = 0;
      break;
    case 2:
      o.check_file = true;
      break;
    case 3:
      o.lifetime = std::chrono::hours(1);
      o.memory_limit_bytes = 256 * 1024;
      break;
    case 4:
      o.memory_limit_bytes = 64 * 1024;  // constant eviction
      break;
    default:
      o.memory_limit_bytes = 0;
      o.fsync = true;
      break;
  }
  return o;
}

struct Counters {
  std::atomic<long> ops{0};
  std::atomic<long> found{0};
  std::atomic<long> wrong{0};
  std::atomic<long> errors{0};
};

void note(const reltest::Report& report, std::mutex& m, int& budget, const std::string& text) {
  std::lock_guard<std::mutex> lock(m);
  if (budget > 0) {
    --budget;
    report.line(text);
  }
}

int process_main(const std::string& bucket, int process, std::uint64_t seed, double seconds,
                 const reltest::Report& report) {
  bc::Store stores[2] = {bc::Store(bucket, "raw", "raw", options_for(process, 0)),
                         bc::Store(bucket, "raw", "raw", options_for(process, 1))};
  Counters c;
  std::mutex report_mutex;
  int budget = 20;
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  const std::uint64_t pid = static_cast<std::uint64_t>(::getpid());
  auto thread_main = [&](int t) {
    reltest::Rng rng(seed ^ (static_cast<std::uint64_t>(t + 1) * 0x9e3779b97f4a7c15ull));
    std::uint64_t counter = 0;
    auto check = [&](std::uint32_t k, const std::string& value, const char* via) {
      const std::string bad = reltest::check_value(k, value);
      if (!bad.empty()) {
        ++c.wrong;
        note(report, report_mutex, budget,
             std::string("WRONG value via ") + via + " for key " + std::to_string(k) + ": " + bad);
      }
    };
    while (std::chrono::steady_clock::now() < until) {
      bc::Store& s = stores[rng.below(2)];
      const std::uint32_t k = static_cast<std::uint32_t>(rng.below(kKeys));
      const bc::Digest d = s.digest(key_name(k));
      const std::uint64_t gen = (pid << 32) | (static_cast<std::uint64_t>(t) << 24) | ++counter;
      const std::uint64_t op = rng.below(100);
      ++c.ops;
      try {
        if (op < 30) {
          s.set(d, reltest::make_value(k, gen, pick_length(rng)));
        } else if (op < 62) {
          bc::Entry e;
          const bc::ReadStatus st = s.get(d, e);
          if (st == bc::ReadStatus::found) {
            ++c.found;
            check(k, *e.value, "read");
          } else if (st == bc::ReadStatus::corrupt || st == bc::ReadStatus::foreign) {
            ++c.wrong;
            note(report, report_mutex, budget,
                 "read of key " + std::to_string(k) + " found a corrupt or foreign entry");
          }
        } else if (op < 75) {
          const std::size_t len = pick_length(rng);
          const bc::Entry e = s.get_or_compute(d, [&] { return reltest::make_value(k, gen, len); });
          check(k, *e.value, "get_or_compute");
        } else if (op < 83) {
          s.erase(d);
        } else if (op < 90) {
          s.unload_key(d);
        } else if (op < 95) {
          s.contains(d);
        } else if (op < 98) {
          s.prune_directory();
        } else {
          s.unload_all();
        }
      } catch (const std::exception& e) {
        ++c.errors;
        note(report, report_mutex, budget,
             "unexpected error in op " + std::to_string(op) + ": " + e.what());
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(thread_main, t);
  for (std::thread& th : threads) th.join();
  report.line("summary: process " + std::to_string(process) + " ops " +
              std::to_string(c.ops.load()) + " found " + std::to_string(c.found.load()) +
              " wrong " + std::to_string(c.wrong.load()) + " errors " +
              std::to_string(c.errors.load()));
  return c.wrong == 0 && c.errors == 0 && c.ops > 0 ? 0 : 1;
}

void run_shared_directory(double seconds) {
  const std::uint64_t seed = reltest::base_seed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (set BUCKETCACHE_TEST_SEED to repeat)");
  reltest::ScratchDir dir;
  const std::string bucket = dir.sub("bucket");
  { bc::Store create(bucket, "raw", "raw"); }
  std::vector<std::unique_ptr<reltest::Report>> reports;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    reports.push_back(std::make_unique<reltest::Report>());
    reltest::Report& r = *reports.back();
    const std::uint64_t pseed = seed + static_cast<std::uint64_t>(p) * 7919;
    pids.push_back(reltest::spawn(
        [&] {
          r.child_side();
          return process_main(bucket, p, pseed, seconds, r);
        },
        static_cast<unsigned>(seconds) + 300));
    ASSERT_GT(pids.back(), 0) << "fork failed";
  }
  // Watchdog: the run lasts `seconds`; a process still alive long after is deadlocked.
  const std::vector<reltest::ChildStatus> st = reltest::wait_children(pids, seconds + 120);
  for (int p = 0; p < kProcesses; ++p) {
    const std::string text = reports[static_cast<std::size_t>(p)]->collect();
    std::printf("process %d: %s", p, text.c_str());
    const reltest::ChildStatus& c = st[static_cast<std::size_t>(p)];
    EXPECT_FALSE(c.timed_out) << "deadlock? " << c.describe();
    EXPECT_TRUE(c.exited && c.code == 0) << c.describe() << "\n" << text;
  }
  // Every process ended normally: nothing half-written or locked is left, and every key
  // still reads as a miss or a complete value.
  EXPECT_TRUE(reltest::leftovers(bucket).empty());
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(bucket, "raw", "raw", o);
  for (std::uint32_t k = 0; k < kKeys; ++k) {
    bc::Entry e;
    const bc::ReadStatus rs = s.get(s.digest(key_name(k)), e);
    EXPECT_TRUE(rs == bc::ReadStatus::found || rs == bc::ReadStatus::absent) << k;
    if (rs == bc::ReadStatus::found) {
      EXPECT_EQ(reltest::check_value(k, *e.value), "") << k;
    }
  }
}

}  // namespace

TEST(Concurrency, ProcessesAndThreadsShareADirectory) { run_shared_directory(3); }

TEST(StressConcurrency, ProcessesAndThreadsForTheStressDuration) {
  run_shared_directory(reltest::stress_seconds(15));
}

// Threads of one process on one store hammer one key with get_or_compute, set and erase:
// every returned value is complete and of that key.
TEST(Concurrency, ThreadsOnOneKey) {
  reltest::ScratchDir dir;
  bc::Store s(dir.sub("bucket"), "raw", "raw");
  const bc::Digest d = s.digest(key_name(0));
  std::atomic<long> wrong{0};
  std::atomic<long> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      reltest::Rng rng(reltest::base_seed() + static_cast<std::uint64_t>(t));
      for (int i = 0; i < 400; ++i) {
        const std::uint64_t gen = (static_cast<std::uint64_t>(t) << 32) | static_cast<unsigned>(i);
        try {
          switch (rng.below(4)) {
            case 0:
              s.set(d, reltest::make_value(0, gen, pick_length(rng)));
              break;
            case 1:
              s.erase(d);
              break;
            default: {
              const bc::Entry e = s.get_or_compute(d, [&] {
                return reltest::make_value(0, gen, 100 + static_cast<std::size_t>(i));
              });
              if (!reltest::check_value(0, *e.value).empty()) ++wrong;
            }
          }
        } catch (const std::exception&) {
          ++errors;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(errors.load(), 0);
}
