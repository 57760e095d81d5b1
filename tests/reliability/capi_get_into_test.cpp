// bc_get_into_buffer: a get that copies the value into the caller's buffer when it fits
// (the Python binding's one-call get), else hands it out as bc_get does.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bucketcache/bucketcache.h"
#include "rel_util.hpp"

using reltest::ScratchDir;
using namespace std::chrono_literals;

namespace {

bc_bucket* open_bucket(const std::string& path, std::int64_t memory_limit = -1,
                       bool deferred = false) {
  bc_options* o = nullptr;
  EXPECT_EQ(bc_options_new(&o), BC_OK);
  if (memory_limit >= 0) {
    EXPECT_EQ(bc_options_set_int(o, BC_OPT_MEMORY_LIMIT_BYTES, memory_limit), BC_OK);
  }
  if (deferred) {
    EXPECT_EQ(bc_options_set_int(o, BC_OPT_DEFERRED, 1), BC_OK);
  }
  bc_bucket* b = nullptr;
  EXPECT_EQ(bc_bucket_open(&b, path.c_str(), o), BC_OK) << bc_last_error_message();
  bc_options_free(o);
  return b;
}

int set(bc_bucket* b, const std::string& k, const std::string& v) {
  return bc_set(b, k.data(), k.size(), v.data(), v.size());
}

// What bc_get_into_buffer returned, and the caller's buffer afterwards.
struct Got {
  int rc = 0;
  bool in_dst = false;  // the value was copied into dst (out.data NULL)
  std::string value;
  std::vector<char> dst;
};

Got get_into(bc_bucket* b, const std::string& k, std::size_t cap, std::int64_t max_age_us = 0) {
  Got g;
  g.dst.assign(cap + 4, '#');                     // 4 guard bytes the call must not touch
  bc_buf out{reinterpret_cast<void*>(1), 12345};  // garbage: the call must reset it
  g.rc = bc_get_into_buffer(b, k.data(), k.size(), max_age_us, g.dst.data(), cap, &out);
  if (g.rc == BC_OK) {
    g.in_dst = out.data == nullptr;
    const char* from = g.in_dst ? g.dst.data() : static_cast<const char*>(out.data);
    g.value.assign(from, out.size);
  } else {
    EXPECT_EQ(out.data, nullptr);
    EXPECT_EQ(out.size, 0u);
  }
  bc_buf_dispose(&out);  // always safe
  return g;
}

std::uint64_t stat(bc_bucket* b, int which) {
  std::uint64_t v = 0;
  EXPECT_EQ(bc_stat(b, which, &v), BC_OK);
  return v;
}

}  // namespace

TEST(CapiGetIntoBuffer, AValueThatFitsIsCopiedIntoTheBuffer) {
  ScratchDir dir;
  for (const std::int64_t memory_limit : {-1, 0}) {  // memory layer on (default) and off
    bc_bucket* b = open_bucket(dir.sub(memory_limit == 0 ? "disk" : "memory"), memory_limit);
    ASSERT_EQ(set(b, "k", "value"), BC_OK);
    for (int round = 0; round < 2; ++round) {  // a read from the file, then from memory
      const Got g = get_into(b, "k", 16);
      ASSERT_EQ(g.rc, BC_OK) << bc_last_error_message();
      EXPECT_TRUE(g.in_dst);
      EXPECT_EQ(g.value, "value");
      EXPECT_EQ(std::string(g.dst.begin() + 5, g.dst.end()), std::string(15, '#'));
    }
    const Got exact = get_into(b, "k", 5);  // exactly the value's size still fits
    EXPECT_TRUE(exact.in_dst);
    EXPECT_EQ(exact.value, "value");
    EXPECT_EQ(std::string(exact.dst.begin() + 5, exact.dst.end()), "####");
    bc_bucket_close(b);
  }
}

TEST(CapiGetIntoBuffer, ALargerValueIsHandedOutAndTheBufferIsUntouched) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.path());
  std::string big(100000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  ASSERT_EQ(set(b, "big", big), BC_OK);
  const Got g = get_into(b, "big", 4);
  ASSERT_EQ(g.rc, BC_OK);
  EXPECT_FALSE(g.in_dst);
  EXPECT_EQ(g.value, big);
  EXPECT_EQ(std::string(g.dst.begin(), g.dst.end()), std::string(8, '#'));
  bc_bucket_close(b);
}

TEST(CapiGetIntoBuffer, SameBytesAsBcGetForEverySize) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.path(), 0);
  for (const std::size_t size : {0u, 1u, 100u, 8191u, 8192u, 8193u, 70000u}) {
    const std::string key = "k" + std::to_string(size);
    std::string v(size, 'v');
    if (size > 0) v[size - 1] = 'e';
    ASSERT_EQ(set(b, key, v), BC_OK);
    bc_buf out{nullptr, 0};
    ASSERT_EQ(bc_get(b, key.data(), key.size(), &out), BC_OK);
    const std::string via_get(static_cast<const char*>(out.data), out.size);
    bc_buf_dispose(&out);
    const Got g = get_into(b, key, 8192);
    ASSERT_EQ(g.rc, BC_OK) << size;
    EXPECT_EQ(g.value, via_get) << size;
    EXPECT_EQ(g.in_dst, size <= 8192) << size;
  }
  bc_bucket_close(b);
}

