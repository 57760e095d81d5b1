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

namespace {

// Appends the lowercase hex of key's first `n` bytes (no temporary string).
void append_hex(std::string& out, const Digest& key, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::size_t at = out.size();
  out.resize(at + 2 * n);
  char* p = &out[at];
  for (std::size_t i = 0; i < n; ++i) {
    p[2 * i] = kHex[key.bytes[i] >> 4];
    p[2 * i + 1] = kHex[key.bytes[i] & 0xf];
  }
}

constexpr std::size_t kSuffixLength = 4;  // ".bce", ".lock" fits the reserve too

}  // namespace

std::string ShardDirs::shard_name(const Digest& key) {
  std::string s;
  append_hex(s, key, 1);
  return s;
}

std::string ShardDirs::entry_name(const Digest& key) {
  std::string s;
  s.reserve(2 * key.bytes.size() + kSuffixLength + 1);
  append_hex(s, key, key.bytes.size());
  s.append(format::kEntrySuffix);
  return s;
}

std::string ShardDirs::lock_name(const Digest& key) {
  std::string s;
  s.reserve(2 * key.bytes.size() + kSuffixLength + 1);
  append_hex(s, key, key.bytes.size());
  s.append(".lock");
  return s;
}

std::string ShardDirs::shard_path(const Digest& key) const {
  std::string p;
  p.reserve(root_.size() + 3);
  p.append(root_).append("/");
  append_hex(p, key, 1);
  return p;
}

std::string ShardDirs::entry_path(const Digest& key) const {
  std::string p;
  p.reserve(root_.size() + 4 + 2 * key.bytes.size() + kSuffixLength);
  p.append(root_).append("/");
  append_hex(p, key, 1);
  p.append("/");
  append_hex(p, key, key.bytes.size());
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
