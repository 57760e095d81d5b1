// Store: the byte-level core. Keys here are digests of raw bytes.
#include "bucketcache/store.hpp"

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include "bucketcache/error.hpp"
#include "storage/entry_format.hpp"
#include "storage/file/atomic_file.hpp"
#include "test_util.hpp"

namespace bc = bucketcache;
using bctest::TempDir;

namespace {

bc::Digest key_of(const bc::Store& s, const std::string& k) { return s.digest(k); }

std::string get_string(bc::Store& s, const std::string& k) {
  bc::Entry e;
  if (s.get(key_of(s, k), e) != bc::ReadStatus::found) return "<miss>";
  return *e.value;
}

// Rewrites an entry's header fields (with a valid header checksum), e.g. to move expiry.
void rewrite_header(const std::string& path, void (*edit)(bc::format::EntryHeader&)) {
  std::string bytes = bctest::read_file(path);
  bc::format::EntryHeader h;
  ASSERT_EQ(bc::format::decode_header(reinterpret_cast<const unsigned char*>(bytes.data()), h),
            bc::format::HeaderStatus::ok);
  edit(h);
  bc::format::encode_header(h, reinterpret_cast<unsigned char*>(bytes.data()));
  bctest::write_file(path, bytes);
}

mode_t mode_of(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

}  // namespace

TEST(Store, SetThenGetReturnsTheValue) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  s.set(key_of(s, "spam"), "eggs");
  EXPECT_EQ(get_string(s, "spam"), "eggs");
  s.set(key_of(s, "spam"), "");
  EXPECT_EQ(get_string(s, "spam"), "");
}

TEST(Store, ValuesSurviveANewStoreOnTheSameDirectory) {
  TempDir dir;
  {
    bc::Store s(dir.path(), "raw", "raw");
    s.set(key_of(s, "k"), std::string("v\0w", 3));
  }
  bc::Store s(dir.path(), "raw", "raw");
  EXPECT_EQ(get_string(s, "k"), std::string("v\0w", 3));
}

TEST(Store, MissingKeyIsAMiss) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  bc::Entry e;
  EXPECT_EQ(s.get(key_of(s, "nope"), e), bc::ReadStatus::absent);
  EXPECT_FALSE(s.contains(key_of(s, "nope")));
  EXPECT_FALSE(s.erase(key_of(s, "nope")));
}

TEST(Store, ContainsEraseAndUnload) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  const bc::Digest k = key_of(s, "k");
  s.set(k, "v");
  EXPECT_TRUE(s.contains(k));
  EXPECT_TRUE(s.unload_key(k));
  EXPECT_FALSE(s.unload_key(k));  // no longer loaded
  EXPECT_TRUE(s.contains(k));     // the file stays
  EXPECT_TRUE(s.erase(k));
  EXPECT_FALSE(s.contains(k));
  bc::Entry e;
  EXPECT_NE(s.get(k, e), bc::ReadStatus::found);
}

TEST(Store, CreatesDirectoryAndParentsOwnerOnly) {
  TempDir dir;
  const std::string path = dir.sub("a/b/c");
  bc::Store s(path, "raw", "raw");
  s.set(key_of(s, "k"), "v");
  EXPECT_EQ(mode_of(dir.sub("a")), 0700u);
  EXPECT_EQ(mode_of(dir.sub("a/b")), 0700u);
  EXPECT_EQ(mode_of(path), 0700u);
  const std::string entry = s.entry_path(key_of(s, "k"));
  EXPECT_EQ(mode_of(entry), 0600u);
  EXPECT_EQ(mode_of(entry.substr(0, entry.rfind('/'))), 0700u);
}

TEST(Store, ConfiguredModesAreUsed) {
  TempDir dir;
  ::umask(022);
  bc::Options o;
  o.directory_mode = 0755;
  o.file_mode = 0644;
  bc::Store s(dir.sub("shared"), "raw", "raw", o);
  s.set(key_of(s, "k"), "v");
  EXPECT_EQ(mode_of(dir.sub("shared")), 0755u);
  EXPECT_EQ(mode_of(s.entry_path(key_of(s, "k"))), 0644u);
}

TEST(Store, EntryPathIsShardedByDigest) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  const bc::Digest k = key_of(s, "k");
  const std::string hex = k.hex();
  EXPECT_EQ(s.entry_path(k), dir.path() + "/" + hex.substr(0, 2) + "/" + hex + ".bce");
}

