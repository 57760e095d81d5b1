#include "storage/file/atomic_file.hpp"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include "storage/entry_format.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

namespace {

// Bumped in the child of every fork(): a thread's naming state seeded before the fork
// (inherited by the child with the parent's pid and random stream) is seeded again, so
// children forked from one parent never walk the same sequence of names.
std::atomic<unsigned> fork_generation{0};

void on_fork_child() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

struct TempNameState {
  unsigned generation = ~0u;  // never a current generation before the first seeding
  std::mt19937_64 rng;
  std::string prefix;  // ".tmp-<pid>-"
};

}  // namespace

std::string random_temp_name() {
  static const int registered = ::pthread_atfork(nullptr, nullptr, on_fork_child);
  (void)registered;
  thread_local TempNameState state;
  const unsigned generation = fork_generation.load(std::memory_order_relaxed);
  if (state.generation != generation) {  // first use in this thread, or in a forked child
    const auto pid = ::getpid();
    state.rng.seed(std::random_device{}() ^
                   std::hash<std::thread::id>{}(std::this_thread::get_id()) ^
                   (static_cast<std::uint64_t>(pid) << 32));
    state.prefix = std::string(format::kTempPrefix) + std::to_string(pid) + "-";
    state.generation = generation;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::uint64_t r = state.rng();
  std::string name;
  name.reserve(state.prefix.size() + 16);
  name = state.prefix;
  for (int i = 0; i < 16; ++i) {
    name += kHex[r & 0xf];
    r >>= 4;
  }
  return name;
}

AtomicFile::AtomicFile(int dir_fd, std::string dir_path, unsigned file_mode, const TempNamer& namer)
    : dir_fd_(dir_fd), dir_path_(std::move(dir_path)) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    temp_name_ = namer ? namer() : random_temp_name();
    fd_.reset(::openat(dir_fd_, temp_name_.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       static_cast<mode_t>(file_mode)));
    if (fd_.get() >= 0) {
      ::flock(fd_.get(), LOCK_EX);
      return;
    }
    if (errno != EEXIST) break;
  }
  done_ = true;  // nothing to remove
  throw_io("cannot create temp file", dir_path_ + "/" + temp_name_, errno);
}

AtomicFile::~AtomicFile() {
  if (!done_) ::unlinkat(dir_fd_, temp_name_.c_str(), 0);
}

void AtomicFile::write(struct iovec* iov, int count, bool sync, const std::string& what) {
  if (!write_all(fd_.get(), iov, count)) throw_io("cannot write entry", what, errno);
  if (sync && ::fdatasync(fd_.get()) != 0) throw_io("cannot fsync entry", what, errno);
}

bool AtomicFile::commit(const std::string& name, bool replace, bool sync_dir) {
  if (replace) {
    if (::renameat(dir_fd_, temp_name_.c_str(), dir_fd_, name.c_str()) != 0) {
      const int err = errno;
      throw_io("cannot rename over", dir_path_ + "/" + name, err);
    }
    done_ = true;
  } else {
    if (::linkat(dir_fd_, temp_name_.c_str(), dir_fd_, name.c_str(), 0) != 0) {
      const int err = errno;
      if (err == EEXIST) return false;  // the destructor removes the temp file
      throw_io("cannot link", dir_path_ + "/" + name, err);
    }
    // The entry is published; the temp name goes (the destructor unlinks it).
  }
  if (sync_dir && ::fsync(dir_fd_) != 0) throw_io("cannot fsync directory", dir_path_, errno);
  return true;
}

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
