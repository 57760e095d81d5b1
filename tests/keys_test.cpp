// Typed keys (keys.hpp): C++ values -> canonical form -> digests, and bounded memory for
// streamed keys.

#include "bucketcache/keys.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <limits>
#include <list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bucketcache/canonical.hpp"
#include "bucketcache/digest.hpp"
#include "bucketcache/error.hpp"
#include "test_util.hpp"

namespace keytest {

// A test key type wrapping a parsed JSON value; its write_key (found by ADL) walks it.
struct JsonKey {
  const nlohmann::json* j;
};

void write_key(bucketcache::KeyWriter& w, const JsonKey& k) {
  const nlohmann::json& j = *k.j;
  using T = nlohmann::json::value_t;
  switch (j.type()) {
    case T::null:
    case T::discarded:
      w.null();
      break;
    case T::boolean:
      w.boolean(j.get<bool>());
      break;
    case T::number_integer:
      w.integer(j.get<std::int64_t>());
      break;
    case T::number_unsigned:
      w.unsigned_integer(j.get<std::uint64_t>());
      break;
    case T::number_float:
      w.number(j.get<double>());
      break;
    case T::string:
      w.string(j.get_ref<const std::string&>());
      break;
    case T::array:
      w.begin_array();
      for (const auto& e : j) bucketcache::write_key_value(w, JsonKey{&e});
      w.end_array();
      break;
    case T::object:  // std::map: names in byte order
      w.begin_object();
      for (const auto& [name, value] : j.get_ref<const nlohmann::json::object_t&>()) {
        w.key(name);
        bucketcache::write_key_value(w, JsonKey{&value});
      }
      w.end_object();
      break;
    case T::binary:
      throw std::runtime_error("binary");
  }
}

// A user type made a key by an ADL free function.
struct Point {
  int x;
  int y;
  std::string label;
};
void write_key(bucketcache::KeyWriter& w, const Point& p) {
  w.begin_object();
  w.key("label");
  bucketcache::write_key_value(w, p.label);
  w.key("x");
  bucketcache::write_key_value(w, p.x);
  w.key("y");
  bucketcache::write_key_value(w, p.y);
  w.end_object();
}

// A user type made a key by a member function.
class Version {
 public:
  Version(int major, int minor) : major_(major), minor_(minor) {}
  void write_key(bucketcache::KeyWriter& w) const {
    bucketcache::write_key_value(w, std::make_tuple("v", major_, minor_));
  }

 private:
  int major_;
  int minor_;
};

// Both: the member wins.
struct Both {
  void write_key(bucketcache::KeyWriter& w) const { w.string("member"); }
};
void write_key(bucketcache::KeyWriter& w, const Both&) { w.string("free"); }

// Nested arrays `depth` deep, built by recursion.
struct Deep {
  std::size_t depth;
};
void write_key(bucketcache::KeyWriter& w, const Deep& d) {
  if (d.depth == 0) {
    w.null();
    return;
  }
  w.begin_array();
  bucketcache::write_key_value(w, Deep{d.depth - 1});
  w.end_array();
}

// Writes the same member name twice.
struct DuplicateNames {};
void write_key(bucketcache::KeyWriter& w, const DuplicateNames&) {
  w.begin_object();
  w.key("a");
  w.integer(1);
  w.key("a");
  w.integer(2);
  w.end_object();
}

struct NotAKey {};

// A generated string of `size` bytes (a multiple of 64 KiB): a 64-byte pattern with
// multi-byte UTF-8 and characters that need escaping, repeated, given to the writer in
// pieces of 65537 bytes (so UTF-8 sequences are split across pieces) from one small buffer.
constexpr std::size_t kPatternSize = 64;
std::string pattern() {
  std::string p =
      "Gr\xc3\xbc\xc3\x9f"
      "e \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80 \"q\" \\ tab\t nl\n";
  while (p.size() < kPatternSize) p += static_cast<char>('a' + p.size() % 26);
  return p;
}

struct BigStringKey {
  std::uint64_t size;
  void write_key(bucketcache::KeyWriter& w) const {
    constexpr std::size_t kPiece = 65537;
    const std::string p = pattern();
    std::string buf;
    while (buf.size() < kPiece + kPatternSize) buf += p;
    w.begin_string();
    for (std::uint64_t pos = 0; pos < size; pos += kPiece) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kPiece, size - pos));
      w.string_piece(std::string_view(buf.data() + pos % kPatternSize, n));
    }
    w.end_string();
  }
};

}  // namespace keytest

