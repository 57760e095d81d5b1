// prune_directory: removes this bucket's expired entries and stale temp files only.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "bucketcache/store.hpp"
#include "storage/entry_format.hpp"
#include "test_util.hpp"

namespace bc = bucketcache;
using bctest::TempDir;

namespace {

void expire(const std::string& path) {
  std::string bytes = bctest::read_file(path);
  bc::format::EntryHeader h;
  ASSERT_EQ(bc::format::decode_header(reinterpret_cast<const unsigned char*>(bytes.data()), h),
            bc::format::HeaderStatus::ok);
  h.expires_us = h.created_us - 1;
  bc::format::encode_header(h, reinterpret_cast<unsigned char*>(bytes.data()));
  bctest::write_file(path, bytes);
}

void make_old(const std::string& path) {
  struct timeval tv[2] = {{1000, 0}, {1000, 0}};
  ASSERT_EQ(::utimes(path.c_str(), tv), 0);
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

}  // namespace

TEST(Prune, RemovesExpiredEntriesAndCountsFilesAndBytes) {
  TempDir dir;
  bc::Options o;
  o.lifetime = std::chrono::hours(1);
  bc::Store s(dir.path(), "raw", "raw", o);
  std::uint64_t expired_bytes = 0;
  for (int i = 0; i < 30; ++i) {
    const bc::Digest d = s.digest("k" + std::to_string(i));
    s.set(d, std::string(static_cast<std::size_t>(i) * 10, 'v'));
    if (i % 3 == 0) {
      expire(s.entry_path(d));
      expired_bytes += bc::format::kHeaderSize + static_cast<std::uint64_t>(i) * 10;
    }
  }
  const bc::PrunedFilesInfo info = s.prune_directory();
  EXPECT_EQ(info.files, 10u);
  EXPECT_EQ(info.bytes, expired_bytes);
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(exists(s.entry_path(s.digest("k" + std::to_string(i)))), i % 3 != 0) << i;
  }
  const bc::PrunedFilesInfo again = s.prune_directory();
  EXPECT_EQ(again.files, 0u);
  EXPECT_EQ(again.bytes, 0u);
}

TEST(Prune, LeavesEntriesOfALongerLifetimeToTheirWriter) {
  TempDir dir;
  {
    bc::Store never(dir.path(), "raw", "raw");
    never.set(never.digest("forever"), "v");
    bc::Options day;
    day.lifetime = bc::days(1);
    bc::Store daily(dir.path(), "raw", "raw", day);
    daily.set(daily.digest("daily"), "v");
  }
  bc::Options o;
  o.lifetime = std::chrono::seconds(1);
  bc::Store s(dir.path(), "raw", "raw", o);
  s.set(s.digest("fresh"), "v");
  // A miss for the 1-second bucket, but another program's live entries: never deleted.
  EXPECT_FALSE(s.contains(s.digest("forever")));
  EXPECT_FALSE(s.contains(s.digest("daily")));
  EXPECT_EQ(s.prune_directory().files, 0u);
  EXPECT_TRUE(exists(s.entry_path(s.digest("fresh"))));
  EXPECT_TRUE(exists(s.entry_path(s.digest("forever"))));
  EXPECT_TRUE(exists(s.entry_path(s.digest("daily"))));
  bc::Store never(dir.path(), "raw", "raw");
  bc::Entry e;
  EXPECT_EQ(never.get(never.digest("forever"), e), bc::ReadStatus::found);
}

TEST(Prune, RemovesDamagedEntriesButLeavesOtherBackendsAndForeignFilesAlone) {
  TempDir dir;
  bc::Options o;
  o.lifetime = std::chrono::hours(1);
  bc::Store raw(dir.path(), "raw", "raw", o);
  bc::Store json(dir.path(), "json", "json", o);
  const bc::Digest jd = json.digest("k");
  json.set(jd, "{}");
  expire(json.entry_path(jd));
  const bc::Digest rd = raw.digest("corrupt");
  raw.set(rd, "v");
  bctest::write_file(raw.entry_path(rd), "not an entry");
  bctest::write_file(dir.sub("README"), "user file");
  // The damaged entry is nobody's: removed. json's expired entry is json's to prune.
  EXPECT_EQ(raw.prune_directory().files, 1u);
  EXPECT_TRUE(exists(json.entry_path(jd)));
  EXPECT_FALSE(exists(raw.entry_path(rd)));
  EXPECT_TRUE(exists(dir.sub("README")));
  EXPECT_EQ(json.prune_directory().files, 1u);
}

TEST(Prune, RemovesStaleTempFilesButNotLiveOnes) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  const bc::Digest d = s.digest("k");
  s.set(d, "v");
  const std::string shard = s.entry_path(d).substr(0, s.entry_path(d).rfind('/'));
  const std::string stale = shard + "/.tmp-1-dead";
  const std::string recent = shard + "/.tmp-2-recent";
  const std::string locked = shard + "/.tmp-3-locked";
  bctest::write_file(stale, std::string(100, 's'));
  bctest::write_file(recent, std::string(50, 'r'));
  bctest::write_file(locked, std::string(70, 'l'));
  make_old(stale);
  make_old(locked);
  // A writer still holding its lock (a live, slow writer) keeps its temp file.
  int fd = ::open(locked.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  const bc::PrunedFilesInfo info = s.prune_directory();
  ::close(fd);
  EXPECT_EQ(info.files, 1u);
  EXPECT_EQ(info.bytes, 100u);
  EXPECT_FALSE(exists(stale));
  EXPECT_TRUE(exists(recent));
  EXPECT_TRUE(exists(locked));
  EXPECT_TRUE(exists(s.entry_path(d)));
}

TEST(Prune, ReadsHeadersOnlyAndWaitsForAnotherPruner) {
  TempDir dir;
  bc::Options o;
  o.lifetime = std::chrono::hours(1);
  bc::Store s(dir.path(), "raw", "raw", o);
  const bc::Digest d = s.digest("k");
  s.set(d, "value");
  expire(s.entry_path(d));
  // Damage the value but not the header: prune still judges the entry by its header.
  std::string bytes = bctest::read_file(s.entry_path(d));
  bytes.back() ^= 0x55;
  bctest::write_file(s.entry_path(d), bytes);
  // Hold the prune lock as another pruner would; prune must wait for it.
  const std::string lock_path = dir.sub(".prune.lock");
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  std::atomic<bool> done{false};
  bc::PrunedFilesInfo info;
  std::thread pruner([&] {
    info = s.prune_directory();
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(done.load());  // still waiting for the lock
  ::close(fd);                // releases it
  pruner.join();
  EXPECT_TRUE(done.load());
  EXPECT_EQ(info.files, 1u);
}
