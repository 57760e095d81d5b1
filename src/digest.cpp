#include "bucketcache/digest.hpp"

#include <openssl/evp.h>

#include <stdexcept>

#include "bucketcache/error.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

namespace {
constexpr char kDigestDomain[] = "bucketcache-key-v1";

[[noreturn]] void fail(const char* what) { throw Error(ErrorCode::other, what); }
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
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

KeyHasher::KeyHasher(std::string_view backend_id, std::string_view keymaker_id)
    : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  if (impl_->ctx == nullptr) throw std::bad_alloc();
  if (EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1) fail("EVP_DigestInit_ex failed");
  static const char zero = '\0';
  write(kDigestDomain, sizeof(kDigestDomain) - 1);
  write(&zero, 1);
  write(backend_id.data(), backend_id.size());
  write(&zero, 1);
  write(keymaker_id.data(), keymaker_id.size());
  write(&zero, 1);
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
  KeyHasher h(backend_id, keymaker_id);
  h.write(key_bytes.data(), key_bytes.size());
  return h.finish();
}

BUCKETCACHE_NAMESPACE_END
