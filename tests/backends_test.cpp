// The built-in backends (raw, json, msgpack, boost): round trips, config effects, garbage
// and truncated input, type mismatches, and use through Bucket.
#include "bucketcache/backends.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "bucketcache/bucket.hpp"
#include "test_util.hpp"

namespace bc = bucketcache;

namespace {

// A user type plugged into every library through that library's own customization point.
struct Person {
  std::string name;
  int age = 0;
  std::vector<std::string> tags;
  std::map<std::string, double> scores;

  friend bool operator==(const Person& a, const Person& b) {
    return a.name == b.name && a.age == b.age && a.tags == b.tags && a.scores == b.scores;
  }

  // msgpack-cxx
  MSGPACK_DEFINE(name, age, tags, scores)

  // Boost.Serialization (NVP names, so XML archives work too)
  template <class Archive>
  void serialize(Archive& ar, const unsigned int /*version*/) {
    ar& BOOST_SERIALIZATION_NVP(name);
    ar& BOOST_SERIALIZATION_NVP(age);
    ar& BOOST_SERIALIZATION_NVP(tags);
    ar& BOOST_SERIALIZATION_NVP(scores);
  }
};
// nlohmann::json
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Person, name, age, tags, scores)

Person sample_person() {
  return Person{"Ada \xc3\xa9 <&>", 36, {"math", "", "engines"}, {{"x", 0.1}, {"y", -2.5}}};
}

using Nested = std::map<std::string, std::map<std::string, std::vector<int>>>;

Nested sample_nested() {
  return Nested{{"a", {{"x", {1, 2, 3}}, {"y", {}}}}, {"", {}}, {"b", {{"z", {-7}}}}};
}

// ---- cases: one backend with one config ----

struct JsonCase {
  using Backend = bc::JsonBackend;
  static Backend::Config config() { return {}; }
};
struct JsonPrettyCase {
  using Backend = bc::JsonBackend;
  static Backend::Config config() { return {2, true}; }
};
struct MsgpackCase {
  using Backend = bc::MsgpackBackend;
  static Backend::Config config() { return {}; }
};
template <bc::BoostArchive Kind, unsigned Flags = 0>
struct BoostCase {
  using Backend = bc::BoostBackend;
  static Backend::Config config() {
    Backend::Config c;
    c.archive = Kind;
    c.archive_flags = Flags;
    return c;
  }
};
template <class Case>
inline constexpr bool is_boost_xml = false;
template <unsigned Flags>
inline constexpr bool is_boost_xml<BoostCase<bc::BoostArchive::xml, Flags>> = true;

using BoostBinaryCase = BoostCase<bc::BoostArchive::binary>;
using BoostTextCase = BoostCase<bc::BoostArchive::text>;
using BoostXmlCase = BoostCase<bc::BoostArchive::xml>;
using BoostBinaryNoHeaderCase = BoostCase<bc::BoostArchive::binary, boost::archive::no_header>;
using BoostTextNoHeaderCase = BoostCase<bc::BoostArchive::text, boost::archive::no_header>;
using BoostXmlNoHeaderCase = BoostCase<bc::BoostArchive::xml, boost::archive::no_header>;

template <class Case, class T>
std::string dump(const T& value) {
  std::string out;
  Case::Backend::dump(value, out, Case::config());
  return out;
}

template <class Case, class T>
T load(std::string_view bytes) {
  return Case::Backend::template load<T>(bytes, Case::config());
}

template <class Case, class T>
T round_trip(const T& value) {
  return load<Case, T>(dump<Case>(value));
}

