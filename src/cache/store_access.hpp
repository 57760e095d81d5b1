// Builds a Store over any Storage (a fault-injecting one in tests; a remote one later).
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bucketcache/store.hpp"
#include "storage/storage.hpp"

namespace bucketcache {
inline namespace v1 {

struct StoreAccess {
  // Throws InvalidArgument for bad ids or options.
  static Store make(std::unique_ptr<storage::Storage> storage, std::string backend_id,
                    std::string keymaker_id, const Options& options);
  // The storage under a store.
  static storage::Storage& storage_of(Store& store);
  // Store::get, with the value's bytes put in `sink` (out.value may be null): a value read
  // from the storage goes there directly when the store has no memory layer.
  static ReadStatus get_into(Store& store, const Digest& key, Entry& out, storage::ValueSink& sink);

  // One entry of set_entries(): as Store::set_entry's arguments.
  struct EntryToSet {
    KeyRef key;
    std::string_view value;
    std::int64_t created_us = 0;
    std::int64_t expires_us = 0;
  };
  // Store::set_entry of each item, in as few round trips as the storage can (one pipeline
  // per server on Redis). One result per item: null when stored, else what set_entry
  // would have thrown.
  static std::vector<std::exception_ptr> set_entries(Store& store,
                                                     const std::vector<EntryToSet>& items);

  // Stale-while-revalidate for callers that store their computed values elsewhere (deferred
  // writes): if call.background is set, Options::stale_ttl is on and key's stored entry is
  // past its expiry but within the stale window (and not older than call.max_age_us),
  // queues call.background as a refresh (it stores into the store, as Store::get_or_compute's
  // refreshes do), counts a hit, sets out and returns true. Else false (out unspecified).
  static bool serve_stale(Store& store, const KeyRef& key, const ComputeCall& call, Entry& out);
};

}  // namespace v1
}  // namespace bucketcache
