// The entry codec: an EntryToWrite turned into the entry bytes every store keeps, and
// stored bytes checked and turned back into a StoredEntry. FileStorage writes the header
// it encodes next to the key and value (no copy); remote stores keep the whole string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/storage.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

// The complete header of entry for key: lengths, digest and payload checksum filled in.
format::EntryHeader complete_header(const Digest& key, const EntryToWrite& entry);

// The entry's bytes: header (encoded from `header`, see complete_header), key, value.
std::string encode_entry(const format::EntryHeader& header, const EntryToWrite& entry);

// Decodes a 128-byte header: yes, corrupt (bad magic or header checksum) or foreign
// (another format version, header size or unknown flags).
Found decode_entry_header(const unsigned char* header, format::EntryHeader& out);

// Checks and decodes a whole stored entry of `bytes.size()` bytes, as FileStorage::read
// does: the header, the entry length against the header's lengths and, with `with_value`,
// the payload checksum. Fills out.header, out.key_bytes, out.stored_bytes and (with
// `with_value`) out.value; out.version is the caller's. `bytes` may be a prefix of the
// entry (header and key) when `with_value` is false and `stored_size` says the size.
Found decode_entry(std::string_view bytes, std::uint64_t stored_size, bool with_value,
                   StoredEntry& out);

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
