// The Redis store through the C API, against a real redis-server (redis_server.hpp): every
// operation, expiry (native and in the header), the lifetime rule, single flight across
// processes, deferred writes, prune, AUTH, a killed or frozen server, and read-your-writes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bucketcache/bucketcache.h"
#include "capi_util.hpp"
#include "redis_server.hpp"

namespace {

using bctest::RedisServer;
using Clock = std::chrono::steady_clock;

struct Opt {
  int64_t lifetime_us = 0;
  int64_t timeout_ms = 2000;
  int64_t memory = -1;  // -1: default
  bool deferred = false;
  bool check_file = false;
  std::string near_dir;     // BC_OPT_NEAR_CACHE_DIR, if not empty
  int64_t near_ttl_ms = 0;  // BC_OPT_NEAR_CACHE_TTL_MS, if > 0
};

using Bucket = capitest::Handle;
using capitest::set;
using capitest::value_of;

// Opens `name` on `url`; returns the code and fills b on success.
int open_bucket(const std::string& url, const std::string& name, const Opt& opt, Bucket& b) {
  capitest::Options o({{BC_OPT_TIMEOUT_MS, opt.timeout_ms},
                       {BC_OPT_LIFETIME_US, opt.lifetime_us},
                       {BC_OPT_DEFERRED, opt.deferred ? 1 : 0},
                       {BC_OPT_CHECK_FILE, opt.check_file ? 1 : 0}},
                      {{BC_OPT_STORE, url}});
  if (opt.memory >= 0) o.ints.emplace_back(BC_OPT_MEMORY_LIMIT_BYTES, opt.memory);
  if (!opt.near_dir.empty()) o.strs.emplace_back(BC_OPT_NEAR_CACHE_DIR, opt.near_dir);
  if (opt.near_ttl_ms > 0) o.ints.emplace_back(BC_OPT_NEAR_CACHE_TTL_MS, opt.near_ttl_ms);
  bc_bucket* raw = nullptr;
  const int rc = capitest::try_open(name, o, &raw);
  b.reset(raw);
  return rc;
}

// A plain hiredis client, to look at what the store left on the server.
class Raw {
 public:
  explicit Raw(int port) {
    const struct timeval tv = {2, 0};
    c_ = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c_ == nullptr || c_->err != 0) throw std::runtime_error("raw connect failed");
  }
  ~Raw() {
    if (last_ != nullptr) freeReplyObject(last_);
    redisFree(c_);
  }
  redisReply* cmd(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (last_ != nullptr) freeReplyObject(last_);
    last_ = static_cast<redisReply*>(
        redisCommandArgv(c_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (last_ == nullptr) throw std::runtime_error("raw command failed");
    return last_;
  }
  // Names of the bucket's keys (SCAN), lock keys included.
  std::vector<std::string> keys(const std::string& bucket) {
    std::vector<std::string> out;
    std::string cursor = "0";
    do {
      redisReply* r = cmd({"SCAN", cursor, "MATCH", "bc:" + bucket + ":*", "COUNT", "1000"});
      cursor.assign(r->element[0]->str, r->element[0]->len);
      for (size_t i = 0; i < r->element[1]->elements; ++i) {
        out.emplace_back(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
      }
    } while (cursor != "0");
    return out;
  }

 private:
  redisContext* c_ = nullptr;
  redisReply* last_ = nullptr;
};

class RedisStore : public ::testing::Test {
 protected:
  void SetUp() override {
    // Never skipped: install-deps installs redis-server, so failing to run it is a failure.
    try {
      server_ = std::make_unique<RedisServer>();
    } catch (const std::exception& e) {
      FAIL() << "cannot start redis-server: " << e.what();
    }
    const ::testing::TestInfo* t = ::testing::UnitTest::GetInstance()->current_test_info();
    bucket_ = std::string("t/") + t->name();
  }
  std::string url(const std::string& credentials = "") const { return server_->url(credentials); }
  Bucket open(const Opt& opt = Opt()) {
    Bucket b;
    EXPECT_EQ(open_bucket(url(), bucket_, opt, b), BC_OK) << bc_last_error_message();
    return b;
  }
  // No memory layer, and single-flight locks of 240 ms (extended every 80 ms while held).
  Bucket open_with_short_lock_ttl() {
    ::setenv("BUCKETCACHE_REDIS_LOCK_TTL_MS", "240", 1);
    Opt opt;
    opt.memory = 0;
    Bucket b = open(opt);
    ::unsetenv("BUCKETCACHE_REDIS_LOCK_TTL_MS");
    return b;
  }
  // The bucket's lock keys on the server now.
  int lock_keys() const {
    Raw raw(server_->port());
    int n = 0;
    for (const std::string& k : raw.keys(bucket_)) n += k.find(":lock") != std::string::npos;
    return n;
  }

  std::unique_ptr<RedisServer> server_;
  std::string bucket_;
};

TEST_F(RedisStore, SetGetContainsDeleteUnload) {
  Bucket b = open();
  ASSERT_TRUE(b);
  int code = 0;
  EXPECT_EQ(value_of(b, "k", &code), "<miss>");
  EXPECT_EQ(bc_contains(b.get(), "k", 1), 0);
  ASSERT_EQ(set(b, "k", "value one"), BC_OK) << bc_last_error_message();
  EXPECT_EQ(value_of(b, "k"), "value one");
  EXPECT_EQ(bc_contains(b.get(), "k", 1), 1);

  // The server holds the entry bytes of the file format under bc:<bucket>:<digest>.
  Raw raw(server_->port());
  const std::vector<std::string> keys = raw.keys(bucket_);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].size(), std::string("bc:" + bucket_ + ":").size() + 64);
  redisReply* r = raw.cmd({"GET", keys[0]});
  ASSERT_EQ(r->type, REDIS_REPLY_STRING);
  EXPECT_EQ(r->len, 128u + 1 + 9);
  EXPECT_EQ(std::string(r->str, 8), "BKTCACHE");
  EXPECT_EQ(raw.cmd({"PTTL", keys[0]})->integer, -1);  // lifetime 0: never expires

  // unload drops the memory copy; the server still has it.
  EXPECT_EQ(bc_unload_key(b.get(), "k", 1), BC_OK);
  EXPECT_EQ(value_of(b, "k"), "value one");
  // Another handle (another process, in effect) reads it.
  Bucket other = open();
  EXPECT_EQ(value_of(other, "k"), "value one");

  ASSERT_EQ(set(b, "k", "value two"), BC_OK);
  EXPECT_EQ(value_of(b, "k"), "value two");
  EXPECT_EQ(bc_delete(b.get(), "k", 1), BC_OK);
  EXPECT_EQ(bc_delete(b.get(), "k", 1), BC_ENOTFOUND);
  EXPECT_EQ(value_of(b, "k"), "<miss>");
  EXPECT_EQ(bc_contains(b.get(), "k", 1), 0);
  EXPECT_TRUE(raw.keys(bucket_).empty());
}

TEST_F(RedisStore, BucketsAreSeparateNamespaces) {
  Bucket a = open();
  Bucket ab;
  ASSERT_EQ(open_bucket(url(), bucket_ + ":b", Opt(), ab), BC_OK);
  Bucket glob;
  ASSERT_EQ(open_bucket(url(), bucket_ + "*", Opt(), glob), BC_OK);
  ASSERT_EQ(set(a, "k", "in a"), BC_OK);
  ASSERT_EQ(set(ab, "k", "in a:b"), BC_OK);
  ASSERT_EQ(set(glob, "k", "in a*"), BC_OK);
  EXPECT_EQ(value_of(a, "k"), "in a");
  EXPECT_EQ(value_of(ab, "k"), "in a:b");
  EXPECT_EQ(value_of(glob, "k"), "in a*");
  // Prune of one bucket never looks at the others' keys.
  bc_prune_info info{1, 1};
  ASSERT_EQ(bc_prune_directory(a.get(), &info), BC_OK) << bc_last_error_message();
  EXPECT_EQ(info.files, 0u);
  EXPECT_EQ(value_of(ab, "k"), "in a:b");
}

TEST_F(RedisStore, ExpiryIsNativeAndInTheHeader) {
  Opt opt;
  opt.lifetime_us = 400000;
  Bucket b = open(opt);
  ASSERT_EQ(set(b, "k", "short-lived"), BC_OK);
  Raw raw(server_->port());
  const std::vector<std::string> keys = raw.keys(bucket_);
  ASSERT_EQ(keys.size(), 1u);
  const long long pttl = raw.cmd({"PTTL", keys[0]})->integer;
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 401);
  int64_t expires = 0;
  EXPECT_EQ(bc_get_expiry(b.get(), "k", 1, &expires), BC_OK);
  EXPECT_GT(expires, 0);
  EXPECT_EQ(value_of(b, "k"), "short-lived");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(value_of(b, "k"), "<miss>");                // the memory copy expired too
  EXPECT_EQ(raw.cmd({"EXISTS", keys[0]})->integer, 0);  // the server dropped it
}

