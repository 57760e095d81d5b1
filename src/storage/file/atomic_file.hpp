// AtomicFile: a new file published whole under its final name, or not at all.
//
// The content goes to a temp file ".tmp-<pid>-<random>" created exclusively (O_EXCL,
// O_NOFOLLOW) in the destination directory and flock()ed while it is written, so a pruner
// can tell a live writer's temp file from a dead one's. commit() renames it over the final
// name (replacing) or links it there (only if the name is free); an uncommitted temp file
// is removed by the destructor.
#pragma once

#include <sys/uio.h>

#include <functional>
#include <string>

#include "support/posix_io.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

// Names temp files; the default is random. Tests inject their own (a planted symlink).
using TempNamer = std::function<std::string()>;
std::string random_temp_name();

class AtomicFile {
 public:
  // Creates the temp file in the directory open as dir_fd (dir_path for messages). Throws
  // IoError; errno ENOENT in it means the directory was removed meanwhile.
  AtomicFile(int dir_fd, std::string dir_path, unsigned file_mode, const TempNamer& namer);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  int fd() const { return fd_.get(); }
  // Writes all buffers (consumed); with `sync`, fdatasync()s. Throws IoError naming `what`.
  void write(struct iovec* iov, int count, bool sync, const std::string& what);
  // Publishes under `name` in the directory: replacing (rename) or only if the name is
  // free (link; returns false when taken). Then fsync()s the directory when `sync_dir`.
  bool commit(const std::string& name, bool replace, bool sync_dir);

 private:
  int dir_fd_;
  std::string dir_path_;
  std::string temp_name_;
  Fd fd_;
  bool done_ = false;
};

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
