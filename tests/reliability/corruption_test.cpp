// Corruption: every single-bit flip at every offset and every truncation of an entry file
// holding a multi-KiB value reads as a miss, never a wrong value (tests/entry_format_test.cpp
// does the same with a short value; capi_reliability_test.cpp through the C API).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "bucketcache/backends/json.hpp"
#include "bucketcache/bucket.hpp"
#include "bucketcache/store.hpp"
#include "rel_util.hpp"

namespace bc = bucketcache;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  std::fclose(f);
}

}  // namespace

TEST(Corruption, EveryBitFlipAndTruncationOfAMultiKibEntryIsAMiss) {
  reltest::ScratchDir dir;
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(dir.sub("bucket"), "raw", "raw", o);
  const bc::Digest d = s.digest("corruption-key");
  const std::string value = reltest::make_value(1, 42, 3 * 1024 + 17);
  s.set(d, value);
  const std::string path = s.entry_path(d);
  const std::string good = reltest::slurp(path);
  ASSERT_EQ(good.size(), 128 + value.size());

  // Damage is done in place (pwrite one byte, read, restore; then ftruncate shorter and
  // shorter), which keeps the ~30,000 reads fast under the sanitizers too.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  long misses = 0;
  for (std::size_t byte = 0; byte < good.size(); ++byte) {
    const auto off = static_cast<off_t>(byte);
    for (int bit = 0; bit < 8; ++bit) {
      const char bad = static_cast<char>(good[byte] ^ (1 << bit));
      ASSERT_EQ(::pwrite(fd, &bad, 1, off), 1);
      bc::Entry e;
      const bc::ReadStatus st = s.get(d, e);
      // A flipped byte is caught by the header checksum or the value checksum: corrupt.
      ASSERT_EQ(st, bc::ReadStatus::corrupt) << "byte " << byte << " bit " << bit;
      ASSERT_EQ(e.value, nullptr);
      ++misses;
    }
    ASSERT_EQ(::pwrite(fd, &good[byte], 1, off), 1);
  }
  for (std::size_t len = good.size(); len-- > 0;) {
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(len)), 0);
    bc::Entry e;
    ASSERT_EQ(s.get(d, e), bc::ReadStatus::corrupt) << "truncated to " << len;
    // contains() reads the header and the file size only: a short file is not an entry.
    ASSERT_FALSE(s.contains(d)) << "truncated to " << len;
    ++misses;
  }
  ::close(fd);
  for (const std::string& extra : {std::string("x"), std::string(4096, '\0')}) {
    write_bytes(path, good + extra);
    bc::Entry e;
    EXPECT_EQ(s.get(d, e), bc::ReadStatus::corrupt) << "with " << extra.size() << " extra bytes";
  }
  EXPECT_EQ(misses, static_cast<long>(good.size() * 9));

  // The damaged file is left in place; the next set replaces it and reads are right again.
  s.set(d, value);
  bc::Entry e;
  ASSERT_EQ(s.get(d, e), bc::ReadStatus::found);
  EXPECT_EQ(reltest::check_value(1, *e.value), "");
}

// Swapping two valid entry files (each intact, under the other's name) is a miss: the
// digest in the header names the key, so a misplaced file never answers for another key.
TEST(Corruption, SwappedEntryFilesAreMisses) {
  reltest::ScratchDir dir;
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(dir.sub("bucket"), "raw", "raw", o);
  const bc::Digest a = s.digest("a");
  const bc::Digest b = s.digest("b");
  s.set(a, reltest::make_value(1, 1, 5000));
  s.set(b, reltest::make_value(2, 1, 5000));
  const std::string fa = reltest::slurp(s.entry_path(a));
  const std::string fb = reltest::slurp(s.entry_path(b));
  write_bytes(s.entry_path(a), fb);
  write_bytes(s.entry_path(b), fa);
  bc::Entry e;
  EXPECT_EQ(s.get(a, e), bc::ReadStatus::foreign);
  EXPECT_EQ(s.get(b, e), bc::ReadStatus::foreign);
  EXPECT_FALSE(s.contains(a));
}

// The typed front turns a damaged entry into a miss (try_get empty, get throws KeyError).
TEST(Corruption, TypedBucketReadsDamageAsAMiss) {
  reltest::ScratchDir dir;
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Bucket<bc::JsonBackend> b(dir.sub("bucket"), o);
  b.set(std::string("k"), std::string(5000, 'v'));
  ASSERT_TRUE(b.try_get<std::string>(std::string("k")).has_value());
  std::string path;
  for (const reltest::TreeItem& t : reltest::walk_tree(dir.sub("bucket"))) {
    if (t.path.size() > 4 && t.path.compare(t.path.size() - 4, 4, ".bce") == 0) {
      path = dir.sub("bucket") + "/" + t.path;
    }
  }
  ASSERT_FALSE(path.empty());
  std::string bytes = reltest::slurp(path);
  ASSERT_GT(bytes.size(), 2000u);
  bytes[2000] = static_cast<char>(bytes[2000] ^ 0x10);
  write_bytes(path, bytes);
  EXPECT_FALSE(b.try_get<std::string>(std::string("k")).has_value());
  EXPECT_THROW(b.get<std::string>(std::string("k")), bc::KeyError);
}
