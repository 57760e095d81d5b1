// A user-defined backend plugged into Bucket without touching the library: ZlibBackend
// compresses whatever an inner backend produces.
#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bucketcache/backends/json.hpp"
#include "bucketcache/backends/msgpack.hpp"
#include "bucketcache/backends/raw.hpp"
#include "bucketcache/bucket.hpp"
#include "test_util.hpp"

namespace bc = bucketcache;

namespace {

// Constant character array holding a followed by b.
template <std::size_t N>
struct IdChars {
  char chars[N]{};
};
template <std::size_t N>
constexpr IdChars<N> concat(std::string_view a, std::string_view b) {
  IdChars<N> r{};
  for (std::size_t i = 0; i < a.size(); ++i) r.chars[i] = a[i];
  for (std::size_t i = 0; i < b.size(); ++i) r.chars[a.size() + i] = b[i];
  return r;
}

// Backend contract (bucket.hpp): id, Config, dump appending bytes, load throwing a
// std::exception on bytes it cannot read.
//
// Its id is "zlib+" followed by the inner backend's id, so its entries never mix with the
// inner backend's. Payload: the uncompressed size as 8 bytes little-endian, then a zlib
// stream.
template <class Inner>
struct ZlibBackend {
  static constexpr std::string_view prefix = "zlib+";
  static constexpr auto id_chars = concat<prefix.size() + Inner::id.size()>(prefix, Inner::id);
  static constexpr std::string_view id{id_chars.chars, sizeof id_chars.chars};
  static_assert(id.size() <= 15, "backend ids are at most 15 characters");

  struct Config {
    typename Inner::Config inner{};
    int level = Z_DEFAULT_COMPRESSION;
    std::size_t max_uncompressed = std::size_t{1} << 30;
  };

  template <class T>
  static void dump(const T& value, std::string& out, const Config& config) {
    std::string plain;
    Inner::dump(value, plain, config.inner);
    uLongf size = compressBound(static_cast<uLong>(plain.size()));
    std::string packed(8 + size, '\0');
    const std::uint64_t n = plain.size();
    for (int i = 0; i < 8; ++i) packed[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    const int rc = compress2(reinterpret_cast<Bytef*>(&packed[8]), &size,
                             reinterpret_cast<const Bytef*>(plain.data()),
                             static_cast<uLong>(plain.size()), config.level);
    if (rc != Z_OK) throw std::runtime_error("zlib: compress2 failed");
    packed.resize(8 + size);
    out += packed;
  }

  template <class T>
  static T load(std::string_view bytes, const Config& config) {
    if (bytes.size() < 8) throw std::runtime_error("zlib: payload too short");
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= std::uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
    // Deflate cannot expand more than about 1032:1, so larger claims are garbage; this
    // bounds what garbage can make us allocate.
    const std::uint64_t compressed = bytes.size() - 8;
    if (n > config.max_uncompressed || n > compressed * 1032 + 64) {
      throw std::runtime_error("zlib: implausible uncompressed size");
    }
    std::string plain(static_cast<std::size_t>(n), '\0');
    uLongf size = static_cast<uLongf>(n);
    const int rc = uncompress(reinterpret_cast<Bytef*>(plain.data()), &size,
                              reinterpret_cast<const Bytef*>(bytes.data() + 8),
                              static_cast<uLong>(compressed));
    if (rc != Z_OK || size != n) throw std::runtime_error("zlib: corrupt data");
    return Inner::template load<T>(plain, config.inner);
  }
};

struct Point {
  int x = 0;
  int y = 0;
  friend bool operator==(const Point& a, const Point& b) { return a.x == b.x && a.y == b.y; }
  MSGPACK_DEFINE(x, y)
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Point, x, y)

using ZJson = ZlibBackend<bc::JsonBackend>;
using ZMsgpack = ZlibBackend<bc::MsgpackBackend>;
using ZRaw = ZlibBackend<bc::RawBackend>;

TEST(CustomBackend, IdIsDerivedFromTheInnerBackend) {
  EXPECT_EQ(ZJson::id, "zlib+json");
  EXPECT_EQ(ZMsgpack::id, "zlib+msgpack");
  EXPECT_EQ(ZRaw::id, "zlib+raw");
}

TEST(CustomBackend, RoundTripCompresses) {
  const std::vector<Point> points(1000, Point{12345, -678});
  std::string packed, plain;
  ZJson::dump(points, packed, {});
  bc::JsonBackend::dump(points, plain, {});
  EXPECT_LT(packed.size() * 10, plain.size());
  EXPECT_EQ(ZJson::load<std::vector<Point>>(packed, {}), points);

  ZJson::Config pretty;
  pretty.inner.indent = 2;
  pretty.level = 9;
  std::string packed_pretty;
  ZJson::dump(points, packed_pretty, pretty);
  EXPECT_NE(packed_pretty, packed);
  EXPECT_EQ(ZJson::load<std::vector<Point>>(packed_pretty, {}), points);
}

TEST(CustomBackend, GarbageAndTruncationThrow) {
  std::string packed;
  ZMsgpack::dump(std::map<std::string, Point>{{"a", {1, 2}}, {"b", {3, 4}}}, packed, {});
  for (std::size_t n = 0; n < packed.size(); ++n) {
    EXPECT_THROW((ZMsgpack::load<std::map<std::string, Point>>(packed.substr(0, n), {})),
                 std::exception)
        << n;
  }
  // A huge claimed size is refused before allocating.
  std::string huge = packed;
  huge[7] = '\x7f';
  EXPECT_THROW((ZMsgpack::load<std::map<std::string, Point>>(huge, {})), std::exception);
  // Valid zlib of bytes that are not a map.
  std::string other;
  ZMsgpack::dump(std::string("text"), other, {});
  EXPECT_THROW((ZMsgpack::load<std::map<std::string, Point>>(other, {})), std::exception);
}

TEST(CustomBackend, WorksThroughBucket) {
  bctest::TempDir dir;
  bc::Bucket<ZJson> b(dir.path());
  b.set("p", Point{1, 2});
  EXPECT_EQ(b.get<Point>("p"), (Point{1, 2}));
  EXPECT_TRUE(b.contains("p"));
  EXPECT_FALSE(b.try_get<std::string>("p").has_value());  // wrong type: a miss
  EXPECT_TRUE(b.contains("p"));
  {
    bc::Bucket<ZJson> fresh(dir.path());
    EXPECT_EQ(fresh.get<Point>("p"), (Point{1, 2}));
  }
  EXPECT_TRUE(b.erase("p"));
  EXPECT_FALSE(b.try_get<Point>("p").has_value());
}

TEST(CustomBackend, EntriesAreDistinctFromTheInnerBackends) {
  bctest::TempDir dir;
  bc::Bucket<bc::JsonBackend> plain(dir.path());
  bc::Bucket<ZJson> zipped(dir.path());
  EXPECT_NE(plain.digest("k"), zipped.digest("k"));
  plain.set("k", Point{1, 1});
  EXPECT_FALSE(zipped.contains("k"));
  zipped.set("k", Point{2, 2});
  EXPECT_EQ(plain.get<Point>("k"), (Point{1, 1}));
  EXPECT_EQ(zipped.get<Point>("k"), (Point{2, 2}));
  EXPECT_TRUE(zipped.erase("k"));
  EXPECT_EQ(plain.get<Point>("k"), (Point{1, 1}));
  EXPECT_NE(plain.store().entry_path(plain.digest("k")),
            zipped.store().entry_path(zipped.digest("k")));
}

}  // namespace
