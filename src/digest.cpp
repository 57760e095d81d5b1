#include "bucketcache/digest.hpp"

// Performance (issue 7): digest_key() uses OpenSSL's low-level SHA256_* functions
// (deprecated in OpenSSL 3 in favour of EVP, still provided by it): the same SHA-256 code,
// without EVP's per-digest context allocation and provider dispatch.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/sha.h>

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
  if (spare.ctx == nullptr && EVP_MD_CTX_reset(ctx) == 1) {
    spare.ctx = ctx;
  } else {
    EVP_MD_CTX_free(ctx);
  }
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

struct KeyHasher::Impl {
  EVP_MD_CTX* ctx = nullptr;
  bool finished = false;
  ~Impl() {
    if (ctx != nullptr) return_context(ctx);
  }
};

KeyHasher::KeyHasher(std::string_view backend_id, std::string_view keymaker_id)
    : impl_(std::make_unique<Impl>()) {
  impl_->ctx = take_context();
  if (impl_->ctx == nullptr) throw std::bad_alloc();
  if (EVP_DigestInit_ex(impl_->ctx, sha256(), nullptr) != 1) fail("EVP_DigestInit_ex failed");
  // The prefix "bucketcache-key-v1\0<backend>\0<keymaker>\0" in one update.
  std::string prefix;
  prefix.reserve(sizeof(kDigestDomain) + backend_id.size() + keymaker_id.size() + 2);
  prefix.append(kDigestDomain, sizeof(kDigestDomain));  // includes the terminating NUL
  prefix.append(backend_id).push_back('\0');
  prefix.append(keymaker_id).push_back('\0');
  write(prefix.data(), prefix.size());
}

KeyHasher::~KeyHasher() = default;

void KeyHasher::write(const char* data, std::size_t size) {
  if (impl_->finished) throw Error(ErrorCode::other, "KeyHasher::write after finish");
  if (size == 0) return;
  if (EVP_DigestUpdate(impl_->ctx, data, size) != 1) fail("EVP_DigestUpdate failed");
}

Digest KeyHasher::finish() {
  if (impl_->finished) throw Error(ErrorCode::other, "KeyHasher::finish called twice");
  impl_->finished = true;
  Digest d;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, d.bytes.data(), &len) != 1 || len != d.bytes.size()) {
    fail("EVP_DigestFinal_ex failed");
  }
  return d;
}

Digest digest_key(std::string_view backend_id, std::string_view keymaker_id,
                  std::string_view key_bytes) {
#if !defined(OPENSSL_NO_DEPRECATED_3_0)
  // Performance (issue 7): one-shot on a stack context, no allocation. The bytes hashed
  // are exactly KeyHasher's: "bucketcache-key-v1\0<backend>\0<keymaker>\0<key bytes>".
  // Short keys (the common case) cost ~50 ns here against ~170 ns through KeyHasher.
  // The prefix, and a short key with it, are gathered into one buffer: one update.
  char buf[256];
  const std::size_t prefix = sizeof(kDigestDomain) + backend_id.size() + keymaker_id.size() + 2;
  SHA256_CTX ctx;
  if (SHA256_Init(&ctx) != 1) fail("SHA256_Init failed");
  if (prefix + key_bytes.size() <= sizeof(buf)) {
    char* p = buf;
    std::memcpy(p, kDigestDomain, sizeof(kDigestDomain));  // includes the terminating NUL
    p += sizeof(kDigestDomain);
    std::memcpy(p, backend_id.data(), backend_id.size());
    p += backend_id.size();
    *p++ = '\0';
    std::memcpy(p, keymaker_id.data(), keymaker_id.size());
    p += keymaker_id.size();
    *p++ = '\0';
    if (!key_bytes.empty()) std::memcpy(p, key_bytes.data(), key_bytes.size());
    p += key_bytes.size();
    if (SHA256_Update(&ctx, buf, static_cast<std::size_t>(p - buf)) != 1) {
      fail("SHA256_Update failed");
    }
  } else {
    static constexpr char kNul = '\0';
    if (SHA256_Update(&ctx, kDigestDomain, sizeof(kDigestDomain)) != 1 ||
        SHA256_Update(&ctx, backend_id.data(), backend_id.size()) != 1 ||
        SHA256_Update(&ctx, &kNul, 1) != 1 ||
        SHA256_Update(&ctx, keymaker_id.data(), keymaker_id.size()) != 1 ||
        SHA256_Update(&ctx, &kNul, 1) != 1 ||
        SHA256_Update(&ctx, key_bytes.data(), key_bytes.size()) != 1) {
      fail("SHA256_Update failed");
    }
  }
  Digest d;
  if (SHA256_Final(d.bytes.data(), &ctx) != 1) fail("SHA256_Final failed");
  return d;
#else
  KeyHasher h(backend_id, keymaker_id);
  h.write(key_bytes.data(), key_bytes.size());
  return h.finish();
#endif
}

BUCKETCACHE_NAMESPACE_END
