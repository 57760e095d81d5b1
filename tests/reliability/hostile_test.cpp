// Hostile input: keys never become paths; symlinks planted where a temp file, an entry, a
// lock file or a shard directory goes are never followed; directories are created 0700
// (docs/reliability.md, "Hostile keys and planted symlinks").
#include <errno.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "bucketcache/backends/json.hpp"
#include "bucketcache/bucket.hpp"
#include "bucketcache/error.hpp"
#include "bucketcache/store.hpp"
#include "cache/store_access.hpp"
#include "rel_util.hpp"
#include "storage/file/file_storage.hpp"

namespace bc = bucketcache;

namespace {

std::vector<std::string> hostile_keys() {
  std::vector<std::string> keys = {
      "..",
      ".",
      "/",
      "../../../../../../../../tmp/bucketcache-escaped",
      "/etc/passwd",
      "a/../../b",
      "..\\..\\windows",
      std::string("\0", 1),
      std::string("a\0/../b", 7),
      std::string("../\0../x", 8),
      "key\nwith\nnewlines",
      "\xff\xfe invalid utf-8",
      "",
  };
  std::string big;
  big.reserve(1 << 20);
  while (big.size() < (1u << 20)) big += "../x/";  // 1 MiB of path-like text
  keys.push_back(big);
  return keys;
}

bool is_hex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Every item under `parent` is the bucket directory or inside it, and every file in the
// bucket is a shard directory, an entry named by one of `digests`, or .prune.lock.
void expect_only_digest_named_files(const std::string& parent, const std::string& bucket_name,
                                    const std::set<std::string>& digests) {
  for (const reltest::TreeItem& t : reltest::walk_tree(parent)) {
    SCOPED_TRACE(t.path);
    ASSERT_TRUE(t.path == bucket_name || t.path.rfind(bucket_name + "/", 0) == 0)
        << "a file outside the bucket directory";
    EXPECT_FALSE(t.is_symlink);
    if (t.path == bucket_name) continue;
    const std::string rel = t.path.substr(bucket_name.size() + 1);
    std::vector<std::string> parts;
    for (std::size_t start = 0;;) {
      const std::size_t slash = rel.find('/', start);
      parts.push_back(rel.substr(start, slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (parts.size() == 1 && parts[0] == ".prune.lock") continue;
    ASSERT_LE(parts.size(), 2u);
    ASSERT_TRUE(parts[0].size() == 2 && is_hex(parts[0]));
    if (parts.size() == 1) continue;
    const std::string& name = parts[1];
    ASSERT_EQ(name.size(), 64u + 4u);
    ASSERT_EQ(name.substr(64), ".bce");
    EXPECT_EQ(digests.count(name.substr(0, 64)), 1u) << "not the digest of a key we set";
    EXPECT_EQ(name.substr(0, 2), parts[0]);
  }
}

bool is_symlink(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

}  // namespace

TEST(Hostile, KeysNeverBecomePaths) {
  reltest::ScratchDir dir;
  const std::string bucket = dir.sub("bucket");
  bc::Store s(bucket, "raw", "raw");
  std::set<std::string> digests;
  std::uint32_t k = 0;
  for (const std::string& key : hostile_keys()) {
    SCOPED_TRACE("key #" + std::to_string(k));
    const bc::Digest d = s.digest(key);
    digests.insert(d.hex());
    const std::string value = reltest::make_value(k, 1, 100 + k);
    s.set(d, value);
    bc::Entry e;
    ASSERT_EQ(s.get(d, e), bc::ReadStatus::found);
    EXPECT_EQ(*e.value, value);
    EXPECT_TRUE(s.contains(d));
    s.unload_key(d);
    const bc::Entry c = s.get_or_compute(d, [] { return std::string("unused"); });
    EXPECT_EQ(*c.value, value);
    ++k;
  }
  // A memoized call on a new hostile key, and an erase of one.
  const bc::Digest extra = s.digest(std::string("../memo/\0x", 10));
  digests.insert(extra.hex());
  s.get_or_compute(extra, [] { return std::string("m"); });
  const bc::Digest gone = s.digest("../erased");
  s.set(gone, "x");
  EXPECT_TRUE(s.erase(gone));
  s.prune_directory();
  expect_only_digest_named_files(dir.path(), "bucket", digests);
  EXPECT_FALSE(reltest::file_exists("/tmp/bucketcache-escaped"));
}

// The typed front with the canonical JSON key form (DefaultKeyMaker).
TEST(Hostile, TypedBucketKeysNeverBecomePaths) {
  reltest::ScratchDir dir;
  bc::Bucket<bc::JsonBackend> b(dir.sub("bucket"));
  std::set<std::string> digests;
  for (const std::string& key : hostile_keys()) {
    if (key.find('\xff') != std::string::npos) {
      // Not UTF-8: the JSON key form rejects it before anything touches the disk.
      EXPECT_THROW(b.set(key, 1), bc::InvalidArgument);
      continue;
    }
    b.set(key, static_cast<int>(key.size()));
    EXPECT_EQ(b.get<int>(key), static_cast<int>(key.size()));
  }
  for (const reltest::TreeItem& t : reltest::walk_tree(dir.path())) {
    if (t.path.size() > 4 && t.path.compare(t.path.size() - 4, 4, ".bce") == 0) {
      digests.insert(t.path.substr(t.path.size() - 68, 64));
    }
  }
  EXPECT_EQ(digests.size(), hostile_keys().size() - 1);
  expect_only_digest_named_files(dir.path(), "bucket", digests);
}

// The store is built over a FileStorage whose temp names the test chooses (an injected
// TempNamer, no global hook), so a symlink can sit exactly where the next one goes.
namespace {
int planted_calls = 0;
int planted_count = 0;  // how many calls return the planted name
std::string planted_then_unique() {
  ++planted_calls;
  if (planted_calls <= planted_count) return ".tmp-planted";
  return ".tmp-test-" + std::to_string(::getpid()) + "-" + std::to_string(planted_calls);
}

struct TempNameSeam {
  explicit TempNameSeam(int planted) {
    planted_calls = 0;
    planted_count = planted;
  }
  ~TempNameSeam() { planted_count = 0; }
};

bc::Store store_with_chosen_temp_names(const std::string& path, const bc::Options& o) {
  bc::storage::FileStorageOptions fo;
  fo.temp_namer = &planted_then_unique;
  return bc::StoreAccess::make(std::make_unique<bc::storage::FileStorage>(path, fo), "raw", "raw",
                               o);
}
}  // namespace

TEST(Hostile, SymlinkAtTheTempFilePathIsNotFollowed) {
  reltest::ScratchDir dir;
  const std::string bucket = dir.sub("bucket");
  const std::string victim = dir.sub("victim");
  const std::string missing = dir.sub("would-be-created");
  {
    FILE* f = std::fopen(victim.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("VICTIM", f);
    std::fclose(f);
  }
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s = store_with_chosen_temp_names(bucket, o);
  const bc::Digest d = s.digest("k");
  s.set(d, "first");
  const std::string shard = s.entry_path(d).substr(0, s.entry_path(d).rfind('/'));
  const std::string planted = shard + "/.tmp-planted";

  for (const std::string& target : {victim, missing}) {
    SCOPED_TRACE(target);
    ASSERT_EQ(::symlink(target.c_str(), planted.c_str()), 0);
    {
      // The first name taken is the symlink's: O_EXCL|O_NOFOLLOW refuses it; the write
      // goes to the next name.
      TempNameSeam seam(1);
      s.set(d, "second");
      EXPECT_EQ(planted_calls, 2);
    }
    bc::Entry e;
    ASSERT_EQ(s.get(d, e), bc::ReadStatus::found);
    EXPECT_EQ(*e.value, "second");
    {
      // Every name taken: the set fails and the previous value stays.
      TempNameSeam seam(1000);
      try {
        s.set(d, "third");
        ADD_FAILURE() << "set through a planted temp symlink succeeded";
      } catch (const bc::IoError& err) {
        EXPECT_EQ(err.errno_value(), EEXIST) << err.what();
        EXPECT_NE(std::string(err.what()).find(".tmp-planted"), std::string::npos) << err.what();
      }
    }
    ASSERT_EQ(s.get(d, e), bc::ReadStatus::found);
    EXPECT_EQ(*e.value, "second");
    EXPECT_EQ(reltest::slurp(victim), "VICTIM");
    EXPECT_FALSE(reltest::file_exists(missing));
    EXPECT_TRUE(is_symlink(planted));
    // prune does not follow (or remove) it either, however old it looks.
    ASSERT_TRUE(reltest::age_file(planted));
    s.prune_directory();
    EXPECT_TRUE(is_symlink(planted));
    EXPECT_EQ(reltest::slurp(victim), "VICTIM");
    ASSERT_EQ(::unlink(planted.c_str()), 0);
    s.set(d, "first");
  }
}

TEST(Hostile, SymlinkAtTheLockFilePathIsNotFollowed) {
  reltest::ScratchDir dir;
  const std::string victim = dir.sub("victim");
  {
    FILE* f = std::fopen(victim.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("VICTIM", f);
    std::fclose(f);
  }
  bc::Store s(dir.sub("bucket"), "raw", "raw");
  const bc::Digest d = s.digest("k");
  s.set(d, "x");
  s.erase(d);
  std::string lock = s.entry_path(d);
  lock.replace(lock.size() - 4, 4, ".lock");
  ASSERT_EQ(::symlink(victim.c_str(), lock.c_str()), 0);
  // No lock can be taken there: the value is computed at once without single flight.
  EXPECT_EQ(*s.get_or_compute(d, [] { return std::string("v"); }).value, "v");
  EXPECT_EQ(reltest::slurp(victim), "VICTIM");
  EXPECT_TRUE(is_symlink(lock));
  s.prune_directory();
  EXPECT_TRUE(is_symlink(lock));
  EXPECT_EQ(reltest::slurp(victim), "VICTIM");
}

// A shard directory replaced by a symlink to a directory outside the bucket is treated as
// foreign: reads miss, writes, locks and erases fail or do nothing, prune skips it.
// Nothing outside the bucket is read as an entry, written, or removed.
TEST(Hostile, SymlinkedShardDirectoryIsNeverFollowed) {
  {
    reltest::ScratchDir dir;
    const std::string bucket = dir.sub("bucket");
    const std::string outside = dir.sub("outside");
    bc::Options o;
    o.memory_limit_bytes = 0;
    bc::Store s(bucket, "raw", "raw", o);
    const bc::Digest live = s.digest("live");
    std::string hex = live.hex();
    // An expired entry of a key in the same shard, to tempt read() and prune into deleting.
    bc::Digest expired;
    for (int i = 0;; ++i) {
      expired = s.digest("expired-" + std::to_string(i));
      if (expired.hex().compare(0, 2, hex, 0, 2) == 0) break;
    }
    s.set(live, "live value");
    s.set_entry(expired, "old", 1, 2);  // expired long ago
    // Move the real shard directory outside and put a symlink in its place.
    const std::string link = bucket + "/" + hex.substr(0, 2);
    ASSERT_EQ(::rename(link.c_str(), outside.c_str()), 0);
    ASSERT_EQ(::symlink(outside.c_str(), link.c_str()), 0);
    const std::vector<reltest::TreeItem> before = reltest::walk_tree(outside);
    ASSERT_FALSE(before.empty());

    bc::Entry e;
    EXPECT_EQ(s.get(live, e), bc::ReadStatus::foreign);
    EXPECT_EQ(s.get(expired, e), bc::ReadStatus::foreign);
    EXPECT_FALSE(s.contains(live));
    EXPECT_FALSE(s.erase(live));
    try {
      s.set(live, "new value");
      ADD_FAILURE() << "set through a symlinked shard directory succeeded";
    } catch (const bc::IoError& err) {
      EXPECT_TRUE(err.errno_value() == ELOOP || err.errno_value() == ENOTDIR) << err.what();
      EXPECT_NE(std::string(err.what()).find("symlink"), std::string::npos) << err.what();
    }
    EXPECT_THROW(s.get_or_compute(live, [] { return std::string("computed"); }), bc::IoError);
    s.prune_directory();

    // The outside directory is exactly as it was: same files, same contents.
    const std::vector<reltest::TreeItem> after = reltest::walk_tree(outside);
    ASSERT_EQ(after.size(), before.size());
    for (std::size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i].path, before[i].path);
    EXPECT_TRUE(is_symlink(link));
    // Other shards keep working.
    bc::Digest other;
    for (int i = 0;; ++i) {
      other = s.digest("other-" + std::to_string(i));
      if (other.hex().compare(0, 2, hex, 0, 2) != 0) break;
    }
    s.set(other, "fine");
    ASSERT_EQ(s.get(other, e), bc::ReadStatus::found);
    EXPECT_EQ(*e.value, "fine");
    // Removing the symlink repairs the shard: the library recreates a real directory.
    ASSERT_EQ(::unlink(link.c_str()), 0);
    s.set(live, "new value");
    ASSERT_EQ(s.get(live, e), bc::ReadStatus::found);
    EXPECT_EQ(*e.value, "new value");
  }
}

// A shard path taken by a regular file: writes fail with ENOTDIR, reads miss.
TEST(Hostile, FileInPlaceOfAShardDirectory) {
  reltest::ScratchDir dir;
  const std::string bucket = dir.sub("bucket");
  bc::Store s(bucket, "raw", "raw");
  const bc::Digest d = s.digest("k");
  const std::string l1 = bucket + "/" + d.hex().substr(0, 2);
  FILE* f = std::fopen(l1.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  try {
    s.set(d, "v");
    ADD_FAILURE() << "set succeeded";
  } catch (const bc::IoError& err) {
    EXPECT_EQ(err.errno_value(), ENOTDIR) << err.what();
  }
  bc::Entry e;
  EXPECT_NE(s.get(d, e), bc::ReadStatus::found);
  EXPECT_FALSE(s.erase(d));
}

// New directories (bucket, missing parents, shards) are 0700 and files 0600 by default,
// whatever the umask; other modes are applied as given.
TEST(Hostile, DirectoriesAre0700AndFiles0600) {
  for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}}) {
    SCOPED_TRACE("umask " + std::to_string(mask));
    const mode_t old_mask = ::umask(mask);
    reltest::ScratchDir dir;
    {
      bc::Store s(dir.sub("a/b/bucket"), "raw", "raw");
      s.set(s.digest("k"), "v");
      s.get_or_compute(s.digest("m"), [] { return std::string("v"); });
      s.prune_directory();
    }
    ::umask(old_mask);
    int dirs = 0;
    int files = 0;
    for (const reltest::TreeItem& t : reltest::walk_tree(dir.path())) {
      SCOPED_TRACE(t.path);
      if (t.is_dir) {
        EXPECT_EQ(t.mode, 0700u);
        ++dirs;
      } else {
        EXPECT_EQ(t.mode, 0600u);
        ++files;
      }
    }
    EXPECT_GE(dirs, 3 + 2);   // a, b, bucket and at least one shard pair
    EXPECT_GE(files, 2 + 1);  // two entries and .prune.lock
  }
}