TEST(Store, RejectsBadArguments) {
  TempDir dir;
  bc::Options negative;
  negative.lifetime = std::chrono::seconds(-1);
  EXPECT_THROW(bc::Store(dir.path(), "raw", "raw", negative), bc::InvalidArgument);
  EXPECT_THROW(bc::Store(dir.path(), "", "raw"), bc::InvalidArgument);
  EXPECT_THROW(bc::Store(dir.path(), "raw", "a-keymaker-id-too-long"), bc::InvalidArgument);
  EXPECT_THROW(bc::Store(dir.path(), "has space", "raw"), bc::InvalidArgument);
  EXPECT_THROW(bc::Store("", "raw", "raw"), bc::InvalidArgument);
  bctest::write_file(dir.sub("file"), "x");
  EXPECT_THROW(bc::Store(dir.sub("file"), "raw", "raw"), bc::IoError);
  EXPECT_THROW(bc::Store(dir.sub("file/sub"), "raw", "raw"), bc::IoError);
}

TEST(Store, LifetimeSetsExpiry) {
  TempDir dir;
  bc::Options o;
  o.lifetime = std::chrono::hours(2);
  bc::Store s(dir.path(), "raw", "raw", o);
  s.set(key_of(s, "k"), "v");
  bc::Entry e;
  ASSERT_EQ(s.get(key_of(s, "k"), e), bc::ReadStatus::found);
  EXPECT_EQ(e.expires_us - e.created_us, std::int64_t{2} * 3600 * 1000000);

  bc::Store forever(dir.sub("forever"), "raw", "raw");
  forever.set(key_of(forever, "k"), "v");
  ASSERT_EQ(forever.get(key_of(forever, "k"), e), bc::ReadStatus::found);
  EXPECT_EQ(e.expires_us, 0);
}

TEST(Store, ExpiredEntryIsAMissAndIsDeletedWhenRead) {
  TempDir dir;
  bc::Options o;
  o.lifetime = std::chrono::hours(1);
  o.memory_limit_bytes = 0;
  bc::Store s(dir.path(), "raw", "raw", o);
  const bc::Digest k = key_of(s, "k");
  s.set(k, "v");
  const std::string path = s.entry_path(k);
  rewrite_header(path, [](bc::format::EntryHeader& h) { h.expires_us = h.created_us - 1; });
  bc::Entry e;
  EXPECT_EQ(s.get(k, e), bc::ReadStatus::expired);
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST(Store, ContainsDeletesAnExpiredEntryAsGetDoes) {
  TempDir dir;
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(dir.path(), "raw", "raw", o);
  const bc::Digest k = key_of(s, "k");
  s.set(k, "v");
  const std::string path = s.entry_path(k);
  rewrite_header(path, [](bc::format::EntryHeader& h) {
    h.created_us = 1;
    h.expires_us = 2;
  });
  EXPECT_FALSE(s.contains(k));
  EXPECT_NE(::access(path.c_str(), F_OK), 0);  // BucketCache's `in` deletes it too
}

TEST(Store, ExpiryIsCheckedInTheMemoryLayerToo) {
  TempDir dir;
  bc::Options o;
  o.lifetime = std::chrono::microseconds(1);
  bc::Store s(dir.path(), "raw", "raw", o);
  const bc::Digest k = key_of(s, "k");
  s.set(k, "v");
  std::this_thread::sleep_for(std::chrono::milliseconds(2));  // past a 1 us lifetime
  bc::Entry e;
  EXPECT_NE(s.get(k, e), bc::ReadStatus::found);
}

TEST(Store, LifetimeChangeRule) {
  TempDir dir;
  {
    bc::Store never(dir.path(), "raw", "raw");  // entries never expire
    never.set(key_of(never, "forever"), "v");
  }
  {
    bc::Options week;
    week.lifetime = bc::weeks(1);
    bc::Store s(dir.path(), "raw", "raw", week);
    // A never-expiring entry counts as expired in a bucket with a lifetime.
    EXPECT_FALSE(s.contains(key_of(s, "forever")));
    s.set(key_of(s, "week"), "v");
  }
  {
    bc::Options hour;
    hour.lifetime = std::chrono::hours(1);
    bc::Store s(dir.path(), "raw", "raw", hour);
    // Expires in a week, later than now + 1 hour: expired under the shorter lifetime.
    EXPECT_FALSE(s.contains(key_of(s, "week")));
  }
  {
    bc::Options month;
    month.lifetime = bc::days(30);
    bc::Store s(dir.path(), "raw", "raw", month);
    s.set(key_of(s, "k"), "v");
  }
  bc::Options longer;
  longer.lifetime = bc::days(60);
  bc::Store s(dir.path(), "raw", "raw", longer);
  EXPECT_TRUE(s.contains(key_of(s, "k")));  // lengthening keeps entries
  // Without a lifetime, entries with an expiry are still honoured.
  bc::Store none(dir.path(), "raw", "raw");
  EXPECT_TRUE(none.contains(key_of(none, "k")));
}

TEST(Store, OtherBackendsAndKeymakersAreSeparate) {
  TempDir dir;
  bc::Store raw(dir.path(), "raw", "raw");
  bc::Store json(dir.path(), "json", "raw");
  bc::Store jkey(dir.path(), "raw", "json");
  raw.set(raw.digest("k"), "raw value");
  EXPECT_NE(raw.digest("k"), json.digest("k"));
  EXPECT_NE(raw.digest("k"), jkey.digest("k"));
  bc::Entry e;
  EXPECT_NE(json.get(json.digest("k"), e), bc::ReadStatus::found);
  EXPECT_NE(jkey.get(jkey.digest("k"), e), bc::ReadStatus::found);
  // Even at the same path, another backend's entry is foreign.
  EXPECT_EQ(json.get(raw.digest("k"), e), bc::ReadStatus::foreign);
}

TEST(Store, FileCopiedToAnotherKeysNameIsForeign) {
  TempDir dir;
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(dir.path(), "raw", "raw", o);
  s.set(key_of(s, "a"), "value of a");
  s.set(key_of(s, "b"), "value of b");
  bctest::write_file(s.entry_path(key_of(s, "b")), bctest::read_file(s.entry_path(key_of(s, "a"))));
  bc::Entry e;
  EXPECT_EQ(s.get(key_of(s, "b"), e), bc::ReadStatus::foreign);
  EXPECT_EQ(get_string(s, "a"), "value of a");
}

TEST(Store, MemoryLayerServesUntilUnloaded) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  const bc::Digest k = key_of(s, "k");
  s.set(k, "v");
  ASSERT_EQ(::unlink(s.entry_path(k).c_str()), 0);  // behind the store's back
  EXPECT_EQ(get_string(s, "k"), "v");               // memory layer
  s.unload_key(k);
  EXPECT_EQ(get_string(s, "k"), "<miss>");
}

