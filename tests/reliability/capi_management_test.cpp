// Cache management through the C API (issue 14, DESIGN section 13): bc_set_ex, bc_add,
// bc_touch, bc_incr, bc_get_ex, bc_clear, bc_foreach - alone and across processes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bucketcache/bucketcache.h"
#include "capi_util.hpp"
#include "rel_util.hpp"

using reltest::ScratchDir;
using namespace std::chrono_literals;

namespace {

using capitest::get;
using capitest::open_bucket;
using capitest::set;
using capitest::value_of;

int increments_per_process() {
  const char* env = std::getenv("BUCKETCACHE_INCR_PER_PROCESS");
  const int n = env != nullptr ? std::atoi(env) : 0;
  return n > 0 ? n : 2500;
}

int set_ex(bc_bucket* b, const std::string& k, const std::string& v, std::int64_t l) {
  return bc_set_ex(b, k.data(), k.size(), v.data(), v.size(), l);
}
int add(bc_bucket* b, const std::string& k, const std::string& v, std::int64_t l = -1) {
  return bc_add(b, k.data(), k.size(), v.data(), v.size(), l);
}
int incr(bc_bucket* b, const std::string& k, std::int64_t delta, std::int64_t initial,
         std::int64_t* out) {
  return bc_incr(b, k.data(), k.size(), delta, initial, out);
}

constexpr std::int64_t kHour = 3600LL * 1000000;

struct Seen {
  std::map<std::string, std::uint64_t> sizes;
  int stop_after = -1;
  int calls = 0;
};

int collect(void* user, const void* key, size_t klen, uint64_t size, int64_t created,
            int64_t expires) {
  auto* seen = static_cast<Seen*>(user);
  seen->sizes[std::string(static_cast<const char*>(key), klen)] = size;
  ++seen->calls;
  if (created <= 0 || (expires != 0 && expires <= created)) return 99;
  return seen->stop_after >= 0 && seen->calls >= seen->stop_after ? 7 : 0;
}

}  // namespace

TEST(CapiManagement, SetExLifetimes) {
  ScratchDir dir;
  bc_bucket* w = open_bucket(dir.path(), {{{BC_OPT_LIFETIME_US, kHour}}, {}});
  ASSERT_EQ(set_ex(w, "own", "1", 100 * kHour), BC_OK);
  ASSERT_EQ(set_ex(w, "never", "2", 0), BC_OK);
  ASSERT_EQ(set_ex(w, "bucket", "3", -1), BC_OK);
  ASSERT_EQ(set_ex(w, "short", "4", 10000), BC_OK);
  std::int64_t expires = -1;
  ASSERT_EQ(bc_get_expiry(w, "never", 5, &expires), BC_OK);
  EXPECT_EQ(expires, 0);
  bc_bucket_close(w);
  std::this_thread::sleep_for(30ms);
  bc_bucket* r = open_bucket(dir.path(), {{{BC_OPT_LIFETIME_US, 60LL * 1000000}}, {}});
  EXPECT_EQ(value_of(r, "own"), "1");          // its own lifetime: honoured
  EXPECT_EQ(value_of(r, "never"), "2");        // ditto
  EXPECT_EQ(value_of(r, "bucket"), "<miss>");  // the lifetime rule applies
  EXPECT_EQ(value_of(r, "short"), "<miss>");   // expired
  bc_bucket_close(r);
}

TEST(CapiManagement, AddTouchGetEx) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.path());
  EXPECT_EQ(add(b, "k", "first"), BC_OK);
  EXPECT_EQ(add(b, "k", "second"), BC_EEXISTS);
  EXPECT_EQ(value_of(b, "k"), "first");
  EXPECT_EQ(bc_touch(b, "nope", 4, 0), BC_ENOTFOUND);
  EXPECT_EQ(bc_touch(b, "k", 1, kHour), BC_OK);
  bc_buf out{nullptr, 0};
  std::int64_t expires = 0;
  ASSERT_EQ(bc_get_ex(b, "k", 1, 0, &out, &expires), BC_OK);
  EXPECT_EQ(std::string(static_cast<const char*>(out.data), out.size), "first");
  EXPECT_GT(expires, 0);
  bc_buf_dispose(&out);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(bc_get_ex(b, "k", 1, 5000, &out, nullptr), BC_ENOTFOUND);  // older than 5 ms
  EXPECT_EQ(out.data, nullptr);
  EXPECT_EQ(value_of(b, "k"), "first");  // not deleted
  EXPECT_EQ(bc_touch(b, "k", 1, 1000), BC_OK);
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(value_of(b, "k"), "<miss>");  // the new expiry applies (memory dropped)
  EXPECT_EQ(add(b, "k", "again"), BC_OK);
  EXPECT_EQ(value_of(b, "k"), "again");
  bc_bucket_close(b);
}

