// The Redis Cluster store (redis-cluster://) through the C API, against real clusters
// (redis_cluster.hpp): every operation routed by hash slot over all masters, single flight
// across processes, a reshard of slots while clients run (MOVED and ASK followed, values
// current), a master killed with a replica (fails clearly, then works again after the
// failover) and without one (its slots fail clearly, the others keep working), bad URLs
// and a dead cluster.
#include "redis_cluster.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bucketcache/bucketcache.h"
#include "capi_util.hpp"
#include "redis_server.hpp"

namespace {

using bctest::RedisCluster;
using Clock = std::chrono::steady_clock;

using Bucket = capitest::Handle;
using capitest::set;
using capitest::value_of;

int open_bucket(const std::string& url, const std::string& name, Bucket& b,
                std::int64_t timeout_ms = 2000, bool deferred = false, std::int64_t memory = -1) {
  capitest::Options o({{BC_OPT_TIMEOUT_MS, timeout_ms}, {BC_OPT_DEFERRED, deferred ? 1 : 0}},
                      {{BC_OPT_STORE, url}});
  if (memory >= 0) o.ints.emplace_back(BC_OPT_MEMORY_LIMIT_BYTES, memory);
  bc_bucket* raw = nullptr;
  const int rc = capitest::try_open(name, o, &raw);
  b.reset(raw);
  return rc;
}

// DBSIZE of one node (-1 if it does not answer).
long long dbsize(int port) {
  const struct timeval tv = {2, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  long long n = -1;
  if (c != nullptr && c->err == 0) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "DBSIZE"));
    if (r != nullptr && r->type == REDIS_REPLY_INTEGER) n = r->integer;
    if (r != nullptr) freeReplyObject(r);
  }
  if (c != nullptr) redisFree(c);
  return n;
}

int count_fn(void* user, const void* /*key*/, size_t /*klen*/, size_t /*vlen*/, int64_t /*created*/,
             int64_t /*expires*/) {
  ++*static_cast<int*>(user);
  return 0;
}

int compute_slowly(void* user, const void* /*key*/, size_t /*klen*/, bc_buf* out) {
  // Counts computations in a file shared by every process (O_APPEND writes are atomic).
  const char* path = static_cast<const char*>(user);
  FILE* f = std::fopen(path, "a");
  if (f == nullptr) return BC_EIO;
  std::fputs("x", f);
  std::fclose(f);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // The callback keeps owning its bytes (bc_compute_fn): a static buffer.
  static char kValue[] = "computed";
  out->data = kValue;
  out->size = sizeof kValue - 1;
  return BC_OK;
}

// One 3-master cluster shared by the tests that do not break it.
class ClusterStore : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      cluster_ = new RedisCluster(3, 0);
    } catch (const std::exception& e) {
      cluster_error_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr) << "cannot start a Redis Cluster: " << cluster_error_;
    bucket_ = std::string("c/") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  Bucket open(bool deferred = false, std::int64_t memory = -1) {
    Bucket b;
    EXPECT_EQ(open_bucket(cluster_->url(), bucket_, b, 2000, deferred, memory), BC_OK)
        << bc_last_error_message();
    return b;
  }
  static RedisCluster* cluster_;
  static std::string cluster_error_;
  std::string bucket_;
};
RedisCluster* ClusterStore::cluster_ = nullptr;
std::string ClusterStore::cluster_error_;