TEST_F(RedisStore, LifetimeRuleKeepsLongerLivedEntries) {
  Opt long_lived;
  long_lived.lifetime_us = 60 * 1000000LL;
  Opt short_lived;
  short_lived.lifetime_us = 1000000;
  Bucket writer = open(long_lived);
  Bucket reader = open(short_lived);
  ASSERT_EQ(set(writer, "k", "v"), BC_OK);
  int code = 0;
  value_of(reader, "k", &code);
  EXPECT_EQ(code, BC_ENOTFOUND);
  EXPECT_NE(std::string(bc_last_error_message()).find("longer"), std::string::npos)
      << bc_last_error_message();
  EXPECT_EQ(value_of(writer, "k"), "v");  // not deleted by the short-lived bucket
  bc_prune_info info{};
  ASSERT_EQ(bc_prune_directory(reader.get(), &info), BC_OK);
  EXPECT_EQ(info.files, 0u);
  Raw raw(server_->port());
  EXPECT_EQ(raw.keys(bucket_).size(), 1u);
}

struct ComputeCtx {
  std::string marker;  // one byte appended per compute
};

int slow_compute(void* user, const void*, size_t, bc_buf* out) {
  const auto* ctx = static_cast<ComputeCtx*>(user);
  const int fd = ::open(ctx->marker.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (fd < 0 || ::write(fd, "x", 1) != 1) return 1;
  ::close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // The callback keeps owning its bytes (bc_compute_fn): a static buffer.
  static char value[] = "computed once";
  out->data = value;
  out->size = sizeof(value) - 1;
  return 0;
}

TEST_F(RedisStore, GetOrComputeSingleFlightAcrossProcesses) {
  // The parent has used the store before forking: children must not share its sockets.
  Bucket parent = open();
  ASSERT_EQ(set(parent, "warm", "up"), BC_OK);
  char dir[] = "/tmp/bc-redis-sf-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  ComputeCtx ctx{std::string(dir) + "/computes"};
  std::vector<pid_t> children;
  for (int i = 0; i < 4; ++i) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      Bucket b;
      Opt opt;
      opt.memory = 0;
      if (open_bucket(url(), bucket_, opt, b) != BC_OK) ::_exit(10);
      if (value_of(b, "warm") != "up") ::_exit(11);
      bc_buf out{nullptr, 0};
      int hit = -1;
      const int rc = bc_get_or_compute(b.get(), "key", 3, slow_compute, &ctx, &out, &hit);
      if (rc != BC_OK) ::_exit(12);
      const bool ok = std::string(static_cast<char*>(out.data), out.size) == "computed once";
      bc_buf_dispose(&out);
      b.reset();
      ::_exit(ok ? 0 : 13);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  struct stat st;
  ASSERT_EQ(::stat(ctx.marker.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1) << "computed more than once";
  ::unlink(ctx.marker.c_str());
  ::rmdir(dir);
  EXPECT_EQ(value_of(parent, "warm"), "up");  // the parent's connections still work
  EXPECT_EQ(value_of(parent, "key"), "computed once");
  // The lock is released (deleted), not left to expire.
  Raw raw(server_->port());
  for (const std::string& k : raw.keys(bucket_)) {
    EXPECT_EQ(k.find(":lock"), std::string::npos) << k;
  }
}

int hang_compute(void* user, const void*, size_t, bc_buf*) {
  const auto* ctx = static_cast<ComputeCtx*>(user);
  const int fd = ::open(ctx->marker.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (fd < 0 || ::write(fd, "x", 1) != 1) return 1;
  ::close(fd);
  std::this_thread::sleep_for(std::chrono::seconds(60));  // killed before
  return 1;
}

// With a 240 ms lock TTL, a 500 ms compute keeps its lock (refreshed every 80 ms): four
// processes still compute once. A holder killed mid-compute leaves a lock that expires
// within the TTL (no refresh from a dead process), and the next caller computes.
TEST_F(RedisStore, LongComputeKeepsItsLockAndADeadHoldersLockExpires) {
  char dir[] = "/tmp/bc-redis-lock-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  ComputeCtx ctx{std::string(dir) + "/computes"};
  std::vector<pid_t> children;
  for (int i = 0; i < 4; ++i) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::setenv("BUCKETCACHE_REDIS_LOCK_TTL_MS", "240", 1);
      Bucket b;
      Opt opt;
      opt.memory = 0;
      if (open_bucket(url(), bucket_, opt, b) != BC_OK) ::_exit(10);
      bc_buf out{nullptr, 0};
      const int rc = bc_get_or_compute(b.get(), "long", 4, slow_compute, &ctx, &out, nullptr);
      if (rc != BC_OK) ::_exit(12);
      const bool ok = std::string(static_cast<char*>(out.data), out.size) == "computed once";
      bc_buf_dispose(&out);
      b.reset();
      ::_exit(ok ? 0 : 13);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  struct stat st;
  ASSERT_EQ(::stat(ctx.marker.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1) << "computed more than once: the lock was not kept";
  ::unlink(ctx.marker.c_str());

  // A holder killed mid-compute.
  const pid_t holder = ::fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    ::setenv("BUCKETCACHE_REDIS_LOCK_TTL_MS", "240", 1);
    Bucket b;
    if (open_bucket(url(), bucket_, Opt(), b) != BC_OK) ::_exit(10);
    bc_buf out{nullptr, 0};
    bc_get_or_compute(b.get(), "dead", 4, hang_compute, &ctx, &out, nullptr);
    ::_exit(14);
  }
  while (::stat(ctx.marker.c_str(), &st) != 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(lock_keys(), 1);  // held while the holder lives
  ::kill(holder, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(holder, &status, 0), holder);
  // No longer refreshed: gone after one TTL (the loop is bounded only as a safety net).
  for (int i = 0; i < 1000 && lock_keys() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(lock_keys(), 0);
  ::unlink(ctx.marker.c_str());
  Bucket b = open();
  bc_buf out{nullptr, 0};
  EXPECT_EQ(bc_get_or_compute(b.get(), "dead", 4, slow_compute, &ctx, &out, nullptr), BC_OK)
      << bc_last_error_message();
  bc_buf_dispose(&out);
  ::unlink(ctx.marker.c_str());
  ::rmdir(dir);
}

// Threads of this process now (/proc/self/status), -1 if unreadable.
int thread_count() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  int n = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "Threads: %d", &n) == 1) break;
  }
  std::fclose(f);
  return n;
}

// Computes that wait until released, each counting itself as running.
struct HeldComputes {
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  bool release = false;
};

int held_compute(void* user, const void*, size_t, bc_buf* out) {
  auto* h = static_cast<HeldComputes*>(user);
  std::unique_lock<std::mutex> lock(h->mu);
  ++h->running;
  h->cv.notify_all();
  h->cv.wait(lock, [h] { return h->release; });
  static const char kValue[] = "held";
  out->data = const_cast<char*>(kValue);
  out->size = 4;
  return 0;
}

// Locks held at once by the threads of one process are all kept alive past their TTL by
// one keeper thread of the store (not a thread per lock).
TEST_F(RedisStore, OneKeeperThreadKeepsEveryHeldLockAlive) {
  Bucket b = open_with_short_lock_ttl();
  ASSERT_TRUE(b);
  const int before = thread_count();
  ASSERT_GT(before, 0);

  constexpr int kHolders = 6;
  HeldComputes held;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < kHolders; ++i) {
    threads.emplace_back([&, i] {
      const std::string key = "held" + std::to_string(i);
      bc_buf out{nullptr, 0};
      if (bc_get_or_compute(b.get(), key.data(), key.size(), held_compute, &held, &out, nullptr) ==
              BC_OK &&
          std::string(static_cast<const char*>(out.data), out.size) == "held") {
        ok.fetch_add(1);
      }
      bc_buf_dispose(&out);
    });
  }
  {
    std::unique_lock<std::mutex> lock(held.mu);
    ASSERT_TRUE(
        held.cv.wait_for(lock, std::chrono::seconds(30), [&] { return held.running == kHolders; }));
  }
  // Every compute holds its key's lock: the holder threads plus one keeper, not one more
  // thread per lock.
  const int during = thread_count();
  // Three TTLs later every lock is still there (extended, not expired).
  std::this_thread::sleep_for(std::chrono::milliseconds(720));
  const int locks = lock_keys();
  {
    std::lock_guard<std::mutex> lock(held.mu);
    held.release = true;
  }
  held.cv.notify_all();
  for (std::thread& t : threads) t.join();
  // The holders and one keeper (a thread per lock would be 2 * kHolders); a sanitizer
  // may start one runtime thread of its own meanwhile (ThreadSanitizer does).
  EXPECT_GE(during - before, kHolders + 1) << "threads before " << before << ", during " << during;
  EXPECT_LE(during - before, kHolders + 2) << "threads before " << before << ", during " << during;
  EXPECT_EQ(locks, kHolders);
  EXPECT_EQ(ok.load(), kHolders);
  EXPECT_EQ(lock_keys(), 0) << "locks left after the computes";
}