TEST(CapiManagement, IncrFormats) {
  ScratchDir dir;
  std::int64_t v = 0;
  for (const char* backend : {"raw", "json", "msgpack"}) {
    SCOPED_TRACE(backend);
    bc_bucket* b = open_bucket(dir.sub(backend), {{}, {{BC_OPT_BACKEND, backend}}});
    EXPECT_EQ(incr(b, "n", 5, 10, &v), BC_OK);
    EXPECT_EQ(v, 15);
    EXPECT_EQ(incr(b, "n", -20, 0, &v), BC_OK);
    EXPECT_EQ(v, -5);
    EXPECT_EQ(incr(b, "n", 0, 0, nullptr), BC_OK);
    bc_buf out{nullptr, 0};
    ASSERT_EQ(bc_get(b, "n", 1, &out), BC_OK);
    const std::string stored(static_cast<const char*>(out.data), out.size);
    bc_buf_dispose(&out);
    if (std::string(backend) == "msgpack") {
      EXPECT_EQ(stored, std::string("\xfb", 1));  // negative fixint -5
    } else {
      EXPECT_EQ(stored, "-5");
    }
    bc_bucket_close(b);
  }
  bc_bucket* raw = open_bucket(dir.sub("raw"));
  ASSERT_EQ(set(raw, "text", "12a"), BC_OK);
  EXPECT_EQ(incr(raw, "text", 1, 0, &v), BC_EINVAL);
  EXPECT_EQ(value_of(raw, "text"), "12a");
  ASSERT_EQ(set(raw, "max", "9223372036854775807"), BC_OK);
  EXPECT_EQ(incr(raw, "max", 1, 0, &v), BC_EINVAL);
  EXPECT_EQ(value_of(raw, "max"), "9223372036854775807");
  EXPECT_EQ(incr(raw, "max", -1, 0, &v), BC_OK);
  EXPECT_EQ(v, 9223372036854775806);
  bc_bucket_close(raw);
  bc_bucket* json = open_bucket(dir.sub("json"), {{}, {{BC_OPT_BACKEND, "json"}}});
  ASSERT_EQ(set(json, "f", "1.5"), BC_OK);
  EXPECT_EQ(incr(json, "f", 1, 0, &v), BC_EINVAL);
  bc_bucket_close(json);
  bc_bucket* pickle = open_bucket(dir.sub("pickle"), {{}, {{BC_OPT_BACKEND, "pickle"}}});
  EXPECT_EQ(incr(pickle, "n", 1, 0, &v), BC_EINVAL);
  bc_bucket_close(pickle);
}

