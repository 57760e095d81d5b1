#include "bucketcache/digest.hpp"

// SHA-256 through OpenSSL EVP. For speed (a short key is hashed in ~100 ns), the digest is
// fetched once and each thread reuses one context: EVP_DigestInit_ex2 on a finished
// context of the same digest reuses its provider state instead of allocating a new one.
#include <openssl/evp.h>

#include <cstring>
#include <stdexcept>

#include "bucketcache/error.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

namespace {
constexpr char kDigestDomain[] = "bucketcache-key-v1";

[[noreturn]] void fail(const char* what) { throw Error(ErrorCode::other, what); }

// SHA-256 fetched once: an implicit fetch on every EVP_DigestInit_ex costs more than
// hashing a short key.
const EVP_MD* sha256() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md != nullptr ? md : EVP_sha256();
}

// Each thread keeps one spare context, so hashing a key allocates nothing in the common
// case of one hasher at a time per thread.
struct SpareContext {
  EVP_MD_CTX* ctx = nullptr;
  ~SpareContext() { EVP_MD_CTX_free(ctx); }
};
thread_local SpareContext spare;

EVP_MD_CTX* take_context() {
  EVP_MD_CTX* ctx = spare.ctx;
  spare.ctx = nullptr;
  return ctx != nullptr ? ctx : EVP_MD_CTX_new();
}

void return_context(EVP_MD_CTX* ctx) {
  if (spare.ctx == nullptr) {
    spare.ctx = ctx;  // not reset: the next EVP_DigestInit_ex2 reuses its state
  } else {
    EVP_MD_CTX_free(ctx);
  }
}

// A context borrowed for one digest and given back on every path.
class BorrowedContext {
 public:
  BorrowedContext() : ctx_(take_context()) {
    if (ctx_ == nullptr) throw std::bad_alloc();
    if (EVP_DigestInit_ex2(ctx_, sha256(), nullptr) != 1) {
      EVP_MD_CTX_free(ctx_);
      ctx_ = nullptr;
      fail("EVP_DigestInit_ex2 failed");
    }
  }
  ~BorrowedContext() {
    if (ctx_ != nullptr) return_context(ctx_);
  }
  BorrowedContext(const BorrowedContext&) = delete;
  BorrowedContext& operator=(const BorrowedContext&) = delete;
  EVP_MD_CTX* get() const { return ctx_; }
  EVP_MD_CTX* release() {
    EVP_MD_CTX* c = ctx_;
    ctx_ = nullptr;
    return c;
  }

 private:
  EVP_MD_CTX* ctx_;
};

void update(EVP_MD_CTX* ctx, const void* data, std::size_t size) {
  if (size != 0 && EVP_DigestUpdate(ctx, data, size) != 1) fail("EVP_DigestUpdate failed");
}

Digest finish_digest(EVP_MD_CTX* ctx) {
  Digest d;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, d.bytes.data(), &len) != 1 || len != d.bytes.size()) {
    fail("EVP_DigestFinal_ex failed");
  }
  return d;
}
}  // namespace

std::string Digest::hex() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return out;
}

KeySink::~KeySink() = default;

namespace {

// The prefix "bucketcache-key-v1\0<backend>\0<keymaker>\0", followed by `key` when the whole
// fits in buf (then one update does it all). Returns the bytes written, or 0 if it does not
// fit.
std::size_t gather(char* buf, std::size_t cap, std::string_view backend_id,
                   std::string_view keymaker_id, std::string_view key) {
  const std::size_t n =
      sizeof(kDigestDomain) + backend_id.size() + keymaker_id.size() + 2 + key.size();
  if (n > cap) return 0;
  char* p = buf;
  std::memcpy(p, kDigestDomain, sizeof(kDigestDomain));  // includes the terminating NUL
  p += sizeof(kDigestDomain);
  if (!backend_id.empty()) std::memcpy(p, backend_id.data(), backend_id.size());
  p += backend_id.size();
  *p++ = '\0';
  if (!keymaker_id.empty()) std::memcpy(p, keymaker_id.data(), keymaker_id.size());
  p += keymaker_id.size();
  *p++ = '\0';
  if (!key.empty()) std::memcpy(p, key.data(), key.size());
  return n;
}

void update_prefix(EVP_MD_CTX* ctx, std::string_view backend_id, std::string_view keymaker_id) {
  static constexpr char kNul = '\0';
  update(ctx, kDigestDomain, sizeof(kDigestDomain));
  update(ctx, backend_id.data(), backend_id.size());
  update(ctx, &kNul, 1);
  update(ctx, keymaker_id.data(), keymaker_id.size());
  update(ctx, &kNul, 1);
}

}  // namespace

struct KeyHasher::Impl {
  EVP_MD_CTX* ctx = nullptr;
  bool finished = false;
  ~Impl() {
    if (ctx != nullptr) return_context(ctx);
  }
};

KeyHasher::KeyHasher(std::string_view backend_id, std::string_view keymaker_id)
    : impl_(std::make_unique<Impl>()) {
  BorrowedContext ctx;
  update_prefix(ctx.get(), backend_id, keymaker_id);
  impl_->ctx = ctx.release();
}

KeyHasher::~KeyHasher() = default;

void KeyHasher::write(const char* data, std::size_t size) {
  if (impl_->finished) throw Error(ErrorCode::other, "KeyHasher::write after finish");
  update(impl_->ctx, data, size);
}

Digest KeyHasher::finish() {
  if (impl_->finished) throw Error(ErrorCode::other, "KeyHasher::finish called twice");
  impl_->finished = true;
  return finish_digest(impl_->ctx);
}

Digest digest_key(std::string_view backend_id, std::string_view keymaker_id,
                  std::string_view key_bytes) {
  BorrowedContext ctx;
  char buf[256];
  if (const std::size_t n = gather(buf, sizeof(buf), backend_id, keymaker_id, key_bytes)) {
    update(ctx.get(), buf, n);  // short keys: one update for prefix and key
  } else {
    update_prefix(ctx.get(), backend_id, keymaker_id);
    update(ctx.get(), key_bytes.data(), key_bytes.size());
  }
  return finish_digest(ctx.get());
}

BUCKETCACHE_NAMESPACE_END