TEST_F(ClusterStore, EveryOperationSpreadsOverAllMasters) {
  Bucket b = open();
  const std::vector<int> masters = cluster_->master_ports();
  ASSERT_EQ(masters.size(), 3u);
  std::vector<long long> before;
  for (int p : masters) before.push_back(dbsize(p));
  constexpr int kKeys = 300;
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_EQ(set(b, "k" + std::to_string(i), "v" + std::to_string(i)), BC_OK)
        << bc_last_error_message();
  }
  // One bucket's keys land on every master (no bucket-wide hash tag).
  for (std::size_t m = 0; m < masters.size(); ++m) {
    EXPECT_GT(dbsize(masters[m]), before[m] + 30) << "master " << masters[m];
  }
  Bucket fresh = open(false, 0);  // no memory layer: every read goes to the cluster
  for (int i = 0; i < kKeys; ++i) {
    const std::string k = "k" + std::to_string(i);
    ASSERT_EQ(value_of(fresh, k), "v" + std::to_string(i));
    ASSERT_EQ(bc_contains(fresh.get(), k.data(), k.size()), 1);
  }
  for (int i = 0; i < kKeys; i += 2) {
    const std::string k = "k" + std::to_string(i);
    ASSERT_EQ(bc_delete(fresh.get(), k.data(), k.size()), BC_OK);
  }
  for (int i = 0; i < kKeys; ++i) {
    const std::string k = "k" + std::to_string(i);
    EXPECT_EQ(value_of(fresh, k), i % 2 == 0 ? "<miss>" : "v" + std::to_string(i));
  }
  // Iteration and clear cover every master.
  int count = 0;
  ASSERT_EQ(bc_foreach(fresh.get(), count_fn, &count), BC_OK) << bc_last_error_message();
  EXPECT_EQ(count, kKeys / 2);
  bc_prune_info info;
  ASSERT_EQ(bc_prune_directory(fresh.get(), &info), BC_OK) << bc_last_error_message();
  std::uint64_t removed = 0;
  ASSERT_EQ(bc_clear(fresh.get(), &removed), BC_OK) << bc_last_error_message();
  EXPECT_EQ(removed, static_cast<std::uint64_t>(kKeys / 2));
  EXPECT_EQ(value_of(fresh, "k1"), "<miss>");
}

