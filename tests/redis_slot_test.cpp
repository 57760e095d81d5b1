// Redis Cluster hash slots and cluster URLs (storage/redis/redis_router.hpp), without a
// server: the slot of a key must be the one the server computes (CLUSTER KEYSLOT), or
// every command would be redirected.
#include <gtest/gtest.h>

#include "bucketcache/error.hpp"
#include "storage/redis/redis_router.hpp"

namespace bucketcache {
namespace {

using storage::key_slot;

TEST(RedisSlot, MatchesRedisClusterKeyslot) {
  // Values from redis-cli CLUSTER KEYSLOT and the cluster specification.
  EXPECT_EQ(key_slot("123456789"), 12739);  // CRC16/XMODEM check value 0x31C3
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot(""), 0);
}

TEST(RedisSlot, HashTags) {
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("a{user1000}b{x}"), key_slot("user1000"));  // the first tag only
  EXPECT_EQ(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));     // an empty tag: whole key
  EXPECT_NE(key_slot("foo{}{bar}"), key_slot("bar"));
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
  EXPECT_EQ(key_slot("{"), key_slot(std::string("{")));
}

TEST(RedisSlot, ClusterUrls) {
  const storage::ClusterUrl u =
      storage::parse_cluster_url("redis-cluster://al%40ice:s%3Acret@h1:7000,[::1]:7001,h3");
  ASSERT_EQ(u.nodes.size(), 3u);
  EXPECT_EQ(u.nodes[0].address(), "h1:7000");
  EXPECT_EQ(u.nodes[1].address(), "[::1]:7001");
  EXPECT_EQ(u.nodes[2].address(), "h3:6379");
  EXPECT_EQ(u.nodes[2].user, "al@ice");
  EXPECT_EQ(u.nodes[2].password, "s:cret");
  for (const char* bad :
       {"redis://h:1", "redis-cluster://", "redis-cluster://h:1,", "redis-cluster://h:1/0",
        "redis-cluster://h:0", "redis-cluster://u@h:1"}) {
    EXPECT_THROW(storage::parse_cluster_url(bad), InvalidArgument) << bad;
  }
  try {
    storage::parse_cluster_url("redis-cluster://u:hunter2@h:99999");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bucketcache