TEST(CapiManagement, ClearAndForeach) {
  ScratchDir dir;
  bc_bucket* rawkeys = open_bucket(dir.path(), {{{BC_OPT_LIFETIME_US, kHour}}, {}});
  bc_bucket* jsonkeys = open_bucket(dir.path(), {{}, {{BC_OPT_KEY_FORMAT, "json"}}});
  bc_bucket* jsonvals = open_bucket(dir.path(), {{}, {{BC_OPT_BACKEND, "json"}}});
  ASSERT_EQ(set(rawkeys, "a", "12345"), BC_OK);
  ASSERT_EQ(set(rawkeys, "b", ""), BC_OK);
  ASSERT_EQ(set_ex(rawkeys, "c", "x", 1000), BC_OK);  // expires: not reported
  ASSERT_EQ(set(jsonkeys, "{\"z\": 1, \"a\": [1]}", "v"), BC_OK);
  ASSERT_EQ(set(jsonvals, "j", "[1]"), BC_OK);
  std::this_thread::sleep_for(5ms);
  Seen seen;
  ASSERT_EQ(bc_foreach(rawkeys, collect, &seen), BC_OK) << bc_last_error_message();
  EXPECT_EQ(seen.sizes, (std::map<std::string, std::uint64_t>{{"a", 5}, {"b", 0}}));
  Seen js;
  ASSERT_EQ(bc_foreach(jsonkeys, collect, &js), BC_OK);
  EXPECT_EQ(js.sizes, (std::map<std::string, std::uint64_t>{{"{\"a\":[1],\"z\":1}", 1}}));
  Seen stop;
  stop.stop_after = 1;
  EXPECT_EQ(bc_foreach(rawkeys, collect, &stop), BC_EUSER);
  EXPECT_EQ(stop.calls, 1);
  EXPECT_EQ(bc_foreach(rawkeys, nullptr, nullptr), BC_EINVAL);

  EXPECT_EQ(value_of(rawkeys, "a"), "12345");  // in memory now
  std::uint64_t removed = 0;
  ASSERT_EQ(bc_clear(rawkeys, &removed), BC_OK);
  EXPECT_EQ(removed, 3u);                       // a, b and the expired c
  EXPECT_EQ(value_of(rawkeys, "a"), "<miss>");  // memory emptied too
  Seen after;
  ASSERT_EQ(bc_foreach(rawkeys, collect, &after), BC_OK);
  EXPECT_EQ(after.calls, 0);
  EXPECT_EQ(value_of(jsonkeys, "{\"a\":[1],\"z\":1}"), "v");  // other key format stays
  EXPECT_EQ(value_of(jsonvals, "j"), "[1]");                  // other backend stays
  EXPECT_EQ(bc_clear(jsonvals, nullptr), BC_OK);
  bc_bucket_close(rawkeys);
  bc_bucket_close(jsonkeys);
  bc_bucket_close(jsonvals);
}

TEST(CapiManagement, DeferredBucket) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.path(), {{{BC_OPT_DEFERRED, 1}}, {}});
  ASSERT_EQ(set(b, "k", "1"), BC_OK);
  EXPECT_EQ(add(b, "k", "2"), BC_EEXISTS);  // the pending write landed first
  std::int64_t v = 0;
  EXPECT_EQ(incr(b, "k", 1, 0, &v), BC_OK);
  EXPECT_EQ(v, 2);
  ASSERT_EQ(set(b, "p", "1"), BC_OK);
  std::uint64_t removed = 0;
  ASSERT_EQ(bc_clear(b, &removed), BC_OK);
  EXPECT_EQ(removed, 1u);
  size_t pending = 9;
  ASSERT_EQ(bc_pending_count(b, &pending), BC_OK);
  EXPECT_EQ(pending, 0u);
  bc_bucket_close(b);
}

TEST(CapiManagement, NullArguments) {
  std::int64_t v = 0;
  EXPECT_EQ(bc_set_ex(nullptr, "k", 1, "v", 1, 0), BC_EINVAL);
  EXPECT_EQ(bc_add(nullptr, "k", 1, "v", 1, 0), BC_EINVAL);
  EXPECT_EQ(bc_touch(nullptr, "k", 1, 0), BC_EINVAL);
  EXPECT_EQ(bc_incr(nullptr, "k", 1, 1, 0, &v), BC_EINVAL);
  EXPECT_EQ(bc_get_ex(nullptr, "k", 1, 0, nullptr, nullptr), BC_EINVAL);
  EXPECT_EQ(bc_clear(nullptr, nullptr), BC_EINVAL);
  EXPECT_EQ(bc_foreach(nullptr, collect, nullptr), BC_EINVAL);
}