TEST_F(ClusterStore, ExpiryAddIncrTouch) {
  Bucket b = open(false, 0);
  ASSERT_EQ(bc_set_ex(b.get(), "short", 5, "1", 1, 50000), BC_OK);
  ASSERT_EQ(bc_set_ex(b.get(), "long", 4, "2", 1, 0), BC_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(value_of(b, "short"), "<miss>");
  EXPECT_EQ(value_of(b, "long"), "2");
  EXPECT_EQ(bc_add(b.get(), "a", 1, "first", 5, -1), BC_OK);
  EXPECT_EQ(bc_add(b.get(), "a", 1, "second", 6, -1), BC_EEXISTS);
  EXPECT_EQ(value_of(b, "a"), "first");
  std::int64_t n = 0;
  for (int i = 0; i < 20; ++i) ASSERT_EQ(bc_incr(b.get(), "n", 1, 1, 0, &n), BC_OK);
  EXPECT_EQ(n, 20);
  EXPECT_EQ(bc_touch(b.get(), "a", 1, 50000), BC_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(value_of(b, "a"), "<miss>");
}

TEST_F(ClusterStore, GetOrComputeSingleFlightAcrossProcesses) {
  char dir[] = "/tmp/bc-cluster-sf-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string counter = std::string(dir) + "/computes";
  std::vector<pid_t> children;
  for (int p = 0; p < 4; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      Bucket b;
      if (open_bucket(cluster_->url(), bucket_, b) != BC_OK) ::_exit(10);
      bc_buf out{nullptr, 0};
      const int rc = bc_get_or_compute(b.get(), "shared", 6, compute_slowly,
                                       const_cast<char*>(counter.c_str()), &out, nullptr);
      if (rc != BC_OK) ::_exit(11);
      const bool ok = std::string(static_cast<const char*>(out.data), out.size) == "computed";
      bc_buf_dispose(&out);
      b.reset();
      ::_exit(ok ? 0 : 12);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  FILE* f = std::fopen(counter.c_str(), "r");
  ASSERT_NE(f, nullptr);
  char buf[16] = {};
  const size_t n = std::fread(buf, 1, sizeof buf, f);
  std::fclose(f);
  ::unlink(counter.c_str());
  ::rmdir(dir);
  EXPECT_EQ(n, 1u) << "computations: " << n;
}

TEST_F(ClusterStore, DeferredWritesGoOutOnSync) {
  Bucket b = open(true);
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(set(b, "d" + std::to_string(i), std::to_string(i)), BC_OK);
  Bucket other = open(false, 0);
  EXPECT_EQ(value_of(other, "d7"), "<miss>");
  ASSERT_EQ(bc_sync(b.get()), BC_OK) << bc_last_error_message();
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(value_of(other, "d" + std::to_string(i)), std::to_string(i));
}

TEST_F(ClusterStore, BadUrlsAndNonClusterServer) {
  bc_options* o = nullptr;
  ASSERT_EQ(bc_options_new(&o), BC_OK);
  for (const char* bad : {"redis-cluster://", "redis-cluster://127.0.0.1:1,",
                          "redis-cluster://127.0.0.1:1/0", "redis-cluster://127.0.0.1:99999",
                          "redis-cluster://u@127.0.0.1:1", "redis-cluster://,127.0.0.1:1"}) {
    EXPECT_EQ(bc_options_set_str(o, BC_OPT_STORE, bad), BC_EINVAL) << bad;
  }
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_STORE, "redis-cluster://a:1,[::1]:2,b"), BC_OK);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_STORE, "redis-cluster://u:p@127.0.0.1:7000"), BC_OK);
  bc_options_free(o);

  // Nobody listening: BC_EIO naming the node.
  const int port = bctest::free_port();
  Bucket b;
  EXPECT_EQ(open_bucket("redis-cluster://127.0.0.1:" + std::to_string(port), "x", b, 300), BC_EIO);
  EXPECT_NE(std::string(bc_last_error_message()).find("127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << bc_last_error_message();
  // A plain server is not a cluster.
  bctest::RedisServer plain;
  EXPECT_EQ(open_bucket("redis-cluster://127.0.0.1:" + std::to_string(plain.port()), "x", b),
            BC_EIO);
  EXPECT_NE(std::string(bc_last_error_message()).find("cluster"), std::string::npos)
      << bc_last_error_message();
}

TEST_F(ClusterStore, WrongPasswordIsAClearErrorAtOpen) {
  const std::string url = cluster_->url();
  const std::string with_password =
      "redis-cluster://alice:not-the-password@" + url.substr(std::strlen("redis-cluster://"));
  Bucket b;
  EXPECT_EQ(open_bucket(with_password, bucket_, b, 500), BC_EIO);
  const std::string msg = bc_last_error_message();
  EXPECT_NE(msg.find("authentication failed"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("not-the-password"), std::string::npos) << "password leaked: " << msg;
}

// A frozen master (SIGSTOP): calls on its slots fail with BC_EIO "timed out" naming it,
// calls on other slots work; once it answers again, everything works.
TEST_F(ClusterStore, FrozenMasterTimesOut) {
  Bucket b;
  ASSERT_EQ(open_bucket(cluster_->url(), bucket_, b, 300, false, 0), BC_OK);
  for (int i = 0; i < 30; ++i) ASSERT_EQ(set(b, "z" + std::to_string(i), "v"), BC_OK);
  const int frozen = cluster_->master_ports().back();
  cluster_->pause(frozen);
  int ok = 0, timed_out = 0;
  for (int i = 0; i < 30; ++i) {
    int code = 0;
    value_of(b, "z" + std::to_string(i), &code);
    if (code == BC_OK) {
      ++ok;
    } else {
      EXPECT_EQ(code, BC_EIO);
      const std::string msg = bc_last_error_message();
      EXPECT_NE(msg.find("timed out"), std::string::npos) << msg;
      EXPECT_NE(msg.find(std::to_string(frozen)), std::string::npos) << msg;
      ++timed_out;
    }
  }
  cluster_->resume(frozen);
  EXPECT_GT(ok, 0);
  EXPECT_GT(timed_out, 0);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(value_of(b, "z" + std::to_string(i)), "v");
}

// The command-line tool takes a redis-cluster:// URL like a redis:// one.
TEST_F(ClusterStore, CliListsAndClears) {
  Bucket b = open();
  for (int i = 0; i < 40; ++i) ASSERT_EQ(set(b, "cli" + std::to_string(i), "v"), BC_OK);
  const std::string cli = std::string(BUCKETCACHE_CLI) + " ";
  const std::string where = "'" + cluster_->url() + "' --bucket '" + bucket_ + "'";
  FILE* p = ::popen((cli + "ls " + where + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  int lines = 0;
  std::string first;
  char line[4096];
  while (std::fgets(line, sizeof line, p) != nullptr) {
    if (lines++ == 0) first = line;
  }
  EXPECT_EQ(::pclose(p), 0) << first;
  EXPECT_GE(lines, 40) << first;  // every entry of the bucket, from every master
  EXPECT_EQ(std::system((cli + "clear " + where + " --yes >/dev/null 2>&1").c_str()), 0);
  Bucket fresh = open(false, 0);
  EXPECT_EQ(value_of(fresh, "cli7"), "<miss>");
}

// Moves `slots` slots from one master to another with redis-cli while 4 threads write
// and read their own keys: every read returns the value the thread last wrote, and no
// operation fails (MOVED and ASK are followed).
TEST(ClusterReshard, ValuesStayCurrentWhileSlotsMove) {
  RedisCluster cluster(3, 0);
  const std::vector<int> masters = cluster.master_ports();
  ASSERT_EQ(masters.size(), 3u);
  constexpr int kSlotsMoved = 2000;
  Bucket seed;
  ASSERT_EQ(open_bucket(cluster.url(), "reshard", seed), BC_OK) << bc_last_error_message();
  std::atomic<bool> stop{false};
  std::atomic<long> wrong{0}, errors{0}, rounds{0};
  std::string first_error;
  std::mutex error_mutex;
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      Bucket b;
      if (open_bucket(cluster.url(), "reshard", b, 2000, false, 0) != BC_OK) {
        ++errors;
        return;
      }
      for (long round = 0; !stop.load(); ++round) {
        for (int k = 0; k < 50; ++k) {
          const std::string key = "t" + std::to_string(t) + "-" + std::to_string(k);
          const std::string value = key + "@" + std::to_string(round);
          int rc = set(b, key, value);
          int grc = BC_OK;
          const std::string got = rc == BC_OK ? value_of(b, key, &grc) : std::string();
          if (rc != BC_OK || grc != BC_OK) {
            std::lock_guard<std::mutex> hold(error_mutex);
            if (errors++ == 0) first_error = bc_last_error_message();
          } else if (got != value) {
            ++wrong;
          }
        }
        ++rounds;
      }
    });
  }
  while (rounds.load() < 8) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int from = masters[0], to = masters[1];
  const int rc = cluster.cli("reshard 127.0.0.1:" + std::to_string(from) + " --cluster-from " +
                             cluster.node_id(from) + " --cluster-to " + cluster.node_id(to) +
                             " --cluster-slots " + std::to_string(kSlotsMoved) +
                             " --cluster-yes --cluster-pipeline 5");
  const long rounds_after_move = rounds.load();
  while (rounds.load() < rounds_after_move + 8) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  for (std::thread& w : workers) w.join();
  ASSERT_EQ(rc, 0) << "redis-cli --cluster reshard failed";
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(errors.load(), 0) << first_error;
  // The slots did move: the first master has fewer keys' slots now.
  std::set<int> owners;
  int moved_to_target = 0;
  for (int s = 0; s < 16384; s += 97) {
    if (cluster.owner_of(s) == to) ++moved_to_target;
  }
  EXPECT_GT(moved_to_target, 16384 / 97 / 3 + 5);
  // After the move: every key reads its last value through a fresh handle.
  Bucket after;
  ASSERT_EQ(open_bucket(cluster.url(), "reshard", after, 2000, false, 0), BC_OK);
  int found = 0;
  for (int t = 0; t < 4; ++t) {
    for (int k = 0; k < 50; ++k) {
      int code = 0;
      value_of(after, "t" + std::to_string(t) + "-" + std::to_string(k), &code);
      if (code == BC_OK) ++found;
    }
  }
  EXPECT_EQ(found, 200);
}

// 3 masters with a replica each: a killed master's slots fail clearly (BC_EIO naming a
// node, within the timeout) until its replica takes over, then work again with the values
// written before; the promoted replica killed too (no replica left): its slots fail
// clearly and stay failed, the other slots keep working.
TEST(ClusterFailover, MasterKilledWithAndWithoutReplica) {
  RedisCluster cluster(3, 1);
  Bucket b;
  ASSERT_EQ(open_bucket(cluster.url(), "failover", b, 500, false, 0), BC_OK)
      << bc_last_error_message();
  constexpr int kKeys = 60;
  auto key = [](int i) { return "f" + std::to_string(i); };
  for (int i = 0; i < kKeys; ++i) ASSERT_EQ(set(b, key(i), "v" + std::to_string(i)), BC_OK);
  // Let the replicas receive every write before a master dies (replication is async).
  for (int p : cluster.master_ports()) {
    const struct timeval tv = {5, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", p, tv);
    ASSERT_TRUE(c != nullptr && c->err == 0);
    auto* r = static_cast<redisReply*>(redisCommand(c, "WAIT 1 5000"));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->integer, 1);
    freeReplyObject(r);
    redisFree(c);
  }
  const std::vector<int> first_masters = cluster.master_ports();
  const int victim = first_masters.front();
  cluster.kill(victim);
  // Until the failover: each call succeeds with the exact value or fails with BC_EIO and
  // a message naming a node.
  int failed_calls = 0;
  std::string message;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  for (;;) {
    int ok = 0;
    for (int i = 0; i < kKeys; ++i) {
      int code = 0;
      const std::string v = value_of(b, key(i), &code);
      if (code == BC_OK) {
        ASSERT_EQ(v, "v" + std::to_string(i));
        ++ok;
      } else {
        ASSERT_EQ(code, BC_EIO) << bc_last_error_message();
        message = bc_last_error_message();
        ASSERT_NE(message.find("127.0.0.1:"), std::string::npos) << message;
        ++failed_calls;
      }
    }
    if (ok == kKeys) break;
    ASSERT_LT(Clock::now(), deadline) << "no failover within 60 s; last error: " << message;
  }
  std::printf("[ failover ] %d calls failed before the replica took over; last: %s\n", failed_calls,
              message.c_str());
  cluster.wait_ok();
  for (int i = 0; i < kKeys; ++i) ASSERT_EQ(set(b, key(i), "w" + std::to_string(i)), BC_OK);

  // The promoted replica (a master now, not one of the first masters) has no replica of
  // its own: kill it; its slots fail clearly, the others keep working.
  int promoted = 0;
  for (int p : cluster.master_ports()) {
    if (std::find(first_masters.begin(), first_masters.end(), p) == first_masters.end()) {
      promoted = p;
    }
  }
  ASSERT_NE(promoted, 0);
  cluster.kill(promoted);
  int ok = 0, eio = 0;
  for (int i = 0; i < kKeys; ++i) {
    int code = 0;
    const std::string v = value_of(b, key(i), &code);
    if (code == BC_OK) {
      EXPECT_EQ(v, "w" + std::to_string(i));
      ++ok;
    } else {
      EXPECT_EQ(code, BC_EIO);
      EXPECT_NE(std::string(bc_last_error_message()).find("127.0.0.1:"), std::string::npos)
          << bc_last_error_message();
      ++eio;
    }
  }
  std::printf("[ no replica ] %d keys served, %d failed with BC_EIO\n", ok, eio);
  EXPECT_GT(ok, 0);
  EXPECT_GT(eio, 0);
}

TEST(ClusterDown, EveryNodeKilledIsAClearError) {
  RedisCluster cluster(3, 0);
  Bucket b;
  ASSERT_EQ(open_bucket(cluster.url(), "down", b, 300, false, 0), BC_OK);
  ASSERT_EQ(set(b, "k", "v"), BC_OK);
  const std::string url = cluster.url();
  for (int p : cluster.master_ports()) cluster.kill(p);
  int code = 0;
  value_of(b, "k", &code);
  EXPECT_EQ(code, BC_EIO);
  EXPECT_NE(std::string(bc_last_error_message()).find("127.0.0.1:"), std::string::npos)
      << bc_last_error_message();
  EXPECT_EQ(set(b, "k", "w"), BC_EIO);
  Bucket again;
  EXPECT_EQ(open_bucket(url, "down", again, 300), BC_EIO);
}

}  // namespace

