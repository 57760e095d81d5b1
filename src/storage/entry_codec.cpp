#include "storage/entry_codec.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

format::EntryHeader complete_header(const Digest& key, const EntryToWrite& entry) {
  format::EntryHeader h = entry.header;
  h.key = key;
  h.key_length = static_cast<std::uint32_t>(entry.key_bytes.size());
  h.value_length = entry.value.size();
  h.payload_crc = format::payload_crc(entry.key_bytes, entry.value);
  return h;
}

std::string encode_entry(const format::EntryHeader& header, const EntryToWrite& entry) {
  std::string bytes;
  bytes.reserve(format::kHeaderSize + entry.key_bytes.size() + entry.value.size());
  bytes.resize(format::kHeaderSize);
  format::encode_header(header, reinterpret_cast<unsigned char*>(bytes.data()));
  bytes.append(entry.key_bytes);
  bytes.append(entry.value);
  return bytes;
}

Found decode_entry_header(const unsigned char* header, format::EntryHeader& out) {
  switch (format::decode_header(header, out)) {
    case format::HeaderStatus::ok:
      return Found::yes;
    case format::HeaderStatus::bad_version:
      return Found::foreign;
    default:
      return Found::corrupt;
  }
}

Found decode_entry(std::string_view bytes, std::uint64_t stored_size, bool with_value,
                   StoredEntry& out) {
  if (stored_size < format::kHeaderSize || bytes.size() < format::kHeaderSize) {
    return Found::corrupt;
  }
  format::EntryHeader& h = out.header;
  const Found found = decode_entry_header(reinterpret_cast<const unsigned char*>(bytes.data()), h);
  if (found != Found::yes) return found;
  if (h.entry_size() != stored_size) return Found::corrupt;
  const std::uint64_t needed =
      format::kHeaderSize + h.key_length + (with_value ? h.value_length : 0);
  if (bytes.size() < needed) return Found::corrupt;
  const std::string_view key_bytes = bytes.substr(format::kHeaderSize, h.key_length);
  if (with_value) {
    const std::string_view value = bytes.substr(format::kHeaderSize + h.key_length, h.value_length);
    if (format::payload_crc(key_bytes, value) != h.payload_crc) return Found::corrupt;
    out.value = std::make_shared<std::string>(value);
  } else {
    out.value.reset();
  }
  out.key_bytes.assign(key_bytes);
  out.stored_bytes = stored_size;
  return Found::yes;
}

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
