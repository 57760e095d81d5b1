// FaultStorage: a Storage that wraps another and injects faults on demand (LevelDB's
// fault-injection Env, for stores): a write or read failing with an errno (ENOSPC, EIO), or
// a torn write (the entry stored, then cut short, as a non-atomic writer would leave it).
// Build a Store over it with StoreAccess::make; no global hook is involved.
#pragma once

#include <errno.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

#include "bucketcache/error.hpp"
#include "storage/storage.hpp"

namespace reltest {

namespace bs = bucketcache::storage;

class FaultStorage final : public bs::Storage {
 public:
  explicit FaultStorage(std::unique_ptr<bs::Storage> inner) : inner_(std::move(inner)) {}

  // Each knob applies to every following call until reset to 0 / false.
  std::atomic<int> write_errno{0};       // write() throws IoError with this errno
  std::atomic<int> read_errno{0};        // read() and peek() throw IoError with this errno
  std::atomic<bool> tear_writes{false};  // write() stores the entry, then truncates it

  const std::string& describe() const override { return inner_->describe(); }
  std::string locate(const bucketcache::Digest& key) const override { return inner_->locate(key); }
  bs::Found read(const bucketcache::Digest& key, bs::StoredEntry& out) override {
    fail_if(read_errno, "read");
    return inner_->read(key, out);
  }
  bs::Found peek(const bucketcache::Digest& key, bs::StoredEntry& out) override {
    fail_if(read_errno, "read");
    return inner_->peek(key, out);
  }
  bool write(const bucketcache::Digest& key, const bs::EntryToWrite& entry, bs::Overwrite ow,
             bs::EntryVersion* written) override {
    fail_if(write_errno, "write");
    const bool stored = inner_->write(key, entry, ow, written);
    if (stored && tear_writes) {
      const std::string path = inner_->locate(key);
      const off_t size = static_cast<off_t>(128 + entry.key_bytes.size() + entry.value.size());
      if (::truncate(path.c_str(), size / 2) != 0) throw std::runtime_error("cannot tear " + path);
    }
    return stored;
  }
  bool remove(const bucketcache::Digest& key) override { return inner_->remove(key); }
  bool remove_if_same(const bucketcache::Digest& key, const bs::EntryVersion& judged) override {
    return inner_->remove_if_same(key, judged);
  }
  bool version(const bucketcache::Digest& key, bs::EntryVersion& out) override {
    return inner_->version(key, out);
  }
  bool touch(const bucketcache::Digest& key, std::int64_t expires_us,
             std::uint32_t flags) override {
    fail_if(write_errno, "write");
    return inner_->touch(key, expires_us, flags);
  }
  bs::ScanResult scan(const std::function<bs::ScanAction(const bs::ScanItem&)>& fn, bool exclusive,
                      bool remove_damaged) override {
    return inner_->scan(fn, exclusive, remove_damaged);
  }
  bs::SweepResult sweep() override { return inner_->sweep(); }
  std::unique_ptr<bs::KeyLock> lock(const bucketcache::Digest& key,
                                    std::chrono::steady_clock::time_point deadline,
                                    const std::function<bool()>& done,
                                    bs::LockOutcome& outcome) override {
    return inner_->lock(key, deadline, done, outcome);
  }

 private:
  void fail_if(const std::atomic<int>& err, const char* what) const {
    const int e = err.load();
    if (e != 0) {
      throw bucketcache::IoError(std::string("injected ") + what + " failure in " + describe(), e);
    }
  }
  std::unique_ptr<bs::Storage> inner_;
};

}  // namespace reltest