// ThreadSanitizer does not support a child that starts threads after a fork of a process
// with threads (it dies, or with die_after_fork=0 mistakes the new thread for an old one),
// and this test is exactly that; the plain and ASan builds run it.
#if !defined(__SANITIZE_THREAD__)
// A child forked after its parent's handle took a lock (so the parent's keeper thread
// runs) keeps its own locks alive on the inherited handle, and closes it without hanging.
TEST_F(RedisStore, AForkedChildKeepsItsLocksAliveOnAnInheritedHandle) {
  Bucket b = open_with_short_lock_ttl();
  ASSERT_TRUE(b);
  char dir[] = "/tmp/bc-redis-fork-lock-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  ComputeCtx ctx{std::string(dir) + "/computes"};
  bc_buf out{nullptr, 0};
  ASSERT_EQ(bc_get_or_compute(b.get(), "first", 5, slow_compute, &ctx, &out, nullptr), BC_OK);
  bc_buf_dispose(&out);
  ::unlink(ctx.marker.c_str());

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::alarm(60);
    bc_buf v{nullptr, 0};
    const int rc = bc_get_or_compute(b.get(), "second", 6, slow_compute, &ctx, &v, nullptr);
    bc_buf_dispose(&v);
    b.reset();  // closes the inherited handle: must not wait for the parent's thread
    ::_exit(rc == BC_OK ? 0 : 12);
  }
  struct stat st;
  int status = 0;
  while (::stat(ctx.marker.c_str(), &st) != 0) {
    if (::waitpid(child, &status, WNOHANG) == child) {
      FAIL() << "the child ended before computing, status " << status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // The child's compute takes 500 ms; its lock (TTL 240 ms) must still be there after 400.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const int locks = lock_keys();
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  EXPECT_EQ(locks, 1) << "the child's lock was not kept alive";
  EXPECT_EQ(value_of(b, "second"), "computed once");
  ::unlink(ctx.marker.c_str());
  ::rmdir(dir);
}
#endif  // !__SANITIZE_THREAD__

TEST_F(RedisStore, DeferredWritesGoOutOnSync) {
  Opt opt;
  opt.deferred = true;
  Bucket b = open(opt);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(set(b, "k" + std::to_string(i), "v"), BC_OK);
  size_t pending = 0;
  ASSERT_EQ(bc_pending_count(b.get(), &pending), BC_OK);
  EXPECT_EQ(pending, 3u);
  Raw raw(server_->port());
  EXPECT_TRUE(raw.keys(bucket_).empty());
  EXPECT_EQ(value_of(b, "k1"), "v");  // read from the pending set
  ASSERT_EQ(bc_sync(b.get()), BC_OK) << bc_last_error_message();
  EXPECT_EQ(raw.keys(bucket_).size(), 3u);
  Bucket other = open();
  EXPECT_EQ(value_of(other, "k2"), "v");
}

// bc_sync sends its entries as one pipeline: the server reads them in a few read events
// (INFO stats total_reads_processed), not one per entry as a SET-per-round-trip would.
TEST_F(RedisStore, DeferredSyncIsPipelined) {
  constexpr int kEntries = 300;
  Opt opt;
  opt.deferred = true;
  Bucket b = open(opt);
  for (int i = 0; i < kEntries; ++i) {
    ASSERT_EQ(set(b, "p" + std::to_string(i), "value " + std::to_string(i)), BC_OK);
  }
  Raw raw(server_->port());
  const auto reads = [&] {
    redisReply* r = raw.cmd({"INFO", "stats"});
    const std::string info(r->str, r->len);
    const std::size_t at = info.find("total_reads_processed:");
    return at == std::string::npos ? -1L : std::stol(info.substr(at + 22));
  };
  const long before = reads();
  ASSERT_GE(before, 0);
  ASSERT_EQ(bc_sync(b.get()), BC_OK) << bc_last_error_message();
  const long used = reads() - before;
  std::printf("[ pipeline ] %d entries synced in %ld server reads\n", kEntries, used);
  EXPECT_LT(used, kEntries / 4);
  Bucket other = open();
  for (int i = 0; i < kEntries; ++i) {
    ASSERT_EQ(value_of(other, "p" + std::to_string(i)), "value " + std::to_string(i));
  }
  size_t pending = 1;
  ASSERT_EQ(bc_pending_count(b.get(), &pending), BC_OK);
  EXPECT_EQ(pending, 0u);
}

// A sync while the server is down keeps every entry pending; the next sync writes them.
TEST_F(RedisStore, FailedPipelinedSyncKeepsEntriesPending) {
  Opt opt;
  opt.deferred = true;
  opt.timeout_ms = 300;
  Bucket b = open(opt);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(set(b, "q" + std::to_string(i), "v"), BC_OK);
  server_->kill();
  EXPECT_EQ(bc_sync(b.get()), BC_EIO);
  EXPECT_NE(std::string(bc_last_error_message()).find("20 of 20"), std::string::npos)
      << bc_last_error_message();
  size_t pending = 0;
  ASSERT_EQ(bc_pending_count(b.get(), &pending), BC_OK);
  EXPECT_EQ(pending, 20u);
  server_->restart();
  ASSERT_EQ(bc_sync(b.get()), BC_OK) << bc_last_error_message();
  Bucket other = open();
  for (int i = 0; i < 20; ++i) ASSERT_EQ(value_of(other, "q" + std::to_string(i)), "v");
}

TEST_F(RedisStore, PruneHasNothingToDoButRemovesDamagedEntries) {
  Bucket b = open();
  ASSERT_EQ(set(b, "a", "1"), BC_OK);
  ASSERT_EQ(set(b, "b", "2"), BC_OK);
  Raw raw(server_->port());
  const std::string junk = "bc:" + bucket_ + ":" + std::string(64, 'a');
  const std::string hash = "bc:" + bucket_ + ":" + std::string(64, 'b');
  raw.cmd({"SET", junk, "not an entry"});
  raw.cmd({"HSET", hash, "f", "v"});  // not a string: skipped, never an error
  bc_prune_info info{9, 9};
  ASSERT_EQ(bc_prune_directory(b.get(), &info), BC_OK) << bc_last_error_message();
  EXPECT_EQ(info.files, 1u);  // the damaged one
  EXPECT_EQ(raw.cmd({"EXISTS", junk})->integer, 0);
  EXPECT_EQ(raw.cmd({"EXISTS", hash})->integer, 1);
  ASSERT_EQ(bc_prune_directory(b.get(), &info), BC_OK);
  EXPECT_EQ(info.files, 0u);
  EXPECT_EQ(info.bytes, 0u);
  EXPECT_EQ(value_of(b, "a"), "1");
  EXPECT_EQ(value_of(b, "b"), "2");
}

TEST_F(RedisStore, AuthWithAclUser) {
  Bucket b;
  ASSERT_EQ(open_bucket(url("alice:secret"), bucket_, Opt(), b), BC_OK) << bc_last_error_message();
  ASSERT_EQ(set(b, "k", "v"), BC_OK);
  EXPECT_EQ(value_of(b, "k"), "v");
}

TEST_F(RedisStore, WrongPasswordIsAClearErrorAtOpen) {
  Bucket b;
  EXPECT_EQ(open_bucket(url("alice:not-the-password"), bucket_, Opt(), b), BC_EIO);
  EXPECT_FALSE(b);
  const std::string msg = bc_last_error_message();
  EXPECT_NE(msg.find("authentication failed"), std::string::npos) << msg;
  EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(server_->port())), std::string::npos) << msg;
  EXPECT_EQ(msg.find("not-the-password"), std::string::npos) << "password leaked: " << msg;
}

