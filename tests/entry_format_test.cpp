// The on-disk entry format: golden files pin the bytes; every damaged byte is a miss.
#include "storage/entry_format.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <random>

#include "bucketcache/store.hpp"
#include "storage/file/file_storage.hpp"
#include "test_util.hpp"

namespace bc = bucketcache;
using bctest::TempDir;

namespace {

struct Golden {
  const char* file;
  const char* backend;
  const char* keymaker;
  const char* key;
  const char* value;
  std::int64_t created_us;
  std::int64_t expires_us;
};

// Changing any of these, or the format, must be deliberate: regenerate the golden files
// with BUCKETCACHE_REGENERATE_GOLDEN=1 and bump BC_FORMAT_VERSION if old files change meaning.
const Golden kGolden[] = {
    {"v2-raw-never.bce", "raw", "raw", "golden-key", "hello, bucketcache\n", 1700000000000000, 0},
    {"v2-json-expires-2100.bce", "json", "json", "{\"a\":[1,2]}", "{\"x\":1}", 1700000000000000,
     4102444800000000},
};
// Format v1 (wave 1) entries, kept to pin what a v2 reader does with them.
const Golden kGoldenV1[] = {
    {"v1-raw-never.bce", "raw", "raw", "golden-key", "hello, bucketcache\n", 1700000000000000, 0},
    {"v1-json-expires-2100.bce", "json", "json", "{\"a\":[1,2]}", "{\"x\":1}", 1700000000000000,
     4102444800000000},
};

std::string golden_path(const char* name) {
  return std::string(BUCKETCACHE_TEST_DATA_DIR) + "/golden/" + name;
}

std::string write_entry(const std::string& root, const Golden& g) {
  bc::storage::FileStorage fs(root, {});
  const bc::Digest d = bc::digest_key(g.backend, g.keymaker, g.key);
  bc::storage::EntryToWrite e;
  e.header.backend_id = g.backend;
  e.header.keymaker_id = g.keymaker;
  e.header.created_us = g.created_us;
  e.header.expires_us = g.expires_us;
  e.key_bytes = g.key;
  e.value = g.value;
  fs.write(d, e, bc::storage::Overwrite::yes, nullptr);
  return fs.locate(d);
}

}  // namespace

