// Builds a Store over any Storage (a fault-injecting one in tests; a remote one later).
#pragma once

#include <memory>
#include <string>

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
};

}  // namespace v1
}  // namespace bucketcache