TEST_F(RedisStore, BadStoreOptions) {
  bc_options* o = nullptr;
  ASSERT_EQ(bc_options_new(&o), BC_OK);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_STORE, "redis-cluster://127.0.0.1:7000"), BC_OK);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_NEAR_CACHE_DIR, ""), BC_EINVAL);
  EXPECT_EQ(bc_options_set_int(o, BC_OPT_NEAR_CACHE_TTL_MS, 0), BC_EINVAL);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_NEAR_CACHE_TTL_MS, "5"), BC_EINVAL);
  EXPECT_EQ(bc_options_set_int(o, BC_OPT_NEAR_CACHE_DIR, 5), BC_EINVAL);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_STORE, "memcached://127.0.0.1"), BC_EINVAL);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_STORE, "redis://127.0.0.1:99999"), BC_EINVAL);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_STORE, "redis://user@127.0.0.1:1"), BC_EINVAL);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_STORE, "redis://:p%zz@127.0.0.1:1"), BC_EINVAL);
  EXPECT_EQ(bc_options_set_int(o, BC_OPT_TIMEOUT_MS, 0), BC_EINVAL);
  EXPECT_EQ(bc_options_set_int(o, BC_OPT_STORE, 1), BC_EINVAL);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_TIMEOUT_MS, "5"), BC_EINVAL);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_STORE, "file"), BC_OK);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_STORE, "redis://[::1]:6379/2"), BC_OK);
  bc_options_free(o);
}