namespace {

int stress_seconds() {
  const char* s = std::getenv("BUCKETCACHE_STRESS_SECONDS");
  const int n = s != nullptr ? std::atoi(s) : 0;
  return n > 0 ? n : 15;
}

}  // namespace

// Label "stress": slots move back and forth between two masters for
// BUCKETCACHE_STRESS_SECONDS (default 15) while 4 threads set and read back their own keys
// and increment one shared counter: no wrong value, no error, and the counter equals the
// number of increments that succeeded.
TEST(StressCluster, ReshardBackAndForthUnderLoad) {
  RedisCluster cluster(3, 0);
  const std::vector<int> masters = cluster.master_ports();
  ASSERT_EQ(masters.size(), 3u);
  std::atomic<bool> stop{false};
  std::atomic<long> wrong{0}, errors{0}, increments{0};
  std::mutex error_mutex;
  std::string first_error;
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      Bucket b;
      if (open_bucket(cluster.url(), "stress", b, 2000, false, 0) != BC_OK) {
        ++errors;
        return;
      }
      for (long round = 0; !stop.load(); ++round) {
        for (int k = 0; k < 50 && !stop.load(); ++k) {
          const std::string key = "t" + std::to_string(t) + "-" + std::to_string(k);
          const std::string value = key + "@" + std::to_string(round);
          int grc = BC_OK;
          const int rc = set(b, key, value);
          const std::string got = rc == BC_OK ? value_of(b, key, &grc) : std::string();
          const int irc = k % 10 == 0 ? bc_incr(b.get(), "counter", 7, 1, 0, nullptr) : BC_OK;
          if (irc == BC_OK && k % 10 == 0) ++increments;
          if (rc != BC_OK || grc != BC_OK || irc != BC_OK) {
            std::lock_guard<std::mutex> hold(error_mutex);
            if (errors++ == 0) first_error = bc_last_error_message();
          } else if (got != value) {
            ++wrong;
          }
        }
      }
    });
  }
  const auto end = Clock::now() + std::chrono::seconds(stress_seconds());
  int moves = 0;
  bool forth = true;
  while (Clock::now() < end) {
    const int from = forth ? masters[0] : masters[1];
    const int to = forth ? masters[1] : masters[0];
    ASSERT_EQ(cluster.cli("reshard 127.0.0.1:" + std::to_string(from) + " --cluster-from " +
                          cluster.node_id(from) + " --cluster-to " + cluster.node_id(to) +
                          " --cluster-slots 1500 --cluster-yes --cluster-pipeline 5"),
              0);
    ++moves;
    forth = !forth;
  }
  stop = true;
  for (std::thread& w : workers) w.join();
  std::printf("[ stress ] %d reshards, %ld increments\n", moves, increments.load());
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(errors.load(), 0) << first_error;
  Bucket b;
  ASSERT_EQ(open_bucket(cluster.url(), "stress", b, 2000, false, 0), BC_OK);
  EXPECT_EQ(value_of(b, "counter"), std::to_string(increments.load()));
}
