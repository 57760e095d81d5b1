// The entry format, version 2 (docs/on-disk-format.md is the specification). Every store
// keeps these bytes (a file's content, a Redis value), so checksums, times and keys mean
// the same everywhere.
//
// An entry is a 128-byte header, then the key bytes, then the value bytes. All integers
// are little-endian.
//   off size field
//     0    8 magic "BKTCACHE"
//     8    2 format version (2)
//    10    2 header size (128)
//    12    4 flags: bit 0 explicit lifetime, bit 1 key omitted; other bits: foreign
//    16   16 backend id, ASCII, NUL-padded
//    32   16 keymaker id, ASCII, NUL-padded
//    48    8 created, microseconds since the Unix epoch (signed)
//    56    8 expires, microseconds since the Unix epoch, 0 = never (signed)
//    64    8 value length
//    72    4 CRC-32 (zlib) of the key bytes followed by the value bytes
//    76    4 key length (0 when the key is omitted)
//    80   32 key digest (SHA-256, see digest.hpp)
//   112   12 reserved, 0
//   124    4 CRC-32 (zlib) of header bytes 0..123
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bucketcache/digest.hpp"

namespace bucketcache {
inline namespace v1 {
namespace format {

inline constexpr std::size_t kHeaderSize = 128;
inline constexpr std::uint16_t kFormatVersion = 2;
// The entry was given its own lifetime (set_ex, add, touch): the bucket's lifetime rule
// does not apply to it.
inline constexpr std::uint32_t kExplicitLifetime = 1u << 0;
// The key bytes are not stored (an option for secret keys): listings show the digest.
inline constexpr std::uint32_t kKeyOmitted = 1u << 1;
inline constexpr std::uint32_t kKnownFlags = kExplicitLifetime | kKeyOmitted;
inline constexpr char kMagic[8] = {'B', 'K', 'T', 'C', 'A', 'C', 'H', 'E'};
inline constexpr std::size_t kIdSize = 16;  // ids hold at most 15 characters
inline constexpr const char* kEntrySuffix = ".bce";
inline constexpr const char* kTempPrefix = ".tmp-";
// Files renamed aside to be deleted if still the entry judged (file store).
inline constexpr const char* kAsidePrefix = ".del-";

struct EntryHeader {
  std::string backend_id;
  std::string keymaker_id;
  std::int64_t created_us = 0;
  std::int64_t expires_us = 0;
  std::uint64_t value_length = 0;
  std::uint32_t payload_crc = 0;  // of key bytes then value bytes
  std::uint32_t key_length = 0;
  std::uint32_t flags = 0;
  Digest key;

  // Bytes of the whole entry: header, key, value; UINT64_MAX (larger than any file or
  // string) when the stated lengths do not fit in 64 bits, so damaged lengths never match
  // a stored size.
  std::uint64_t entry_size() const {
    const std::uint64_t fixed = kHeaderSize + std::uint64_t{key_length};
    return value_length > UINT64_MAX - fixed ? UINT64_MAX : fixed + value_length;
  }
};

enum class HeaderStatus {
  ok,
  bad_magic,     // not an entry file
  bad_checksum,  // header bytes damaged
  bad_version,   // another format version, header size or unknown flags
};

// Writes the 128-byte header (computing its own checksum) into out.
void encode_header(const EntryHeader& h, unsigned char* out);
// Reads a 128-byte header; fills h only when it returns ok.
HeaderStatus decode_header(const unsigned char* in, EntryHeader& h);

// CRC-32 (zlib's), continuing from `previous` (0 to start).
std::uint32_t crc32(std::string_view bytes, std::uint32_t previous = 0);
// The implementations crc32() chooses from (same values): `best` is what crc32() uses (512-bit
// VPCLMULQDQ folding from 256 bytes where the CPU has AVX-512, else 128-bit PCLMULQDQ from 64
// bytes, else zlib's tables); `pclmul` never takes the 512-bit path, `table` only zlib's. An
// implementation the CPU lacks falls back to the next one.
enum class Crc32Impl { best, pclmul, table };
std::uint32_t crc32_using(Crc32Impl impl, std::string_view bytes, std::uint32_t previous = 0);
// The header's payload checksum: CRC-32 of the key bytes, then the value bytes.
std::uint32_t payload_crc(std::string_view key_bytes, std::string_view value);

// Whether an id is 1..15 printable ASCII characters (0x21..0x7e).
bool valid_id(std::string_view id);

}  // namespace format
}  // namespace v1
}  // namespace bucketcache