TEST_F(RedisStore, UnreachableServerFailsAtOpen) {
  const int port = server_->port();
  server_->kill();
  Bucket b;
  const auto start = Clock::now();
  EXPECT_EQ(open_bucket("redis://127.0.0.1:" + std::to_string(port), bucket_, Opt(), b), BC_EIO);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  const std::string msg = bc_last_error_message();
  EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << msg;
  EXPECT_NE(msg.find("refused"), std::string::npos) << msg;
}

TEST_F(RedisStore, ServerKilledThenRestarted) {
  Opt opt;
  opt.timeout_ms = 500;
  opt.memory = 0;  // every get asks the server
  Bucket b = open(opt);
  ASSERT_EQ(set(b, "k", "v"), BC_OK);
  server_->kill();
  const auto start = Clock::now();
  int code = 0;
  value_of(b, "k", &code);
  EXPECT_EQ(code, BC_EIO);
  EXPECT_NE(std::string(bc_last_error_message()).find("127.0.0.1:"), std::string::npos)
      << bc_last_error_message();
  EXPECT_EQ(set(b, "k", "w"), BC_EIO);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  server_->restart();  // same port, empty (no persistence)
  EXPECT_EQ(value_of(b, "k"), "<miss>");
  ASSERT_EQ(set(b, "k", "after restart"), BC_OK) << bc_last_error_message();
  EXPECT_EQ(value_of(b, "k"), "after restart");
}

