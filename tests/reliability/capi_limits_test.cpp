// Bounds and statistics through the C API (issue 14, DESIGN section 13): BC_OPT_SIZE_LIMIT_BYTES,
// BC_OPT_EVICTION, bc_stat, bc_stat_reset - alone and across processes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bucketcache/bucketcache.h"
#include "capi_util.hpp"
#include "rel_util.hpp"

using reltest::ScratchDir;

namespace {

using capitest::set;
using capitest::stat_of;

bc_bucket* open_limited(const std::string& path, std::int64_t limit, const char* eviction) {
  bc_options* o = nullptr;
  EXPECT_EQ(bc_options_new(&o), BC_OK);
  if (limit >= 0) {
    EXPECT_EQ(bc_options_set_int(o, BC_OPT_SIZE_LIMIT_BYTES, limit), BC_OK);
  }
  if (eviction != nullptr) {
    EXPECT_EQ(bc_options_set_str(o, BC_OPT_EVICTION, eviction), BC_OK);
  }
  bc_bucket* b = nullptr;
  EXPECT_EQ(bc_bucket_open(&b, path.c_str(), o), BC_OK) << bc_last_error_message();
  bc_options_free(o);
  return b;
}

int get(bc_bucket* b, const std::string& k) {
  bc_buf out{nullptr, 0};
  const int rc = bc_get(b, k.data(), k.size(), &out);
  bc_buf_dispose(&out);
  return rc;
}

}  // namespace

TEST(CapiLimits, OptionsAreChecked) {
  bc_options* o = nullptr;
  ASSERT_EQ(bc_options_new(&o), BC_OK);
  EXPECT_EQ(bc_options_set_int(o, BC_OPT_SIZE_LIMIT_BYTES, -1), BC_EINVAL);
  EXPECT_EQ(bc_options_set_int(o, BC_OPT_SIZE_LIMIT_BYTES, 0), BC_OK);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_SIZE_LIMIT_BYTES, "10"), BC_EINVAL);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_EVICTION, "fifo"), BC_EINVAL);
  EXPECT_NE(std::string(bc_last_error_message()).find("lru"), std::string::npos);
  EXPECT_EQ(bc_options_set_int(o, BC_OPT_EVICTION, 1), BC_EINVAL);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_EVICTION, "lru"), BC_OK);
  EXPECT_EQ(bc_options_set_str(o, BC_OPT_EVICTION, "lrs"), BC_OK);
  bc_options_free(o);
}

TEST(CapiLimits, SizeLimitOnRedisIsRejected) {
  bc_options* o = nullptr;
  ASSERT_EQ(bc_options_new(&o), BC_OK);
  ASSERT_EQ(bc_options_set_str(o, BC_OPT_STORE, "redis://127.0.0.1:1"), BC_OK);
  ASSERT_EQ(bc_options_set_int(o, BC_OPT_SIZE_LIMIT_BYTES, 1000), BC_OK);
  bc_bucket* b = nullptr;
  EXPECT_EQ(bc_bucket_open(&b, "bucket", o), BC_EINVAL);  // before any connection attempt
  EXPECT_NE(std::string(bc_last_error_message()).find("maxmemory"), std::string::npos);
  EXPECT_EQ(b, nullptr);
  bc_options_free(o);
}

