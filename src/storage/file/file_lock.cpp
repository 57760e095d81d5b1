#include "storage/file/file_lock.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "support/posix_io.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

namespace {

class FileKeyLock final : public KeyLock {
 public:
  FileKeyLock(Fd fd, Fd dir, std::string name)
      : fd_(std::move(fd)), dir_(std::move(dir)), name_(std::move(name)) {}
  ~FileKeyLock() override {
    // Unlinked while still locked (relative to the shard, never by path): waiters see
    // that the file they wait on is gone and start again on a new one.
    ::unlinkat(dir_.get(), name_.c_str(), 0);
  }

 private:
  Fd fd_;  // closing it drops the flock (after the unlink above)
  Fd dir_;
  std::string name_;
};

}  // namespace

std::unique_ptr<KeyLock> lock_key_file(const ShardDirs& dirs, const Digest& key, unsigned file_mode,
                                       std::chrono::steady_clock::time_point deadline,
                                       const std::function<bool()>& done, LockOutcome& outcome) {
  const std::string name = ShardDirs::lock_name(key);
  const std::string path = dirs.shard_path(key) + "/" + name;
  Fd shard;
  // A wait with `done` is for a computation (seconds, maybe): poll gently. One without is
  // for a short critical section (Store::update, a read-modify-write): poll often, or the
  // lock sits idle between holders while waiters sleep.
  auto pause = std::chrono::microseconds(done ? 500 : 20);
  const auto max_pause = done ? std::chrono::microseconds(10000) : std::chrono::microseconds(1000);
  for (int reopen = 0;;) {
    if (shard.get() < 0) {
      shard.reset(dirs.open(key, true, false));
      if (shard.get() < 0) {
        if (errno == ENOENT && ++reopen < 64) continue;  // removed by a prune meanwhile
        if (is_foreign_dir_error(errno)) {
          throw_io("shard directory is a symlink or not a directory; not locking through it:",
                   dirs.shard_path(key), errno);
        }
        throw_io("cannot open shard directory", dirs.shard_path(key), errno);
      }
    }
    // O_NONBLOCK: a FIFO planted at the lock path must not block the open.
    Fd fd(::openat(shard.get(), name.c_str(),
                   O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                   static_cast<mode_t>(file_mode)));
    if (fd.get() < 0) {
      if (errno == ENOENT && ++reopen < 64) {  // shard removed as empty by a prune
        shard.reset();
        continue;
      }
      if (errno == ELOOP || errno == ENXIO || errno == EISDIR) {
        outcome = LockOutcome::unavailable;  // a symlink, socket or directory is there
        return nullptr;
      }
      throw_io("cannot open lock file", path, errno);
    }
    struct stat held;
    if (::fstat(fd.get(), &held) != 0) throw_io("cannot stat lock file", path, errno);
    if (!S_ISREG(held.st_mode)) {
      outcome = LockOutcome::unavailable;
      return nullptr;
    }
    // Poll this descriptor until it is ours, its file was replaced, or time is up.
    for (;;) {
      if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) break;
      if (errno != EWOULDBLOCK && errno != EINTR) throw_io("cannot lock", path, errno);
      if (std::chrono::steady_clock::now() >= deadline) {
        outcome = LockOutcome::timed_out;
        return nullptr;
      }
      // The holder may have stored the value already: no need to queue for its lock.
      if (done && done()) {
        outcome = LockOutcome::done;
        return nullptr;
      }
      std::this_thread::sleep_for(pause);
      pause = std::min<std::chrono::microseconds>(pause * 2, max_pause);
    }
    struct stat current;
    if (::fstatat(shard.get(), name.c_str(), &current, AT_SYMLINK_NOFOLLOW) == 0 &&
        held.st_ino == current.st_ino && held.st_dev == current.st_dev) {
      outcome = LockOutcome::held;
      return std::make_unique<FileKeyLock>(std::move(fd), std::move(shard), name);
    }
    // The holder unlinked it as we locked; start again on the new file.
  }
}

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