TEST_F(RedisStore, FrozenServerTimesOut) {
  Opt opt;
  opt.timeout_ms = 300;
  opt.memory = 0;
  Bucket b = open(opt);
  ASSERT_EQ(set(b, "k", "v"), BC_OK);
  server_->pause();
  for (int i = 0; i < 2; ++i) {  // the established connection, then a new one
    const auto start = Clock::now();
    int code = 0;
    value_of(b, "k", &code);
    const auto took = Clock::now() - start;
    EXPECT_EQ(code, BC_EIO);
    EXPECT_NE(std::string(bc_last_error_message()).find("timed out"), std::string::npos)
        << bc_last_error_message();
    EXPECT_GE(took, std::chrono::milliseconds(250));
    EXPECT_LT(took, std::chrono::milliseconds(1500));
  }
  server_->resume();
  EXPECT_EQ(value_of(b, "k"), "v");
}

TEST_F(RedisStore, ManyThreadsOnOneHandle) {
  Bucket b = open();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const std::string k = "t" + std::to_string(t) + "-" + std::to_string(i % 10);
        const std::string v = std::to_string(i);
        if (set(b, k, v) != BC_OK || value_of(b, k) != v) failures++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

// Random sets and deletes through two handles; every read through either equals the
// model: a value is never older than the last completed write, a deleted one never
// comes back.
TEST_F(RedisStore, ReadYourWritesConsistency) {
  Opt cached;
  cached.check_file = true;  // see the other handle's writes through the memory layer
  Opt direct;
  direct.memory = 0;
  Bucket a = open(cached);
  Bucket c = open(direct);
  std::map<std::string, std::string> model;
  std::mt19937 rng(12345);
  for (int i = 0; i < 2000; ++i) {
    const std::string k = "k" + std::to_string(rng() % 16);
    Bucket& writer = rng() % 2 ? a : c;
    switch (rng() % 4) {
      case 0:
      case 1: {
        const std::string v = "v" + std::to_string(i);
        ASSERT_EQ(set(writer, k, v), BC_OK) << bc_last_error_message();
        model[k] = v;
        break;
      }
      case 2: {
        const int rc = bc_delete(writer.get(), k.data(), k.size());
        ASSERT_EQ(rc, model.count(k) ? BC_OK : BC_ENOTFOUND) << "op " << i;
        model.erase(k);
        break;
      }
      default:
        break;
    }
    const auto it = model.find(k);
    const std::string want = it == model.end() ? "<miss>" : it->second;
    ASSERT_EQ(value_of(a, k), want) << "op " << i;
    ASSERT_EQ(value_of(c, k), want) << "op " << i;
    ASSERT_EQ(bc_contains(a.get(), k.data(), k.size()), it == model.end() ? 0 : 1) << "op " << i;
  }
}

}  // namespace

