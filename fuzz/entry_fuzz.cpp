// Fuzz target: the entry file decoder, through Store::read on a file the fuzzer writes.
//
// Input: one mode byte, then the bytes of the entry file. Random bytes almost never pass
// the header checksum, so the mode bits repair parts of the header first and let the
// fuzzer reach the later checks (version, ids, key digest, length, value checksum, expiry):
//   bit 0  recompute the header CRC (last step)      bit 3  backend and keymaker ids "raw"
//   bit 1  fix key/value lengths and payload CRC     bit 4  version 2, header size 128, flags 0
//   bit 2  put the right key digest in the header    bit 5  also run prune_directory()
//                                                    bit 6  read with a lifetime (1 hour)
// Invariants: nothing crashes; a found value is exactly the bytes after the header and the
// key bytes, with the lengths and payload CRC the header states; contains() never says yes to a
// file read() rejects for damage; decode_header agrees with read() on damaged headers.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "bucketcache/store.hpp"
#include "storage/entry_format.hpp"

namespace bc = bucketcache;

namespace {

void put_le(unsigned char* p, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

std::uint64_t get_le(const unsigned char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return v;
}

struct Fixture {
  std::string root;
  std::unique_ptr<bc::Store> plain;     // no lifetime
  std::unique_ptr<bc::Store> lifetime;  // one hour
  bc::Digest key;
  std::string path;

  Fixture() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/bc-entry-fuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    root = tmpl;
    bc::Options o;
    o.memory_limit_bytes = 0;
    plain = std::make_unique<bc::Store>(root, "raw", "raw", o);
    o.lifetime = std::chrono::hours(1);
    lifetime = std::make_unique<bc::Store>(root, "raw", "raw", o);
    key = plain->digest("fuzz-key");
    plain->set(key, "seed");  // creates the shard directories
    path = plain->entry_path(key);
  }
  ~Fixture() {
    ::unlink(path.c_str());
    const std::string shard = path.substr(0, path.rfind('/'));
    ::rmdir(shard.c_str());
    ::rmdir(shard.substr(0, shard.rfind('/')).c_str());
    ::unlink((root + "/.prune.lock").c_str());
    ::rmdir(root.c_str());
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Fixture& f = fixture();
  const unsigned mode = data[0];
  std::string file(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (file.size() >= bc::format::kHeaderSize) {
    auto* h = reinterpret_cast<unsigned char*>(file.data());
    if (mode & 16) {
      std::memcpy(h, bc::format::kMagic, 8);
      put_le(h + 8, 2, 2);
      put_le(h + 10, 128, 2);
      put_le(h + 12, 0, 4);
    }
    if (mode & 8) {
      std::memset(h + 16, 0, 32);
      std::memcpy(h + 16, "raw", 3);
      std::memcpy(h + 32, "raw", 3);
    }
    if (mode & 4) std::memcpy(h + 80, f.key.bytes.data(), 32);
    if (mode & 2) {
      // Keep the input's key length when it fits, then value = the rest.
      const std::size_t rest = file.size() - 128;
      const std::size_t key_len = get_le(h + 76, 4) % (rest + 1);
      const std::string_view key(file.data() + 128, key_len);
      const std::string_view value(file.data() + 128 + key_len, rest - key_len);
      put_le(h + 64, value.size(), 8);
      put_le(h + 72, bc::format::payload_crc(key, value), 4);
      put_le(h + 76, key_len, 4);
    }
    if (mode & 1) {
      put_le(h + 124, bc::format::crc32(std::string_view(file.data(), 124)), 4);
    }
  }
  // prune_directory() removes shard directories it leaves empty: make them again.
  const std::string shard = f.path.substr(0, f.path.rfind('/'));
  ::mkdir(shard.substr(0, shard.rfind('/')).c_str(), 0700);
  ::mkdir(shard.c_str(), 0700);
  FILE* out = std::fopen(f.path.c_str(), "wb");
  if (out == nullptr) std::abort();
  if (!file.empty() && std::fwrite(file.data(), 1, file.size(), out) != file.size()) std::abort();
  std::fclose(out);

  bc::Store& s = (mode & 64) ? *f.lifetime : *f.plain;
  const bool peek_found = s.contains(f.key);
  bc::Entry e;
  const bc::ReadStatus st = s.get(f.key, e);
  if (st == bc::ReadStatus::found) {
    // The value is exactly what follows the header and key, as long and with the CRC the
    // header states.
    if (file.size() < 128) std::abort();
    const auto* h = reinterpret_cast<const unsigned char*>(file.data());
    const std::size_t key_len = get_le(h + 76, 4);
    if (key_len > file.size() - 128) std::abort();
    const std::string_view key(file.data() + 128, key_len);
    const std::string_view value(file.data() + 128 + key_len, file.size() - 128 - key_len);
    if (*e.value != value) std::abort();
    if (get_le(h + 64, 8) != value.size()) std::abort();
    if (get_le(h + 72, 4) != bc::format::payload_crc(key, value)) std::abort();
    if (std::memcmp(h + 80, f.key.bytes.data(), 32) != 0) std::abort();
    bc::format::EntryHeader decoded;
    if (bc::format::decode_header(h, decoded) != bc::format::HeaderStatus::ok) std::abort();
    if (decoded.created_us != e.created_us || decoded.expires_us != e.expires_us) std::abort();
  } else if (st == bc::ReadStatus::corrupt) {
    // contains() reads the header and size only: it may accept a file whose value is
    // damaged, never one whose header or size is.
    if (peek_found) {
      const auto* h = reinterpret_cast<const unsigned char*>(file.data());
      if (file.size() < 128) std::abort();
      bc::format::EntryHeader decoded;
      if (bc::format::decode_header(h, decoded) != bc::format::HeaderStatus::ok) std::abort();
      if (decoded.entry_size() != file.size()) std::abort();
    }
  }
  if (file.size() >= 128 && (file[0] != 'B' || file.compare(0, 8, "BKTCACHE") != 0)) {
    // Wrong magic is never found.
    if (st == bc::ReadStatus::found) std::abort();
  }
  if (mode & 32) s.prune_directory();
  return 0;
}