TEST(CapiLimits, StatAndResetAndBadArguments) {
  ScratchDir dir;
  bc_bucket* b = open_limited(dir.path(), -1, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(set(b, "k", "value"), BC_OK);
  EXPECT_EQ(get(b, "k"), BC_OK);
  EXPECT_EQ(get(b, "k"), BC_OK);
  EXPECT_EQ(get(b, "none"), BC_ENOTFOUND);
  EXPECT_EQ(stat_of(b, BC_STAT_HITS), 2u);
  EXPECT_EQ(stat_of(b, BC_STAT_MISSES), 1u);
  EXPECT_EQ(stat_of(b, BC_STAT_WRITES), 1u);
  EXPECT_EQ(stat_of(b, BC_STAT_EVICTIONS), 0u);
  EXPECT_EQ(stat_of(b, BC_STAT_EXPIRED), 0u);
  EXPECT_EQ(stat_of(b, BC_STAT_ENTRIES), 1u);
  EXPECT_EQ(stat_of(b, BC_STAT_BYTES), 128u + 1 + 5);
  std::uint64_t v = 0;
  EXPECT_EQ(bc_stat(nullptr, BC_STAT_HITS, &v), BC_EINVAL);
  EXPECT_EQ(bc_stat(b, BC_STAT_HITS, nullptr), BC_EINVAL);
  EXPECT_EQ(bc_stat(b, 0, &v), BC_EINVAL);
  EXPECT_EQ(bc_stat(b, 8, &v), BC_EINVAL);
  EXPECT_EQ(bc_stat_reset(nullptr), BC_EINVAL);
  EXPECT_EQ(bc_stat_reset(b), BC_OK);
  EXPECT_EQ(stat_of(b, BC_STAT_HITS), 0u);
  EXPECT_EQ(stat_of(b, BC_STAT_WRITES), 0u);
  EXPECT_EQ(stat_of(b, BC_STAT_ENTRIES), 1u);
  bc_bucket_close(b);
}

TEST(CapiLimits, EvictionKeepsTheNewestAndCountsEvictions) {
  ScratchDir dir;
  const std::string value(1000, 'v');
  const std::uint64_t entry = 128 + 6 + value.size();  // keys "key-NN"
  bc_bucket* b = open_limited(dir.path(), static_cast<std::int64_t>(10 * entry), "lrs");
  for (int i = 10; i < 60; ++i) ASSERT_EQ(set(b, "key-" + std::to_string(i), value), BC_OK);
  EXPECT_LE(stat_of(b, BC_STAT_BYTES), 10 * entry);
  const std::uint64_t kept = stat_of(b, BC_STAT_ENTRIES);
  EXPECT_EQ(stat_of(b, BC_STAT_EVICTIONS), 50 - kept);
  for (int i = 10; i < 60; ++i) {
    bc_unload_key(b, ("key-" + std::to_string(i)).data(), 6);
    const bool present = bc_contains(b, ("key-" + std::to_string(i)).data(), 6) == 1;
    EXPECT_EQ(present, i >= 60 - static_cast<int>(kept)) << i;  // exactly the newest kept
  }
  bc_bucket_close(b);
}

// Several processes write into one size-limited bucket: after they finish, its entries
// are within the limit, and every write is either kept or counted as an eviction.
TEST(CapiLimits, ProcessesWritingIntoOneLimitedBucketSettleWithinTheLimit) {
  ScratchDir dir;
  const std::string path = dir.path();
  const std::string value(700, 'p');
  const std::int64_t limit = 40000;
  constexpr int kProcesses = 4;
  constexpr int kWrites = 300;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    pids.push_back(reltest::spawn([&, p] {
      bc_bucket* b = open_limited(path, limit, "lrs");
      if (b == nullptr) return 2;
      for (int i = 0; i < kWrites; ++i) {
        const std::string k = "p" + std::to_string(p) + "-" + std::to_string(i);
        if (set(b, k, value) != BC_OK) return 3;
      }
      bc_bucket_close(b);
      return 0;
    }));
  }
  for (const reltest::ChildStatus& st : reltest::wait_children(pids, 300)) {
    ASSERT_TRUE(st.exited && st.code == 0) << st.describe();
  }
  bc_bucket* b = open_limited(path, -1, nullptr);
  const std::uint64_t bytes = stat_of(b, BC_STAT_BYTES);
  EXPECT_LE(bytes, static_cast<std::uint64_t>(limit));
  EXPECT_GT(bytes, static_cast<std::uint64_t>(limit) / 2);
  EXPECT_EQ(stat_of(b, BC_STAT_WRITES), std::uint64_t{kProcesses * kWrites});
  EXPECT_EQ(stat_of(b, BC_STAT_ENTRIES) + stat_of(b, BC_STAT_EVICTIONS),
            std::uint64_t{kProcesses * kWrites});
  bc_bucket_close(b);
}

// Counters of two processes add up exactly once both have closed.
TEST(CapiLimits, CountersFromProcessesAddUpAfterClose) {
  ScratchDir dir;
  const std::string path = dir.path();
  {
    bc_bucket* b = open_limited(path, -1, nullptr);
    ASSERT_EQ(set(b, "shared", "v"), BC_OK);
    ASSERT_EQ(bc_stat_reset(b), BC_OK);
    bc_bucket_close(b);
  }
  constexpr int kHits = 5000;
  constexpr int kMisses = 1200;
  std::vector<pid_t> pids;
  for (int p = 0; p < 2; ++p) {
    pids.push_back(reltest::spawn([&] {
      bc_bucket* b = open_limited(path, -1, nullptr);
      if (b == nullptr) return 2;
      for (int i = 0; i < kHits; ++i) {
        if (get(b, "shared") != BC_OK) return 3;
      }
      for (int i = 0; i < kMisses; ++i) {
        if (get(b, "absent-" + std::to_string(i)) != BC_ENOTFOUND) return 4;
      }
      if (set(b, "w", "x") != BC_OK) return 5;
      bc_bucket_close(b);
      return 0;
    }));
  }
  for (const reltest::ChildStatus& st : reltest::wait_children(pids, 300)) {
    ASSERT_TRUE(st.exited && st.code == 0) << st.describe();
  }
  bc_bucket* b = open_limited(path, -1, nullptr);
  EXPECT_EQ(stat_of(b, BC_STAT_HITS), 2u * kHits);
  EXPECT_EQ(stat_of(b, BC_STAT_MISSES), 2u * kMisses);
  EXPECT_EQ(stat_of(b, BC_STAT_WRITES), 2u);
  bc_bucket_close(b);
}
