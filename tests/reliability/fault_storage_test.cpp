// The cache policy over a store that fails: full disks, I/O errors and torn writes never
// lose what was stored or return a wrong value (FaultStorage, docs/reliability.md).
#include "fault_storage.hpp"

#include <gtest/gtest.h>

#include "bucketcache/deferred_writes.hpp"
#include "bucketcache/store.hpp"
#include "cache/store_access.hpp"
#include "rel_util.hpp"
#include "storage/file/file_storage.hpp"

namespace bc = bucketcache;

namespace {

struct Faulty {
  explicit Faulty(const std::string& path, bc::Options o = {}) {
    auto fault = std::make_unique<reltest::FaultStorage>(
        std::make_unique<bc::storage::FileStorage>(path, bc::storage::FileStorageOptions{}));
    faults = fault.get();
    store = std::make_unique<bc::Store>(bc::StoreAccess::make(std::move(fault), "raw", "raw", o));
  }
  reltest::FaultStorage* faults;
  std::unique_ptr<bc::Store> store;
};

std::string value_of(bc::Store& s, const bc::Digest& d) {
  bc::Entry e;
  return s.get(d, e) == bc::ReadStatus::found ? *e.value : "<miss>";
}

TEST(FaultStorage, AFullDiskFailsTheSetAndKeepsThePreviousValue) {
  reltest::ScratchDir dir;
  Faulty f(dir.sub("b"));
  bc::Store& s = *f.store;
  const bc::Digest d = s.digest("k");
  s.set(d, "old");
  f.faults->write_errno = ENOSPC;
  try {
    s.set(d, "new");
    FAIL() << "set succeeded on a full disk";
  } catch (const bc::IoError& e) {
    EXPECT_EQ(e.errno_value(), ENOSPC);
  }
  f.faults->write_errno = 0;
  EXPECT_EQ(value_of(s, d), "old");  // memory layer
  s.unload_all();
  EXPECT_EQ(value_of(s, d), "old");  // store
}

TEST(FaultStorage, AnIoErrorOnReadIsAnErrorNotAMiss) {
  reltest::ScratchDir dir;
  bc::Options o;
  o.memory_limit_bytes = 0;
  Faulty f(dir.sub("b"), o);
  bc::Store& s = *f.store;
  const bc::Digest d = s.digest("k");
  s.set(d, "v");
  f.faults->read_errno = EIO;
  bc::Entry e;
  EXPECT_THROW(s.get(d, e), bc::IoError);
  bool computed = false;
  EXPECT_THROW(s.get_or_compute(d,
                                [&] {
                                  computed = true;
                                  return std::string("x");
                                }),
               bc::IoError);
  EXPECT_FALSE(computed);
  f.faults->read_errno = 0;
  EXPECT_EQ(value_of(s, d), "v");
}

TEST(FaultStorage, ATornWriteIsAMissAndGetOrComputeReplacesIt) {
  reltest::ScratchDir dir;
  bc::Options o;
  o.memory_limit_bytes = 0;
  Faulty f(dir.sub("b"), o);
  bc::Store& s = *f.store;
  const bc::Digest d = s.digest("k");
  f.faults->tear_writes = true;
  s.set(bc::KeyRef(d, "k"), "a value that will be cut short");
  f.faults->tear_writes = false;
  bc::Entry e;
  EXPECT_EQ(s.get(d, e), bc::ReadStatus::corrupt);
  bool hit = true;
  EXPECT_EQ(*s.get_or_compute(
                  d, [] { return std::string("fresh"); }, &hit)
                 .value,
            "fresh");
  EXPECT_FALSE(hit);
  EXPECT_EQ(value_of(s, d), "fresh");
}

TEST(FaultStorage, ADeferredSyncOnAFullDiskKeepsThePendingValues) {
  reltest::ScratchDir dir;
  Faulty f(dir.sub("b"));
  bc::DeferredWrites deferred(*f.store);
  const bc::Digest d = f.store->digest("k");
  deferred.set(d, "pending");
  f.faults->write_errno = ENOSPC;
  EXPECT_THROW(deferred.sync(), bc::IoError);
  EXPECT_EQ(deferred.pending_count(), 1u);
  f.faults->write_errno = 0;
  deferred.sync();
  EXPECT_EQ(deferred.pending_count(), 0u);
  f.store->unload_all();
  EXPECT_EQ(value_of(*f.store, d), "pending");
}

}  // namespace