TEST(CapiManagement, ProcessesAddingOneKeyExactlyOneSucceeds) {
  ScratchDir dir;
  constexpr int kProcesses = 4;
  constexpr int kKeys = 100;
  int start[2];
  ASSERT_EQ(::pipe(start), 0);
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    pids.push_back(reltest::spawn([&, p] {
      ::close(start[1]);
      char c;
      while (::read(start[0], &c, 1) > 0) {
      }
      bc_bucket* b = open_bucket(dir.sub("bucket"));
      std::ofstream wins(dir.sub("wins-" + std::to_string(p)));
      for (int k = 0; k < kKeys; ++k) {
        const std::string key = "key-" + std::to_string(k);
        const int rc = add(b, key, std::to_string(p));
        if (rc == BC_OK) {
          wins << key << "\n";
        } else if (rc != BC_EEXISTS) {
          return 3;
        }
      }
      bc_bucket_close(b);
      return wins.good() ? 0 : 1;
    }));
  }
  ::close(start[1]);
  ::close(start[0]);
  for (const reltest::ChildStatus& st : reltest::wait_children(pids, 120)) {
    EXPECT_TRUE(st.exited && st.code == 0) << st.describe();
  }
  std::map<std::string, int> winner;
  for (int p = 0; p < kProcesses; ++p) {
    std::ifstream in(dir.sub("wins-" + std::to_string(p)));
    std::string key;
    while (in >> key) {
      EXPECT_EQ(winner.count(key), 0u) << key << " added by two processes";
      winner[key] = p;
    }
  }
  ASSERT_EQ(winner.size(), static_cast<std::size_t>(kKeys));
  bc_bucket* b = open_bucket(dir.sub("bucket"));
  for (const auto& [key, p] : winner) EXPECT_EQ(value_of(b, key), std::to_string(p)) << key;
  bc_bucket_close(b);
}

TEST(CapiManagement, ProcessesIncrementingOneKeyLoseNothing) {
  ScratchDir dir;
  // Issue 14's figure is 4 processes x 10,000 increments; each increment creates a lock file
  // and writes the entry (0.15 ms on an idle disk here, up to 0.8 ms with other builds
  // running: 4 x 10,000 took 6-8 s idle), so the default is 4 x 2,500.
  // BUCKETCACHE_INCR_PER_PROCESS=10000 runs the figure.
  constexpr int kProcesses = 4;
  const int kIncrements = increments_per_process();
  int start[2];
  ASSERT_EQ(::pipe(start), 0);
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    pids.push_back(reltest::spawn([&, kIncrements] {
      ::close(start[1]);
      char c;
      while (::read(start[0], &c, 1) > 0) {
      }
      bc_bucket* b = open_bucket(dir.sub("bucket"));
      for (int i = 0; i < kIncrements; ++i) {
        if (incr(b, "counter", 1, 0, nullptr) != BC_OK) return 3;
      }
      bc_bucket_close(b);
      return 0;
    }));
  }
  ::close(start[1]);
  ::close(start[0]);
  for (const reltest::ChildStatus& st : reltest::wait_children(pids, 300)) {
    EXPECT_TRUE(st.exited && st.code == 0) << st.describe();
  }
  bc_bucket* b = open_bucket(dir.sub("bucket"));
  EXPECT_EQ(value_of(b, "counter"), std::to_string(kProcesses * kIncrements));
  bc_bucket_close(b);
}

namespace {

struct DeleteCtx {
  bc_bucket* b;
  int seen;
};

int delete_each(void* user, const void* key, size_t klen, uint64_t, int64_t, int64_t) {
  auto* ctx = static_cast<DeleteCtx*>(user);
  ++ctx->seen;
  return bc_delete(ctx->b, key, klen) == BC_OK ? 0 : 1;
}

}  // namespace

TEST(CapiManagement, ForeachCallbackMayUseTheBucket) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.path());
  for (int i = 0; i < 20; ++i) ASSERT_EQ(set(b, "k" + std::to_string(i), "v"), BC_OK);
  DeleteCtx ctx{b, 0};
  ASSERT_EQ(bc_foreach(b, delete_each, &ctx), BC_OK) << bc_last_error_message();
  EXPECT_EQ(ctx.seen, 20);
  Seen after;
  ASSERT_EQ(bc_foreach(b, collect, &after), BC_OK);
  EXPECT_EQ(after.calls, 0);
  bc_bucket_close(b);
}
