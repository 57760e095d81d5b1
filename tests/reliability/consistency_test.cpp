// The consistency check (label "stress", BUCKETCACHE_STRESS_SECONDS, at most 20 s): threads
// of this process and of a second process set, get, erase, unload and prune few keys of one
// bucket. Each key has one writer, whose values are "<key>:<sequence>". Writers check
// read-your-writes (a get right after a set returns it; right after an erase, nothing);
// readers check that they never see a value older than one they already saw of that key
// (monotonic reads), across processes too. A violation of either is counted; zero pass.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bucketcache/store.hpp"
#include "rel_util.hpp"

namespace bc = bucketcache;

namespace {

struct Violations {
  std::atomic<long> stale_own_read{0};  // a writer's get did not return its last set
  std::atomic<long> resurrected{0};     // a writer's get returned a value after its erase
  std::atomic<long> went_backwards{0};  // a reader saw an older value than it had seen
  std::atomic<long> malformed{0};       // a value of another key, or unparsable
  long total() const { return stale_own_read + resurrected + went_backwards + malformed; }
};

long sequence_of(const std::string& key, const std::string& value) {
  if (value.size() <= key.size() + 1 || value.compare(0, key.size(), key) != 0 ||
      value[key.size()] != ':') {
    return -1;
  }
  return std::stol(value.substr(key.size() + 1));
}

// Runs one process's share until `deadline`: a writer thread per own key, two readers over
// every key, an unloader and a pruner.
void run_share(const std::string& root, const std::vector<std::string>& own,
               const std::vector<std::string>& all, std::chrono::steady_clock::time_point deadline,
               std::uint64_t seed, Violations& v) {
  bc::Options o;
  o.lifetime = std::chrono::hours(1);
  o.memory_limit_bytes = 1 << 20;
  bc::Store s(root, "raw", "raw", o);
  auto running = [&] { return std::chrono::steady_clock::now() < deadline; };
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < own.size(); ++w) {
    threads.emplace_back([&, w] {
      const std::string& key = own[w];
      const bc::Digest d = s.digest(key);
      reltest::Rng rng(seed + w);
      bc::Entry e;
      for (long seq = 1; running(); ++seq) {
        if (rng.below(8) == 0) {
          s.erase(d);
          if (s.get(d, e) == bc::ReadStatus::found) ++v.resurrected;
          continue;
        }
        const std::string value = key + ":" + std::to_string(seq);
        s.set(d, value);
        if (s.get(d, e) != bc::ReadStatus::found || *e.value != value) ++v.stale_own_read;
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      std::map<std::string, long> seen;
      reltest::Rng rng(seed + 100 + static_cast<std::uint64_t>(r));
      bc::Entry e;
      while (running()) {
        const std::string& key = all[rng.below(all.size())];
        if (s.get(s.digest(key), e) != bc::ReadStatus::found) continue;
        const long seq = sequence_of(key, *e.value);
        if (seq < 0) {
          ++v.malformed;
        } else if (seq < seen[key]) {
          if (v.went_backwards++ == 0) {
            ADD_FAILURE() << "pid " << ::getpid() << " reader " << r << ": key " << key
                          << " went back from " << seen[key] << " to " << seq;
          }
        } else {
          seen[key] = seq;
        }
      }
    });
  }
  threads.emplace_back([&] {
    reltest::Rng rng(seed + 200);
    while (running()) s.unload_key(s.digest(all[rng.below(all.size())]));
  });
  threads.emplace_back([&] {
    while (running()) {
      s.prune_directory();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  for (auto& t : threads) t.join();
}

TEST(StressConsistency, ReadYourWritesNoResurrectionMonotonicReadsAcrossThreadsAndProcesses) {
  reltest::ScratchDir dir;
  const std::string root = dir.sub("b");
  const double seconds = std::min(reltest::stress_seconds(10), 20.0);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  const std::vector<std::string> parent_keys = {"a", "b", "c"};
  const std::vector<std::string> child_keys = {"x", "y"};
  std::vector<std::string> all = parent_keys;
  all.insert(all.end(), child_keys.begin(), child_keys.end());
  const std::uint64_t seed = reltest::base_seed();

  const pid_t child = reltest::spawn([&] {
    Violations v;
    run_share(root, child_keys, all, deadline, seed + 1000, v);
    return static_cast<int>(std::min<long>(v.total(), 100));
  });
  Violations v;
  run_share(root, parent_keys, all, deadline, seed, v);
  const reltest::ChildStatus st = reltest::wait_child(child, seconds + 60);
  EXPECT_TRUE(st.exited) << st.describe();
  EXPECT_EQ(st.code, 0) << "violations in the second process (seed " << seed << ")";
  EXPECT_EQ(v.stale_own_read.load(), 0) << "seed " << seed;
  EXPECT_EQ(v.resurrected.load(), 0) << "seed " << seed;
  EXPECT_EQ(v.went_backwards.load(), 0) << "seed " << seed;
  EXPECT_EQ(v.malformed.load(), 0) << "seed " << seed;
}

}  // namespace
