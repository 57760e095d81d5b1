// The typed C++ Bucket on a Redis server (bucketcache::RemoteStore, docs/redis.md): the same
// operations as on a directory, entries shared with the C API, clear errors for bad
// locations and a dead server.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bucketcache/backends/json.hpp"
#include "bucketcache/backends/raw.hpp"
#include "bucketcache/bucketcache.h"
#include "bucketcache/bucketcache.hpp"
#include "capi_util.hpp"
#include "redis_server.hpp"

namespace {

namespace bc = bucketcache;
using RawBucket = bc::Bucket<bc::RawBackend, bc::RawKeyMaker>;
using JsonBucket = bc::Bucket<bc::JsonBackend, bc::RawKeyMaker>;

class RedisCpp : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      server_ = std::make_unique<bctest::RedisServer>();
    } catch (const std::exception& e) {
      FAIL() << "cannot start redis-server: " << e.what();
    }
    name_ = std::string("cpp/") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  bc::RemoteStore where() const {
    bc::RemoteStore w;
    w.url = server_->url();
    return w;
  }
  std::unique_ptr<bctest::RedisServer> server_;
  std::string name_;
};

TEST_F(RedisCpp, EveryOperationOfTheTypedBucket) {
  bc::Options o;
  o.memory_limit_bytes = 0;  // every read goes to the server
  RawBucket b(where(), name_, o);
  EXPECT_FALSE(b.try_get<std::string>("k"));
  b.set("k", std::string("value one"));
  EXPECT_EQ(b.get<std::string>("k"), "value one");
  EXPECT_TRUE(b.contains("k"));
  b.set("short", std::string("x"), std::chrono::milliseconds(1));
  EXPECT_TRUE(b.add("new", std::string("first")));
  EXPECT_FALSE(b.add("new", std::string("second")));
  EXPECT_EQ(b.get<std::string>("new"), "first");
  JsonBucket counters(where(), name_);
  EXPECT_EQ(counters.incr("n", 5), 5);
  EXPECT_EQ(counters.incr("n", -2), 3);
  EXPECT_TRUE(counters.touch("n", std::chrono::hours(1)));

  int computes = 0;
  auto compute = [&] {
    ++computes;
    return std::string("computed");
  };
  bool hit = true;
  EXPECT_EQ(b.get_or_compute<std::string>("memo", compute, &hit), "computed");
  EXPECT_FALSE(hit);
  EXPECT_EQ(b.get_or_compute<std::string>("memo", compute, &hit), "computed");
  EXPECT_TRUE(hit);
  EXPECT_EQ(computes, 1);

  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // "short" is past its expiry
  EXPECT_FALSE(b.try_get<std::string>("short"));
  const bc::Stats s = b.stats();
  EXPECT_GE(s.writes, 4u);
  EXPECT_TRUE(b.erase("k"));
  EXPECT_FALSE(b.erase("k"));
  EXPECT_FALSE(b.contains("k"));
  b.prune_directory();
  EXPECT_EQ(b.get<std::string>("new"), "first");  // prune keeps live entries
}

TEST_F(RedisCpp, EntriesAreSharedWithTheCApi) {
  RawBucket b(where(), name_);
  b.set("from c++", std::string("written by C++"));
  bc_bucket* c =
      capitest::open_bucket(name_, capitest::Options({}, {{BC_OPT_STORE, server_->url()}}));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(capitest::value_of(c, "from c++"), "written by C++");
  ASSERT_EQ(capitest::set(c, "from c", "written by C"), BC_OK);
  bc_bucket_close(c);
  b.unload_key("from c");
  EXPECT_EQ(b.get<std::string>("from c"), "written by C");
}

TEST_F(RedisCpp, ANearCacheInFront) {
  char dir[] = "/tmp/bc-redis-cpp-near-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  bc::RemoteStore w = where();
  w.near_cache_dir = std::string(dir) + "/near";
  w.near_cache_ttl = std::chrono::seconds(60);
  {
    RawBucket near(w, name_);
    near.set("k", std::string("v"));
    EXPECT_EQ(near.get<std::string>("k"), "v");
  }
  RawBucket plain(where(), name_);
  EXPECT_EQ(plain.get<std::string>("k"), "v");  // written through to the server
  EXPECT_EQ(std::system(("rm -rf '" + std::string(dir) + "'").c_str()), 0);
}

TEST_F(RedisCpp, ADeferredBucketSendsItsValuesOnSync) {
  bc::DeferredWriteBucket<bc::RawBackend, bc::RawKeyMaker> d(where(), name_);
  for (int i = 0; i < 20; ++i) d.set("k" + std::to_string(i), "v" + std::to_string(i));
  RawBucket other(where(), name_);
  EXPECT_FALSE(other.contains("k3"));  // pending
  d.sync();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(other.get<std::string>("k" + std::to_string(i)), "v" + std::to_string(i));
  }
}

TEST_F(RedisCpp, BadLocationsAndADeadServerAreClearErrors) {
  bc::RemoteStore w = where();
  w.url = "file";
  EXPECT_THROW(RawBucket(w, name_), bc::InvalidArgument);
  w.url = "";
  EXPECT_THROW(RawBucket(w, name_), bc::InvalidArgument);
  w.url = "http://127.0.0.1:1";
  EXPECT_THROW(RawBucket(w, name_), bc::InvalidArgument);
  w = where();
  w.timeout = std::chrono::milliseconds(0);
  EXPECT_THROW(RawBucket(w, name_), bc::InvalidArgument);
  w = where();
  w.near_cache_ttl = std::chrono::milliseconds(-1);
  EXPECT_THROW(RawBucket(w, name_), bc::InvalidArgument);
  EXPECT_THROW(RawBucket(where(), ""), bc::InvalidArgument);
  bc::Options limited;
  limited.size_limit_bytes = 1000;
  EXPECT_THROW(RawBucket(where(), name_, limited), bc::InvalidArgument);

  w = where();
  w.timeout = std::chrono::milliseconds(300);
  RawBucket b(w, name_);
  b.set("k", std::string("v"));
  server_->kill();
  try {
    b.unload_key("k");
    (void)b.try_get<std::string>("k");
    ADD_FAILURE() << "a read from a dead server did not throw";
  } catch (const bc::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(RawBucket(w, name_), bc::IoError);
}

}  // namespace
