// The storage interface: where entries live (a directory of files, a Redis server...).
//
// A Storage keeps, for each key digest, the bytes of one entry in the entry format
// (entry_format.hpp: header, key bytes, value bytes) and knows nothing of cache policy:
// it does not judge expiry or lifetimes, keep a memory layer or compute values. The cache
// layer (src/cache/) does that, once, over any Storage. Implementations must be safe to
// use from many threads at once, and atomic per entry: a reader sees a whole old entry, a
// whole new one, or none.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bucketcache/digest.hpp"
#include "bucketcache/error.hpp"
#include "storage/entry_format.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

// Identifies one stored version of an entry (a file's device, inode, size and mtime; a
// remote store's token), to remove an entry only if it is still the one judged, and to
// notice another process's write (Options::check_file).
struct EntryVersion {
  std::uint64_t a = 0, b = 0, c = 0;
  std::int64_t d = 0;
  friend bool operator==(const EntryVersion& x, const EntryVersion& y) {
    return x.a == y.a && x.b == y.b && x.c == y.c && x.d == y.d;
  }
};

// Memory a reader owns, where Storage::read() may put an entry's value instead of a new
// std::string (the C API's malloc'ed bc_buf): a large value is then read once, in place.
class ValueSink {
 public:
  virtual ~ValueSink() = default;
  // A buffer of n bytes (n may be 0), owned by the sink. Throws std::bad_alloc.
  virtual char* allocate(std::size_t n) = 0;
};

// An entry as read: its decoded header, key bytes (empty if omitted) and, for read(), the
// value. The storage has checked the header, the entry's length and, for read(), the
// payload checksum; not the ids, digest or times (the caller's policy).
struct StoredEntry {
  format::EntryHeader header;
  std::string key_bytes;
  std::shared_ptr<std::string> value;  // read() only; null when the value went to `sink`
  // Set by the caller of read(): a store that can (FileStorage, for entries read into
  // its stack or in two passes) puts the value in sink->allocate(value length) and leaves `value`
  // null. The sink's bytes mean nothing unless read() returns Found::yes.
  ValueSink* sink = nullptr;
  // Set by the caller of read(): false when it does not need `version` (a store may then
  // skip a system call). The version is still filled for an entry that expires (the caller
  // may remove it if it is still the one read).
  bool want_version = true;
  EntryVersion version;
  std::uint64_t stored_bytes = 0;  // what the entry costs in the store
  std::int64_t used_us = 0;        // scan(): when last used (file: atime), 0 if unknown
};

// What a read found. `found` means a well-formed entry of this format is stored; whose it
// is and whether it is live are the caller's questions.
enum class Found { yes, absent, corrupt, foreign };

// An entry to store.
struct EntryToWrite {
  format::EntryHeader header;  // lengths and payload checksum are filled by the store
  std::string_view key_bytes;  // empty with format::kKeyOmitted
  std::string_view value;
};

enum class Overwrite { yes, no };

// One entry of Storage::write_many().
struct BatchWrite {
  Digest key;
  EntryToWrite entry;
  EntryVersion* written = nullptr;  // filled when non-null and the entry is stored
};

// A held per-key lock (single flight); released by destruction. A dead holder's lock is
// released by the store (the kernel for flock, an expiry for Redis).
class KeyLock {
 public:
  virtual ~KeyLock() = default;
};

enum class LockOutcome {
  held,
  timed_out,    // `deadline` passed while another holder kept it
  done,         // `done` returned true between polls
  unavailable,  // no lock can be taken for this key (e.g. a FIFO at a lock path)
};

// One item of a scan.
struct ScanItem {
  Digest key;
  StoredEntry entry;  // header, key bytes, version; no value
};
// What a scan callback decides for the item it was given.
enum class ScanAction { keep, remove, stop };

struct SweepResult {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
};

// A bucket's persisted statistics counters (docs/cache-management.md, "Statistics").
struct Counters {
  std::uint64_t hits = 0, misses = 0, writes = 0, evictions = 0, expired = 0;
};

struct ScanResult {
  std::uint64_t removed_files = 0;
  std::uint64_t removed_bytes = 0;
  std::uint64_t damaged_removed = 0;  // unreadable entries removed (see scan())
};

class Storage {
 public:
  virtual ~Storage() = default;

  // For messages: a directory path, or a store URL and bucket name.
  virtual const std::string& describe() const = 0;
  // Where the entry of key lives, for users (a file path; a remote key name).
  virtual std::string locate(const Digest& key) const = 0;

