// The C API: each entry point is a few lines over the C++ core. guard() catches every
// exception and maps it to a BC_* code with a thread-local message.
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <string_view>

#include "bucketcache/bucketcache.h"
#include "bucketcache/canonical.hpp"
#include "bucketcache/error.hpp"
#include "bucketcache/logging.hpp"
#include "bucketcache/store.hpp"
#include "bucketcache/version.hpp"
#include "cache/operations.hpp"
#include "support/clock.hpp"
#include "support/log_internal.hpp"
#include "value_formats.hpp"

namespace bc = bucketcache;

struct bc_options {
  bc::Options options;
  std::string backend = "raw";
  std::string key_format = "raw";
  bool deferred = false;
  bc::cache::StoreLocation location;
};

struct bc_bucket {
  bc_bucket(const std::string& path, const bc_options& o)
      : handle(path, o.backend,
               o.key_format == "json" ? bc::cache::KeyFormat::json : bc::cache::KeyFormat::raw,
               o.options, o.deferred, o.location) {}
  bc::cache::BucketHandle handle;
};

namespace {

thread_local std::string last_error;

int fail(int code, const char* message) noexcept {
  try {
    last_error = message;
  } catch (...) {
    last_error.clear();  // out of memory: keep the code, lose the detail
  }
  return code;
}

// Runs f, turning every exception into a result code; f returns BC_OK or a code.
template <class F>
int run_guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const bc::Error& e) {
    return fail(static_cast<int>(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return fail(BC_ENOMEM, "out of memory");
  } catch (const std::exception& e) {
    return fail(BC_ERROR, e.what());
  } catch (...) {
    return fail(BC_ERROR, "unknown exception");
  }
}

// Runs f as above; the log lines it emits reach the log callback after it returned (with
// every lock released: the callback may call the library), and the call's error message
// survives whatever the callback's own calls leave behind.
template <class F>
int guard(F&& f) noexcept {
  bc::detail::DeferredLogLines deferred;
  const int rc = run_guarded(std::forward<F>(f));
  if (deferred.has_lines()) {
    std::string saved;
    try {
      saved = last_error;
    } catch (...) {
    }
    deferred.finish();
    last_error.swap(saved);
  }
  return rc;
}

void require(bool ok, const char* what) {
  if (!ok) throw bc::InvalidArgument(what);
}

std::string_view bytes_arg(const void* p, size_t n, const char* name) {
  if (p == nullptr && n != 0) {
    throw bc::InvalidArgument(std::string(name) + " is NULL but its length is " +
                              std::to_string(n));
  }
  return p == nullptr ? std::string_view() : std::string_view(static_cast<const char*>(p), n);
}

bc::Digest key_digest(const bc_bucket* b, const void* key, size_t klen) {
  return b->handle.digest(bytes_arg(key, klen, "key"));
}

bc::cache::Key entry_key(const bc_bucket* b, const void* key, size_t klen) {
  return b->handle.key(bytes_arg(key, klen, "key"));
}

// Copies bytes into a malloc'ed buffer owned by the caller (data never NULL on success).
void give(bc_buf* out, std::string_view bytes) {
  void* data = std::malloc(bytes.empty() ? 1 : bytes.size());
  if (data == nullptr) throw std::bad_alloc();
  if (!bytes.empty()) std::memcpy(data, bytes.data(), bytes.size());
  out->data = data;
  out->size = bytes.size();
}

int read_status_code(bc::ReadStatus st) {
  switch (st) {
    case bc::ReadStatus::found:
      return BC_OK;
    case bc::ReadStatus::corrupt:
      return fail(BC_ECORRUPT, "entry is corrupt (failed its checks); treated as a miss");
    case bc::ReadStatus::foreign:
      return fail(BC_ENOTFOUND, "no usable entry (another backend's or format's file)");
    case bc::ReadStatus::expired:
      return fail(BC_ENOTFOUND, "entry expired");
    case bc::ReadStatus::longer_lifetime:
      return fail(BC_ENOTFOUND,
                  "entry expired for this bucket: its recorded lifetime is longer than the "
                  "bucket's (kept on disk for the program that wrote it)");
    case bc::ReadStatus::absent:
      break;
  }
  return fail(BC_ENOTFOUND, "no entry for key");
}

// A malloc'ed buffer for a value the library reads, handed to the caller as a bc_buf.
class MallocSink final : public bc::storage::ValueSink {
 public:
  MallocSink() = default;
  MallocSink(const MallocSink&) = delete;
  MallocSink& operator=(const MallocSink&) = delete;
  ~MallocSink() override { std::free(data_); }
  char* allocate(std::size_t n) override {
    void* data = std::malloc(n == 0 ? 1 : n);
    if (data == nullptr) throw std::bad_alloc();
    std::free(data_);
    data_ = data;
    size_ = n;
    return static_cast<char*>(data_);
  }
  // Hands the buffer to the caller (data never NULL).
  void give(bc_buf* out) {
    out->data = data_;
    out->size = size_;
    data_ = nullptr;
    size_ = 0;
  }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

bc::ReadStatus read_entry(bc_bucket* b, const bc::Digest& d, bc::Entry& e) {
  return b->handle.ops().get(d, e);
}

bool is_bool(int64_t v) { return v == 0 || v == 1; }

}  // namespace

extern "C" {

int bc_options_new(bc_options** out) {
  return guard([&] {
    require(out != nullptr, "bc_options_new: out is NULL");
    *out = new bc_options();
    return BC_OK;
  });
}

void bc_options_free(bc_options* o) { delete o; }

int bc_options_set_int(bc_options* o, int option, int64_t value) {
  return guard([&] {
    require(o != nullptr, "bc_options_set_int: options is NULL");
    bc::Options& opt = o->options;
    switch (option) {
      case BC_OPT_LIFETIME_US:
        require(value >= 0, "BC_OPT_LIFETIME_US must not be negative");
        opt.lifetime = std::chrono::microseconds(value);
        return BC_OK;
      case BC_OPT_MEMORY_LIMIT_BYTES:
        require(value >= 0, "BC_OPT_MEMORY_LIMIT_BYTES must not be negative");
        opt.memory_limit_bytes = static_cast<std::size_t>(value);
        return BC_OK;
      case BC_OPT_DEFERRED:
        require(is_bool(value), "BC_OPT_DEFERRED takes 0 or 1");
        o->deferred = value == 1;
        return BC_OK;
      case BC_OPT_FSYNC:
        require(is_bool(value), "BC_OPT_FSYNC takes 0 or 1");
        opt.fsync = value == 1;
        return BC_OK;
      case BC_OPT_CHECK_FILE:
        require(is_bool(value), "BC_OPT_CHECK_FILE takes 0 or 1");
        opt.check_file = value == 1;
        return BC_OK;
      case BC_OPT_LOCK_WAIT_MS:
        require(value >= 0, "BC_OPT_LOCK_WAIT_MS must not be negative");
        opt.lock_wait = std::chrono::milliseconds(value);
        return BC_OK;
      case BC_OPT_DIRECTORY_MODE:
        require(value >= 0 && value <= 07777, "BC_OPT_DIRECTORY_MODE must be 0..07777");
        opt.directory_mode = static_cast<unsigned>(value);
        return BC_OK;
      case BC_OPT_FILE_MODE:
        require(value >= 0 && value <= 07777, "BC_OPT_FILE_MODE must be 0..07777");
        opt.file_mode = static_cast<unsigned>(value);
        return BC_OK;
      case BC_OPT_STORE_KEYS:
        require(is_bool(value), "BC_OPT_STORE_KEYS takes 0 or 1");
        opt.store_keys = value == 1;
        return BC_OK;
      case BC_OPT_SIZE_LIMIT_BYTES:
        require(value >= 0, "BC_OPT_SIZE_LIMIT_BYTES must not be negative (0 = no limit)");
        opt.size_limit_bytes = static_cast<std::uint64_t>(value);
        return BC_OK;
      case BC_OPT_STALE_TTL_US:
        require(value >= 0, "BC_OPT_STALE_TTL_US must not be negative");
        opt.stale_ttl = std::chrono::microseconds(value);
        return BC_OK;
      case BC_OPT_DISABLED:
        require(is_bool(value), "BC_OPT_DISABLED takes 0 or 1");
        opt.disabled = value == 1;
        return BC_OK;
      case BC_OPT_ENTRY_SIZE_LIMIT_BYTES:
        require(value >= 0, "BC_OPT_ENTRY_SIZE_LIMIT_BYTES must not be negative");
        opt.entry_size_limit_bytes = static_cast<std::size_t>(value);
        return BC_OK;
      case BC_OPT_TIMEOUT_MS:
        require(value >= 1 && value <= 24 * 3600 * 1000,
                "BC_OPT_TIMEOUT_MS must be 1..86400000 (milliseconds)");
        o->location.timeout = std::chrono::milliseconds(value);
        return BC_OK;
      case BC_OPT_NEAR_CACHE_TTL_MS:
        require(value >= 1 && value <= 24 * 3600 * 1000,
                "BC_OPT_NEAR_CACHE_TTL_MS must be 1..86400000 (milliseconds)");
        o->location.near_cache_max_age = std::chrono::milliseconds(value);
        return BC_OK;
      case BC_OPT_BACKEND:
      case BC_OPT_KEY_FORMAT:
      case BC_OPT_STORE:
      case BC_OPT_NEAR_CACHE_DIR:
      case BC_OPT_EVICTION:
        return fail(BC_EINVAL, "this option takes a string: use bc_options_set_str");
      default:
        return fail(BC_EUNSUPPORTED, ("unknown option " + std::to_string(option)).c_str());
    }
  });
}

int bc_options_set_str(bc_options* o, int option, const char* value) {
  return guard([&] {
    require(o != nullptr, "bc_options_set_str: options is NULL");
    require(value != nullptr, "bc_options_set_str: value is NULL");
    const std::string v(value);
    switch (option) {
      case BC_OPT_BACKEND:
        require(bucketcache::capi::valid_backend(v),
                "BC_OPT_BACKEND must be 1-15 printable ASCII characters (\"raw\", \"json\", "
                "\"msgpack\", \"pickle\" or a binding's own backend id)");
        o->backend = v;
        return BC_OK;
      case BC_OPT_KEY_FORMAT:
        require(v == "raw" || v == "json", "BC_OPT_KEY_FORMAT must be \"raw\" or \"json\"");
        o->key_format = v;
        return BC_OK;
      case BC_OPT_STORE:
        bc::cache::check_store(v);  // BC_EINVAL
        o->location.store = v;
        return BC_OK;
      case BC_OPT_EVICTION:
        require(v == "lrs" || v == "lru", "BC_OPT_EVICTION must be \"lrs\" or \"lru\"");
        o->options.eviction = v == "lru" ? bc::Eviction::lru : bc::Eviction::lrs;
        return BC_OK;
      case BC_OPT_NEAR_CACHE_DIR:
        require(!v.empty(), "BC_OPT_NEAR_CACHE_DIR is empty");
        o->location.near_cache_dir = v;
        return BC_OK;
      case BC_OPT_TIMEOUT_MS:
      case BC_OPT_NEAR_CACHE_TTL_MS:
      case BC_OPT_LIFETIME_US:
      case BC_OPT_MEMORY_LIMIT_BYTES:
      case BC_OPT_DEFERRED:
      case BC_OPT_FSYNC:
      case BC_OPT_CHECK_FILE:
      case BC_OPT_LOCK_WAIT_MS:
      case BC_OPT_DIRECTORY_MODE:
      case BC_OPT_FILE_MODE:
      case BC_OPT_STORE_KEYS:
      case BC_OPT_SIZE_LIMIT_BYTES:
      case BC_OPT_STALE_TTL_US:
      case BC_OPT_DISABLED:
      case BC_OPT_ENTRY_SIZE_LIMIT_BYTES:
        return fail(BC_EINVAL, "this option takes an integer: use bc_options_set_int");
      default:
        return fail(BC_EUNSUPPORTED, ("unknown option " + std::to_string(option)).c_str());
    }
  });
}

int bc_bucket_open(bc_bucket** out, const char* path, const bc_options* o) {
  return guard([&] {
    require(out != nullptr, "bc_bucket_open: out is NULL");
    *out = nullptr;
    require(path != nullptr, "bc_bucket_open: path is NULL");
    const bc_options defaults;
    *out = new bc_bucket(path, o != nullptr ? *o : defaults);
    return BC_OK;
  });
}

void bc_bucket_close(bc_bucket* b) {
  delete b;  // ~DeferredWrites syncs and logs a failure
}

int bc_set(bc_bucket* b, const void* key, size_t klen, const void* val, size_t vlen) {
  return guard([&] {
    require(b != nullptr, "bc_set: bucket is NULL");
    const std::string_view v = bytes_arg(val, vlen, "value");
    const bc::cache::Key k = entry_key(b, key, klen);
    bucketcache::capi::check_value(b->handle.backend(), v);
    b->handle.ops().set(k, v);
    return BC_OK;
  });
}

int bc_get(bc_bucket* b, const void* key, size_t klen, bc_buf* out) {
  if (out != nullptr) *out = bc_buf{nullptr, 0};
  return guard([&] {
    require(b != nullptr, "bc_get: bucket is NULL");
    require(out != nullptr, "bc_get: out is NULL");
    bc::Entry e;
    MallocSink value;
    const int rc = read_status_code(b->handle.ops().get_into(key_digest(b, key, klen), e, value));
    if (rc == BC_OK) value.give(out);
    return rc;
  });
}

int bc_get_expiry(bc_bucket* b, const void* key, size_t klen, int64_t* expires_us) {
  return guard([&] {
    require(b != nullptr, "bc_get_expiry: bucket is NULL");
    require(expires_us != nullptr, "bc_get_expiry: expires_us is NULL");
    bc::Entry e;
    const int rc = read_status_code(read_entry(b, key_digest(b, key, klen), e));
    if (rc == BC_OK) *expires_us = e.expires_us;
    return rc;
  });
}

int bc_delete(bc_bucket* b, const void* key, size_t klen) {
  return guard([&] {
    require(b != nullptr, "bc_delete: bucket is NULL");
    const bool removed = b->handle.ops().erase(key_digest(b, key, klen));
    return removed ? BC_OK : fail(BC_ENOTFOUND, "no entry for key");
  });
}

int bc_contains(bc_bucket* b, const void* key, size_t klen) {
  return guard([&] {
    require(b != nullptr, "bc_contains: bucket is NULL");
    return b->handle.ops().contains(key_digest(b, key, klen)) ? 1 : 0;
  });
}

int bc_unload_key(bc_bucket* b, const void* key, size_t klen) {
  return guard([&] {
    require(b != nullptr, "bc_unload_key: bucket is NULL");
    b->handle.ops().unload_key(key_digest(b, key, klen));
    return BC_OK;
  });
}

int bc_sync(bc_bucket* b) {
  return guard([&] {
    require(b != nullptr, "bc_sync: bucket is NULL");
    b->handle.ops().sync();
    return BC_OK;
  });
}

int bc_discard(bc_bucket* b, size_t* dropped) {
  return guard([&] {
    require(b != nullptr, "bc_discard: bucket is NULL");
    const std::size_t n = b->handle.ops().discard();
    if (dropped != nullptr) *dropped = n;
    return BC_OK;
  });
}

int bc_pending_count(bc_bucket* b, size_t* out) {
  return guard([&] {
    require(b != nullptr, "bc_pending_count: bucket is NULL");
    require(out != nullptr, "bc_pending_count: out is NULL");
    *out = b->handle.ops().pending_count();
    return BC_OK;
  });
}

int bc_prune_directory(bc_bucket* b, bc_prune_info* out) {
  return guard([&] {
    require(b != nullptr, "bc_prune_directory: bucket is NULL");
    const bc::PrunedFilesInfo info = b->handle.store().prune_directory();
    if (out != nullptr) *out = bc_prune_info{info.bytes, info.files};
    return BC_OK;
  });
}

}  // extern "C"

namespace {

// Turns a compute callback's result into the value's bytes (BC_EUSER for a non-zero
// return). Refers to the caller's key and backend: valid during the call only.
struct CCompute {
  bc_compute_fn fn;
  void* user;
  std::string_view key;
  std::string_view backend;
  bool key_null;
  std::string operator()() const {
    // size starts out impossible, so a callback that returns 0 without setting *out (a
    // foreign-call layer giving up on a callback, say) is an error, not an empty value.
    bc_buf produced{nullptr, SIZE_MAX};
    const int rc = fn(user, key_null ? nullptr : key.data(), key.size(), &produced);
    if (rc != 0) {
      throw bc::Error(bc::ErrorCode::user,
                      "compute callback returned " + std::to_string(rc) + "; nothing cached");
    }
    if (produced.size == SIZE_MAX) {
      throw bc::Error(bc::ErrorCode::user,
                      "compute callback returned 0 without setting out->size; nothing cached");
    }
    std::string bytes(bytes_arg(produced.data, produced.size, "computed value"));
    bucketcache::capi::check_value(std::string(backend), bytes);
    return bytes;
  }
};

// CCompute with its own copies of the key and backend: what a refresh on a library thread
// (BC_OPT_STALE_TTL_US) may call after the call that made it returned.
struct OwnedCCompute {
  bc_compute_fn fn;
  void* user;
  std::string key;
  std::string backend;
  bool key_null;
  std::string operator()() const { return CCompute{fn, user, key, backend, key_null}(); }
};

int get_or_compute_call(const char* name, bc_bucket* b, const void* key, size_t klen,
                        bc_compute_fn fn, void* user, int64_t max_age_us, int flags, bc_buf* out,
                        int* hit, int64_t* expires_us) {
  if (out != nullptr) *out = bc_buf{nullptr, 0};
  return guard([&] {
    // Messages are built only on failure: this is the memoized hit's path.
    const auto invalid = [name](const std::string& what) {
      throw bc::InvalidArgument(std::string(name) + ": " + what);
    };
    if (b == nullptr) invalid("bucket is NULL");
    if (fn == nullptr) invalid("fn is NULL");
    if (out == nullptr) invalid("out is NULL");
    if ((flags & ~(BC_CALL_REFRESH | BC_CALL_SKIP_CACHE)) != 0) {
      invalid("unknown flags " + std::to_string(flags));
    }
    if (flags == (BC_CALL_REFRESH | BC_CALL_SKIP_CACHE)) {
      invalid("BC_CALL_REFRESH and BC_CALL_SKIP_CACHE exclude each other");
    }
    if (max_age_us < 0) invalid("max_age_us must not be negative");
    const bc::cache::Key k = entry_key(b, key, klen);
    const CCompute compute{fn, user, bytes_arg(key, klen, "key"), b->handle.backend(),
                           key == nullptr};
    bc::ComputeCall call;
    call.max_age_us = max_age_us;
    call.refresh = (flags & BC_CALL_REFRESH) != 0;
    call.skip_cache = (flags & BC_CALL_SKIP_CACHE) != 0;
    if (b->handle.store().option(bc::OptionKey::stale_ttl_us) > 0) {
      call.background = OwnedCCompute{fn, user, std::string(compute.key),
                                      std::string(compute.backend), compute.key_null};
    }
    bool was_hit = false;
    const bc::Entry e = b->handle.ops().get_or_compute(k, std::cref(compute), call, &was_hit);
    give(out, *e.value);
    if (hit != nullptr) *hit = was_hit ? 1 : 0;
    if (expires_us != nullptr) *expires_us = e.expires_us;
    return BC_OK;
  });
}

}  // namespace

extern "C" {

int bc_get_or_compute(bc_bucket* b, const void* key, size_t klen, bc_compute_fn fn, void* user,
                      bc_buf* out, int* hit) {
  return get_or_compute_call("bc_get_or_compute", b, key, klen, fn, user, 0, 0, out, hit, nullptr);
}

int bc_get_or_compute_ex(bc_bucket* b, const void* key, size_t klen, bc_compute_fn fn, void* user,
                         int64_t max_age_us, int flags, bc_buf* out, int* hit,
                         int64_t* expires_us) {
  return get_or_compute_call("bc_get_or_compute_ex", b, key, klen, fn, user, max_age_us, flags, out,
                             hit, expires_us);
}

int bc_set_ex(bc_bucket* b, const void* key, size_t klen, const void* val, size_t vlen,
              int64_t lifetime_us) {
  return guard([&] {
    require(b != nullptr, "bc_set_ex: bucket is NULL");
    const std::string_view v = bytes_arg(val, vlen, "value");
    const bc::cache::Key k = entry_key(b, key, klen);
    bucketcache::capi::check_value(b->handle.backend(), v);
    b->handle.ops().write_through().set_ex(k.ref(), v, lifetime_us);
    return BC_OK;
  });
}

int bc_add(bc_bucket* b, const void* key, size_t klen, const void* val, size_t vlen,
           int64_t lifetime_us) {
  return guard([&] {
    require(b != nullptr, "bc_add: bucket is NULL");
    const std::string_view v = bytes_arg(val, vlen, "value");
    const bc::cache::Key k = entry_key(b, key, klen);
    bucketcache::capi::check_value(b->handle.backend(), v);
    return b->handle.ops().write_through().add(k.ref(), v, lifetime_us)
               ? BC_OK
               : fail(BC_EEXISTS, "the key already has a usable entry");
  });
}

int bc_touch(bc_bucket* b, const void* key, size_t klen, int64_t lifetime_us) {
  return guard([&] {
    require(b != nullptr, "bc_touch: bucket is NULL");
    const bc::Digest d = key_digest(b, key, klen);
    return b->handle.ops().write_through().touch(d, lifetime_us)
               ? BC_OK
               : fail(BC_ENOTFOUND, "no usable entry for key");
  });
}

int bc_incr(bc_bucket* b, const void* key, size_t klen, int64_t delta, int64_t initial,
            int64_t* out) {
  return guard([&] {
    require(b != nullptr, "bc_incr: bucket is NULL");
    const bc::cache::Key k = entry_key(b, key, klen);
    const std::string& backend = b->handle.backend();
    // A backend without integers is BC_EINVAL before any lock is taken.
    bucketcache::capi::parse_integer(backend, bucketcache::capi::format_integer(backend, 0));
    int64_t result = 0;
    b->handle.ops().write_through().update(k.ref(), [&](const bc::Entry* current) {
      const int64_t base =
          current != nullptr ? bucketcache::capi::parse_integer(backend, *current->value) : initial;
      if (__builtin_add_overflow(base, delta, &result)) {
        throw bc::InvalidArgument("bc_incr: " + std::to_string(base) + " + " +
                                  std::to_string(delta) +
                                  " overflows int64; the value is unchanged");
      }
      return bucketcache::capi::format_integer(backend, result);
    });
    if (out != nullptr) *out = result;
    return BC_OK;
  });
}

int bc_get_ex(bc_bucket* b, const void* key, size_t klen, int64_t max_age_us, bc_buf* out,
              int64_t* expires_us) {
  if (out != nullptr) *out = bc_buf{nullptr, 0};
  return guard([&] {
    require(b != nullptr, "bc_get_ex: bucket is NULL");
    require(out != nullptr, "bc_get_ex: out is NULL");
    bc::Entry e;
    MallocSink value;
    const int rc = read_status_code(b->handle.ops().get_into(key_digest(b, key, klen), e, value));
    if (rc != BC_OK) return rc;
    if (max_age_us > 0 && bc::older_than(e.created_us, max_age_us, bc::now_us())) {
      return fail(BC_ENOTFOUND, "entry is older than max_age (kept)");
    }
    value.give(out);
    if (expires_us != nullptr) *expires_us = e.expires_us;
    return BC_OK;
  });
}

int bc_pop(bc_bucket* b, const void* key, size_t klen, bc_buf* out) {
  if (out != nullptr) *out = bc_buf{nullptr, 0};
  return guard([&] {
    require(b != nullptr, "bc_pop: bucket is NULL");
    require(out != nullptr, "bc_pop: out is NULL");
    const bc::Digest d = key_digest(b, key, klen);
    bc::Entry e;
    if (!b->handle.ops().write_through().pop(d, e))
      return fail(BC_ENOTFOUND, "no usable entry for key");
    give(out, *e.value);
    return BC_OK;
  });
}

int bc_clear(bc_bucket* b, uint64_t* removed) {
  return guard([&] {
    require(b != nullptr, "bc_clear: bucket is NULL");
    b->handle.ops().discard();
    const std::uint64_t n = b->handle.store().clear();
    if (removed != nullptr) *removed = n;
    return BC_OK;
  });
}

int bc_foreach(bc_bucket* b, bc_entry_fn fn, void* user) {
  return guard([&] {
    require(b != nullptr, "bc_foreach: bucket is NULL");
    require(fn != nullptr, "bc_foreach: fn is NULL");
    int stopped_with = 0;
    b->handle.ops().write_through().for_each([&](const bc::EntryInfo& info) {
      stopped_with = fn(user, info.key_bytes.empty() ? nullptr : info.key_bytes.data(),
                        info.key_bytes.size(), info.size, info.created_us, info.expires_us);
      return stopped_with == 0;
    });
    if (stopped_with != 0) {
      return fail(BC_EUSER,
                  ("bc_foreach: the callback returned " + std::to_string(stopped_with)).c_str());
    }
    return BC_OK;
  });
}

int bc_stat(bc_bucket* b, int which, uint64_t* out) {
  return guard([&] {
    require(b != nullptr, "bc_stat: bucket is NULL");
    require(out != nullptr, "bc_stat: out is NULL");
    require(which >= BC_STAT_HITS && which <= BC_STAT_BYTES,
            "bc_stat: which must be one of BC_STAT_HITS..BC_STAT_BYTES (1..7)");
    *out = 0;
    const bc::Stats s = b->handle.store().stats(which >= BC_STAT_ENTRIES);
    switch (which) {
      case BC_STAT_HITS:
        *out = s.hits;
        break;
      case BC_STAT_MISSES:
        *out = s.misses;
        break;
      case BC_STAT_WRITES:
        *out = s.writes;
        break;
      case BC_STAT_EVICTIONS:
        *out = s.evictions;
        break;
      case BC_STAT_EXPIRED:
        *out = s.expired;
        break;
      case BC_STAT_ENTRIES:
        *out = s.entries;
        break;
      default:
        *out = s.bytes;
        break;
    }
    return BC_OK;
  });
}

int bc_stat_reset(bc_bucket* b) {
  return guard([&] {
    require(b != nullptr, "bc_stat_reset: bucket is NULL");
    b->handle.store().reset_stats();
    return BC_OK;
  });
}

int bc_get_into_buffer(bc_bucket* b, const void* key, size_t klen, int64_t max_age_us, void* dst,
                       size_t cap, bc_buf* out) {
  if (out != nullptr) *out = bc_buf{nullptr, 0};
  return guard([&] {
    require(b != nullptr, "bc_get_into_buffer: bucket is NULL");
    require(out != nullptr, "bc_get_into_buffer: out is NULL");
    require(dst != nullptr || cap == 0, "bc_get_into_buffer: dst is NULL but cap is not 0");
    bc::Entry e;
    const int rc = read_status_code(read_entry(b, key_digest(b, key, klen), e));
    if (rc != BC_OK) return rc;
    if (max_age_us > 0 && bc::older_than(e.created_us, max_age_us, bc::now_us())) {
      return fail(BC_ENOTFOUND, "entry is older than max_age (kept)");
    }
    const std::string& value = *e.value;
    if (value.size() > cap) {
      give(out, value);
      return BC_OK;
    }
    if (!value.empty()) std::memcpy(dst, value.data(), value.size());
    out->size = value.size();
    return BC_OK;
  });
}

void bc_buf_dispose(bc_buf* buf) {
  if (buf == nullptr) return;
  std::free(buf->data);
  buf->data = nullptr;
  buf->size = 0;
}

const char* bc_strerror(int code) { return bc::error_code_name(static_cast<bc::ErrorCode>(code)); }

const char* bc_last_error_message(void) { return last_error.c_str(); }

const char* bc_version_string(void) { return bc::version_string(); }

unsigned bc_version_number(void) {
  return BUCKETCACHE_VERSION_MAJOR * 10000u + BUCKETCACHE_VERSION_MINOR * 100u +
         BUCKETCACHE_VERSION_PATCH;
}

unsigned bc_format_version(void) { return BC_FORMAT_VERSION; }

int bc_canonical_key(bc_buf* out, const void* json, size_t len) {
  if (out != nullptr) *out = bc_buf{nullptr, 0};
  return guard([&] {
    require(out != nullptr, "bc_canonical_key: out is NULL");
    give(out, bc::canonicalize_json(bytes_arg(json, len, "json")));
    return BC_OK;
  });
}

int bc_set_log_level(int level) {
  return guard([&] {
    require(level >= BC_LOG_TRACE && level <= BC_LOG_OFF, "unknown log level");
    bc::set_log_level(static_cast<bc::LogLevel>(level));
    return BC_OK;
  });
}

int bc_set_log_callback(bc_log_fn fn, void* user) {
  return guard([&] {
    if (fn == nullptr) {
      bc::set_log_callback(nullptr);
    } else {
      bc::set_log_callback([fn, user](bc::LogLevel level, std::string_view message) {
        fn(user, static_cast<int>(level), message.data(), message.size());
      });
    }
    return BC_OK;
  });
}

int bc_set_log_full_keys(int on) {
  return guard([&] {
    require(on == 0 || on == 1, "bc_set_log_full_keys takes 0 or 1");
    bc::set_log_full_keys(on == 1);
    return BC_OK;
  });
}

}  // extern "C"