// ---- Cache management (issue 14, docs/cache-management.md) on the Redis store ----

namespace {

int entry_count_fn(void* user, const void* /*key*/, size_t /*klen*/, uint64_t /*size*/,
                   int64_t /*created*/, int64_t /*expires*/) {
  ++*static_cast<int*>(user);
  return 0;
}

}  // namespace

TEST_F(RedisStore, CacheManagementOperations) {
  Opt opt;
  opt.lifetime_us = 3600LL * 1000000;
  Bucket b = open(opt);
  // set_ex / touch: native expiry follows the entry's own lifetime.
  ASSERT_EQ(bc_set_ex(b.get(), "own", 3, "1", 1, 50000), BC_OK);
  ASSERT_EQ(bc_set_ex(b.get(), "never", 5, "2", 1, 0), BC_OK);
  std::int64_t expires = -1;
  ASSERT_EQ(bc_get_expiry(b.get(), "never", 5, &expires), BC_OK);
  EXPECT_EQ(expires, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(value_of(b, "own"), "<miss>");
  // add
  EXPECT_EQ(bc_add(b.get(), "a", 1, "first", 5, -1), BC_OK);
  EXPECT_EQ(bc_add(b.get(), "a", 1, "second", 6, -1), BC_EEXISTS);
  EXPECT_EQ(value_of(b, "a"), "first");
  // touch
  EXPECT_EQ(bc_touch(b.get(), "missing", 7, 0), BC_ENOTFOUND);
  EXPECT_EQ(bc_touch(b.get(), "a", 1, 50000), BC_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(value_of(b, "a"), "<miss>");
  // incr
  std::int64_t n = 0;
  EXPECT_EQ(bc_incr(b.get(), "n", 1, 5, 10, &n), BC_OK);
  EXPECT_EQ(n, 15);
  EXPECT_EQ(bc_incr(b.get(), "n", 1, -1, 0, &n), BC_OK);
  EXPECT_EQ(n, 14);
  EXPECT_EQ(value_of(b, "n"), "14");
  // get_ex with max age: a miss, not deleted
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  bc_buf out{nullptr, 0};
  EXPECT_EQ(bc_get_ex(b.get(), "n", 1, 5000, &out, nullptr), BC_ENOTFOUND);
  EXPECT_EQ(value_of(b, "n"), "14");
  // foreach and clear: this bucket only
  Bucket other;
  ASSERT_EQ(open_bucket(url(), bucket_ + "-other", Opt(), other), BC_OK);
  ASSERT_EQ(set(other, "o", "x"), BC_OK);
  int count = 0;
  ASSERT_EQ(bc_foreach(b.get(), entry_count_fn, &count), BC_OK);
  EXPECT_EQ(count, 2);  // never, n
  std::uint64_t removed = 0;
  ASSERT_EQ(bc_clear(b.get(), &removed), BC_OK);
  EXPECT_EQ(removed, 2u);
  EXPECT_EQ(value_of(b, "never"), "<miss>");
  EXPECT_EQ(value_of(other, "o"), "x");
}

TEST_F(RedisStore, AddAndIncrAreAtomicAcrossProcesses) {
  constexpr int kProcesses = 4;
  constexpr int kIncrements = 500;
  constexpr int kKeys = 50;
  char dir[] = "/tmp/bc-redis-mgmt-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      Bucket b;
      if (open_bucket(url(), bucket_, Opt(), b) != BC_OK) ::_exit(10);
      for (int i = 0; i < kIncrements; ++i) {
        if (bc_incr(b.get(), "counter", 7, 1, 0, nullptr) != BC_OK) ::_exit(11);
      }
      std::string won;
      for (int k = 0; k < kKeys; ++k) {
        const std::string key = "key-" + std::to_string(k);
        const int rc = bc_add(b.get(), key.data(), key.size(), "v", 1, -1);
        if (rc == BC_OK) {
          won += key + "\n";
        } else if (rc != BC_EEXISTS) {
          ::_exit(12);
        }
      }
      const std::string file = std::string(dir) + "/won-" + std::to_string(p);
      const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd < 0 || ::write(fd, won.data(), won.size()) != static_cast<ssize_t>(won.size())) {
        ::_exit(13);
      }
      ::close(fd);
      b.reset();
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  std::map<std::string, int> wins;
  for (int p = 0; p < kProcesses; ++p) {
    const std::string file = std::string(dir) + "/won-" + std::to_string(p);
    FILE* f = std::fopen(file.c_str(), "r");
    ASSERT_NE(f, nullptr);
    char line[64];
    while (std::fgets(line, sizeof line, f) != nullptr) ++wins[line];
    std::fclose(f);
    ::unlink(file.c_str());
  }
  ::rmdir(dir);
  EXPECT_EQ(wins.size(), static_cast<std::size_t>(kKeys));
  for (const auto& [key, n] : wins) EXPECT_EQ(n, 1) << key;
  Bucket b = open();
  EXPECT_EQ(value_of(b, "counter"), std::to_string(kProcesses * kIncrements));
}

// ---- Near-cache (BC_OPT_NEAR_CACHE_DIR, docs/redis.md) ----

namespace {

// Regular files under dir (the near-cache's entries).
int count_files(const std::string& dir) {
  const std::string cmd = "find '" + dir + "' -type f 2>/dev/null | wc -l";
  FILE* p = ::popen(cmd.c_str(), "r");
  int n = -1;
  if (p != nullptr) {
    if (std::fscanf(p, "%d", &n) != 1) n = -1;
    ::pclose(p);
  }
  return n;
}

class NearCache : public RedisStore {
 protected:
  void SetUp() override {
    RedisStore::SetUp();
    char tmpl[] = "/tmp/bc-near-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) {
      EXPECT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0);
    }
  }
  Bucket open_near(const std::string& sub, int64_t ttl_ms) {
    Opt opt;
    opt.memory = 0;  // no memory layer: every read reaches the storage
    opt.near_dir = dir_ + "/" + sub;
    opt.near_ttl_ms = ttl_ms;
    Bucket b;
    EXPECT_EQ(open_bucket(url(), bucket_, opt, b), BC_OK) << bc_last_error_message();
    return b;
  }
  Bucket open_plain() {
    Opt opt;
    opt.memory = 0;
    Bucket b;
    EXPECT_EQ(open_bucket(url(), bucket_, opt, b), BC_OK) << bc_last_error_message();
    return b;
  }
  std::string dir_;
};

}  // namespace