// format::crc32 folds with PCLMULQDQ where the CPU has it: it must give zlib's
// CRC-32 for every length (short tails, the 64-byte threshold, odd lengths) and alignment.
TEST(EntryFormat, Crc32MatchesZlib) {
  std::mt19937_64 rng(42);
  std::string data(300000, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  auto zlib_crc = [](std::string_view s) {
    return static_cast<std::uint32_t>(
        ::crc32(0L, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
  };
  // Every implementation (512-bit folds from 256 bytes, 128-bit folds from 64, zlib's tables)
  // across each one's block boundaries, alignments and continuation from a previous CRC.
  using bc::format::Crc32Impl;
  for (Crc32Impl impl : {Crc32Impl::best, Crc32Impl::pclmul, Crc32Impl::table}) {
    SCOPED_TRACE(static_cast<int>(impl));
    for (std::size_t len = 0; len <= 1100; ++len) {
      for (std::size_t offset : {0, 1, 3, 8, 15}) {
        const std::string_view s(data.data() + offset, len);
        ASSERT_EQ(bc::format::crc32_using(impl, s), zlib_crc(s))
            << "len " << len << " offset " << offset;
      }
    }
    for (std::size_t len : {4095, 4096, 4097, 65536 + 7, 299990}) {
      const std::string_view s(data.data() + 5, len);
      ASSERT_EQ(bc::format::crc32_using(impl, s), zlib_crc(s)) << "len " << len;
      const std::string_view head = s.substr(0, len / 3), tail = s.substr(len / 3);
      ASSERT_EQ(bc::format::crc32_using(impl, tail, bc::format::crc32_using(impl, head)),
                zlib_crc(s))
          << "len " << len << " in two parts";
    }
  }
  EXPECT_EQ(bc::format::crc32("123456789"), 0xCBF43926u);  // the CRC-32 check value
}

TEST(EntryFormat, GoldenFilesPinTheBytes) {
  for (const Golden& g : kGolden) {
    TempDir dir;
    const std::string written = bctest::read_file(write_entry(dir.path(), g));
    if (std::getenv("BUCKETCACHE_REGENERATE_GOLDEN") != nullptr) {
      bctest::write_file(golden_path(g.file), written);
    }
    EXPECT_EQ(written, bctest::read_file(golden_path(g.file)))
        << g.file << ": the entry format changed; see docs/on-disk-format.md";
  }
}

TEST(EntryFormat, GoldenFilesReadBack) {
  for (const Golden& g : kGolden) {
    TempDir dir;
    bc::Store s(dir.path(), g.backend, g.keymaker);
    const bc::Digest d = s.digest(g.key);
    const std::string path = s.entry_path(d);
    ::mkdir(path.substr(0, path.rfind('/')).c_str(), 0700);
    bctest::write_file(path, bctest::read_file(golden_path(g.file)));
    bc::Entry e;
    ASSERT_EQ(s.get(d, e), bc::ReadStatus::found) << g.file;
    EXPECT_EQ(*e.value, g.value);
    EXPECT_EQ(e.created_us, g.created_us);
    EXPECT_EQ(e.expires_us, g.expires_us);
  }
}

TEST(EntryFormat, HeaderLayout) {
  const std::string bytes = bctest::read_file(golden_path(kGolden[0].file));
  const std::string key = kGolden[0].key;
  ASSERT_EQ(bytes.size(),
            bc::format::kHeaderSize + key.size() + std::string(kGolden[0].value).size());
  EXPECT_EQ(bytes.substr(0, 8), "BKTCACHE");
  EXPECT_EQ(bytes[8], 2);  // format version, little-endian
  EXPECT_EQ(bytes[9], 0);
  EXPECT_EQ(static_cast<unsigned char>(bytes[10]), 128);  // header size
  EXPECT_EQ(bytes.substr(16, 4), std::string("raw\0", 4));
  EXPECT_EQ(bytes.substr(32, 4), std::string("raw\0", 4));
  EXPECT_EQ(static_cast<unsigned char>(bytes[76]), key.size());  // key length
  EXPECT_EQ(bytes.substr(128, key.size()), key);                 // the key, then the value
  EXPECT_EQ(bytes.substr(128 + key.size()), kGolden[0].value);
  const bc::Digest d = bc::digest_key("raw", "raw", "golden-key");
  EXPECT_EQ(bytes.substr(80, 32), std::string(reinterpret_cast<const char*>(d.bytes.data()), 32));
  EXPECT_EQ(bc::format::payload_crc(key, kGolden[0].value),
            bc::format::crc32(key + kGolden[0].value));
}

// Format v1 entries are foreign to a v2 reader: at a v2 path they are a miss (another
// format version), at their own v1 path (two shard levels) they are never looked at, and
// prune leaves both alone. Caches written by wave 1 fill again.
TEST(EntryFormat, V1EntriesAreForeignAndLeftAlone) {
  for (const Golden& g : kGoldenV1) {
    TempDir dir;
    bc::Options o;
    o.memory_limit_bytes = 0;
    bc::Store s(dir.path(), g.backend, g.keymaker, o);
    const bc::Digest d = s.digest(g.key);
    const std::string hex = d.hex();
    const std::string v2 = s.entry_path(d);
    const std::string v1 =
        dir.path() + "/" + hex.substr(0, 2) + "/" + hex.substr(2, 2) + "/" + hex + ".bce";
    ::mkdir(v2.substr(0, v2.rfind('/')).c_str(), 0700);
    ::mkdir(v1.substr(0, v1.rfind('/')).c_str(), 0700);
    bctest::write_file(v2, bctest::read_file(golden_path(g.file)));
    bc::Entry e;
    EXPECT_EQ(s.get(d, e), bc::ReadStatus::foreign) << g.file;
    ::unlink(v2.c_str());
    bctest::write_file(v1, bctest::read_file(golden_path(g.file)));
    EXPECT_EQ(s.get(d, e), bc::ReadStatus::absent) << g.file;
    EXPECT_EQ(s.prune_directory().files, 0u);
    EXPECT_EQ(bctest::read_file(v1), bctest::read_file(golden_path(g.file)));
  }
}

// Format v2: one level of at most 256 shard directories, and every entry holds its key.
TEST(EntryFormat, AFreshBucketHasAtMost256ShardsAndEveryEntryHoldsItsKey) {
  TempDir dir;
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(dir.path(), "raw", "raw", o);
  for (int i = 0; i < 4000; ++i) {
    const std::string k = "key-" + std::to_string(i);
    s.set(bc::KeyRef(s.digest(k), k), "v");
  }
  std::size_t shards = 0, entries = 0;
  for (const auto& shard : bctest::list_dir(dir.path())) {
    if (shard.rfind('.', 0) == 0) continue;  // .prune.lock
    ++shards;
    for (const auto& name : bctest::list_dir(dir.path() + "/" + shard)) {
      const std::string bytes = bctest::read_file(dir.path() + "/" + shard + "/" + name);
      bc::format::EntryHeader h;
      ASSERT_EQ(bc::format::decode_header(reinterpret_cast<const unsigned char*>(bytes.data()), h),
                bc::format::HeaderStatus::ok);
      const std::string key = bytes.substr(128, h.key_length);
      EXPECT_EQ(name, s.digest(key).hex() + ".bce") << key;
      ++entries;
    }
  }
  EXPECT_LE(shards, 256u);
  EXPECT_EQ(entries, 4000u);
}

// Options::store_keys off (secret keys): the entry records only the digest.
TEST(EntryFormat, KeysCanBeLeftOut) {
  TempDir dir;
  bc::Options o;
  o.store_keys = false;
  bc::Store s(dir.path(), "raw", "raw", o);
  const bc::Digest d = s.digest("secret");
  s.set(bc::KeyRef(d, "secret"), "v");
  const std::string bytes = bctest::read_file(s.entry_path(d));
  EXPECT_EQ(bytes.find("secret"), std::string::npos);
  bc::format::EntryHeader h;
  ASSERT_EQ(bc::format::decode_header(reinterpret_cast<const unsigned char*>(bytes.data()), h),
            bc::format::HeaderStatus::ok);
  EXPECT_EQ(h.key_length, 0u);
  EXPECT_NE(h.flags & bc::format::kKeyOmitted, 0u);
  s.unload_all();
  bc::Entry e;
  ASSERT_EQ(s.get(d, e), bc::ReadStatus::found);
  EXPECT_EQ(*e.value, "v");
}

// Every single-bit flip anywhere in the file and every truncation reads as a miss.
TEST(EntryFormat, EveryBitFlipAndTruncationIsAMiss) {
  TempDir dir;
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(dir.path(), "raw", "raw", o);
  const bc::Digest d = s.digest("key");
  const std::string value = "a value long enough to span a few words";
  s.set(d, value);
  const std::string path = s.entry_path(d);
  const std::string good = bctest::read_file(path);
  bc::Entry e;
  for (std::size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      bctest::write_file(path, bad);
      const bc::ReadStatus st = s.get(d, e);
      EXPECT_TRUE(st == bc::ReadStatus::corrupt || st == bc::ReadStatus::foreign)
          << "byte " << byte << " bit " << bit;
    }
  }
  for (std::size_t len = 0; len < good.size(); ++len) {
    bctest::write_file(path, good.substr(0, len));
    EXPECT_EQ(s.get(d, e), bc::ReadStatus::corrupt) << "truncated to " << len;
  }
  bctest::write_file(path, good + "x");
  EXPECT_EQ(s.get(d, e), bc::ReadStatus::corrupt) << "trailing byte";
  bctest::write_file(path, good);
  ASSERT_EQ(s.get(d, e), bc::ReadStatus::found);
  EXPECT_EQ(*e.value, value);
}

// Each header field, changed with a valid header checksum, is still caught.
TEST(EntryFormat, EachHeaderFieldIsChecked) {
  TempDir dir;
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(dir.path(), "raw", "raw", o);
  const bc::Digest d = s.digest("key");
  s.set(bc::KeyRef(d, "key"), "value");
  const std::string path = s.entry_path(d);
  const std::string good = bctest::read_file(path);
  bc::format::EntryHeader base;
  ASSERT_EQ(bc::format::decode_header(reinterpret_cast<const unsigned char*>(good.data()), base),
            bc::format::HeaderStatus::ok);

  struct Case {
    const char* field;
    void (*edit)(bc::format::EntryHeader&);
    bc::ReadStatus want;
  };
  const Case cases[] = {
      {"backend id", [](bc::format::EntryHeader& h) { h.backend_id = "json"; },
       bc::ReadStatus::foreign},
      {"keymaker id", [](bc::format::EntryHeader& h) { h.keymaker_id = "json"; },
       bc::ReadStatus::foreign},
      {"key digest", [](bc::format::EntryHeader& h) { h.key.bytes[5] ^= 1; },
       bc::ReadStatus::foreign},
      {"value length", [](bc::format::EntryHeader& h) { h.value_length += 1; },
       bc::ReadStatus::corrupt},
      {"payload crc", [](bc::format::EntryHeader& h) { h.payload_crc ^= 1; },
       bc::ReadStatus::corrupt},
      {"key length", [](bc::format::EntryHeader& h) { h.key_length += 1; },
       bc::ReadStatus::corrupt},
      {"expiry in the past", [](bc::format::EntryHeader& h) { h.expires_us = 1; },
       bc::ReadStatus::expired},
      // Lengths whose sum wraps around to the file's size (a fuzzer's find): a miss, and
      // nothing allocated for them.
      {"wrapping lengths",
       [](bc::format::EntryHeader& h) {
         h.key_length = 0xffffffffu;
         h.value_length = std::uint64_t{0} - 0xffffffffu + h.value_length + 3;
       },
       bc::ReadStatus::corrupt},
  };
  for (const Case& c : cases) {
    bc::format::EntryHeader h = base;
    c.edit(h);
    std::string bad = good;
    bc::format::encode_header(h, reinterpret_cast<unsigned char*>(bad.data()));
    bctest::write_file(path, bad);
    bc::Entry e;
    EXPECT_EQ(s.get(d, e), c.want) << c.field;
  }
  // Version, header size and flags are not writable through EntryHeader: patch bytes and
  // fix the header checksum by hand.
  for (std::size_t off : {std::size_t{8}, std::size_t{10}, std::size_t{12}}) {
    std::string bad = good;
    bad[off] = static_cast<char>(off == 12 ? bad[off] | 0x80 : bad[off] + 1);  // unknown flag
    const std::uint32_t crc = bc::format::crc32(std::string_view(bad.data(), 124));
    for (int i = 0; i < 4; ++i) bad[124 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
    bctest::write_file(path, bad);
    bc::Entry e;
    EXPECT_EQ(s.get(d, e), bc::ReadStatus::foreign) << "offset " << off;
  }
}

TEST(EntryFormat, SymlinkAtEntryPathIsNotFollowed) {
  TempDir dir;
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(dir.path(), "raw", "raw", o);
  const bc::Digest a = s.digest("a");
  const bc::Digest b = s.digest("b");
  s.set(a, "A");
  s.set(b, "B");
  const std::string pb = s.entry_path(b);
  ASSERT_EQ(::unlink(pb.c_str()), 0);
  ASSERT_EQ(::symlink(s.entry_path(a).c_str(), pb.c_str()), 0);
  bc::Entry e;
  EXPECT_EQ(s.get(b, e), bc::ReadStatus::foreign);
  s.set(b, "B2");  // replaces the link itself, never writes through it
  EXPECT_EQ(bctest::read_file(s.entry_path(a)).substr(128), "A");  // no key bytes kept
  ASSERT_EQ(s.get(b, e), bc::ReadStatus::found);
  EXPECT_EQ(*e.value, "B2");
}

// FileStorage::read puts the value of an entry read in two passes (larger than 64 KiB) in
// the reader's sink, allocated once at the value's size, and leaves StoredEntry::value
// null; smaller entries arrive in one read, as a string. Damaged bytes are still caught.
// read(): every size path (all in the first read, exactly filling it, the rest read after
// it, the rest fstat()ed first), keys longer than the first read, with and without the
// version wanted: the value lands in the sink, and any damage (a flipped byte, a byte
// appended, a byte cut) is corrupt.
TEST(EntryFormat, ValuesAreReadIntoTheReadersSink) {
  struct Sink : bc::storage::ValueSink {
    std::vector<std::size_t> sizes;
    std::string bytes;
    char* allocate(std::size_t n) override {
      sizes.push_back(n);
      bytes.assign(n, '\0');
      return bytes.data();
    }
  };
  TempDir dir;
  bc::storage::FileStorage fs(dir.path(), {});
  int n = 0;
  for (const std::string& key : {std::string("key"), std::string(5000, 'k')}) {
    // fill: key and value fill the first read exactly; fill + 1: one byte more.
    const std::size_t fill = key.size() < 4096 ? 4096 - key.size() : 1;
    for (std::size_t size : {std::size_t{0}, std::size_t{100}, fill, fill + 1, std::size_t{10000},
                             std::size_t{70000}, std::size_t{1} << 20}) {
      for (const bool want_version : {false, true}) {
        SCOPED_TRACE("key " + std::to_string(key.size()) + " value " + std::to_string(size) +
                     (want_version ? " version" : ""));
        std::string value(size, '\0');
        for (std::size_t i = 0; i < size; ++i) value[i] = static_cast<char>(i * 7 + 3);
        const bc::Digest d = bc::digest_key("raw", "raw", std::to_string(++n));
        bc::storage::EntryToWrite e;
        e.header.backend_id = "raw";
        e.header.keymaker_id = "raw";
        e.key_bytes = key;
        e.value = value;
        bc::storage::EntryVersion written;
        fs.write(d, e, bc::storage::Overwrite::yes, &written);
        bool first_read = true;  // the file as written (rewritten later: another version)
        auto read = [&](bc::storage::Found expected) {
          Sink sink;
          bc::storage::StoredEntry out;
          out.sink = &sink;
          out.want_version = want_version;
          EXPECT_EQ(fs.read(d, out), expected);
          if (expected != bc::storage::Found::yes) return;
          EXPECT_TRUE(out.key_bytes == key);
          EXPECT_EQ(out.value, nullptr);
          EXPECT_EQ(sink.sizes, std::vector<std::size_t>{size});
          EXPECT_TRUE(sink.bytes == value);
          if (want_version && first_read) {
            EXPECT_TRUE(out.version == written);
          }
          first_read = false;
        };
        read(bc::storage::Found::yes);
        const std::string path = fs.locate(d);
        const std::string file = bctest::read_file(path);
        std::string damaged = file;
        damaged.back() = static_cast<char>(damaged.back() ^ 1);
        bctest::write_file(path, damaged);
        read(bc::storage::Found::corrupt);
        bctest::write_file(path, file + "x");
        read(bc::storage::Found::corrupt);
        bctest::write_file(path, file.substr(0, file.size() - 1));
        read(bc::storage::Found::corrupt);
        bctest::write_file(path, file);
        read(bc::storage::Found::yes);
      }
    }
  }
}

// A FIFO or a directory at an entry path is foreign (and a read never waits on the FIFO),
// whether or not the reader wants the file's version.
TEST(EntryFormat, NonRegularFilesAtTheEntryPathAreForeign) {
  TempDir dir;
  bc::storage::FileStorage fs(dir.path(), {});
  bc::storage::EntryToWrite e;
  e.header.backend_id = "raw";
  e.header.keymaker_id = "raw";
  e.value = "v";
  const bc::Digest fifo = bc::digest_key("raw", "raw", "fifo");
  const bc::Digest directory = bc::digest_key("raw", "raw", "directory");
  for (const bc::Digest& d : {fifo, directory}) {
    fs.write(d, e, bc::storage::Overwrite::yes, nullptr);  // creates the shard
    ASSERT_EQ(::unlink(fs.locate(d).c_str()), 0);
  }
  ASSERT_EQ(::mkfifo(fs.locate(fifo).c_str(), 0600), 0);
  ASSERT_EQ(::mkdir(fs.locate(directory).c_str(), 0700), 0);
  for (const bool want_version : {false, true}) {
    for (const bc::Digest& d : {fifo, directory}) {
      bc::storage::StoredEntry out;
      out.want_version = want_version;
      EXPECT_EQ(fs.read(d, out), bc::storage::Found::foreign) << fs.locate(d);
    }
  }
}