TEST(Store, MemoryLimitZeroDisablesTheMemoryLayer) {
  TempDir dir;
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(dir.path(), "raw", "raw", o);
  const bc::Digest k = key_of(s, "k");
  s.set(k, "v");
  EXPECT_EQ(s.memory_bytes(), 0u);
  ASSERT_EQ(::unlink(s.entry_path(k).c_str()), 0);
  EXPECT_EQ(get_string(s, "k"), "<miss>");
}

TEST(Store, MemoryLayerEvictsLeastRecentlyUsedWithinItsLimit) {
  TempDir dir;
  bc::Options o;
  const std::size_t value_size = 1000;
  o.memory_limit_bytes = 10 * (value_size + 200);
  bc::Store s(dir.path(), "raw", "raw", o);
  for (int i = 0; i < 50; ++i) {
    s.set(key_of(s, "k" + std::to_string(i)),
          std::string(value_size, static_cast<char>('a' + i % 26)));
    EXPECT_LE(s.memory_bytes(), o.memory_limit_bytes);
  }
  EXPECT_GT(s.memory_bytes(), 0u);
  // Delete every file: only what the memory layer kept still reads, i.e. the newest ones.
  for (int i = 0; i < 50; ++i) ::unlink(s.entry_path(key_of(s, "k" + std::to_string(i))).c_str());
  EXPECT_EQ(get_string(s, "k0"), "<miss>");
  EXPECT_EQ(get_string(s, "k49"), std::string(value_size, static_cast<char>('a' + 49 % 26)));
  int kept = 0;
  for (int i = 0; i < 50; ++i) kept += get_string(s, "k" + std::to_string(i)) != "<miss>";
  EXPECT_GE(kept, 5);
  EXPECT_LE(kept, 10);
}

TEST(Store, RecentlyReadEntriesSurviveEviction) {
  TempDir dir;
  bc::Options o;
  o.memory_limit_bytes = 4 * (100 + 200);
  bc::Store s(dir.path(), "raw", "raw", o);
  s.set(key_of(s, "hot"), std::string(100, 'h'));
  for (int i = 0; i < 20; ++i) {
    s.set(key_of(s, "cold" + std::to_string(i)), std::string(100, 'c'));
    bc::Entry e;
    ASSERT_EQ(s.get(key_of(s, "hot"), e), bc::ReadStatus::found);  // keeps "hot" most recently used
  }
  ::unlink(s.entry_path(key_of(s, "hot")).c_str());
  EXPECT_EQ(get_string(s, "hot"), std::string(100, 'h'));
}

