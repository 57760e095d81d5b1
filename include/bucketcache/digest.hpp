// Entry digests: the SHA-256 that names an entry's file.
//
// The digest of a key is SHA-256 over, in order:
//   "bucketcache-key-v1" 0x00 <backend id> 0x00 <keymaker id> 0x00 <key bytes>
// where <key bytes> is the key's canonical form (JSON keymakers) or the raw bytes
// (RawKeyMaker). docs/on-disk-format.md specifies this; it never changes within
// BC_FORMAT_VERSION 1 or 2.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "bucketcache/export.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

struct Digest {
  std::array<unsigned char, 32> bytes{};
  // Lowercase hex, 64 characters.
  BUCKETCACHE_API std::string hex() const;
  friend bool operator==(const Digest& a, const Digest& b) { return a.bytes == b.bytes; }
  friend bool operator!=(const Digest& a, const Digest& b) { return !(a == b); }
};

// A key as a store receives it for writing: the digest that names its entry and, when
// known, the key's bytes (its canonical JSON or raw bytes), which the entry keeps so that
// listings and checks can show and verify it. A Digest converts to a KeyRef without bytes
// (the entry then records that its key is omitted).
struct KeyRef {
  Digest digest;
  std::string_view bytes;
  bool has_bytes = false;
  KeyRef(const Digest& d) : digest(d) {}  // NOLINT(google-explicit-constructor)
  KeyRef(const Digest& d, std::string_view b) : digest(d), bytes(b), has_bytes(true) {}
};

// Receives the canonical bytes of a key, piece by piece.
class BUCKETCACHE_API KeySink {
 public:
  virtual ~KeySink();
  virtual void write(const char* data, std::size_t size) = 0;
};

// Incremental SHA-256 (OpenSSL EVP) of a key; memory use is constant whatever the key size.
// Construction feeds the prefix above; write() feeds key bytes; finish() returns the digest
// and may be called once.
class BUCKETCACHE_API KeyHasher final : public KeySink {
 public:
  KeyHasher(std::string_view backend_id, std::string_view keymaker_id);
  ~KeyHasher() override;
  KeyHasher(const KeyHasher&) = delete;
  KeyHasher& operator=(const KeyHasher&) = delete;

  void write(const char* data, std::size_t size) override;
  Digest finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-shot digest of complete key bytes.
BUCKETCACHE_API Digest digest_key(std::string_view backend_id, std::string_view keymaker_id,
                                  std::string_view key_bytes);

BUCKETCACHE_NAMESPACE_END
