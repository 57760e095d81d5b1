// The single-flight lock of one key in a file store: <shard>/<digest>.lock held with
// flock(), which the kernel releases if the holder dies. Releasing unlinks the file while
// still holding it, so lock files do not pile up; a waiter that ends up holding an
// unlinked file notices (inode check) and tries again.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "storage/file/shard_dirs.hpp"
#include "storage/storage.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

// Takes key's lock (see Storage::lock). A non-regular file at the lock path (a FIFO, a
// symlink, a directory) makes the outcome `unavailable` at once.
std::unique_ptr<KeyLock> lock_key_file(const ShardDirs& dirs, const Digest& key, unsigned file_mode,
                                       std::chrono::steady_clock::time_point deadline,
                                       const std::function<bool()>& done, LockOutcome& outcome);

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