  // Reads the whole entry (checksums verified), the value into out.value or out.sink (see
  // StoredEntry). Throws IoError for failures other than "absent".
  virtual Found read(const Digest& key, StoredEntry& out) = 0;
  // Reads the header and key bytes only (lengths checked, payload checksum not).
  virtual Found peek(const Digest& key, StoredEntry& out) = 0;
  // Stores the entry atomically. With Overwrite::no, stores it only if nothing is stored
  // under key, atomically against other writers, and returns false otherwise. Fills
  // `written` when non-null. Throws IoError; on failure the previous entry is intact.
  virtual bool write(const Digest& key, const EntryToWrite& entry, Overwrite overwrite,
                     EntryVersion* written) = 0;
  // Stores each entry as write(key, entry, Overwrite::yes, written) would, in as few round
  // trips as the store can (Redis: one pipeline per server). Returns one result per entry:
  // null when stored, else the exception write() would have thrown.
  virtual std::vector<std::exception_ptr> write_many(const std::vector<BatchWrite>& writes) {
    std::vector<std::exception_ptr> errors(writes.size());
    for (std::size_t i = 0; i < writes.size(); ++i) {
      try {
        write(writes[i].key, writes[i].entry, Overwrite::yes, writes[i].written);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
    return errors;
  }
  // Removes the entry; returns whether one was removed.
  virtual bool remove(const Digest& key) = 0;
  // Removes the entry only if it is still the version judged (a fresh entry stored
  // meanwhile stays). Returns whether the judged version was removed.
  virtual bool remove_if_same(const Digest& key, const EntryVersion& judged) = 0;
  // The stored version now, or false if absent.
  virtual bool version(const Digest& key, EntryVersion& out) = 0;
  // Sets a new expiry on the stored entry and its flags as given, except kKeyOmitted, which
  // describes the stored bytes and is kept; false if absent.
  virtual bool touch(const Digest& key, std::int64_t expires_us, std::uint32_t flags) = 0;

  // Calls `fn` for every well-formed entry of this format in the store, in no particular
  // order, and removes those it answers `remove` for (only if still the version scanned).
  // With `exclusive`, one such scan at a time per store (prune, clear). With
  // `remove_damaged`, entries whose header or length is damaged are removed and counted.
  virtual ScanResult scan(const std::function<ScanAction(const ScanItem&)>& fn, bool exclusive,
                          bool remove_damaged) = 0;
  // Removes what dead writers left (temp files, unheld lock files, empty directories);
  // returns files and bytes removed. Nothing to do for stores that expire such things.
  virtual SweepResult sweep() = 0;

  // Takes key's lock for single flight, waiting until `deadline`; returns null (with the
  // outcome) if the deadline passes, `done` returns true, or no lock can be had.
  virtual std::unique_ptr<KeyLock> lock(const Digest& key,
                                        std::chrono::steady_clock::time_point deadline,
                                        const std::function<bool()>& done,
                                        LockOutcome& outcome) = 0;

  // Statistics and size accounting of one bucket sharing the store; `bucket` names it (made
  // of its backend and keymaker ids, safe in a file name). Stores without them throw
  // Error(unsupported).
  //
  // Adds delta to the bucket's persisted counters, atomically against other processes
  // (after zeroing them, with reset), and returns the totals.
  virtual Counters merge_counters(const std::string& bucket, const Counters& delta, bool reset) {
    (void)bucket, (void)delta, (void)reset;
    throw Error(ErrorCode::unsupported, "statistics are not kept by " + describe());
  }
  // Replaces the bucket's size estimate e (bytes; 0 when none is recorded) by f(e),
  // atomically against other processes, and returns f(e).
  virtual std::uint64_t adjust_size_estimate(const std::string& bucket,
                                             const std::function<std::uint64_t(std::uint64_t)>& f) {
    (void)bucket, (void)f;
    throw Error(ErrorCode::unsupported, "a size limit is not supported by " + describe());
  }
  // Holds the lock of exclusive scans (what scan(..., exclusive=true) takes) until the
  // result is destroyed; scans made meanwhile by the holder pass exclusive=false.
  virtual std::unique_ptr<KeyLock> lock_exclusive() {
    throw Error(ErrorCode::unsupported, "exclusive scans are not supported by " + describe());
  }
  // Records that key's entry was used now (what scan() reports as used_us); best effort.
  virtual void note_use(const Digest& key) { (void)key; }
};

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
