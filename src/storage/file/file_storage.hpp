// FileStorage: the Storage of a bucket directory, one file per entry (format v2).
//
// Layout and symlink rules: shard_dirs.hpp. Writes: atomic_file.hpp. Single flight:
// file_lock.hpp. Scans and sweeps: walk.cpp. Reads open with O_NOFOLLOW|O_NONBLOCK and
// accept only regular files, so a FIFO or device at an entry path is a miss, never a hang.
#pragma once

#include <sys/stat.h>

#include <string>

#include "storage/file/atomic_file.hpp"
#include "storage/file/shard_dirs.hpp"
#include "storage/storage.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

struct FileStorageOptions {
  unsigned directory_mode = 0700;
  unsigned file_mode = 0600;
  bool fsync = false;    // fdatasync each entry, fsync its directory, before a write returns
  TempNamer temp_namer;  // empty: random names
};

class FileStorage final : public Storage {
 public:
  // Creates root and its missing parents. Throws IoError.
  FileStorage(std::string root, FileStorageOptions options);

  const std::string& describe() const override { return dirs_.root(); }
  std::string locate(const Digest& key) const override { return dirs_.entry_path(key); }
  Found read(const Digest& key, StoredEntry& out) override;
  Found peek(const Digest& key, StoredEntry& out) override;
  bool write(const Digest& key, const EntryToWrite& entry, Overwrite overwrite,
             EntryVersion* written) override;
  bool remove(const Digest& key) override;
  bool remove_if_same(const Digest& key, const EntryVersion& judged) override;
  bool version(const Digest& key, EntryVersion& out) override;
  bool touch(const Digest& key, std::int64_t expires_us, std::uint32_t flags) override;
  ScanResult scan(const std::function<ScanAction(const ScanItem&)>& fn, bool exclusive,
                  bool remove_damaged) override;
  SweepResult sweep() override;
  std::unique_ptr<KeyLock> lock(const Digest& key, std::chrono::steady_clock::time_point deadline,
                                const std::function<bool()>& done, LockOutcome& outcome) override;

  // Per-bucket files in the bucket directory (bucket_files.cpp): `.stats-<bucket>` (the
  // counters, JSON) and `.size-<bucket>` (the size estimate, decimal), each a fixed-size
  // record rewritten in place under flock; the exclusive-scan lock is `.prune.lock`;
  // note_use sets the entry file's atime (never its mtime, part of EntryVersion).
  Counters merge_counters(const std::string& bucket, const Counters& delta, bool reset) override;
  std::uint64_t adjust_size_estimate(const std::string& bucket,
                                     const std::function<std::uint64_t(std::uint64_t)>& f) override;
  std::unique_ptr<KeyLock> lock_exclusive() override;
  void note_use(const Digest& key) override;

  static EntryVersion version_of(const struct stat& st);

 private:
  // Opens key's entry (O_NOFOLLOW|O_NONBLOCK, plus `flags`) and fstat()s it into st; -1
  // with `found` set (absent, foreign: a symlink, a FIFO, any non-regular file) when there
  // is no entry file to use. Throws IoError.
  int open_entry(const Digest& key, int flags, Found& found, struct stat& st) const;
  // The open itself: one openat2() when it can decide, else through the shard directory.
  int open_entry_at(const Digest& key, int flags, Found& found) const;
  // Removes the file `name` of dir if it is still `judged`, safe against a fresh file
  // renamed over it meanwhile.
  bool unlink_if_same(int dir, const std::string& name, const EntryVersion& judged) const;
  // Takes the exclusive scan lock (<root>/.prune.lock); throws IoError.
  Fd lock_scan() const;
  // Runs f(old contents) -> new contents on the file `name` of the bucket directory under
  // its flock (created empty, mode file_mode; never a symlink or non-regular file).
  void rewrite_locked(const std::string& name,
                      const std::function<std::string(const std::string&)>& f) const;

  ShardDirs dirs_;
  FileStorageOptions options_;
};

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
