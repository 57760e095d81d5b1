#include "storage/file/shard_dirs.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/entry_format.hpp"
#include "support/posix_io.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

ShardDirs::ShardDirs(std::string root, unsigned directory_mode)
    : root_(std::move(root)), directory_mode_(directory_mode) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  make_directories(root_, directory_mode_);
}

std::string ShardDirs::shard_name(const Digest& key) { return key.hex().substr(0, 2); }

std::string ShardDirs::entry_name(const Digest& key) { return key.hex() + format::kEntrySuffix; }

std::string ShardDirs::lock_name(const Digest& key) { return key.hex() + ".lock"; }

std::string ShardDirs::shard_path(const Digest& key) const { return root_ + "/" + shard_name(key); }

std::string ShardDirs::entry_path(const Digest& key) const {
  const std::string hex = key.hex();
  std::string p;
  p.reserve(root_.size() + 4 + hex.size() + 4);
  p.append(root_).append("/").append(hex, 0, 2).append("/").append(hex);
  p.append(format::kEntrySuffix);
  return p;
}

int ShardDirs::open(const Digest& key, bool create, bool readable) const {
  const int flags = O_DIRECTORY | O_CLOEXEC | (readable ? O_RDONLY : O_PATH);
  // One openat2() first; the walk when it cannot decide, or to create the shard.
  const int fast = open_no_symlinks(shard_path(key).c_str(), flags);
  if (fast >= 0 || (errno == ENOENT && !create)) return fast;
  Fd root(open_root());  // the root itself may be a symlink
  if (root.get() < 0) return -1;
  const std::string name = shard_name(key);
  int fd = open_dir_at(root.get(), name.c_str());
  if (fd < 0 && errno == ENOENT && create) {
    if (::mkdirat(root.get(), name.c_str(), static_cast<mode_t>(directory_mode_)) == 0 ||
        errno == EEXIST) {
      fd = open_dir_at(root.get(), name.c_str());
    }
  }
  return fd;
}

int ShardDirs::open_root() const {
  return ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

bool is_foreign_dir_error(int err) { return err == ELOOP || err == ENOTDIR; }

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