TEST(Store, ValueLargerThanTheMemoryLimitIsNotKeptInMemory) {
  TempDir dir;
  bc::Options o;
  o.memory_limit_bytes = 1000;
  bc::Store s(dir.path(), "raw", "raw", o);
  s.set(key_of(s, "big"), std::string(5000, 'x'));
  EXPECT_EQ(s.memory_bytes(), 0u);
  EXPECT_EQ(get_string(s, "big"), std::string(5000, 'x'));
}

TEST(Store, OtherProcessWritesVisibleAfterUnloadOrWithCheckFile) {
  TempDir dir;
  bc::Store a(dir.path(), "raw", "raw");
  bc::Options check;
  check.check_file = true;
  bc::Store c(dir.path(), "raw", "raw", check);
  bc::Store writer(dir.path(), "raw", "raw");
  const bc::Digest k = a.digest("k");
  writer.set(k, "old");
  EXPECT_EQ(get_string(a, "k"), "old");
  EXPECT_EQ(get_string(c, "k"), "old");
  writer.set(k, "new");
  EXPECT_EQ(get_string(a, "k"), "old");  // served from a's memory layer
  EXPECT_EQ(get_string(c, "k"), "new");  // check_file notices the replaced file
  a.unload_key(k);
  EXPECT_EQ(get_string(a, "k"), "new");
  writer.erase(k);
  EXPECT_EQ(get_string(c, "k"), "<miss>");
}

TEST(Store, PermissionErrorsAreErrorsNotMisses) {
  TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  const bc::Digest k = key_of(s, "k");
  s.set(k, "v");
  ::chmod(dir.path().c_str(), 0755);
  const std::string shard = s.entry_path(k).substr(0, s.entry_path(k).rfind('/'));
  ::chmod(shard.substr(0, shard.rfind('/')).c_str(), 0755);
  ::chmod(shard.c_str(), 0755);
  ::chmod(s.entry_path(k).c_str(), 0000);
  // Root ignores permissions: check as an unprivileged user in a child process.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0) {
      struct passwd* nobody = ::getpwnam("nobody");
      if (nobody == nullptr || ::setgid(nobody->pw_gid) != 0 || ::setuid(nobody->pw_uid) != 0)
        ::_exit(3);
    }
    bc::Options o;
    o.memory_limit_bytes = 0;
    try {
      bc::Store other(dir.path(), "raw", "raw", o);
      bc::Entry e;
      other.get(k, e);
      ::_exit(1);  // no exception: wrong
    } catch (const bc::IoError& e) {
      ::_exit(e.errno_value() == EACCES ? 0 : 2);
    } catch (...) {
      ::_exit(4);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Store, FourThreadsShareOneStore) {
  TempDir dir;
  bc::Options o;
  o.memory_limit_bytes = 64 * 1024;  // small, so eviction happens under contention
  bc::Store s(dir.path(), "raw", "raw", o);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        const std::string key = "k" + std::to_string(i % 40);
        const std::string value =
            key + ":" + std::string(static_cast<std::size_t>(i % 7) * 100, 'x');
        switch ((i + t) % 5) {
          case 0:
          case 1:
            s.set(s.digest(key), value);
            break;
          case 2: {
            bc::Entry e;
            if (s.get(s.digest(key), e) == bc::ReadStatus::found &&
                e.value->rfind(key + ":", 0) != 0)
              ++wrong;
            break;
          }
          case 3:
            s.unload_key(s.digest(key));
            break;
          default:
            if (i % 50 == 0) {
              s.prune_directory();
            } else {
              s.erase(s.digest(key));
            }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// Children forked from one parent that had already named a temp file must not inherit its
// naming state: the same pid in the name and the same random stream made siblings try the
// same names (a killed sibling's leftovers then fail every attempt: "File exists").
TEST(TempNames, ForkedChildrenNameTempFilesWithTheirOwnPidAndStream) {
  const std::string parent_name = bc::storage::random_temp_name();  // parent's state seeded
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::vector<pid_t> children;
  for (int i = 0; i < 2; ++i) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const std::string line = bc::storage::random_temp_name() + "\n";
      const bool ok =
          ::write(fds[1], line.data(), line.size()) == static_cast<ssize_t>(line.size());
      ::_exit(ok ? 0 : 1);
    }
    children.push_back(pid);
  }
  ::close(fds[1]);
  std::string all;
  char buf[256];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    all.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::vector<std::string> names;
  for (std::size_t at = 0, nl; (nl = all.find('\n', at)) != std::string::npos; at = nl + 1) {
    names.push_back(all.substr(at, nl - at));
  }
  ASSERT_EQ(names.size(), 2u);
  // Each child's name carries its own pid; the random parts differ from each other's.
  for (pid_t pid : children) {
    const std::string tag = ".tmp-" + std::to_string(pid) + "-";
    EXPECT_TRUE(names[0].rfind(tag, 0) == 0 || names[1].rfind(tag, 0) == 0) << tag;
  }
  const auto random_part = [](const std::string& n) { return n.substr(n.size() - 16); };
  EXPECT_NE(random_part(names[0]), random_part(names[1]));
  EXPECT_NE(names[0], parent_name);
}