namespace {

using bucketcache::canonical_key;
using bucketcache::DefaultKeyMaker;
using bucketcache::Digest;
using bucketcache::InvalidArgument;
using bucketcache::RawKeyMaker;
using bucketcache::StreamingDefaultKeyMaker;
using keytest::JsonKey;

static_assert(DefaultKeyMaker::id == "json");
static_assert(StreamingDefaultKeyMaker::id == "json");
static_assert(RawKeyMaker::id == "raw");
static_assert(!bucketcache::detail::has_free_write_key<keytest::NotAKey>::value);
static_assert(!bucketcache::detail::has_member_write_key<keytest::NotAKey>::value);
static_assert(bucketcache::detail::has_free_write_key<keytest::Point>::value);
static_assert(bucketcache::detail::has_member_write_key<keytest::Version>::value);

using bctest::from_hex;
using bctest::key_vectors;

std::string describe(const std::string& s) {
  std::string q = nlohmann::json(s.substr(0, 80))
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 80) q += "... (" + std::to_string(s.size()) + " bytes)";
  return q;
}

// ---- The shared vectors through the typed keymaker ----

TEST(KeysVectors, ValidThroughCustomizationPoint) {
  const nlohmann::json& valid = key_vectors().at("valid");
  ASSERT_FALSE(valid.empty());
  for (std::size_t i = 0; i < valid.size(); ++i) {
    const std::string input = valid[i].at("input");
    const std::string expected = valid[i].at("canonical");
    SCOPED_TRACE("valid vector #" + std::to_string(i) + " input " + describe(input));
    try {
      const nlohmann::json j = nlohmann::json::parse(input);
      EXPECT_EQ(canonical_key(JsonKey{&j}), expected);
      EXPECT_EQ(DefaultKeyMaker().make_digest(JsonKey{&j}, "pickle"),
                bucketcache::digest_key("pickle", "json", expected));
      EXPECT_EQ(StreamingDefaultKeyMaker().make_digest(JsonKey{&j}, "pickle"),
                bucketcache::digest_key("pickle", "json", expected));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "threw: " << e.what();
    }
  }
}

