// NearCacheStorage: a local file store in front of a remote one (BC_OPT_NEAR_CACHE_DIR).
//
// Reads are served by the local copy while it is younger than `max_age` (measured from
// when this machine stored it: the file's mtime), else from the remote store, whose entry
// then replaces the local copy (a remote miss removes it). Writes, touches and removals
// go to the remote store first, then to the local copy (a write that the remote store
// refuses, or a local write that fails, removes the local copy). So a value another
// machine wrote is seen here at most `max_age` late; this machine's own writes are seen
// at once. Locks (single flight) are the remote store's. The local copy is a cache only:
// its failures are logged, never reported, except that an unreadable local copy falls
// back to the remote store.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "storage/file/file_storage.hpp"
#include "storage/storage.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

class NearCacheStorage final : public Storage {
 public:
  NearCacheStorage(std::unique_ptr<Storage> remote, std::unique_ptr<FileStorage> local,
                   std::chrono::milliseconds max_age);

  const std::string& describe() const override { return description_; }
  std::string locate(const Digest& key) const override { return remote_->locate(key); }
  Found read(const Digest& key, StoredEntry& out) override;
  Found peek(const Digest& key, StoredEntry& out) override;
  bool write(const Digest& key, const EntryToWrite& entry, Overwrite overwrite,
             EntryVersion* written) override;
  std::vector<std::exception_ptr> write_many(const std::vector<BatchWrite>& writes) override;
  bool remove(const Digest& key) override;
  bool remove_if_same(const Digest& key, const EntryVersion& judged) override;
  bool version(const Digest& key, EntryVersion& out) override;
  bool touch(const Digest& key, std::int64_t expires_us, std::uint32_t flags) override;
  ScanResult scan(const std::function<ScanAction(const ScanItem&)>& fn, bool exclusive,
                  bool remove_damaged) override;
  SweepResult sweep() override;
  std::unique_ptr<KeyLock> lock(const Digest& key, std::chrono::steady_clock::time_point deadline,
                                const std::function<bool()>& done, LockOutcome& outcome) override;
  // Statistics are the remote store's: every machine's counts add up there.
  Counters merge_counters(const std::string& bucket, const Counters& delta, bool reset) override {
    return remote_->merge_counters(bucket, delta, reset);
  }

 private:
  // Whether a local copy (its version from FileStorage: d = mtime in ns) is young enough.
  bool fresh(const EntryVersion& local_version) const;
  // Local writes and removals: failures are logged and the copy dropped if possible.
  void store_local(const Digest& key, const StoredEntry& e) noexcept;
  void drop_local(const Digest& key) noexcept;

  std::unique_ptr<Storage> remote_;
  std::unique_ptr<FileStorage> local_;
  std::chrono::milliseconds max_age_;
  std::string description_;
};

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
