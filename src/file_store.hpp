// The file layer: sharded entry paths, atomic writes, header-checked reads and pruning.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "bucketcache/store.hpp"
#include "clock.hpp"
#include "entry_format.hpp"
#include "memory_cache.hpp"

namespace bucketcache {
inline namespace v1 {

// Test seam (tests/reliability, docs/reliability.md): when non-null, names temp files
// (".tmp-..." in the shard directory) instead of the random generator, so a test can plant
// a symlink exactly where the next temp file goes. Internal: not exported by the shared
// library; set it only while no store is writing.
extern std::string (*temp_name_for_testing)();

// The compute lock of one key (Store::get_or_compute): <shard>/<digest>.lock, held with
// flock(). Releasing unlinks the file, so lock files do not pile up; a waiter that ends up
// holding an unlinked file notices (inode check) and tries again.
class KeyLock {
 public:
  KeyLock() = default;
  ~KeyLock() { release(); }
  KeyLock(KeyLock&& o) noexcept : fd_(o.fd_), dir_fd_(o.dir_fd_), name_(std::move(o.name_)) {
    o.fd_ = -1;
    o.dir_fd_ = -1;
  }
  KeyLock& operator=(KeyLock&& o) noexcept;
  KeyLock(const KeyLock&) = delete;
  KeyLock& operator=(const KeyLock&) = delete;
  bool held() const { return fd_ >= 0; }
  void release();

 private:
  friend class FileStore;
  int fd_ = -1;
  // The lock file is unlinked relative to its shard directory's descriptor, never by path,
  // so a shard swapped for a symlink meanwhile is not followed.
  int dir_fd_ = -1;
  std::string name_;
};

class FileStore {
 public:
  // Creates root and its missing parents with options.directory_mode.
  FileStore(std::string root, std::string backend_id, std::string keymaker_id,
            const Options& options);

  const std::string& root() const { return root_; }
  // <root>/<hex 0-1>/<hex 2-3>/<hex>.bce
  std::string entry_path(const Digest& key) const;

  // Atomically replaces the entry. Fills `identity` when non-null.
  void write(const Digest& key, std::string_view value, std::int64_t created_us,
             std::int64_t expires_us, FileIdentity* identity);

  // Reads and fully verifies the entry. An entry past its own recorded expiry is deleted
  // (judged with a clock read after its header); one that outlives the bucket's lifetime
  // is longer_lifetime and stays. Allocates no more than the header's recorded length.
  ReadStatus read(const Digest& key, CachedValue& out);

  // Header-only check, with read()'s statuses and its deletion of expired entries.
  ReadStatus peek(const Digest& key);

  // Removes the entry file; returns whether one was removed.
  bool remove(const Digest& key);

  // Identity of the entry file now; false if it is absent.
  bool identity(const Digest& key, FileIdentity& out) const;

  // Removes this bucket's entries past their own expiry, damaged entries (a header that
  // does not decode, or a length that disagrees with it), stale temp and lock files, and
  // shard directories left empty.
  PrunedFilesInfo prune();

  enum class LockOutcome {
    held,
    timed_out,    // `deadline` passed while another holder kept it
    done,         // `done` returned true
    unavailable,  // the lock path is not a regular file: no lock can be taken there
  };
  // Takes the key's compute lock, waiting until `deadline`; returns an unheld lock if the
  // deadline passes first, if `done` (asked between polls while another process holds the
  // lock) returns true, or if the lock path holds something other than a regular file.
  KeyLock lock_key(const Digest& key, std::chrono::steady_clock::time_point deadline,
                   const std::function<bool()>& done = {}, LockOutcome* outcome = nullptr) const;

 private:
  // Judges a decoded header of the file at key's path: foreign, corrupt (length),
  // longer_lifetime, expired (with a clock read now) or found.
  ReadStatus check_header(const format::EntryHeader& h, const Digest& key,
                          std::uint64_t file_size) const;
  // Opens key's entry file for reading without following symlinks or blocking (a FIFO is
  // opened and then refused by the caller's S_ISREG check). Returns the descriptor, or -1
  // with `status` set (absent, foreign) when there is no file to read; throws IoError.
  int open_entry(const Digest& key, const std::string& path, ReadStatus& status) const;
  // Deletes an entry judged expired, if the path still names the file judged (`judged`).
  void remove_judged(const Digest& key, const std::string& path, const struct stat& judged) const;
  // Opens <root>/<h0h1>/<h2h3> level by level with openat(
  // O_DIRECTORY|O_NOFOLLOW), creating missing levels when `create`, and returns its
  // descriptor; all entry, temp and lock file operations are relative to it. A level that
  // is a symlink or not a directory fails (-1, errno ELOOP or ENOTDIR): the library never
  // reads, writes or removes a file outside the bucket through a planted symlink. -1 with
  // errno ENOENT: absent (create false).
  int open_shard(const Digest& key, bool create) const;
  // <root>/<h0h1>/<h2h3>, for messages.
  std::string shard_path(const Digest& key) const;

  std::string root_;
  std::string backend_id_;
  std::string keymaker_id_;
  Options options_;
};

}  // namespace v1
}  // namespace bucketcache