TEST(CapiGetIntoBuffer, AnEmptyValueNeedsNoBuffer) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.path());
  ASSERT_EQ(set(b, "empty", ""), BC_OK);
  bc_buf out{nullptr, 7};
  ASSERT_EQ(bc_get_into_buffer(b, "empty", 5, 0, nullptr, 0, &out), BC_OK);
  EXPECT_EQ(out.data, nullptr);
  EXPECT_EQ(out.size, 0u);
  // A value that does not fit in cap 0 comes back in out.
  ASSERT_EQ(set(b, "one", "1"), BC_OK);
  ASSERT_EQ(bc_get_into_buffer(b, "one", 3, 0, nullptr, 0, &out), BC_OK);
  ASSERT_NE(out.data, nullptr);
  EXPECT_EQ(std::string(static_cast<const char*>(out.data), out.size), "1");
  bc_buf_dispose(&out);
  bc_bucket_close(b);
}

TEST(CapiGetIntoBuffer, MissesAndMaxAgeAsBcGetEx) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.path());
  const Got miss = get_into(b, "absent", 16);
  EXPECT_EQ(miss.rc, BC_ENOTFOUND);
  EXPECT_EQ(std::string(miss.dst.begin(), miss.dst.end()), std::string(20, '#'));
  ASSERT_EQ(set(b, "k", "old"), BC_OK);
  std::this_thread::sleep_for(20ms);
  const Got old = get_into(b, "k", 16, 5000);  // created more than 5 ms ago
  EXPECT_EQ(old.rc, BC_ENOTFOUND);
  EXPECT_NE(std::string(bc_last_error_message()).find("max_age"), std::string::npos);
  EXPECT_EQ(std::string(old.dst.begin(), old.dst.end()), std::string(20, '#'));
  EXPECT_EQ(get_into(b, "k", 16, 3600LL * 1000000).value, "old");  // young enough
  EXPECT_EQ(get_into(b, "k", 16).value, "old");                    // not deleted
  bc_bucket_close(b);
}

TEST(CapiGetIntoBuffer, CountsHitsAndMissesOnceAsBcGet) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.path());
  ASSERT_EQ(set(b, "k", std::string(20000, 'x')), BC_OK);
  const std::uint64_t hits = stat(b, BC_STAT_HITS);
  const std::uint64_t misses = stat(b, BC_STAT_MISSES);
  EXPECT_EQ(get_into(b, "k", 16).rc, BC_OK);  // handed out: still one lookup
  EXPECT_EQ(get_into(b, "k", 32768).rc, BC_OK);
  EXPECT_EQ(get_into(b, "nope", 16).rc, BC_ENOTFOUND);
  EXPECT_EQ(stat(b, BC_STAT_HITS), hits + 2);
  EXPECT_EQ(stat(b, BC_STAT_MISSES), misses + 1);
  bc_bucket_close(b);
}

TEST(CapiGetIntoBuffer, SeesPendingDeferredWrites) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.path(), -1, true);
  ASSERT_EQ(set(b, "k", "pending"), BC_OK);
  EXPECT_EQ(get_into(b, "k", 16).value, "pending");
  bc_bucket_close(b);
}

TEST(CapiGetIntoBuffer, NullArgumentsAreErrors) {
  ScratchDir dir;
  bc_bucket* b = open_bucket(dir.path());
  ASSERT_EQ(set(b, "k", "v"), BC_OK);
  char dst[8];
  bc_buf out{nullptr, 0};
  EXPECT_EQ(bc_get_into_buffer(nullptr, "k", 1, 0, dst, sizeof dst, &out), BC_EINVAL);
  EXPECT_NE(std::string(bc_last_error_message()).find("bucket is NULL"), std::string::npos);
  EXPECT_EQ(bc_get_into_buffer(b, "k", 1, 0, dst, sizeof dst, nullptr), BC_EINVAL);
  EXPECT_NE(std::string(bc_last_error_message()).find("out is NULL"), std::string::npos);
  EXPECT_EQ(bc_get_into_buffer(b, "k", 1, 0, nullptr, 8, &out), BC_EINVAL);
  EXPECT_NE(std::string(bc_last_error_message()).find("dst is NULL"), std::string::npos);
  EXPECT_EQ(bc_get_into_buffer(b, nullptr, 1, 0, dst, sizeof dst, &out), BC_EINVAL);
  EXPECT_EQ(out.data, nullptr);
  bc_bucket_close(b);
}