TEST_F(NearCache, ReadsFillWritesGoThroughDeleteRemovesBoth) {
  Bucket near = open_near("a", 3600 * 1000);
  Bucket plain = open_plain();
  // A write goes to the server and the near-cache.
  ASSERT_EQ(set(near, "w", "written"), BC_OK);
  EXPECT_EQ(value_of(plain, "w"), "written");
  EXPECT_EQ(count_files(dir_ + "/a"), 1);
  // A read fills it.
  ASSERT_EQ(set(plain, "r", "remote"), BC_OK);
  EXPECT_EQ(value_of(near, "r"), "remote");
  EXPECT_EQ(count_files(dir_ + "/a"), 2);
  // Within the bound, another writer's value is not seen yet (served locally).
  ASSERT_EQ(set(plain, "r", "newer"), BC_OK);
  EXPECT_EQ(value_of(near, "r"), "remote");
  // A delete removes both copies.
  ASSERT_EQ(bc_delete(near.get(), "w", 1), BC_OK);
  EXPECT_EQ(value_of(plain, "w"), "<miss>");
  EXPECT_EQ(value_of(near, "w"), "<miss>");
  EXPECT_EQ(count_files(dir_ + "/a"), 1);
  // Expiry is honoured (the local copy keeps the entry's header).
  // 1 s: read back before it expires even on a loaded machine.
  ASSERT_EQ(bc_set_ex(near.get(), "e", 1, "x", 1, 1000000), BC_OK);
  EXPECT_EQ(value_of(near, "e"), "x");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(value_of(near, "e"), "<miss>");
  // The server down: what the near-cache holds is still served; the rest is BC_EIO.
  server_->kill();
  EXPECT_EQ(value_of(near, "r"), "remote");
  int code = 0;
  value_of(near, "absent", &code);
  EXPECT_EQ(code, BC_EIO);
  EXPECT_EQ(set(near, "r", "x"), BC_EIO);
  // A failed write drops the local copy (the server's entry is unknown now).
  value_of(near, "r", &code);
  EXPECT_EQ(code, BC_EIO);
}

TEST_F(NearCache, StalenessIsBoundedByTheTtl) {
  Bucket near = open_near("b", 50);
  Bucket plain = open_plain();
  ASSERT_EQ(set(plain, "k", "v1"), BC_OK);
  EXPECT_EQ(value_of(near, "k"), "v1");
  ASSERT_EQ(set(plain, "k", "v2"), BC_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));  // past the 50 ms bound
  EXPECT_EQ(value_of(near, "k"), "v2");
  ASSERT_EQ(bc_delete(plain.get(), "k", 1), BC_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  EXPECT_EQ(value_of(near, "k"), "<miss>");
  EXPECT_EQ(count_files(dir_ + "/b"), 0);  // the server's miss removed the local copy
  // clear() empties the near-cache too, at once.
  ASSERT_EQ(set(near, "c", "1"), BC_OK);
  std::uint64_t removed = 0;
  ASSERT_EQ(bc_clear(near.get(), &removed), BC_OK);
  EXPECT_EQ(removed, 1u);
  EXPECT_EQ(value_of(near, "c"), "<miss>");
  EXPECT_EQ(count_files(dir_ + "/b"), 0);
}

TEST_F(NearCache, NeedsARemoteStore) {
  bc_options* o = nullptr;
  ASSERT_EQ(bc_options_new(&o), BC_OK);
  const std::string near = dir_ + "/c";
  ASSERT_EQ(bc_options_set_str(o, BC_OPT_NEAR_CACHE_DIR, near.c_str()), BC_OK);
  bc_bucket* b = nullptr;
  const std::string path = dir_ + "/files";
  EXPECT_EQ(bc_bucket_open(&b, path.c_str(), o), BC_EINVAL);
  EXPECT_NE(std::string(bc_last_error_message()).find("BC_OPT_NEAR_CACHE_DIR"), std::string::npos)
      << bc_last_error_message();
  bc_options_free(o);
}
