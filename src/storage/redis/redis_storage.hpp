// RedisStorage: the Storage of a bucket on a Redis server (docs/redis.md).
//
// A bucket is a key namespace: entry `bc:<bucket>:<64 hex digest>` holding the entry bytes
// of the file format (entry_format.hpp), with the entry's expiry also set natively (PX)
// so the server drops expired entries itself; single-flight lock `bc:<bucket>:<hex>:lock`
// (SET NX PX with an owner token, released by compare-and-delete). Versions are taken from
// the stored header (its checksum, times and lengths): remove_if_same and touch compare
// them on the server in one script. Connections: a pool (redis_connection.hpp); each
// command is bounded by the timeout; a failed connection is dropped and the next call
// connects again.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "storage/redis/redis_router.hpp"
#include "storage/storage.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

struct RedisStorageOptions {
  std::chrono::milliseconds timeout{2000};  // connect and each command
  // A dead holder's lock lasts this long; a live holder extends it every third of it.
  std::chrono::milliseconds lock_ttl{30000};
};

class LockKeeper;

class RedisStorage final : public Storage {
 public:
  // Connects to `url` (redis://... or redis-cluster://...) to check it (and its credentials) now.
  // Throws InvalidArgument (bad URL or bucket name) or IoError (unreachable, AUTH refused).
  RedisStorage(const std::string& url, std::string bucket, RedisStorageOptions options);
  // Stops keeping locks alive (every lock must have been dropped), then disconnects.
  ~RedisStorage() override;

  const std::string& describe() const override { return description_; }
  std::string locate(const Digest& key) const override { return entry_key(key); }
  Found read(const Digest& key, StoredEntry& out) override;
  Found peek(const Digest& key, StoredEntry& out) override;
  bool write(const Digest& key, const EntryToWrite& entry, Overwrite overwrite,
             EntryVersion* written) override;
  // One pipeline per server: one round trip for the whole batch on a single server.
  std::vector<std::exception_ptr> write_many(const std::vector<BatchWrite>& writes) override;
  bool remove(const Digest& key) override;
  bool remove_if_same(const Digest& key, const EntryVersion& judged) override;
  bool version(const Digest& key, EntryVersion& out) override;
  bool touch(const Digest& key, std::int64_t expires_us, std::uint32_t flags) override;
  // Concurrent scans are safe (every removal is a compare-and-delete), so `exclusive` is
  // not enforced. SCAN may report an entry twice while the server resizes its table.
  ScanResult scan(const std::function<ScanAction(const ScanItem&)>& fn, bool exclusive,
                  bool remove_damaged) override;
  SweepResult sweep() override { return {}; }  // locks expire on the server
  std::unique_ptr<KeyLock> lock(const Digest& key, std::chrono::steady_clock::time_point deadline,
                                const std::function<bool()>& done, LockOutcome& outcome) override;

  // Counters in the hash `bcstats:<bucket>:<name>` (HINCRBY per field, then HMGET; reset:
  // DEL first). No size accounting: Redis bounds memory itself (maxmemory, docs/redis.md).
  Counters merge_counters(const std::string& name, const Counters& delta, bool reset) override;

  // Sets the lock's expiry to the full lock TTL again if `token` still owns it; false if
  // it does not or the server cannot be reached (LockKeeper).
  bool extend_lock(const std::string& lock_key, const std::string& token) noexcept;
  // Releases a lock if `token` still owns it (RedisKeyLock's destructor).
  void unlock(const std::string& lock_key, const std::string& token) noexcept;

 private:
  std::string entry_key(const Digest& key) const { return prefix_ + key.hex(); }
  // Decodes the reply of the peek script into out.
  Found peek_reply(const struct redisReply* r, StoredEntry& out) const;

  RedisStorageOptions options_;
  std::unique_ptr<RedisRouter> router_;
  std::string prefix_;  // "bc:<bucket>:"
  std::string description_;
  std::unique_ptr<LockKeeper> keeper_;  // declared last: stops before the router goes
};

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
