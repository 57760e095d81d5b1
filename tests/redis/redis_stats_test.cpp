// Statistics on the Redis store (docs/cache-management.md, "Statistics"): counters in a
// hash beside the bucket's namespace, added up across handles, reset; no size limit.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <cstdint>
#include <memory>
#include <string>

#include "bucketcache/bucketcache.h"
#include "capi_util.hpp"
#include "redis_server.hpp"

namespace {

using capitest::Handle;
using capitest::stat_of;

int open_on(const std::string& url, const std::string& name, std::int64_t limit, Handle& out) {
  capitest::Options o({}, {{BC_OPT_STORE, url}});
  if (limit > 0) o.ints.emplace_back(BC_OPT_SIZE_LIMIT_BYTES, limit);
  bc_bucket* b = nullptr;
  const int rc = capitest::try_open(name, o, &b);
  out.reset(b);
  return rc;
}

int get(const Handle& b, const std::string& k) {
  bc_buf out{nullptr, 0};
  const int rc = bc_get(b.get(), k.data(), k.size(), &out);
  bc_buf_dispose(&out);
  return rc;
}

}  // namespace

TEST(RedisStats, CountersAddUpAcrossHandlesAndReset) {
  std::unique_ptr<bctest::RedisServer> server;
  try {
    server = std::make_unique<bctest::RedisServer>();
  } catch (const std::exception& e) {
    FAIL() << "cannot start redis-server: " << e.what();
  }
  const std::string url = server->url();
  {
    Handle a, b;
    ASSERT_EQ(open_on(url, "stats", 0, a), BC_OK) << bc_last_error_message();
    ASSERT_EQ(open_on(url, "stats", 0, b), BC_OK) << bc_last_error_message();
    ASSERT_EQ(bc_set(a.get(), "k", 1, "v", 1), BC_OK);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(get(a, "k"), BC_OK);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(get(b, "k"), BC_OK);
    EXPECT_EQ(get(b, "none"), BC_ENOTFOUND);
  }  // both closed: their counts are saved
  Handle c;
  ASSERT_EQ(open_on(url, "stats", 0, c), BC_OK);
  EXPECT_EQ(stat_of(c, BC_STAT_HITS), 14u);
  EXPECT_EQ(stat_of(c, BC_STAT_MISSES), 1u);
  EXPECT_EQ(stat_of(c, BC_STAT_WRITES), 1u);
  EXPECT_EQ(stat_of(c, BC_STAT_ENTRIES), 1u);
  EXPECT_EQ(stat_of(c, BC_STAT_BYTES), 128u + 1 + 1);

  // The hash lives beside the bucket's entry namespace.
  redisContext* raw = redisConnect("127.0.0.1", server->port());
  ASSERT_TRUE(raw != nullptr && raw->err == 0);
  auto* r = static_cast<redisReply*>(
      redisCommand(raw, "HGET bcstats:stats:%s hits", "726177-726177"));  // hex "raw"-"raw"
  ASSERT_TRUE(r != nullptr);
  EXPECT_EQ(std::string(r->str, r->len), "14");
  freeReplyObject(r);
  redisFree(raw);

  EXPECT_EQ(bc_stat_reset(c.get()), BC_OK);
  EXPECT_EQ(stat_of(c, BC_STAT_HITS), 0u);
  EXPECT_EQ(stat_of(c, BC_STAT_ENTRIES), 1u);

  Handle limited;
  EXPECT_EQ(open_on(url, "stats", 1000, limited), BC_EINVAL);
  EXPECT_NE(std::string(bc_last_error_message()).find("maxmemory"), std::string::npos);
}
