#include "cache/operations.hpp"

#include "bucketcache/canonical.hpp"

namespace bucketcache {
inline namespace v1 {
namespace cache {

namespace {

class DirectOperations final : public Operations {
 public:
  explicit DirectOperations(Store& s) : s_(s) {}
  void set(const Key& key, std::string_view value) override { s_.set(key.ref(), value); }
  ReadStatus read(const Digest& key, Entry& out) override { return s_.read(key, out); }
  bool contains(const Digest& key) override { return s_.contains(key); }
  bool erase(const Digest& key) override { return s_.erase(key); }
  void unload(const Digest& key) override { s_.unload(key); }
  Entry get_or_compute(const Key& key, const std::function<std::string()>& compute,
                       bool* hit) override {
    return s_.get_or_compute(key.ref(), compute, hit);
  }
  void sync() override {}
  std::size_t discard() override { return 0; }
  std::size_t pending_count() const override { return 0; }

 private:
  Store& s_;
};

class DeferredOperations final : public Operations {
 public:
  explicit DeferredOperations(DeferredWrites& d) : d_(d) {}
  void set(const Key& key, std::string_view value) override { d_.set(key.ref(), value); }
  ReadStatus read(const Digest& key, Entry& out) override { return d_.read(key, out); }
  bool contains(const Digest& key) override { return d_.contains(key); }
  bool erase(const Digest& key) override { return d_.erase(key); }
  void unload(const Digest& key) override { d_.unload(key); }
  Entry get_or_compute(const Key& key, const std::function<std::string()>& compute,
                       bool* hit) override {
    return d_.get_or_compute(key.ref(), compute, hit);
  }
  void sync() override { d_.sync(); }
  std::size_t discard() override { return d_.discard(); }
  std::size_t pending_count() const override { return d_.pending_count(); }

 private:
  DeferredWrites& d_;
};

const char* key_format_id(KeyFormat f) { return f == KeyFormat::json ? "json" : "raw"; }

}  // namespace

BucketHandle::BucketHandle(const std::string& path, const std::string& backend,
                           KeyFormat key_format, const Options& options, bool deferred)
    : store_(path, backend, key_format_id(key_format), options),
      key_format_(key_format),
      backend_(backend) {
  if (deferred) {
    deferred_ = std::make_unique<DeferredWrites>(store_);
    ops_ = std::make_unique<DeferredOperations>(*deferred_);
  } else {
    ops_ = std::make_unique<DirectOperations>(store_);
  }
}

BucketHandle::~BucketHandle() = default;

Key BucketHandle::key(std::string_view bytes) const {
  Key k;
  k.bytes = key_format_ == KeyFormat::json ? canonicalize_json(bytes) : std::string(bytes);
  k.digest = store_.digest(k.bytes);
  return k;
}

Digest BucketHandle::digest(std::string_view bytes) const {
  if (key_format_ == KeyFormat::json) return store_.digest(canonicalize_json(bytes));
  return store_.digest(bytes);
}

}  // namespace cache
}  // namespace v1
}  // namespace bucketcache