TEST(KeysVectors, InvalidRepresentableInCpp) {
  // Deep nesting (the 10000-deep vector), through the JSON wrapper and a recursive type.
  const nlohmann::json& invalid = key_vectors().at("invalid");
  bool saw_deep = false;
  for (std::size_t i = 0; i < invalid.size(); ++i) {
    const std::string input = invalid[i].at("input");
    if (input.size() < 2000 || input[0] != '[') continue;
    saw_deep = true;
    SCOPED_TRACE("invalid vector #" + std::to_string(i) + " input " + describe(input));
    const nlohmann::json j = nlohmann::json::parse(input);
    EXPECT_THROW(canonical_key(JsonKey{&j}), InvalidArgument);
    EXPECT_THROW(StreamingDefaultKeyMaker().make_digest(JsonKey{&j}, "b"), InvalidArgument);
  }
  EXPECT_TRUE(saw_deep);
  EXPECT_THROW(canonical_key(keytest::Deep{10000}), InvalidArgument);
  EXPECT_THROW(canonical_key(keytest::Deep{bucketcache::kMaxKeyDepth + 1}), InvalidArgument);
  EXPECT_EQ(canonical_key(keytest::Deep{bucketcache::kMaxKeyDepth}),
            std::string(bucketcache::kMaxKeyDepth, '[') + "null" +
                std::string(bucketcache::kMaxKeyDepth, ']'));

  // Duplicate member names ({"a":1,"a":2}).
  EXPECT_THROW(canonical_key(std::multimap<std::string, int>{{"a", 1}, {"a", 2}}), InvalidArgument);
  EXPECT_THROW(canonical_key(keytest::DuplicateNames{}), InvalidArgument);
  EXPECT_THROW(StreamingDefaultKeyMaker().make_digest(keytest::DuplicateNames{}, "b"),
               InvalidArgument);

  // NaN and infinities.
  for (double v :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity()}) {
    EXPECT_THROW(canonical_key(v), InvalidArgument) << v;
    EXPECT_THROW(canonical_key(std::vector<double>{1, v}), InvalidArgument) << v;
    EXPECT_THROW(canonical_key(static_cast<float>(v)), InvalidArgument) << v;
  }

  // Lone surrogates, as the (invalid) UTF-8 a C++ string would carry them.
  EXPECT_THROW(canonical_key(std::string("\xed\xa0\x80")), InvalidArgument);
  EXPECT_THROW(canonical_key(std::string("\xed\xb0\x80x")), InvalidArgument);
}

TEST(KeysVectors, InvalidHexAsStdString) {
  const nlohmann::json& invalid = key_vectors().at("invalid_hex");
  ASSERT_FALSE(invalid.empty());
  for (std::size_t i = 0; i < invalid.size(); ++i) {
    const std::string hex = invalid[i].at("input_hex");
    SCOPED_TRACE("invalid_hex vector #" + std::to_string(i) + " input_hex " + hex);
    const std::string text = from_hex(hex);
    // Each is a JSON string literal holding bad bytes; the bytes go in a std::string.
    ASSERT_GE(text.size(), 2u);
    ASSERT_EQ(text.front(), '"');
    ASSERT_EQ(text.back(), '"');
    const std::string bytes = text.substr(1, text.size() - 2);
    EXPECT_THROW(canonical_key(bytes), InvalidArgument);
    EXPECT_THROW(canonical_key(std::string_view(bytes)), InvalidArgument);
    EXPECT_THROW(canonical_key(std::map<std::string, int>{{bytes, 1}}), InvalidArgument);
    EXPECT_THROW(StreamingDefaultKeyMaker().make_digest(std::vector<std::string>{"ok", bytes}, "b"),
                 InvalidArgument);
  }
}

// ---- Native C++ values ----

