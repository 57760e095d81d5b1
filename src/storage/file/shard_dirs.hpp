// The directory layout of a file store (format v2): <root>/<2 hex>/<64 hex><suffix>, 256
// shard directories named by the digest's first byte, as git and ccache do.
//
// The root directory is opened once (following symlinks in the path the user gave) and
// kept open: every file operation is relative to that descriptor, through the shard's name
// resolved without following symlinks (openat2 RESOLVE_NO_SYMLINKS, or openat O_NOFOLLOW
// level by level), so a shard or entry replaced by a symlink is never followed and the
// library never reads, writes or removes a file outside the bucket through one. Relative
// names are built here ("<2 hex>", "<2 hex>/<64 hex><suffix>": no "..", no leading '/'), so
// they cannot leave the root.
//
// The bucket is the directory opened, not the path: a program that changes directory keeps
// its bucket, and a bucket directory moved elsewhere stays the open bucket's. A bucket
// directory that was removed (no links left) is reopened by path on the next miss or write
// (and created again by a write), so removing and recreating it under an open bucket works.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "bucketcache/digest.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

class ShardDirs {
 public:
  // Creates root and its missing parents with directory_mode and opens it; throws IoError.
  ShardDirs(std::string root, unsigned directory_mode);
  ~ShardDirs();
  ShardDirs(const ShardDirs&) = delete;
  ShardDirs& operator=(const ShardDirs&) = delete;

  const std::string& root() const { return root_; }
  // "<2 hex>": the shard of a key.
  static std::string shard_name(const Digest& key);
  // "<64 hex>.bce", "<64 hex>.lock".
  static std::string entry_name(const Digest& key);
  static std::string lock_name(const Digest& key);
  // "<2 hex>/<64 hex>.bce" relative to the root, NUL-terminated, without an allocation.
  struct RelativeEntryName {
    char text[72];
  };
  static RelativeEntryName relative_entry_name(const Digest& key);
  // Paths for messages (and the C++ API's entry_path()): root + relative name.
  std::string shard_path(const Digest& key) const;
  std::string entry_path(const Digest& key) const;

  // Opens key's entry file: openat2(root, "<2 hex>/<64 hex>.bce", RESOLVE_NO_SYMLINKS) with
  // `flags` (no O_CREAT). Same contract as open_no_symlinks(): final on success or ENOENT
  // (after reopening a removed root once), else the caller decides through open().
  int open_entry(const Digest& key, int flags) const;

  // Opens key's shard directory (creating it when `create`), for *at() calls; readable
  // (for fsync and listing) when `readable`, else an O_PATH descriptor. -1 with errno:
  // ENOENT absent (create false, or removed meanwhile), ELOOP/ENOTDIR a symlink or not a
  // directory, anything else an error.
  int open(const Digest& key, bool create, bool readable) const;
  // Opens the root directory for listing (a new descriptor).
  int open_root() const;
  // Opens (or with O_CREAT creates, mode `mode`) the file `name` directly in the root, never
  // through a symlink (O_NOFOLLOW is added). -1 with errno.
  int open_in_root(const char* name, int flags, unsigned mode) const;
  // The root descriptor (O_PATH) for *at() calls; valid while this object lives.
  int root_fd() const { return root_fd_.load(std::memory_order_acquire); }

 private:
  // If the root directory was removed (no links left), opens the path again (creating it
  // when `create`) and returns true when that gave another directory.
  bool reopen_if_removed(bool create) const;
  static int open_root_path(const std::string& root);

  std::string root_;
  unsigned directory_mode_;
  mutable std::atomic<int> root_fd_{-1};
  mutable std::mutex reopen_mutex_;
  mutable std::vector<int> retired_;  // replaced root descriptors, closed by the destructor
};

// A failure to open a shard that means "not ours" rather than an I/O error.
bool is_foreign_dir_error(int err);

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
