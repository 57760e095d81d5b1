// Small POSIX helpers shared by the file store: an owning descriptor, whole reads and
// writes, symlink-free opens, directory listing and creation.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <string>
#include <vector>

namespace bucketcache {
inline namespace v1 {

// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd();
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd = -1);
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// Throws IoError("<what> <path>: <strerror(err)>", err).
[[noreturn]] void throw_io(const std::string& what, const std::string& path, int err);

// Writes all of the buffers, resuming after partial writes and EINTR. The iovecs are
// consumed. False with errno set on error.
bool write_all(int fd, struct iovec* iov, int count);
// Reads exactly the buffers' total. False on error (errno set) or early end of file
// (short_read set).
bool read_all(int fd, struct iovec* iov, int count, bool& short_read);
// read_all(), and the file ends right after: false with `longer` set when more bytes follow.
// One spare byte is asked for with every read, so a regular file, whose read comes up short
// only at its end, costs no extra call. At most 3 buffers.
bool read_all_to_end(int fd, struct iovec* iov, int count, bool& short_read, bool& longer);

// Opens path (relative to dirfd, or AT_FDCWD) refusing a symlink in every component
// (openat2 RESOLVE_NO_SYMLINKS). The answer is final only on success or ENOENT; any other
// failure (ELOOP, which may come from a symlink where one is allowed, ENOSYS before Linux
// 5.6...) tells the caller to decide by walking the levels itself.
int open_no_symlinks(int dirfd, const char* path, int flags);

// A subdirectory of dirfd, never through a symlink (ELOOP or ENOTDIR for one).
int open_dir_at(int dirfd, const char* name);

// Names in the directory open as dirfd (without "." and ".."); empty if it cannot be read.
std::vector<std::string> list_dir(int dirfd);

// mkdir -p with an explicit mode for every directory it creates; throws IoError, also when
// path exists and is not a directory.
void make_directories(const std::string& path, unsigned mode);

// Whether s is `len` lowercase hex digits.
bool is_hex_name(const std::string& s, std::size_t len);

}  // namespace v1
}  // namespace bucketcache