// The bucket directory is opened once (storage/file/shard_dirs.hpp): removing it under an
// open store and creating it again, by hand or by another store, is followed on the next
// miss or write; reads never serve the removed directory's entries.
TEST(Store, ARemovedAndRecreatedBucketDirectoryIsFollowed) {
  TempDir dir;
  const std::string path = dir.sub("bucket");
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(path, "raw", "raw", o);
  s.set(key_of(s, "old"), "1");
  ASSERT_EQ(std::system(("rm -rf '" + path + "'").c_str()), 0);
  EXPECT_EQ(get_string(s, "old"), "<miss>");
  {
    bc::Store other(path, "raw", "raw", o);  // recreates the directory
    other.set(key_of(other, "new"), "2");
  }
  EXPECT_EQ(get_string(s, "new"), "2");  // a miss in the removed directory looks again
  ASSERT_EQ(std::system(("rm -rf '" + path + "'").c_str()), 0);
  s.set(key_of(s, "written"), "3");  // a write recreates it
  bc::Store fresh(path, "raw", "raw", o);
  EXPECT_EQ(get_string(fresh, "written"), "3");
  EXPECT_EQ(get_string(s, "written"), "3");
}

// The store keeps its directory, not its path: a relative path means the directory it
// named at open time, whatever the process's working directory later.
TEST(Store, ARelativeBucketPathIsResolvedOnceAtOpen) {
  TempDir dir;
  ASSERT_EQ(::mkdir(dir.sub("elsewhere").c_str(), 0700), 0);
  char before[4096];
  ASSERT_NE(::getcwd(before, sizeof(before)), nullptr);
  ASSERT_EQ(::chdir(dir.path().c_str()), 0);
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s("rel-bucket", "raw", "raw", o);
  s.set(key_of(s, "k"), "v");
  ASSERT_EQ(::chdir(dir.sub("elsewhere").c_str()), 0);
  const std::string got = get_string(s, "k");
  s.set(key_of(s, "k2"), "v2");
  ASSERT_EQ(::chdir(before), 0);
  EXPECT_EQ(got, "v");
  bc::Store again(dir.sub("rel-bucket"), "raw", "raw", o);
  EXPECT_EQ(get_string(again, "k2"), "v2");
  EXPECT_FALSE(bctest::list_dir(dir.sub("elsewhere")).size() > 0);
}

// The bucket directory removed again and again while threads read and write: no crash, a
// reader never sees a value older than one it saw before (the removed directory's entries
// never come back), and after the removals stop a write is read back at once.
TEST(Store, RemovingTheBucketDirectoryUnderThreadsNeverResurrectsValues) {
  TempDir dir;
  const std::string path = dir.sub("bucket");
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(path, "raw", "raw", o);
  const bc::Digest k = key_of(s, "k");
  std::atomic<bool> stop{false};
  std::atomic<long> written{0};
  std::atomic<int> regressions{0};
  std::thread writer([&] {
    for (long i = 1; !stop.load(); ++i) {
      try {
        s.set(k, std::to_string(i));
        written.store(i);
      } catch (const bc::IoError&) {
        // a write racing the removal of its directory fails; the next one recreates it
      }
    }
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      long seen = 0;
      while (!stop.load()) {
        bc::Entry e;
        try {
          if (s.get(k, e) != bc::ReadStatus::found) continue;
        } catch (const bc::IoError&) {
          continue;
        }
        const long v = std::stol(*e.value);
        if (v < seen) regressions.fetch_add(1);
        seen = std::max(seen, v);
      }
    });
  }
  for (int round = 0; round < 30; ++round) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  stop.store(true);
  writer.join();
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(regressions.load(), 0);
  EXPECT_GT(written.load(), 0);
  s.set(k, "last");
  EXPECT_EQ(get_string(s, "k"), "last");
  bc::Store fresh(path, "raw", "raw", o);
  EXPECT_EQ(get_string(fresh, "k"), "last");
}
