// Cache management across processes (issue 14): add is atomic (of processes adding one
// key, exactly one succeeds), incr/decr lose no update, pop hands an entry to one process.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bucketcache/backends/json.hpp"
#include "bucketcache/bucket.hpp"
#include "bucketcache/store.hpp"
#include "rel_util.hpp"

namespace bc = bucketcache;
using reltest::ScratchDir;

namespace {

int increments_per_process() {
  const char* env = std::getenv("BUCKETCACHE_INCR_PER_PROCESS");
  const int n = env != nullptr ? std::atoi(env) : 0;
  return n > 0 ? n : 2500;
}

// A start line for child processes: each waits in wait() until release().
class StartLine {
 public:
  StartLine() {
    if (::pipe(fds_) != 0) std::abort();
  }
  ~StartLine() { release(); }
  void wait() {  // in a child
    ::close(fds_[1]);
    char c;
    while (::read(fds_[0], &c, 1) > 0) {
    }
  }
  void release() {  // in the parent, after spawning every child
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

void expect_all_ok(const std::vector<pid_t>& pids, double deadline) {
  for (const reltest::ChildStatus& st : reltest::wait_children(pids, deadline)) {
    EXPECT_TRUE(st.exited && st.code == 0) << st.describe();
  }
}

}  // namespace

TEST(Management, ProcessesAddingOneKeyExactlyOneSucceeds) {
  ScratchDir dir;
  constexpr int kProcesses = 4;
  constexpr int kKeys = 200;
  StartLine start;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    pids.push_back(reltest::spawn([&, p] {
      start.wait();
      bc::Store s(dir.sub("bucket"), "raw", "raw");
      std::ofstream wins(dir.sub("wins-" + std::to_string(p)));
      for (int k = 0; k < kKeys; ++k) {
        const std::string key = "key-" + std::to_string(k);
        if (s.add(bc::KeyRef(s.digest(key), key), std::to_string(p))) wins << key << "\n";
      }
      return wins.good() ? 0 : 1;
    }));
  }
  start.release();
  expect_all_ok(pids, 120);
  std::map<std::string, int> winner;
  for (int p = 0; p < kProcesses; ++p) {
    std::ifstream in(dir.sub("wins-" + std::to_string(p)));
    std::string key;
    while (in >> key) {
      EXPECT_EQ(winner.count(key), 0u) << key << " added by two processes";
      winner[key] = p;
    }
  }
  EXPECT_EQ(winner.size(), static_cast<std::size_t>(kKeys));
  bc::Store s(dir.sub("bucket"), "raw", "raw");
  for (const auto& [key, p] : winner) {
    bc::Entry e;
    ASSERT_EQ(s.get(s.digest(key), e), bc::ReadStatus::found) << key;
    EXPECT_EQ(*e.value, std::to_string(p)) << key;
  }
}

TEST(Management, ProcessesIncrementingOneKeyLoseNothing) {
  ScratchDir dir;
  // Issue 14's figure is 4 processes x 10,000 increments; each increment creates a lock file
  // and writes the entry (0.15 ms on an idle disk here, up to 0.8 ms with other builds
  // running: 4 x 10,000 took 6-8 s idle), so the default is 4 x 2,500.
  // BUCKETCACHE_INCR_PER_PROCESS=10000 runs the figure.
  constexpr int kProcesses = 4;
  const int kIncrements = increments_per_process();
  StartLine start;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    pids.push_back(reltest::spawn([&, p] {
      start.wait();
      bc::Bucket<bc::JsonBackend> b(dir.sub("bucket"));
      // Half the processes go up by 2 and down by 1, to exercise decr as well.
      for (int i = 0; i < kIncrements; ++i) {
        if (p % 2 == 0 || i % 2 == 0) {  // (an even kIncrements keeps the pairs whole)
          b.incr(std::string("counter"), p % 2 == 0 ? 1 : 2);
        } else {
          b.decr(std::string("counter"));
        }
      }
      return 0;
    }));
  }
  const auto t0 = std::chrono::steady_clock::now();
  start.release();
  expect_all_ok(pids, 300);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d processes x %d increments: %.2f s\n", kProcesses, kIncrements, seconds);
  bc::Bucket<bc::JsonBackend> b(dir.sub("bucket"));
  // Even processes add 1 each time; odd ones add 2 and take 1 in turn (+1 per pair).
  const std::int64_t kExpected =
      (kProcesses + 1) / 2 * kIncrements + kProcesses / 2 * (kIncrements / 2);
  EXPECT_EQ(b.get<std::int64_t>(std::string("counter")), kExpected);
}

TEST(Management, ProcessesPoppingOneEntryExactlyOneGetsIt) {
  ScratchDir dir;
  constexpr int kProcesses = 4;
  constexpr int kKeys = 200;
  {
    bc::Store s(dir.sub("bucket"), "raw", "raw");
    for (int k = 0; k < kKeys; ++k) {
      const std::string key = "key-" + std::to_string(k);
      s.set(bc::KeyRef(s.digest(key), key), key);
    }
  }
  StartLine start;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    pids.push_back(reltest::spawn([&, p] {
      start.wait();
      bc::Store s(dir.sub("bucket"), "raw", "raw");
      std::ofstream got(dir.sub("got-" + std::to_string(p)));
      for (int k = 0; k < kKeys; ++k) {
        const std::string key = "key-" + std::to_string(k);
        bc::Entry e;
        if (s.pop(s.digest(key), e)) {
          if (*e.value != key) return 2;
          got << key << "\n";
        }
      }
      return got.good() ? 0 : 1;
    }));
  }
  start.release();
  expect_all_ok(pids, 120);
  std::map<std::string, int> taken;
  for (int p = 0; p < kProcesses; ++p) {
    std::ifstream in(dir.sub("got-" + std::to_string(p)));
    std::string key;
    while (in >> key) ++taken[key];
  }
  EXPECT_EQ(taken.size(), static_cast<std::size_t>(kKeys));
  for (const auto& [key, n] : taken) EXPECT_EQ(n, 1) << key;
}
