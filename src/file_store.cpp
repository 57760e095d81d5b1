#include "file_store.hpp"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/filesystem.hpp>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "bucketcache/error.hpp"
#include "bucketcache/logging.hpp"
#include "log_internal.hpp"

namespace bucketcache {
inline namespace v1 {

namespace fs = boost::filesystem;

std::string (*temp_name_for_testing)() = nullptr;

namespace {

// A temp file untouched this long, whose writer no longer holds its lock, is stale.
constexpr std::int64_t kStaleTempAgeSeconds = 60;
constexpr const char* kPruneLockName = ".prune.lock";

[[noreturn]] void throw_io(const std::string& what, const std::string& path, int err) {
  throw IoError(what + " " + path + ": " + std::strerror(err), err);
}

// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

FileIdentity identity_of(const struct stat& st) {
  FileIdentity id;
  id.dev = static_cast<std::uint64_t>(st.st_dev);
  id.ino = static_cast<std::uint64_t>(st.st_ino);
  id.size = static_cast<std::uint64_t>(st.st_size);
  id.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return id;
}

// Unique temp name: pid and a per-thread random stream, so forked children differ too.
std::string temp_name() {
  if (temp_name_for_testing != nullptr) return temp_name_for_testing();
  thread_local std::mt19937_64 rng{std::random_device{}() ^
                                   std::hash<std::thread::id>{}(std::this_thread::get_id())};
  static constexpr char kHex[] = "0123456789abcdef";
  std::uint64_t r = rng();
  std::string name = format::kTempPrefix + std::to_string(::getpid()) + "-";
  for (int i = 0; i < 16; ++i) {
    name += kHex[r & 0xf];
    r >>= 4;
  }
  return name;
}

// Skips `done` bytes of the buffers: drops the ones used up, trims the first partial one.
void advance(struct iovec*& iov, int& count, std::size_t done) {
  while (count > 0 && done >= iov->iov_len) {
    done -= iov->iov_len;
    ++iov;
    --count;
  }
  if (count > 0) {
    iov->iov_base = static_cast<char*>(iov->iov_base) + done;
    iov->iov_len -= done;
  }
}

// Writes all of the buffers, resuming after partial writes and EINTR.
bool write_all(int fd, struct iovec* iov, int count) {
  while (count > 0) {
    ssize_t n = ::writev(fd, iov, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    advance(iov, count, static_cast<std::size_t>(n));
  }
  return true;
}

// Reads exactly the buffers' total; false on error (errno set) or early end of file.
bool read_all(int fd, struct iovec* iov, int count, bool& short_read) {
  short_read = false;
  while (count > 0) {
    ssize_t n = ::readv(fd, iov, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      short_read = true;
      return false;
    }
    advance(iov, count, static_cast<std::size_t>(n));
  }
  return true;
}

bool is_hex_name(const std::string& s, std::size_t len) {
  if (s.size() != len) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// mkdir -p with an explicit mode for every directory it creates.
void make_directories(const std::string& path, unsigned mode) {
  fs::path p = fs::path(path).lexically_normal();
  fs::path cur;
  for (const fs::path& part : p) {
    cur /= part;
    if (part == "/" || part == "." || part.empty()) continue;
    if (::mkdir(cur.c_str(), static_cast<mode_t>(mode)) == 0) continue;
    const int err = errno;
    if (err != EEXIST) throw_io("cannot create directory", cur.string(), err);
  }
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) throw_io("cannot access bucket directory", path, errno);
  if (!S_ISDIR(st.st_mode)) throw_io("bucket path is not a directory:", path, ENOTDIR);
}

// A subdirectory of dirfd, never through a symlink (ELOOP or ENOTDIR for one).
int open_dir_at(int dirfd, const char* name) {
  return ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

// Names in the directory open as dirfd (without "." and ".."); empty if it cannot be read.
std::vector<std::string> list_dir(int dirfd) {
  std::vector<std::string> names;
  const int fd = ::dup(dirfd);
  if (fd < 0) return names;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return names;
  }
  ::rewinddir(d);
  while (const struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

// Removes the file at `name` in dir if it is still the file `judged` (by inode), safely
// against a fresh file renamed over it after it was judged: the file at the name is renamed
// aside first, and the aside file's identity decides. The judged file is unlinked; anything
// else (a fresh entry) is linked back unless a still newer one took the name meanwhile
// (link() never replaces). Returns whether the judged file was removed.
bool unlink_if_same(int dir, const char* name, const struct stat& judged,
                    const std::string& aside) {
  if (::renameat(dir, name, dir, aside.c_str()) != 0) return false;  // gone already
  struct stat st;
  if (::fstatat(dir, aside.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == judged.st_ino &&
      st.st_dev == judged.st_dev) {
    return ::unlinkat(dir, aside.c_str(), 0) == 0;
  }
  if (::linkat(dir, aside.c_str(), dir, name, 0) != 0 && errno != EEXIST) {
    // No hard links on this file system: put it back by rename (which replaces only a
    // newer entry landing within these few system calls).
    if (::renameat(dir, aside.c_str(), dir, name) == 0) return false;
  }
  ::unlinkat(dir, aside.c_str(), 0);
  return false;
}

bool is_foreign_dir_error(int err) { return err == ELOOP || err == ENOTDIR; }

// Performance (issue 7): opens path with one openat2() call that refuses a symlink in every
// component (RESOLVE_NO_SYMLINKS, like O_NOFOLLOW at each level), instead of walking the
// shard levels with open/openat/close (five more system calls per operation, which had
// tripled the time of a disk get). The answer is final only on success or ENOENT (nothing
// at that path). Any other failure - ELOOP, which may come from a symlink in the bucket's
// own path where one is allowed, ENOTDIR, EACCES, ENOSYS before Linux 5.6 - tells the
// caller to take the level-by-level walk, which decides as it always did.
int open_no_symlinks(const char* path, int flags) {
#if defined(SYS_openat2) && defined(RESOLVE_NO_SYMLINKS)
  static std::atomic<bool> unavailable{false};
  if (!unavailable.load(std::memory_order_relaxed)) {
    struct open_how how;
    std::memset(&how, 0, sizeof(how));
    how.flags = static_cast<std::uint64_t>(flags);
    how.resolve = RESOLVE_NO_SYMLINKS;
    const long fd = ::syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
    if (fd >= 0) return static_cast<int>(fd);
    if (errno == ENOSYS) unavailable.store(true, std::memory_order_relaxed);
    return -1;
  }
#else
  (void)path;
  (void)flags;
#endif
  errno = ENOSYS;
  return -1;
}

}  // namespace

std::int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

FileStore::FileStore(std::string root, std::string backend_id, std::string keymaker_id,
                     const Options& options)
    : root_(std::move(root)),
      backend_id_(std::move(backend_id)),
      keymaker_id_(std::move(keymaker_id)),
      options_(options) {
  if (root_.empty()) throw InvalidArgument("bucket path is empty");
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  make_directories(root_, options_.directory_mode);
}

std::string FileStore::entry_path(const Digest& key) const {
  const std::string hex = key.hex();
  std::string p;
  p.reserve(root_.size() + 8 + hex.size() + 4);
  p.append(root_).append("/").append(hex, 0, 2).append("/").append(hex, 2, 2).append("/");
  p.append(hex).append(format::kEntrySuffix);
  return p;
}

std::string FileStore::shard_path(const Digest& key) const {
  const std::string hex = key.hex();
  return root_ + "/" + hex.substr(0, 2) + "/" + hex.substr(2, 2);
}

int FileStore::open_shard(const Digest& key, bool create) const {
  // Performance (issue 7): one openat2() first (open_no_symlinks); the walk when it cannot
  // decide, or to create missing levels. The descriptor only anchors *at() calls, so it is
  // an O_PATH one (cheaper to open) unless the directory is to be fsync'ed.
  const int fast = open_no_symlinks(shard_path(key).c_str(),
                                    O_DIRECTORY | O_CLOEXEC | (options_.fsync ? O_RDONLY : O_PATH));
  if (fast >= 0 || (errno == ENOENT && !create)) return fast;
  const std::string hex = key.hex();
  const std::string levels[2] = {hex.substr(0, 2), hex.substr(2, 2)};
  int dir = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);  // the root may be a link
  for (const std::string& name : levels) {
    if (dir < 0) return -1;
    int next = open_dir_at(dir, name.c_str());
    if (next < 0 && errno == ENOENT && create) {
      if (::mkdirat(dir, name.c_str(), static_cast<mode_t>(options_.directory_mode)) == 0 ||
          errno == EEXIST) {
        next = open_dir_at(dir, name.c_str());
      }
    }
    const int err = errno;
    ::close(dir);
    errno = err;
    dir = next;
  }
  return dir;
}

void FileStore::write(const Digest& key, std::string_view value, std::int64_t created_us,
                      std::int64_t expires_us, FileIdentity* identity) {
  const std::string final_path = entry_path(key);
  const std::string dir = final_path.substr(0, final_path.rfind('/'));

  format::EntryHeader h;
  h.backend_id = backend_id_;
  h.keymaker_id = keymaker_id_;
  h.created_us = created_us;
  h.expires_us = expires_us;
  h.value_length = value.size();
  h.value_crc = format::crc32(value);
  h.key = key;
  unsigned char header[format::kHeaderSize];
  format::encode_header(h, header);

  // Every file operation is relative to the shard directory's descriptor, opened without
  // following symlinks, so a shard directory replaced by a symlink to somewhere else fails
  // the write instead of writing outside the bucket. A shard directory removed by prune
  // between opening it and creating the temp file in it (ENOENT) is opened again.
  const std::string final_name = final_path.substr(dir.size() + 1);
  Fd shard(-1);
  std::string temp_file;
  std::string temp_path;
  int raw_fd = -1;
  for (int attempt = 0; attempt < 64 && raw_fd < 0; ++attempt) {
    if (shard.get() < 0) {
      shard.reset(open_shard(key, true));
      if (shard.get() < 0) {
        if (errno == ENOENT) continue;  // a level removed by a prune as we created the next
        if (is_foreign_dir_error(errno)) {
          throw_io("shard directory is a symlink or not a directory; not writing through it:", dir,
                   errno);
        }
        throw_io("cannot open shard directory", dir, errno);
      }
    }
    temp_file = temp_name();
    temp_path = dir + "/" + temp_file;
    raw_fd = ::openat(shard.get(), temp_file.c_str(),
                      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      static_cast<mode_t>(options_.file_mode));
    if (raw_fd >= 0) break;
    if (errno == ENOENT) {
      shard.reset(-1);  // removed as empty by a prune: create it again
    } else if (errno != EEXIST) {
      throw_io("cannot create temp file", temp_path, errno);
    }
  }
  if (raw_fd < 0) throw_io("cannot create temp file", temp_path, errno);
  Fd fd(raw_fd);

  // Held while the temp file is being written, so prune can tell it from a dead writer's.
  ::flock(fd.get(), LOCK_EX);

  auto fail = [&](const char* what, const std::string& path) {
    const int err = errno;
    ::unlinkat(shard.get(), temp_file.c_str(), 0);
    throw_io(what, path, err);
  };

  struct iovec iov[2];
  iov[0].iov_base = header;
  iov[0].iov_len = sizeof(header);
  iov[1].iov_base = const_cast<char*>(value.data());
  iov[1].iov_len = value.size();
  if (!write_all(fd.get(), iov, value.empty() ? 1 : 2)) fail("cannot write entry", final_path);
  if (options_.fsync && ::fdatasync(fd.get()) != 0) fail("cannot fsync entry", final_path);
  if (identity != nullptr) {
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) fail("cannot stat temp file", temp_path);
    *identity = identity_of(st);
  }
  if (::renameat(shard.get(), temp_file.c_str(), shard.get(), final_name.c_str()) != 0) {
    fail("cannot rename over", final_path);
  }
  if (options_.fsync && ::fsync(shard.get()) != 0) throw_io("cannot fsync directory", dir, errno);
  BC_LOG(LogLevel::debug, "wrote entry {} ({} bytes)", key_label(key), value.size());
}

ReadStatus FileStore::check_header(const format::EntryHeader& h, const Digest& key,
                                   std::uint64_t file_size) const {
  if (h.backend_id != backend_id_ || h.keymaker_id != keymaker_id_) return ReadStatus::foreign;
  if (h.key != key) return ReadStatus::foreign;  // a file copied or renamed to this name
  if (h.value_length > file_size || file_size - h.value_length != format::kHeaderSize) {
    return ReadStatus::corrupt;
  }
  if (past_expiry(h.expires_us, now_us())) return ReadStatus::expired;
  if (outlives_bucket(h.created_us, h.expires_us, options_.lifetime.count())) {
    return ReadStatus::longer_lifetime;
  }
  return ReadStatus::found;
}

int FileStore::open_entry(const Digest& key, const std::string& path, ReadStatus& status) const {
  constexpr int kFlags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  // One openat2() when it can decide (open_no_symlinks), else the shard walk.
  int fd = open_no_symlinks(path.c_str(), kFlags);
  if (fd >= 0) return fd;
  status = ReadStatus::absent;
  if (errno == ENOENT) return -1;
  Fd shard(open_shard(key, false));
  if (shard.get() < 0) {
    if (errno == ENOENT) return -1;
    if (is_foreign_dir_error(errno)) {
      status = ReadStatus::foreign;  // a symlinked shard is never ours
      return -1;
    }
    throw_io("cannot open shard directory", shard_path(key), errno);
  }
  fd = ::openat(shard.get(), path.c_str() + path.rfind('/') + 1, kFlags);
  if (fd >= 0) return fd;
  if (errno == ENOENT || errno == ENOTDIR) return -1;
  if (errno == ELOOP) {
    status = ReadStatus::foreign;  // a symlink is never ours
    return -1;
  }
  throw_io("cannot open entry", path, errno);
}

void FileStore::remove_judged(const Digest& key, const std::string& path,
                              const struct stat& judged) const {
  Fd shard(open_shard(key, false));
  if (shard.get() < 0) return;
  unlink_if_same(shard.get(), path.c_str() + path.rfind('/') + 1, judged, temp_name());
}

namespace {

// Reads the 128-byte header from the file's start, leaving the offset after it.
bool read_header(int fd, unsigned char* header, bool& short_read) {
  struct iovec iov[1];
  iov[0].iov_base = header;
  iov[0].iov_len = format::kHeaderSize;
  return read_all(fd, iov, 1, short_read);
}

ReadStatus decode_status(const unsigned char* header, format::EntryHeader& h) {
  switch (format::decode_header(header, h)) {
    case format::HeaderStatus::ok:
      return ReadStatus::found;
    case format::HeaderStatus::bad_version:
      return ReadStatus::foreign;
    default:
      return ReadStatus::corrupt;
  }
}

// Entries up to this size are read with one readv() of header and value; larger files
// have their header read and checked first, so a huge or sparse junk file allocates
// nothing.
constexpr std::uint64_t kSingleReadLimit = 64 * 1024;

}  // namespace

ReadStatus FileStore::read(const Digest& key, CachedValue& out) {
  const std::string path = entry_path(key);
  ReadStatus status = ReadStatus::absent;
  Fd fd(open_entry(key, path, status));
  if (fd.get() < 0) return status;
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw_io("cannot stat entry", path, errno);
  if (!S_ISREG(st.st_mode)) return ReadStatus::foreign;  // a FIFO, device...: never read
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size < format::kHeaderSize) return ReadStatus::corrupt;

  unsigned char header[format::kHeaderSize];
  format::EntryHeader h;
  auto value = std::make_shared<std::string>();
  bool short_read = false;
  if (file_size <= kSingleReadLimit) {
    value->resize(file_size - format::kHeaderSize);
    struct iovec iov[2];
    iov[0].iov_base = header;
    iov[0].iov_len = sizeof(header);
    iov[1].iov_base = value->data();
    iov[1].iov_len = value->size();
    if (!read_all(fd.get(), iov, value->empty() ? 1 : 2, short_read)) {
      if (short_read) return ReadStatus::corrupt;  // truncated while we read
      throw_io("cannot read entry", path, errno);
    }
    if ((status = decode_status(header, h)) != ReadStatus::found) return status;
    status = check_header(h, key, file_size);
  } else {
    if (!read_header(fd.get(), header, short_read)) {
      if (short_read) return ReadStatus::corrupt;
      throw_io("cannot read entry", path, errno);
    }
    if ((status = decode_status(header, h)) != ReadStatus::found) return status;
    status = check_header(h, key, file_size);
    if (status == ReadStatus::found) {
      value->resize(h.value_length);  // == file_size - header, checked above
      struct iovec iov[1];
      iov[0].iov_base = value->data();
      iov[0].iov_len = value->size();
      if (!read_all(fd.get(), iov, 1, short_read)) {
        if (short_read) return ReadStatus::corrupt;
        throw_io("cannot read entry", path, errno);
      }
    }
  }
  if (status == ReadStatus::expired) remove_judged(key, path, st);
  if (status != ReadStatus::found) return status;
  if (format::crc32(*value) != h.value_crc) return ReadStatus::corrupt;

  out.value = std::move(value);
  out.created_us = h.created_us;
  out.expires_us = h.expires_us;
  out.file = identity_of(st);
  return ReadStatus::found;
}

ReadStatus FileStore::peek(const Digest& key) {
  const std::string path = entry_path(key);
  ReadStatus status = ReadStatus::absent;
  Fd fd(open_entry(key, path, status));
  if (fd.get() < 0) return status;
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw_io("cannot stat entry", path, errno);
  if (!S_ISREG(st.st_mode)) return ReadStatus::foreign;
  unsigned char header[format::kHeaderSize];
  bool short_read = false;
  if (!read_header(fd.get(), header, short_read)) {
    if (short_read) return ReadStatus::corrupt;
    throw_io("cannot read entry", path, errno);
  }
  format::EntryHeader h;
  if ((status = decode_status(header, h)) != ReadStatus::found) return status;
  status = check_header(h, key, static_cast<std::uint64_t>(st.st_size));
  if (status == ReadStatus::expired) remove_judged(key, path, st);
  return status;
}

bool FileStore::remove(const Digest& key) {
  const std::string path = entry_path(key);
  // Fix (reliability, issue 6): never unlinks through a symlinked shard (see open_shard).
  Fd shard(open_shard(key, false));
  if (shard.get() < 0) {
    if (errno == ENOENT || is_foreign_dir_error(errno)) return false;
    throw_io("cannot open shard directory", shard_path(key), errno);
  }
  if (::unlinkat(shard.get(), path.c_str() + path.rfind('/') + 1, 0) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  throw_io("cannot remove entry", path, errno);
}

bool FileStore::identity(const Digest& key, FileIdentity& out) const {
  const std::string path = entry_path(key);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    throw_io("cannot stat entry", path, errno);
  }
  out = identity_of(st);
  return true;
}

KeyLock& KeyLock::operator=(KeyLock&& o) noexcept {
  if (this != &o) {
    release();
    fd_ = o.fd_;
    dir_fd_ = o.dir_fd_;
    name_ = std::move(o.name_);
    o.fd_ = -1;
    o.dir_fd_ = -1;
  }
  return *this;
}

void KeyLock::release() {
  if (fd_ >= 0) {
    ::unlinkat(dir_fd_, name_.c_str(), 0);  // while still locked: waiters see a new inode
    ::close(fd_);                           // drops the flock
    fd_ = -1;
  }
  if (dir_fd_ >= 0) ::close(dir_fd_);
  dir_fd_ = -1;
}

KeyLock FileStore::lock_key(const Digest& key, std::chrono::steady_clock::time_point deadline,
                            const std::function<bool()>& done, LockOutcome* outcome) const {
  LockOutcome ignored;
  LockOutcome& result = outcome != nullptr ? *outcome : ignored;
  std::string path = entry_path(key);
  path.replace(path.size() - std::strlen(format::kEntrySuffix), std::string::npos, ".lock");
  const std::string name = path.substr(path.rfind('/') + 1);
  // The lock file is created, checked and (on release) removed relative to the shard
  // directory opened without following symlinks (see open_shard).
  Fd shard(-1);
  auto pause = std::chrono::microseconds(500);
  for (int reopen = 0;;) {
    if (shard.get() < 0) {
      shard.reset(open_shard(key, true));
      if (shard.get() < 0) {
        if (errno == ENOENT && ++reopen < 64) continue;  // a level removed by a prune
        if (is_foreign_dir_error(errno)) {
          throw_io("shard directory is a symlink or not a directory; not locking through it:",
                   shard_path(key), errno);
        }
        throw_io("cannot open shard directory", shard_path(key), errno);
      }
    }
    // O_NONBLOCK: a FIFO planted at the lock path must not block the open.
    Fd fd(::openat(shard.get(), name.c_str(),
                   O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                   static_cast<mode_t>(options_.file_mode)));
    if (fd.get() < 0) {
      if (errno == ENOENT && ++reopen < 64) {  // shard removed as empty by a prune
        shard.reset(-1);
        continue;
      }
      if (errno == ELOOP || errno == ENXIO || errno == EISDIR) {
        result = LockOutcome::unavailable;  // a symlink, socket or directory is there
        return KeyLock();
      }
      throw_io("cannot open lock file", path, errno);
    }
    struct stat held;
    if (::fstat(fd.get(), &held) != 0) throw_io("cannot stat lock file", path, errno);
    if (!S_ISREG(held.st_mode)) {
      result = LockOutcome::unavailable;
      return KeyLock();
    }
    // Poll this descriptor until it is ours, its file was replaced, or time is up.
    for (;;) {
      if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) break;
      if (errno != EWOULDBLOCK && errno != EINTR) throw_io("cannot lock", path, errno);
      if (std::chrono::steady_clock::now() >= deadline) {
        result = LockOutcome::timed_out;
        return KeyLock();
      }
      // The holder may have stored the value already: no need to queue for its lock.
      if (done && done()) {
        result = LockOutcome::done;
        return KeyLock();
      }
      std::this_thread::sleep_for(pause);
      pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
    }
    struct stat current;
    if (::fstatat(shard.get(), name.c_str(), &current, AT_SYMLINK_NOFOLLOW) == 0 &&
        held.st_ino == current.st_ino && held.st_dev == current.st_dev) {
      KeyLock lock;
      lock.fd_ = fd.release();
      lock.dir_fd_ = shard.release();
      lock.name_ = name;
      result = LockOutcome::held;
      return lock;
    }
    // The holder unlinked it as we locked; start again on the new file.
  }
}

namespace {

// Identity check of a file still at `name` in dir against an open descriptor's stat.
bool still_at(int dir, const char* name, const struct stat& st) {
  struct stat cur;
  return ::fstatat(dir, name, &cur, AT_SYMLINK_NOFOLLOW) == 0 && cur.st_ino == st.st_ino &&
         cur.st_dev == st.st_dev;
}

// Opens a file of a shard for prune: never follows a symlink, never blocks on a FIFO, and
// returns -1 for anything but a regular file (st filled on success).
int open_regular_at(int dir, const char* name, struct stat& st) {
  Fd fd(::openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  return fd.release();
}

}  // namespace

PrunedFilesInfo FileStore::prune() {
  PrunedFilesInfo info;
  auto count = [&info](const struct stat& st) {
    info.bytes += static_cast<std::uint64_t>(st.st_size);
    info.files += 1;
  };
  const std::string lock_path = root_ + "/" + kPruneLockName;
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                 static_cast<mode_t>(options_.file_mode)));
  if (lock.get() < 0) throw_io("cannot open prune lock", lock_path, errno);
  struct stat lock_st;
  if (::fstat(lock.get(), &lock_st) != 0 || !S_ISREG(lock_st.st_mode)) {
    throw_io("prune lock is not a regular file:", lock_path, EINVAL);
  }
  while (::flock(lock.get(), LOCK_EX) != 0) {
    if (errno != EINTR) throw_io("cannot lock", lock_path, errno);
  }

  const std::int64_t stale_before_s = now_us() / 1000000 - kStaleTempAgeSeconds;
  const std::string suffix = format::kEntrySuffix;
  // The walk opens each shard level with openat(O_NOFOLLOW|O_DIRECTORY) and removes files
  // with unlinkat relative to it, so a shard directory that is a symlink is skipped, never
  // followed: prune never deletes anything outside the bucket.
  Fd root(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) throw_io("cannot list bucket directory", root_, errno);
  for (const std::string& n1 : list_dir(root.get())) {
    if (!is_hex_name(n1, 2)) continue;
    Fd l1(open_dir_at(root.get(), n1.c_str()));
    if (l1.get() < 0) continue;  // a symlink or not a directory: not ours
    for (const std::string& n2 : list_dir(l1.get())) {
      if (!is_hex_name(n2, 2)) continue;
      Fd l2(open_dir_at(l1.get(), n2.c_str()));
      if (l2.get() < 0) continue;
      const int dir = l2.get();
      for (const std::string& name : list_dir(dir)) {
        struct stat st;
        if (name.rfind(format::kTempPrefix, 0) == 0) {
          // A temp file is stale when old and not locked by a live writer.
          Fd tfd(open_regular_at(dir, name.c_str(), st));
          if (tfd.get() < 0 || st.st_mtim.tv_sec > stale_before_s) continue;
          if (::flock(tfd.get(), LOCK_EX | LOCK_NB) != 0) continue;
          if (::unlinkat(dir, name.c_str(), 0) == 0) count(st);
          continue;
        }
        if (name.size() == 64 + 5 && name.compare(64, 5, ".lock") == 0) {
          // Left by a process that died computing; a live holder keeps it locked. The path
          // must still name the file we locked: its holder may have released (unlinked) it
          // and a new holder created and locked a new one. While we hold the lock, nobody
          // else can replace it.
          Fd lfd(open_regular_at(dir, name.c_str(), st));
          if (lfd.get() < 0 || ::flock(lfd.get(), LOCK_EX | LOCK_NB) != 0) continue;
          if (still_at(dir, name.c_str(), st) && ::unlinkat(dir, name.c_str(), 0) == 0) count(st);
          continue;
        }
        if (name.size() != 64 + suffix.size() || name.compare(64, suffix.size(), suffix) != 0)
          continue;
        Fd efd(open_regular_at(dir, name.c_str(), st));
        if (efd.get() < 0) continue;
        unsigned char header[format::kHeaderSize];
        const ssize_t n = ::pread(efd.get(), header, sizeof(header), 0);
        if (n < 0) continue;
        format::EntryHeader h;
        const auto decoded = static_cast<std::size_t>(n) == sizeof(header)
                                 ? format::decode_header(header, h)
                                 : format::HeaderStatus::bad_magic;
        bool remove = false;
        if (decoded == format::HeaderStatus::bad_magic ||
            decoded == format::HeaderStatus::bad_checksum) {
          remove = true;  // damaged: no bucket can read it
        } else if (decoded == format::HeaderStatus::ok && h.backend_id == backend_id_ &&
                   h.keymaker_id == keymaker_id_) {
          const auto size = static_cast<std::uint64_t>(st.st_size);
          remove = h.value_length > size || size - h.value_length != format::kHeaderSize ||
                   past_expiry(h.expires_us, now_us());
        }
        if (!remove) continue;
        if (unlink_if_same(dir, name.c_str(), st, temp_name())) count(st);
      }
      // A shard directory left empty goes (rmdir fails on anything left in it); writers
      // that opened it meanwhile create it again (see write).
      if (::unlinkat(l1.get(), n2.c_str(), AT_REMOVEDIR) == 0) {
        BC_LOG(LogLevel::trace, "removed empty shard directory {}/{}/{}", root_, n1, n2);
      }
    }
    ::unlinkat(root.get(), n1.c_str(), AT_REMOVEDIR);
  }
  BC_LOG(LogLevel::info, "pruned {} files ({} bytes) from {}", info.files, info.bytes, root_);
  return info;
}

}  // namespace v1
}  // namespace bucketcache