TEST(KeysNative, Scalars) {
  EXPECT_EQ(canonical_key(std::string("spam")), R"("spam")");
  EXPECT_EQ(canonical_key(std::string_view("spam")), R"("spam")");
  EXPECT_EQ(canonical_key("spam"), R"("spam")");
  const char* cstr = "spam";
  EXPECT_EQ(canonical_key(cstr), R"("spam")");
  char buf[16] = "spam";
  EXPECT_EQ(canonical_key(buf), R"("spam")");  // up to the first NUL
  EXPECT_THROW(canonical_key(static_cast<const char*>(nullptr)), InvalidArgument);
  EXPECT_EQ(canonical_key(true), "true");
  EXPECT_EQ(canonical_key(false), "false");
  EXPECT_EQ(canonical_key(nullptr), "null");
  EXPECT_EQ(canonical_key(std::nullopt), "null");
  EXPECT_EQ(canonical_key(42), "42");
  EXPECT_EQ(canonical_key(-7L), "-7");
  EXPECT_EQ(canonical_key(static_cast<short>(-3)), "-3");
  EXPECT_EQ(canonical_key(static_cast<unsigned char>(200)), "200");
  EXPECT_EQ(canonical_key(static_cast<signed char>(-100)), "-100");
  EXPECT_EQ(canonical_key(std::uint8_t{7}), "7");
  EXPECT_EQ(canonical_key(std::numeric_limits<std::uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(canonical_key(std::numeric_limits<std::int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(canonical_key(std::numeric_limits<std::int64_t>::max()), "9223372036854775807");
  EXPECT_EQ(canonical_key(1.0), "1");
  EXPECT_EQ(canonical_key(1e21), "1e+21");
  EXPECT_EQ(canonical_key(1e-7), "1e-7");
  EXPECT_EQ(canonical_key(1e-6), "0.000001");
  EXPECT_EQ(canonical_key(0.1), "0.1");
  EXPECT_EQ(canonical_key(-0.0), "0");
  EXPECT_EQ(canonical_key(0.5f), "0.5");
  EXPECT_EQ(canonical_key(0.1f), "0.10000000149011612");  // float widened to double
  EXPECT_EQ(canonical_key(std::string("line\nbreak\t\"q\"\\ \x7f \xe2\x80\xa8")),
            "\"line\\nbreak\\t\\\"q\\\"\\\\ \x7f \xe2\x80\xa8\"");
}

TEST(KeysNative, Containers) {
  EXPECT_EQ(canonical_key(std::map<std::string, int>{{"b", 1}, {"a", 2}}), R"({"a":2,"b":1})");
  EXPECT_EQ(canonical_key(std::map<std::string_view, int>{{"b", 1}, {"a", 2}}), R"({"a":2,"b":1})");
  EXPECT_EQ(canonical_key(std::map<std::string, int, std::greater<>>{{"a", 2}, {"b", 1}}),
            R"({"a":2,"b":1})");
  EXPECT_EQ(canonical_key(std::unordered_map<std::string, int>{
                {"b", 1}, {"a", 2}, {"\xc3\xa9", 3}, {"Z", 4}, {"aa", 5}}),
            "{\"Z\":4,\"a\":2,\"aa\":5,\"b\":1,\"\xc3\xa9\":3}");
  EXPECT_EQ(canonical_key(std::map<std::string, int>{}), "{}");
  EXPECT_EQ(canonical_key(std::multimap<std::string, int>{{"b", 1}, {"a", 2}}), R"({"a":2,"b":1})");
  EXPECT_EQ(canonical_key(std::vector<int>{3, 2, 1}), "[3,2,1]");
  EXPECT_EQ(canonical_key(std::vector<int>{}), "[]");
  EXPECT_EQ(canonical_key(std::vector<bool>{true, false}), "[true,false]");
  EXPECT_EQ(canonical_key(std::array<double, 2>{1.5, 2.0}), "[1.5,2]");
  EXPECT_EQ(canonical_key(std::deque<std::string>{"a", "b"}), R"(["a","b"])");
  EXPECT_EQ(canonical_key(std::list<long>{-1, 0}), "[-1,0]");
  EXPECT_EQ(canonical_key(std::set<std::string>{"b", "a"}), R"(["a","b"])");
  EXPECT_EQ(canonical_key(std::multiset<int>{2, 1, 2}), "[1,2,2]");
  EXPECT_EQ(canonical_key(std::make_pair(std::string("a"), 1)), R"(["a",1])");
  EXPECT_EQ(canonical_key(std::make_tuple(1, "two", 3.0, nullptr, true)),
            R"([1,"two",3,null,true])");
  EXPECT_EQ(canonical_key(std::tuple<>{}), "[]");
  EXPECT_EQ(canonical_key(std::optional<int>{}), "null");
  EXPECT_EQ(canonical_key(std::optional<int>{5}), "5");
  EXPECT_EQ(canonical_key(std::vector<std::optional<std::string>>{std::nullopt, "x"}),
            R"([null,"x"])");
  const std::map<std::string, std::vector<std::map<std::string, std::optional<double>>>> nested = {
      {"z", {{{"y", 1.0}, {"x", std::nullopt}}}}, {"a", {}}};
  EXPECT_EQ(canonical_key(nested), R"({"a":[],"z":[{"x":null,"y":1}]})");
  // The same key as JSON text gives the same canonical form.
  EXPECT_EQ(canonical_key(nested),
            bucketcache::canonicalize_json(R"({ "z": [ {"y": 1.0, "x": null} ], "a": [] })"));
}

TEST(KeysNative, UserTypes) {
  EXPECT_EQ(canonical_key(keytest::Point{1, -2, "p"}), R"({"label":"p","x":1,"y":-2})");
  EXPECT_EQ(canonical_key(keytest::Version{3, 11}), R"(["v",3,11])");
  EXPECT_EQ(canonical_key(keytest::Both{}), R"("member")");
  EXPECT_EQ(canonical_key(std::vector<keytest::Point>{{0, 0, ""}, {1, 1, "b"}}),
            R"([{"label":"","x":0,"y":0},{"label":"b","x":1,"y":1}])");
  EXPECT_EQ(canonical_key(std::map<std::string, keytest::Version>{{"v", {1, 2}}}),
            R"({"v":["v",1,2]})");
  EXPECT_EQ(canonical_key(std::optional<keytest::Point>{keytest::Point{1, 2, "x"}}),
            R"({"label":"x","x":1,"y":2})");
}

// ---- Keymakers and digests ----

std::vector<std::string> sample_canonicals() {
  std::vector<std::string> out;
  for (const auto& v : key_vectors().at("valid")) out.push_back(v.at("canonical"));
  return out;
}

TEST(KeysDigest, DefaultAndStreamingAgree) {
  const DefaultKeyMaker def;
  const StreamingDefaultKeyMaker streaming;
  auto check = [&](const auto& key) {
    const std::string canonical = def.canonical(key);
    EXPECT_EQ(streaming.canonical(key), canonical);
    for (const char* backend : {"pickle", "json", "msgpack", ""}) {
      const Digest d = def.make_digest(key, backend);
      EXPECT_EQ(streaming.make_digest(key, backend), d) << describe(canonical);
      EXPECT_EQ(d, bucketcache::digest_key(backend, "json", canonical)) << describe(canonical);
    }
  };
  check(std::string("x"));
  check(42);
  check(std::map<std::string, int>{{"b", 1}, {"a", 2}});
  check(std::make_tuple(1, "two", std::vector<double>{0.5, 1e300}));
  check(keytest::Point{1, 2, "three"});
  check(keytest::Deep{bucketcache::kMaxKeyDepth});
  for (std::size_t n : {4094u, 4095u, 4096u, 4097u, 12288u, 100001u}) {
    check(std::string(n, 'a'));
    check(std::string(n, '\n'));
    check(std::vector<std::string>(3, std::string(n / 3, 'b')));
  }
  check(keytest::BigStringKey{1 << 20});
  for (const std::string& c : sample_canonicals()) {
    const nlohmann::json j = nlohmann::json::parse(c);
    check(JsonKey{&j});
  }
}

// A std::string key of printable ASCII is written into a fixed stack buffer when it fits
// (with_canonical_key, DefaultKeyMaker): the same bytes and digests as the key writer's at
// every length around the buffer's capacity, and for strings that need escaping.
TEST(KeysDigest, StackBufferKeysMatchTheWriter) {
  constexpr std::size_t cap = bucketcache::detail::PlainTextBuffer::kCapacity;
  auto check = [](const std::string& key, bool buffered) {
    std::string written;
    bucketcache::StringKeySink sink(written);
    bucketcache::write_canonical_key(key, sink);
    bucketcache::detail::PlainTextBuffer buf;
    EXPECT_EQ(bucketcache::detail::plain_text_of(key, buf), buffered) << key.size();
    if (buffered) {
      EXPECT_EQ(buf.view(), written);
    }
    EXPECT_EQ(
        bucketcache::with_canonical_key(key, [](std::string_view t) { return std::string(t); }),
        written);
    EXPECT_EQ(bucketcache::with_canonical_key(std::string_view(key),
                                              [](std::string_view t) { return std::string(t); }),
              written);
    EXPECT_EQ(DefaultKeyMaker{}.make_digest(key, "pickle"),
              StreamingDefaultKeyMaker{}.make_digest(key, "pickle"));
    EXPECT_EQ(DefaultKeyMaker{}.make_digest(key, "pickle"),
              bucketcache::digest_key("pickle", "json", written));
  };
  for (std::size_t n = 0; n <= cap + 4; ++n) {
    check(std::string(n, 'k'), n + 2 <= cap);
    check(std::string(n, 'k') + "\"", false);
    check("\\" + std::string(n, 'k'), false);
    check(std::string(n, 'k') + "\x01", false);
    check(std::string(n, 'k') + "\xc3\xa9", false);
  }
  for (int c = 0; c < 0x80; ++c) {
    check(std::string(1, static_cast<char>(c)), c >= 0x20 && c < 0x7f && c != '"' && c != '\\');
  }
  // Other key types have no plain text: the writer's path.
  bucketcache::detail::PlainTextBuffer buf;
  EXPECT_FALSE(bucketcache::detail::plain_text_of(42, buf));
  EXPECT_EQ(bucketcache::with_canonical_key(42, [](std::string_view t) { return std::string(t); }),
            "42");
}

TEST(KeysDigest, DistinctInputsGiveDistinctDigests) {
  const DefaultKeyMaker def;
  const RawKeyMaker raw;
  EXPECT_NE(def.make_digest(std::string("x"), "pickle"), def.make_digest(std::string("x"), "json"));
  EXPECT_NE(def.make_digest("x", "pickle"), raw.make_digest("x", "pickle"));
  EXPECT_NE(def.make_digest(1, "pickle"), def.make_digest("1", "pickle"));
  EXPECT_NE(def.make_digest(std::vector<int>{1}, "pickle"), def.make_digest(1, "pickle"));
  // All sample keys digest differently.
  const std::vector<std::string> samples = sample_canonicals();
  std::set<std::string> seen;
  for (const std::string& c : samples) seen.insert(bucketcache::digest_key("b", "json", c).hex());
  const std::set<std::string> distinct(samples.begin(), samples.end());
  EXPECT_EQ(seen.size(), distinct.size());
}

TEST(KeysDigest, RawKeyMaker) {
  const RawKeyMaker raw;
  EXPECT_EQ(raw.make_digest("x", "pickle"), bucketcache::digest_key("pickle", "raw", "x"));
  const std::string bytes("a\0\xff\"b", 5);  // raw keys need not be UTF-8
  const Digest d = bucketcache::digest_key("pickle", "raw", bytes);
  EXPECT_EQ(raw.make_digest(bytes, "pickle"), d);
  EXPECT_EQ(raw.make_digest(std::string_view(bytes), "pickle"), d);
  EXPECT_EQ(raw.make_digest(std::vector<char>(bytes.begin(), bytes.end()), "pickle"), d);
  EXPECT_EQ(raw.make_digest(std::vector<unsigned char>(bytes.begin(), bytes.end()), "pickle"), d);
  std::vector<std::byte> as_bytes;
  for (char c : bytes) as_bytes.push_back(static_cast<std::byte>(c));
  EXPECT_EQ(raw.make_digest(as_bytes, "pickle"), d);
  const std::array<char, 5> arr{'a', '\0', '\xff', '"', 'b'};
  EXPECT_EQ(raw.make_digest(arr, "pickle"), d);
  const char* cstr = "abc";
  EXPECT_EQ(raw.make_digest(cstr, "pickle"), bucketcache::digest_key("pickle", "raw", "abc"));
  EXPECT_EQ(raw.make_digest("abc", "pickle"), bucketcache::digest_key("pickle", "raw", "abc"));
  EXPECT_THROW(raw.make_digest(static_cast<const char*>(nullptr), "pickle"), InvalidArgument);
  EXPECT_NE(raw.make_digest("abc", "pickle"), raw.make_digest("abc", "json"));
}

// ---- Memory: streamed keys cost bounded memory ----

struct MemStatus {
  long hwm_kib = -1;  // peak resident set since the last reset
  long rss_kib = -1;
};

MemStatus read_mem_status() {
  std::ifstream in("/proc/self/status");
  MemStatus m;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) m.hwm_kib = std::stol(line.substr(6));
    if (line.rfind("VmRSS:", 0) == 0) m.rss_kib = std::stol(line.substr(6));
  }
  return m;
}

// Resets VmHWM to the current RSS.
void reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  ASSERT_TRUE(out.good()) << "cannot write /proc/self/clear_refs";
}

// Peak RSS growth (bytes) while running f.
template <class F>
long long peak_rss_growth(F&& f) {
  reset_peak_rss();
  const MemStatus before = read_mem_status();
  EXPECT_GT(before.rss_kib, 0);
  EXPECT_LE(before.hwm_kib, before.rss_kib + 64) << "VmHWM was not reset";
  f();
  const MemStatus after = read_mem_status();
  return (after.hwm_kib - before.rss_kib) * 1024LL;
}

std::uint64_t big_key_bytes() {
  std::uint64_t mb = 1024;
  if (const char* env = std::getenv("BUCKETCACHE_TEST_BIG_KEY_MB"))
    mb = std::strtoull(env, nullptr, 10);
  if (mb == 0) mb = 1;
  return mb << 20;
}

// Digest of BigStringKey{size} computed independently: the canonical form is the pattern's
// escaped form repeated, in quotes.
Digest expected_big_digest(std::uint64_t size, std::string_view backend) {
  const std::string p = keytest::pattern();
  std::string escaped = canonical_key(p);
  escaped = escaped.substr(1, escaped.size() - 2);
  std::string block;
  for (std::size_t i = 0; i < (64u << 10) / keytest::kPatternSize; ++i) block += escaped;
  bucketcache::KeyHasher h(backend, "json");
  h.write("\"", 1);
  for (std::uint64_t pos = 0; pos < size; pos += 64u << 10) h.write(block.data(), block.size());
  h.write("\"", 1);
  return h.finish();
}

TEST(KeysStreaming, HugeKeyUsesBoundedMemory) {
  const std::uint64_t size = big_key_bytes();
  const StreamingDefaultKeyMaker streaming;
  Digest d;
  const auto t0 = std::chrono::steady_clock::now();
  const long long growth =
      peak_rss_growth([&] { d = streaming.make_digest(keytest::BigStringKey{size}, "pickle"); });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[          ] streamed a " << (size >> 20) << " MiB key in " << secs << " s ("
            << static_cast<double>(size) / 1e6 / secs << " MB/s), peak RSS growth " << growth / 1024
            << " KiB\n";
  EXPECT_LT(growth, 16LL << 20);
  EXPECT_EQ(d, expected_big_digest(size, "pickle"));
}

TEST(KeysStreaming, MeasurementSeesInMemoryKeys) {
  // The same measurement catches a keymaker that holds the whole key in memory.
  const std::uint64_t size = 64ull << 20;
  const DefaultKeyMaker def;
  Digest d;
  const long long growth =
      peak_rss_growth([&] { d = def.make_digest(keytest::BigStringKey{size}, "pickle"); });
  EXPECT_GE(growth, static_cast<long long>(size));
  EXPECT_EQ(d, expected_big_digest(size, "pickle"));
  EXPECT_EQ(StreamingDefaultKeyMaker().make_digest(keytest::BigStringKey{size}, "pickle"), d);
}

}  // namespace
