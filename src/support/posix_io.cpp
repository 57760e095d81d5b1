#include "support/posix_io.hpp"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "bucketcache/error.hpp"

namespace bucketcache {
inline namespace v1 {

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

void throw_io(const std::string& what, const std::string& path, int err) {
  throw IoError(what + " " + path + ": " + std::strerror(err), err);
}

namespace {

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

}  // namespace

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

bool read_all_to_end(int fd, struct iovec* iov, int count, bool& short_read, bool& longer) {
  short_read = false;
  longer = false;
  if (count < 0 || count > 3) {
    errno = EINVAL;
    return false;
  }
  char spare = 0;
  struct iovec all[4];
  std::copy(iov, iov + count, all);
  all[count] = {&spare, 1};
  struct iovec* at = all;
  int left = count + 1;
  advance(at, left, 0);  // empty buffers first: nothing to read for them
  while (left > 1) {     // buffers besides the spare byte remain
    const ssize_t n = ::readv(fd, at, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      short_read = true;
      return false;
    }
    advance(at, left, static_cast<std::size_t>(n));
    if (left == 0) {  // the spare byte too: the file goes on
      longer = true;
      return false;
    }
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

int open_dir_at(int dirfd, const char* name) {
  return ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

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

int open_no_symlinks(int dirfd, const char* path, int flags) {
#if defined(SYS_openat2) && defined(RESOLVE_NO_SYMLINKS)
  static std::atomic<bool> unavailable{false};
  if (!unavailable.load(std::memory_order_relaxed)) {
    struct open_how how;
    std::memset(&how, 0, sizeof(how));
    how.flags = static_cast<std::uint64_t>(flags);
    how.resolve = RESOLVE_NO_SYMLINKS;
    const long fd = ::syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    if (fd >= 0) return static_cast<int>(fd);
    if (errno == ENOSYS) unavailable.store(true, std::memory_order_relaxed);
    return -1;
  }
#else
  (void)dirfd;
  (void)path;
  (void)flags;
#endif
  errno = ENOSYS;
  return -1;
}

void make_directories(const std::string& path, unsigned mode) {
  std::string cur;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    cur.assign(path, 0, next);
    const std::string part = path.substr(pos, next - pos);
    pos = next + 1;
    if (part.empty() || part == "." || part == "..") continue;
    if (::mkdir(cur.c_str(), static_cast<mode_t>(mode)) == 0) continue;
    const int err = errno;
    if (err != EEXIST) throw_io("cannot create directory", cur, err);
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw_io("cannot access bucket directory", path, errno);
  if (!S_ISDIR(st.st_mode)) throw_io("bucket path is not a directory:", path, ENOTDIR);
}

}  // namespace v1
}  // namespace bucketcache
