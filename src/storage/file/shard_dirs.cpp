#include "storage/file/shard_dirs.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "storage/entry_format.hpp"
#include "support/posix_io.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

ShardDirs::ShardDirs(std::string root, unsigned directory_mode)
    : root_(std::move(root)), directory_mode_(directory_mode) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  make_directories(root_, directory_mode_);
  const int fd = open_root_path(root_);
  if (fd < 0) throw_io("cannot open bucket directory", root_, errno);
  root_fd_.store(fd, std::memory_order_release);
}

ShardDirs::~ShardDirs() {
  ::close(root_fd_.load(std::memory_order_acquire));
  for (const int fd : retired_) ::close(fd);
}

int ShardDirs::open_root_path(const std::string& root) {
  return ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
}

bool ShardDirs::reopen_if_removed(bool create) const {
  struct stat st;
  const int old = root_fd();
  if (::fstat(old, &st) != 0 || st.st_nlink > 0) return false;
  const std::lock_guard<std::mutex> lock(reopen_mutex_);
  if (root_fd() != old) return true;  // another thread reopened it
  int fd = open_root_path(root_);
  if (fd < 0 && errno == ENOENT && create) {
    try {
      make_directories(root_, directory_mode_);
    } catch (const std::exception&) {
      return false;  // the caller reports its own ENOENT
    }
    fd = open_root_path(root_);
  }
  if (fd < 0) return false;
  struct stat now;
  if (::fstat(fd, &now) != 0 || (now.st_dev == st.st_dev && now.st_ino == st.st_ino)) {
    ::close(fd);
    return false;
  }
  // The old descriptor may be in use by another thread's *at() call: kept open (its number
  // must not be reused for another file meanwhile) until the destructor.
  retired_.push_back(old);
  root_fd_.store(fd, std::memory_order_release);
  return true;
}

namespace {

// Writes the lowercase hex of key's first `n` bytes at p; returns the end.
char* write_hex(char* p, const Digest& key, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    *p++ = kHex[key.bytes[i] >> 4];
    *p++ = kHex[key.bytes[i] & 0xf];
  }
  return p;
}

// Appends the lowercase hex of key's first `n` bytes (no temporary string).
void append_hex(std::string& out, const Digest& key, std::size_t n) {
  const std::size_t at = out.size();
  out.resize(at + 2 * n);
  write_hex(&out[at], key, n);
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

ShardDirs::RelativeEntryName ShardDirs::relative_entry_name(const Digest& key) {
  static_assert(sizeof(RelativeEntryName::text) >= 3 + 2 * sizeof(key.bytes) + 5,
                "<2 hex>/<64 hex>.bce and its NUL");
  RelativeEntryName name;
  char* p = write_hex(name.text, key, 1);
  *p++ = '/';
  p = write_hex(p, key, key.bytes.size());
  std::memcpy(p, format::kEntrySuffix, std::strlen(format::kEntrySuffix) + 1);
  return name;
}

int ShardDirs::open_entry(const Digest& key, int flags) const {
  const RelativeEntryName name = relative_entry_name(key);
  for (int attempt = 0;; ++attempt) {
    const int fd = open_no_symlinks(root_fd(), name.text, flags);
    if (fd >= 0 || errno != ENOENT || attempt > 0 || !reopen_if_removed(false)) return fd;
  }
}

int ShardDirs::open(const Digest& key, bool create, bool readable) const {
  const int flags = O_DIRECTORY | O_CLOEXEC | (readable ? O_RDONLY : O_PATH);
  const std::string name_text = shard_name(key);  // short: no allocation
  const char* name = name_text.c_str();
  for (int attempt = 0;; ++attempt) {
    const int root = root_fd();
    // One openat2() first; openat(O_NOFOLLOW) when it cannot decide, or to create.
    int fd = open_no_symlinks(root, name, flags);
    if (fd < 0 && errno != ENOENT) fd = open_dir_at(root, name);
    if (fd < 0 && errno == ENOENT && create) {
      if (::mkdirat(root, name, static_cast<mode_t>(directory_mode_)) == 0 || errno == EEXIST) {
        fd = open_dir_at(root, name);
      }
    }
    if (fd >= 0 || errno != ENOENT || attempt > 0 || !reopen_if_removed(create)) return fd;
  }
}

int ShardDirs::open_root() const {
  return ::openat(root_fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int ShardDirs::open_in_root(const char* name, int flags, unsigned mode) const {
  return ::openat(root_fd(), name, flags | O_NOFOLLOW | O_CLOEXEC, static_cast<mode_t>(mode));
}

bool is_foreign_dir_error(int err) { return err == ELOOP || err == ENOTDIR; }

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
