#include "entry_format.hpp"

#include <zlib.h>

#include <cstring>
#include <limits>

namespace bucketcache {
inline namespace v1 {
namespace format {

namespace {

template <class T>
void put_le(unsigned char* p, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    p[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(v) >> (8 * i));
  }
}

template <class T>
T get_le(const unsigned char* p) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return static_cast<T>(v);
}

void put_id(unsigned char* p, const std::string& id) {
  std::memset(p, 0, kIdSize);
  std::memcpy(p, id.data(), id.size() < kIdSize ? id.size() : kIdSize - 1);
}

std::string get_id(const unsigned char* p) {
  std::size_t n = 0;
  while (n < kIdSize && p[n] != 0) ++n;
  return std::string(reinterpret_cast<const char*>(p), n);
}

}  // namespace

std::uint32_t crc32(std::string_view bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  const auto* p = reinterpret_cast<const Bytef*>(bytes.data());
  std::size_t left = bytes.size();
  while (left > 0) {
    const uInt chunk = left > std::numeric_limits<uInt>::max() ? std::numeric_limits<uInt>::max()
                                                               : static_cast<uInt>(left);
    crc = ::crc32(crc, p, chunk);
    p += chunk;
    left -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

void encode_header(const EntryHeader& h, unsigned char* out) {
  std::memset(out, 0, kHeaderSize);
  std::memcpy(out, kMagic, sizeof(kMagic));
  put_le<std::uint16_t>(out + 8, kFormatVersion);
  put_le<std::uint16_t>(out + 10, static_cast<std::uint16_t>(kHeaderSize));
  put_le<std::uint32_t>(out + 12, 0);
  put_id(out + 16, h.backend_id);
  put_id(out + 32, h.keymaker_id);
  put_le<std::int64_t>(out + 48, h.created_us);
  put_le<std::int64_t>(out + 56, h.expires_us);
  put_le<std::uint64_t>(out + 64, h.value_length);
  put_le<std::uint32_t>(out + 72, h.value_crc);
  std::memcpy(out + 80, h.key.bytes.data(), h.key.bytes.size());
  const std::uint32_t hcrc =
      crc32(std::string_view(reinterpret_cast<const char*>(out), kHeaderSize - 4));
  put_le<std::uint32_t>(out + 124, hcrc);
}

HeaderStatus decode_header(const unsigned char* in, EntryHeader& h) {
  if (std::memcmp(in, kMagic, sizeof(kMagic)) != 0) return HeaderStatus::bad_magic;
  const std::uint32_t want = get_le<std::uint32_t>(in + 124);
  if (crc32(std::string_view(reinterpret_cast<const char*>(in), kHeaderSize - 4)) != want) {
    return HeaderStatus::bad_checksum;
  }
  if (get_le<std::uint16_t>(in + 8) != kFormatVersion ||
      get_le<std::uint16_t>(in + 10) != kHeaderSize || get_le<std::uint32_t>(in + 12) != 0) {
    return HeaderStatus::bad_version;
  }
  h.backend_id = get_id(in + 16);
  h.keymaker_id = get_id(in + 32);
  h.created_us = get_le<std::int64_t>(in + 48);
  h.expires_us = get_le<std::int64_t>(in + 56);
  h.value_length = get_le<std::uint64_t>(in + 64);
  h.value_crc = get_le<std::uint32_t>(in + 72);
  std::memcpy(h.key.bytes.data(), in + 80, h.key.bytes.size());
  return HeaderStatus::ok;
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() >= kIdSize) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace format
}  // namespace v1
}  // namespace bucketcache
