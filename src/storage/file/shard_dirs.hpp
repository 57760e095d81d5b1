// The directory layout of a file store (format v2): <root>/<2 hex>/<64 hex><suffix>, 256
// shard directories named by the digest's first byte, as git and ccache do.
//
// Every file operation of the store is relative to a shard directory's descriptor opened
// without following symlinks: a shard replaced by a symlink is never followed, so the
// library never reads, writes or removes a file outside the bucket through one.
#pragma once

#include <string>

#include "bucketcache/digest.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

class ShardDirs {
 public:
  // Creates root and its missing parents with directory_mode; throws IoError.
  ShardDirs(std::string root, unsigned directory_mode);

  const std::string& root() const { return root_; }
  // "<2 hex>": the shard of a key.
  static std::string shard_name(const Digest& key);
  // "<64 hex>.bce", "<64 hex>.lock".
  static std::string entry_name(const Digest& key);
  static std::string lock_name(const Digest& key);
  std::string shard_path(const Digest& key) const;
  std::string entry_path(const Digest& key) const;

  // Opens key's shard directory (creating it when `create`), for *at() calls; readable
  // (for fsync and listing) when `readable`, else an O_PATH descriptor. -1 with errno:
  // ENOENT absent (create false, or removed meanwhile), ELOOP/ENOTDIR a symlink or not a
  // directory, anything else an error.
  int open(const Digest& key, bool create, bool readable) const;
  // Opens the root directory for listing.
  int open_root() const;

 private:
  std::string root_;
  unsigned directory_mode_;
};

// A failure to open a shard that means "not ours" rather than an I/O error.
bool is_foreign_dir_error(int err);

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