// Loads bytes as T; any exception is fine, a crash (or sanitizer report) is not.
template <class Case, class T>
bool loads(std::string_view bytes) {
  try {
    (void)load<Case, T>(bytes);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::string_view trim_trailing_whitespace(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Every proper prefix of a valid payload (bar trailing whitespace) must throw; the rest
// must not crash.
template <class Case, class T>
void expect_truncations_throw(const T& value) {
  const std::string bytes = dump<Case>(value);
  const std::size_t significant = trim_trailing_whitespace(bytes).size();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const bool ok = loads<Case, T>(std::string_view(bytes).substr(0, n));
    if (n < significant) {
      EXPECT_FALSE(ok) << "prefix of " << n << "/" << bytes.size();
    }
  }
  EXPECT_TRUE((loads<Case, T>(bytes)));
}

// Random bytes, random bytes after a valid beginning, and valid payloads with bytes
// changed: loading as several types must throw or succeed, never crash.
template <class Case>
void fuzz_loads(unsigned seed) {
  std::mt19937 rng(seed);
  const std::vector<std::string> valid = {dump<Case>(sample_person()), dump<Case>(sample_nested()),
                                          dump<Case>(std::vector<int>{1, 2, 3, 4}),
                                          dump<Case>(std::string("hello"))};
  auto random_bytes = [&](std::size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
  };
  auto try_all = [&](const std::string& bytes) {
    loads<Case, Person>(bytes);
    loads<Case, Nested>(bytes);
    loads<Case, std::vector<int>>(bytes);
    loads<Case, std::string>(bytes);
    loads<Case, std::int64_t>(bytes);
  };
  for (int i = 0; i < 300; ++i) try_all(random_bytes(rng() % 200));
  for (const std::string& v : valid) {
    for (int i = 0; i < 150; ++i) {
      // A valid beginning, then random bytes.
      std::string s = v.substr(0, rng() % (v.size() + 1)) + random_bytes(rng() % 64);
      try_all(s);
      // A few bytes of a valid payload replaced (large values are likely in length fields).
      s = v;
      const int changes = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < changes; ++k) {
        s[rng() % s.size()] = static_cast<char>(rng() % 3 == 0 ? 0xff : rng() & 0xff);
      }
      try_all(s);
    }
  }
}

// ---- typed tests over the structured backends ----

template <class Case>
class BackendTyped : public ::testing::Test {};

using StructuredCases = ::testing::Types<JsonCase, JsonPrettyCase, MsgpackCase, BoostBinaryCase,
                                         BoostTextCase, BoostXmlCase, BoostBinaryNoHeaderCase,
                                         BoostTextNoHeaderCase, BoostXmlNoHeaderCase>;
TYPED_TEST_SUITE(BackendTyped, StructuredCases);

TYPED_TEST(BackendTyped, Primitives) {
  using C = TypeParam;
  for (int v : {0, 1, -1, 42, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()}) {
    EXPECT_EQ(round_trip<C>(v), v);
  }
  for (std::int64_t v : {std::numeric_limits<std::int64_t>::min(),
                         std::numeric_limits<std::int64_t>::max(), std::int64_t{-1}}) {
    EXPECT_EQ(round_trip<C>(v), v);
  }
  const std::uint64_t umax = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(round_trip<C>(umax), umax);
  for (double v : {0.0, 0.1, -2.5, 1e308, 5e-324, 1.0 / 3.0, -123456.789e-20}) {
    EXPECT_EQ(round_trip<C>(v), v);
  }
  EXPECT_EQ(round_trip<C>(true), true);
  EXPECT_EQ(round_trip<C>(false), false);
}

TYPED_TEST(BackendTyped, Strings) {
  using C = TypeParam;
  const std::string long_string(100000, 'q');
  for (const std::string& s :
       {std::string(), std::string("plain"),
        std::string("h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9d\x84\x9e"),
        std::string("nul\0inside\0", 11), std::string("<tag attr=\"x\"> & ' \t\n\r"),
        long_string}) {
    EXPECT_EQ(round_trip<C>(s), s);
  }
}

TYPED_TEST(BackendTyped, Containers) {
  using C = TypeParam;
  const std::vector<int> v{5, -4, 3};
  EXPECT_EQ(round_trip<C>(v), v);
  EXPECT_EQ(round_trip<C>(std::vector<int>{}), std::vector<int>{});
  const std::vector<std::string> vs{"a", "", "c"};
  EXPECT_EQ(round_trip<C>(vs), vs);
  const std::map<std::string, int> m{{"one", 1}, {"two", 2}};
  EXPECT_EQ(round_trip<C>(m), m);
  EXPECT_EQ(round_trip<C>(sample_nested()), sample_nested());
  const std::vector<std::vector<double>> vv{{}, {0.5}, {1.5, -2.0}};
  EXPECT_EQ(round_trip<C>(vv), vv);
}

TYPED_TEST(BackendTyped, UserType) {
  using C = TypeParam;
  EXPECT_EQ(round_trip<C>(sample_person()), sample_person());
  EXPECT_EQ(round_trip<C>(Person{}), Person{});
  const std::vector<Person> people{sample_person(), Person{}, sample_person()};
  EXPECT_EQ(round_trip<C>(people), people);
}

TYPED_TEST(BackendTyped, DumpAppendsToOutput) {
  using C = TypeParam;
  std::string out = "prefix";
  C::Backend::dump(sample_person(), out, C::config());
  ASSERT_EQ(out.substr(0, 6), "prefix");
  EXPECT_EQ(out.substr(6), dump<C>(sample_person()));
  EXPECT_EQ((load<C, Person>(std::string_view(out).substr(6))), sample_person());
}

TYPED_TEST(BackendTyped, TruncatedInputThrows) {
  using C = TypeParam;
  expect_truncations_throw<C>(sample_person());
  expect_truncations_throw<C>(sample_nested());
  expect_truncations_throw<C>(std::string("a string value"));
  expect_truncations_throw<C>(std::vector<int>{1, 2, 3});
}

TYPED_TEST(BackendTyped, GarbageNeverCrashes) {
  using C = TypeParam;
  EXPECT_FALSE((loads<C, Person>("")));
  EXPECT_FALSE((loads<C, int>("")));
  // Fixed seed; run with --gtest_shuffle --gtest_repeat=N to try other seeds.
  fuzz_loads<C>(12345u + static_cast<unsigned>(::testing::UnitTest::GetInstance()->random_seed()));
}

TYPED_TEST(BackendTyped, TypeMismatchThrows) {
  using C = TypeParam;
  EXPECT_FALSE((loads<C, int>(dump<C>(std::string("hello world")))));
  if constexpr (!is_boost_xml<C>) {
    EXPECT_FALSE((loads<C, std::string>(dump<C>(42))));
  } else {
    // XML elements are untyped text: a number reads back as its digits.
    EXPECT_EQ((load<C, std::string>(dump<C>(42))), "42");
  }
  EXPECT_FALSE((loads<C, int>(dump<C>(sample_person()))));
  EXPECT_FALSE((loads<C, Person>(dump<C>(std::string("not a person")))));
  EXPECT_FALSE((loads<C, std::vector<std::string>>(dump<C>(std::string("hello world")))));
  EXPECT_FALSE((loads<C, Nested>(dump<C>(sample_person()))));
}

TYPED_TEST(BackendTyped, TrailingBytesThrow) {
  using C = TypeParam;
  EXPECT_FALSE((loads<C, Person>(dump<C>(sample_person()) + "x")));
  EXPECT_FALSE((loads<C, int>(dump<C>(7) + " 1")));
}

// ---- raw ----

TEST(BackendRaw, RoundTripsBytes) {
  using R = bc::RawBackend;
  const std::string bytes("\0\x01\xff nul and high bytes \xc3\xa9", 24);
  for (const std::string& s : {std::string(), bytes, std::string(100000, '\0')}) {
    std::string out;
    R::dump(s, out, {});
    EXPECT_EQ(out, s);
    EXPECT_EQ(R::load<std::string>(out, {}), s);
    EXPECT_EQ(R::load<std::vector<char>>(out, {}), std::vector<char>(s.begin(), s.end()));
    EXPECT_EQ(R::load<std::vector<unsigned char>>(out, {}),
              std::vector<unsigned char>(s.begin(), s.end()));
  }
}

TEST(BackendRaw, AcceptsByteContainers) {
  using R = bc::RawBackend;
  std::string out;
  R::dump(std::string_view("ab"), out, {});
  R::dump(std::vector<char>{'c', '\0'}, out, {});
  R::dump(std::vector<unsigned char>{0xff, 'd'}, out, {});
  R::dump(std::vector<std::byte>{std::byte{'e'}}, out, {});
  R::dump("lit", out, {});
  const char* cstr = "cs";
  R::dump(cstr, out, {});
  EXPECT_EQ(out, std::string("abc\0\xff"
                             "delitcs",
                             12));
  const auto v = R::load<std::vector<std::byte>>(out, {});
  ASSERT_EQ(v.size(), 12u);
  EXPECT_EQ(v[4], std::byte{0xff});
  const char* null_cstr = nullptr;
  EXPECT_THROW(R::dump(null_cstr, out, {}), std::invalid_argument);
}

TEST(BackendRaw, AnyBytesLoad) {
  std::mt19937 rng(7);
  for (int i = 0; i < 100; ++i) {
    std::string s(rng() % 100, '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xff);
    EXPECT_EQ(bc::RawBackend::load<std::string>(s, {}), s);
  }
}

// ---- json ----

TEST(BackendJson, IndentAndEnsureAsciiChangeBytes) {
  using J = bc::JsonBackend;
  const std::map<std::string, std::string> v{{"k", "\xc3\xa9"}};
  std::string compact, pretty, ascii;
  J::dump(v, compact, {});
  J::dump(v, pretty, {2, false});
  J::dump(v, ascii, {-1, true});
  EXPECT_EQ(compact, "{\"k\":\"\xc3\xa9\"}");
  EXPECT_EQ(pretty, "{\n  \"k\": \"\xc3\xa9\"\n}");
  EXPECT_EQ(ascii, "{\"k\":\"\\u00e9\"}");
  // Every config reads every form.
  for (const std::string* bytes : {&compact, &pretty, &ascii}) {
    EXPECT_EQ((J::load<std::map<std::string, std::string>>(*bytes, {})), v);
    EXPECT_EQ((J::load<std::map<std::string, std::string>>(*bytes, {4, true})), v);
  }
}

TEST(BackendJson, InvalidUtf8DoesNotDump) {
  std::string out;
  EXPECT_THROW(bc::JsonBackend::dump(std::string("\xff\xfe"), out, {}), std::exception);
  EXPECT_TRUE(out.empty());
}

TEST(BackendJson, LoadsJsonValuesAndRejectsNonJson) {
  using J = bc::JsonBackend;
  EXPECT_EQ(J::load<nlohmann::json>(" {\"a\": [1, null]} ", {})["a"][0], 1);
  EXPECT_THROW(J::load<int>("1 2", {}), std::exception);
  EXPECT_THROW(J::load<int>("// comment\n1", {}), std::exception);
  EXPECT_THROW(J::load<std::string>("\"\xff\"", {}), std::exception);  // invalid UTF-8
  EXPECT_THROW(J::load<bool>("1", {}), std::exception);
  EXPECT_THROW(J::load<std::vector<int>>("{\"a\":1}", {}), std::exception);
}

TEST(BackendJson, NestingIsLimited) {
  using J = bc::JsonBackend;
  auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_NO_THROW(J::load<nlohmann::json>(nested(512), {}));
  EXPECT_THROW(J::load<nlohmann::json>(nested(513), {}), std::exception);
  EXPECT_THROW(J::load<std::vector<nlohmann::json>>(nested(1000000), {}), std::exception);
  // Brackets inside strings (escaped quotes included) do not count.
  const std::string in_string = "[\"\\\"" + std::string(1000, '[') + "\"]";
  EXPECT_EQ(J::load<std::vector<std::string>>(in_string, {}).at(0).size(), 1001u);
  // A larger limit: parsing and freeing do not recurse.
  J::Config deep;
  deep.max_depth = 200000;
  EXPECT_NO_THROW(J::load<nlohmann::json>(nested(100000), deep));
}

// ---- msgpack ----

TEST(BackendMsgpack, WireFormatIsMessagePack) {
  std::string out;
  bc::MsgpackBackend::dump(std::vector<int>{1, -1}, out, {});
  EXPECT_EQ(out, "\x92\x01\xff");
  out.clear();
  bc::MsgpackBackend::dump(std::string("ab"), out, {});
  EXPECT_EQ(out,
            "\xa2"
            "ab");
}

TEST(BackendMsgpack, ConfigLimitsApplyOnLoad) {
  using M = bc::MsgpackBackend;
  std::string bytes;
  M::dump(std::string(100, 'x'), bytes, {});
  M::Config small;
  small.max_str_size = 99;
  EXPECT_THROW(M::load<std::string>(bytes, small), std::exception);
  small.max_str_size = 100;
  EXPECT_EQ(M::load<std::string>(bytes, small), std::string(100, 'x'));

  bytes.clear();
  M::dump(std::vector<int>(10, 1), bytes, {});
  M::Config arrays;
  arrays.max_array_size = 9;
  EXPECT_THROW(M::load<std::vector<int>>(bytes, arrays), std::exception);

  bytes.clear();
  M::dump(std::vector<std::vector<std::vector<int>>>{{{1}}}, bytes, {});
  M::Config depth;
  depth.max_depth = 2;
  EXPECT_THROW((M::load<std::vector<std::vector<std::vector<int>>>>(bytes, depth)), std::exception);
  depth.max_depth = 3;
  EXPECT_NO_THROW((M::load<std::vector<std::vector<std::vector<int>>>>(bytes, depth)));
}

TEST(BackendMsgpack, OversizedHeadersThrowWithoutAllocating) {
  using M = bc::MsgpackBackend;
  // An array claiming 2^32-1 elements, a map claiming as many pairs, a 4 GiB string.
  EXPECT_THROW(M::load<std::vector<int>>(std::string("\xdd\xff\xff\xff\xff", 5), {}),
               std::exception);
  EXPECT_THROW((M::load<std::map<int, int>>(std::string("\xdf\xff\xff\xff\xff", 5), {})),
               std::exception);
  EXPECT_THROW(M::load<std::string>(std::string("\xdb\xff\xff\xff\xff", 5), {}), std::exception);
  // Many nested headers, each claiming 65536 elements: bounded by the payload size.
  std::string nested;
  for (int i = 0; i < 100000; ++i) nested.append("\xdd\x00\x01\x00\x00", 5);
  EXPECT_THROW(M::load<std::vector<std::vector<int>>>(nested, {}), std::exception);
  // Deep nesting beyond the default limit.
  EXPECT_THROW(M::load<std::vector<int>>(std::string(100000, '\x91') + '\x01', {}), std::exception);
}

TEST(BackendMsgpack, StrictNumericConversion) {
  using M = bc::MsgpackBackend;
  std::string bytes;
  M::dump(std::int64_t{1} << 40, bytes, {});
  EXPECT_THROW(M::load<int>(bytes, {}), std::exception);
  EXPECT_EQ(M::load<std::int64_t>(bytes, {}), std::int64_t{1} << 40);
  bytes.clear();
  M::dump(1.5, bytes, {});
  EXPECT_THROW(M::load<int>(bytes, {}), std::exception);
}

// ---- boost ----

TEST(BackendBoost, KindIsRecordedAndAnyConfigReadsAnyKind) {
  using B = bc::BoostBackend;
  const std::vector<B::Config> configs = {
      BoostBinaryCase::config(),
      BoostTextCase::config(),
      BoostXmlCase::config(),
      BoostBinaryNoHeaderCase::config(),
      BoostTextNoHeaderCase::config(),
      BoostXmlNoHeaderCase::config(),
      BoostCase<bc::BoostArchive::xml,
                boost::archive::no_tracking | boost::archive::no_xml_tag_checking>::config()};
  std::vector<std::string> payloads;
  for (const B::Config& c : configs) {
    std::string out;
    B::dump(sample_person(), out, c);
    ASSERT_GE(out.size(), 2u);
    EXPECT_EQ(out[0], static_cast<char>(c.archive));
    EXPECT_EQ(static_cast<unsigned char>(out[1]), c.archive_flags);
    for (const std::string& other : payloads) EXPECT_NE(out, other);
    payloads.push_back(out);
  }
  for (const std::string& p : payloads) {
    for (const B::Config& c : configs) EXPECT_EQ(B::load<Person>(p, c), sample_person());
  }
  // Text and XML archives are text after the two prefix bytes.
  EXPECT_NE(payloads[1].find("serialization::archive"), std::string::npos);
  EXPECT_NE(payloads[2].find("<name>Ada"), std::string::npos);
  // Without the header the archive is smaller.
  EXPECT_LT(payloads[3].size(), payloads[0].size());
}

TEST(BackendBoost, BadConfigDoesNotDump) {
  using B = bc::BoostBackend;
  std::string out = "keep";
  B::Config c;
  c.archive_flags = 0x10;
  EXPECT_THROW(B::dump(1, out, c), std::invalid_argument);
  c.archive_flags = 0;
  c.archive = static_cast<bc::BoostArchive>('q');
  EXPECT_THROW(B::dump(1, out, c), std::invalid_argument);
  EXPECT_EQ(out, "keep");
}

TEST(BackendBoost, UnknownKindOrFlagsThrow) {
  using B = bc::BoostBackend;
  std::string p = dump<BoostBinaryCase>(sample_person());
  for (char kind : {'\0', 'B', 'p', 'j', '\xff'}) {
    std::string q = p;
    q[0] = kind;
    EXPECT_THROW(B::load<Person>(q, {}), std::exception) << int(kind);
  }
  std::string q = p;
  q[1] = '\x10';
  EXPECT_THROW(B::load<Person>(q, {}), std::exception);
  EXPECT_THROW(B::load<Person>("b", {}), std::exception);
}

// Payload of a binary archive with the 8-byte length at offset `at` set to `size`.
std::string with_size_at(std::string p, std::size_t at, std::uint64_t size) {
  for (int i = 0; i < 8; ++i) p[at + i] = static_cast<char>((size >> (8 * i)) & 0xff);
  return p;
}

TEST(BackendBoost, HugeLengthsThrowWithoutAllocating) {
  using B = bc::BoostBackend;
  // No header: the payload is 2 prefix bytes then the value itself.
  const auto cfg = BoostBinaryNoHeaderCase::config();
  std::string s;
  B::dump(std::string("abc"), s, cfg);
  ASSERT_EQ(s.size(), 2u + 8u + 3u);
  EXPECT_EQ(B::load<std::string>(s, cfg), "abc");
  for (std::uint64_t n :
       {std::uint64_t{4}, std::uint64_t{1} << 31, std::uint64_t{1} << 40, ~std::uint64_t{0}}) {
    EXPECT_THROW(B::load<std::string>(with_size_at(s, 2, n), cfg), std::exception) << n;
  }
  std::string v;
  B::dump(std::vector<std::int64_t>{1, 2}, v, cfg);
  EXPECT_EQ(B::load<std::vector<std::int64_t>>(v, cfg), (std::vector<std::int64_t>{1, 2}));
  for (std::uint64_t n : {std::uint64_t{3}, std::uint64_t{1} << 31, std::uint64_t{1} << 61}) {
    EXPECT_THROW(B::load<std::vector<std::int64_t>>(with_size_at(v, 2, n), cfg), std::exception)
        << n;
  }
  // The same through the text archive.
  const auto tcfg = BoostTextNoHeaderCase::config();
  EXPECT_THROW(B::load<std::string>(std::string("t\x01") + "99999999999999 abc\n", tcfg),
               std::exception);
  EXPECT_THROW(B::load<std::vector<int>>(std::string("t\x01") + "4000000000 0 1 2\n", tcfg),
               std::exception);
  EXPECT_THROW(
      B::load<std::vector<int>>(std::string("x\x01") + "<value><count>4000000000</count>"
                                                       "<item_version>0</item_version></value>\n",
                                BoostXmlNoHeaderCase::config()),
      std::exception);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

TEST(BackendBoost, CraftedLibraryVersionsThrow) {
  using B = bc::BoostBackend;
  const std::string current = std::to_string(unsigned(boost::archive::BOOST_ARCHIVE_VERSION()));
  const std::string xml = dump<BoostXmlCase>(5);
  const std::string text = dump<BoostTextCase>(5);
  ASSERT_EQ(B::load<int>(xml, {}), 5);
  ASSERT_EQ(B::load<int>(text, {}), 5);
  for (const char* v : {"0", "3", "6", "99999", "70000", "4294967296", "-1"}) {
    const std::string bad_xml =
        replace_all(xml, "version=\"" + current + "\"", std::string("version=\"") + v + "\"");
    ASSERT_NE(bad_xml, xml);
    EXPECT_THROW(B::load<int>(bad_xml, {}), std::exception) << v;
    const std::string bad_text = replace_all(text, " " + current + " ", std::string(" ") + v + " ");
    ASSERT_NE(bad_text, text);
    EXPECT_THROW(B::load<int>(bad_text, {}), std::exception) << v;
  }
  // Binary: the version byte follows the 8-byte length and the 22-byte signature.
  std::string binary = dump<BoostBinaryCase>(5);
  ASSERT_EQ(static_cast<unsigned char>(binary[2 + 8 + 22]), std::stoul(current));
  for (unsigned char v : {0, 3, 6, 200, 255}) {
    binary[2 + 8 + 22] = static_cast<char>(v);
    EXPECT_THROW(B::load<int>(binary, {}), std::exception) << int(v);
  }
}

TEST(BackendBoost, InvalidBoolThrows) {
  const auto cfg = BoostBinaryNoHeaderCase::config();
  std::string p;
  bc::BoostBackend::dump(true, p, cfg);
  ASSERT_EQ(p.size(), 3u);
  p[2] = '\x05';
  EXPECT_THROW(bc::BoostBackend::load<bool>(p, cfg), std::exception);
}

// ---- through Bucket ----

template <class Case>
class BackendBucket : public ::testing::Test {};

using BucketCases =
    ::testing::Types<JsonCase, MsgpackCase, BoostBinaryCase, BoostTextCase, BoostXmlCase>;
TYPED_TEST_SUITE(BackendBucket, BucketCases);

TYPED_TEST(BackendBucket, SetGetContainsErase) {
  using C = TypeParam;
  bctest::TempDir dir;
  bc::Bucket<typename C::Backend> b(dir.path(), {}, C::config());
  EXPECT_FALSE(b.contains("ada"));
  EXPECT_FALSE(b.template try_get<Person>("ada").has_value());
  b.set("ada", sample_person());
  EXPECT_TRUE(b.contains("ada"));
  EXPECT_EQ(b.template get<Person>("ada"), sample_person());
  b.set(std::vector<int>{1, 2}, sample_nested());
  EXPECT_EQ(b.template get<Nested>(std::vector<int>{1, 2}), sample_nested());
  // Read back from the file by a fresh bucket with a default config.
  {
    bc::Bucket<typename C::Backend> fresh(dir.path());
    EXPECT_EQ(fresh.template get<Person>("ada"), sample_person());
  }
  EXPECT_TRUE(b.erase("ada"));
  EXPECT_FALSE(b.contains("ada"));
  EXPECT_THROW(b.template get<Person>("ada"), bc::KeyError);
  EXPECT_FALSE(b.erase("ada"));
}

TYPED_TEST(BackendBucket, WrongTypeIsAMissAndKeepsTheEntry) {
  using C = TypeParam;
  bctest::TempDir dir;
  bc::Bucket<typename C::Backend> b(dir.path(), {}, C::config());
  b.set("k", std::string("a string, not a person"));
  EXPECT_FALSE(b.template try_get<Person>("k").has_value());
  EXPECT_THROW(b.template get<int>("k"), bc::KeyError);
  EXPECT_TRUE(b.contains("k"));
  EXPECT_EQ(b.template get<std::string>("k"), "a string, not a person");
  // Also when read from the file rather than from memory.
  b.unload_key("k");
  EXPECT_FALSE(b.template try_get<Person>("k").has_value());
  b.unload_key("k");
  EXPECT_EQ(b.template get<std::string>("k"), "a string, not a person");
}

TEST(BackendBucketMisc, RawBucket) {
  bctest::TempDir dir;
  bc::Bucket<bc::RawBackend> b(dir.path());
  const std::string bytes("\0\x01\x02\xff", 4);
  b.set("blob", bytes);
  EXPECT_EQ(b.get<std::string>("blob"), bytes);
  EXPECT_EQ(b.get<std::vector<unsigned char>>("blob"), (std::vector<unsigned char>{0, 1, 2, 0xff}));
  EXPECT_TRUE(b.contains("blob"));
  EXPECT_TRUE(b.erase("blob"));
  EXPECT_FALSE(b.try_get<std::string>("blob").has_value());
}

TEST(BackendBucketMisc, SameKeyUnderTwoBackendsIsTwoEntries) {
  bctest::TempDir dir;
  bc::Bucket<bc::JsonBackend> json(dir.path());
  bc::Bucket<bc::MsgpackBackend> msgpack(dir.path());
  bc::Bucket<bc::BoostBackend> boost(dir.path());
  json.set("k", 1);
  msgpack.set("k", 2);
  boost.set("k", 3);
  EXPECT_EQ(json.get<int>("k"), 1);
  EXPECT_EQ(msgpack.get<int>("k"), 2);
  EXPECT_EQ(boost.get<int>("k"), 3);
  EXPECT_NE(json.digest("k"), msgpack.digest("k"));
  EXPECT_NE(msgpack.digest("k"), boost.digest("k"));
}

TEST(BackendBucketMisc, UnserializableValueThrowsSerializationError) {
  bctest::TempDir dir;
  bc::Bucket<bc::JsonBackend> b(dir.path());
  EXPECT_THROW(b.set("k", std::string("\xff")), bc::SerializationError);
  EXPECT_FALSE(b.contains("k"));
  bc::BoostBackend::Config bad;
  bad.archive_flags = 0x40;
  bc::Bucket<bc::BoostBackend> bb(dir.path(), {}, bad);
  EXPECT_THROW(bb.set("k", 1), bc::SerializationError);
}

}  // namespace
