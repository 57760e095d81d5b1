// Canonical key form: canonicalize_json against the shared vectors, KeyWriter, and
// format_canonical_double.

#include "bucketcache/canonical.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bucketcache/error.hpp"
#include "bucketcache/keys.hpp"
#include "test_util.hpp"

namespace {

using bucketcache::canonicalize_json;
using bucketcache::format_canonical_double;
using bucketcache::InvalidArgument;
using bucketcache::KeySink;
using bucketcache::KeyWriter;

using bctest::from_hex;
using bctest::key_vectors;

std::string describe(const std::string& s) {
  // JSON-quoted for the message (invalid UTF-8 shown as U+FFFD), long inputs cut.
  const auto quoted = [](const std::string& t) {
    return nlohmann::json(t).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  if (s.size() > 80)
    return quoted(s.substr(0, 80)) + "... (" + std::to_string(s.size()) + " bytes)";
  return quoted(s);
}

class StringSink : public KeySink {
 public:
  void write(const char* data, std::size_t size) override { out.append(data, size); }
  std::string out;
};

std::string write_string(std::string_view s) {
  StringSink sink;
  KeyWriter w(sink);
  w.string(s);
  w.finish();
  return sink.out;
}

// ---- Reference implementation (written independently of KeyWriter) ----

bool ref_valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    const std::uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

std::string ref_quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

// ---- canonicalize_json: the shared vectors ----

TEST(CanonicalJson, VectorFileIsPresent) {
  const nlohmann::json& v = key_vectors();
  ASSERT_TRUE(v.contains("valid"));
  ASSERT_TRUE(v.contains("invalid"));
  ASSERT_TRUE(v.contains("invalid_hex"));
  EXPECT_GE(v["valid"].size(), 40u);
  EXPECT_GE(v["invalid"].size(), 10u);
  EXPECT_GE(v["invalid_hex"].size(), 3u);
}

TEST(CanonicalJson, ValidVectors) {
  const nlohmann::json& valid = key_vectors().at("valid");
  ASSERT_FALSE(valid.empty());
  for (std::size_t i = 0; i < valid.size(); ++i) {
    const std::string input = valid[i].at("input");
    const std::string expected = valid[i].at("canonical");
    SCOPED_TRACE("valid vector #" + std::to_string(i) + " input " + describe(input));
    try {
      EXPECT_EQ(canonicalize_json(input), expected);
      // The canonical form is a fixed point.
      EXPECT_EQ(canonicalize_json(expected), expected);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "threw: " << e.what();
    }
  }
}

TEST(CanonicalJson, InvalidVectors) {
  const nlohmann::json& invalid = key_vectors().at("invalid");
  ASSERT_FALSE(invalid.empty());
  for (std::size_t i = 0; i < invalid.size(); ++i) {
    const std::string input = invalid[i].at("input");
    const std::string why = invalid[i].at("why");
    SCOPED_TRACE("invalid vector #" + std::to_string(i) + " (" + why + ") input " +
                 describe(input));
    try {
      std::string out = canonicalize_json(input);
      ADD_FAILURE() << "accepted, gave " << describe(out);
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("at byte "), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "threw something other than InvalidArgument: " << e.what();
    }
  }
}

TEST(CanonicalJson, InvalidHexVectors) {
  const nlohmann::json& invalid = key_vectors().at("invalid_hex");
  ASSERT_FALSE(invalid.empty());
  for (std::size_t i = 0; i < invalid.size(); ++i) {
    const std::string hex = invalid[i].at("input_hex");
    const std::string why = invalid[i].at("why");
    SCOPED_TRACE("invalid_hex vector #" + std::to_string(i) + " (" + why + ") input_hex " + hex);
    try {
      std::string out = canonicalize_json(from_hex(hex));
      ADD_FAILURE() << "accepted, gave " << describe(out);
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("at byte "), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "threw something other than InvalidArgument: " << e.what();
    }
  }
}

// ---- canonicalize_json: more cases ----

std::string error_of(const std::string& input) {
  try {
    canonicalize_json(input);
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(CanonicalJson, ErrorsNameTheByteOffset) {
  EXPECT_EQ(error_of(R"({"a":1,"a":2})"),
            R"(invalid JSON key at byte 9: duplicate member name "a")");
  EXPECT_NE(error_of("[1,]").find("at byte 3:"), std::string::npos) << error_of("[1,]");
  EXPECT_NE(error_of("[1").find("at byte 2:"), std::string::npos) << error_of("[1");
  EXPECT_NE(error_of("").find("at byte 0:"), std::string::npos) << error_of("");
  EXPECT_NE(error_of("{\"a\":1} x").find("at byte 8:"), std::string::npos)
      << error_of("{\"a\":1} x");
  EXPECT_NE(error_of("\"ab\xff\"").find("at byte 3:"), std::string::npos) << error_of("\"ab\xff\"");
  const std::string deep = std::string(1025, '[') + std::string(1025, ']');
  EXPECT_EQ(error_of(deep), "invalid JSON key at byte 1024: nesting deeper than 1024 levels");
}

TEST(CanonicalJson, DepthLimit) {
  for (std::size_t depth : {std::size_t{1}, std::size_t{512}, bucketcache::kMaxKeyDepth}) {
    const std::string arrays = std::string(depth, '[') + std::string(depth, ']');
    EXPECT_EQ(canonicalize_json(arrays), arrays) << depth;
    std::string objects;
    for (std::size_t i = 0; i < depth; ++i) objects += "{\"a\":";
    objects += "1";
    objects += std::string(depth, '}');
    EXPECT_EQ(canonicalize_json(objects), objects) << depth;
  }
  for (std::size_t depth :
       {bucketcache::kMaxKeyDepth + 1, std::size_t{10000}, std::size_t{1000000}}) {
    const std::string arrays = std::string(depth, '[') + std::string(depth, ']');
    EXPECT_THROW(canonicalize_json(arrays), InvalidArgument) << depth;
    EXPECT_THROW(canonicalize_json(std::string(depth, '[')), InvalidArgument) << depth;
    std::string objects;
    for (std::size_t i = 0; i < depth; ++i) objects += "{\"a\":";
    EXPECT_THROW(canonicalize_json(objects), InvalidArgument) << depth;
  }
}

TEST(CanonicalJson, NumbersAndLiterals) {
  EXPECT_EQ(canonicalize_json("[1e2,1E-2,-0,-0.0,0.5e1,123456789012345678901234567890]"),
            "[100,0.01,0,0,5,1.2345678901234568e+29]");
  EXPECT_EQ(canonicalize_json("[9223372036854775807,-9223372036854775809,18446744073709551616]"),
            "[9223372036854775807,-9223372036854776000,18446744073709552000]");
  EXPECT_EQ(canonicalize_json("1e-400"), "0");  // underflows to zero
  // A byte order mark is refused (RFC 8259 allows either; Python's json refuses it).
  EXPECT_EQ(error_of("\xef\xbb\xbf"
                     "1"),
            "invalid JSON key at byte 0: byte order mark (U+FEFF) before the JSON text");
  for (const char* bad : {"1e400",
                          "-1e400",
                          "[1e999]",
                          "NaN",
                          "-Infinity",
                          "nan",
                          "0x10",
                          "+1",
                          ".5",
                          "1.",
                          "1e",
                          "--1",
                          "tru",
                          "nul",
                          "[1 2]",
                          "{\"a\" 1}",
                          "{1:2}",
                          "{\"a\":1,}",
                          "[",
                          "]",
                          "\"\\x41\"",
                          "\"\\u12\"",
                          "\"unterminated",
                          "// c\n1",
                          "/* c */ 1",
                          "1 2",
                          "\xef\xbb\xbf"
                          "1"}) {
    EXPECT_THROW(canonicalize_json(bad), InvalidArgument) << describe(bad);
  }
}

TEST(CanonicalJson, StringsAndNames) {
  // Escapes are decoded, then re-escaped minimally; names sort by UTF-8 bytes.
  EXPECT_EQ(canonicalize_json(R"(["\u0041\/\"\\\u007F\u0080\uFFFF\uDBFF\uDFFF"])"),
            "[\"A/\\\"\\\\\x7f\xc2\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\"]");
  EXPECT_EQ(canonicalize_json(R"({"\u0000":1,"":2,"\u007f":3,"\u0080":4})"),
            "{\"\":2,\"\\u0000\":1,\"\x7f\":3,\"\xc2\x80\":4}");
  EXPECT_THROW(canonicalize_json(R"({"\u0041":1,"A":2})"), InvalidArgument);  // same name
  EXPECT_THROW(canonicalize_json(R"({"x":{"a":1},"y":{"a":1,"a":1}})"), InvalidArgument);
  EXPECT_EQ(canonicalize_json(R"({"x":{"a":1},"y":{"a":1}})"), R"({"x":{"a":1},"y":{"a":1}})");
  EXPECT_THROW(canonicalize_json("\"\xf4\x90\x80\x80\""), InvalidArgument);  // > U+10FFFF
  EXPECT_THROW(canonicalize_json("\"\xe0\x80\xaf\""), InvalidArgument);      // overlong
  EXPECT_THROW(canonicalize_json("\"\xc3\""), InvalidArgument);              // truncated
  EXPECT_THROW(canonicalize_json(std::string("\"a\0b\"", 5)), InvalidArgument);
}

TEST(CanonicalJson, LargeDocument) {
  std::string in = "[";
  std::string expected = "[";
  for (int i = 0; i < 20000; ++i) {
    if (i) {
      in += " , ";
      expected += ",";
    }
    in += "{\"v\":" + std::to_string(i) + ".0,\"k\":\"" + std::string(i % 50, 'x') + "\\n\"}";
    expected += "{\"k\":\"" + std::string(i % 50, 'x') + "\\n\",\"v\":" + std::to_string(i) + "}";
  }
  in += "]";
  expected += "]";
  EXPECT_EQ(canonicalize_json(in), expected);
}

// ---- format_canonical_double ----

TEST(CanonicalDouble, EcmaScriptForm) {
  const std::pair<double, const char*> cases[] = {
      {0.0, "0"},
      {-0.0, "0"},
      {1.0, "1"},
      {-1.0, "-1"},
      {1.5, "1.5"},
      {-2.5, "-2.5"},
      {0.1, "0.1"},
      {100.0, "100"},
      {25.0, "25"},
      {4.35, "4.35"},
      {1e21, "1e+21"},
      {-1e21, "-1e+21"},
      {1.23e21, "1.23e+21"},
      {1e20, "100000000000000000000"},
      {1.23e20, "123000000000000000000"},
      {12345678901234567890.0, "12345678901234567000"},
      {1e16, "10000000000000000"},
      {9007199254740992.0, "9007199254740992"},
      {1e-6, "0.000001"},
      {1.2345e-6, "0.0000012345"},
      {1e-5, "0.00001"},
      {1e-7, "1e-7"},
      {-1e-7, "-1e-7"},
      {1.5e-7, "1.5e-7"},
      {5e-324, "5e-324"},
      {2.2250738585072014e-308, "2.2250738585072014e-308"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {1e300, "1e+300"},
      {0.30000000000000004, "0.30000000000000004"},
      {123456789.125, "123456789.125"},
      {static_cast<double>(0.1f), "0.10000000149011612"},
      {1e23, "1e+23"},
  };
  for (const auto& [v, expected] : cases) {
    EXPECT_EQ(format_canonical_double(v), expected) << "value " << v;
  }
}

TEST(CanonicalDouble, RejectsNonFinite) {
  EXPECT_THROW(format_canonical_double(std::numeric_limits<double>::quiet_NaN()), InvalidArgument);
  EXPECT_THROW(format_canonical_double(std::numeric_limits<double>::infinity()), InvalidArgument);
  EXPECT_THROW(format_canonical_double(-std::numeric_limits<double>::infinity()), InvalidArgument);
}

TEST(CanonicalDouble, RandomValuesRoundTrip) {
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 200000; ++i) {
    double v;
    if (i % 2 == 0) {
      const std::uint64_t bits = rng();
      std::memcpy(&v, &bits, sizeof(v));
      if (!std::isfinite(v)) continue;
    } else {
      // Values around the notation switches (1e-7..1e-6, 1e20..1e22).
      std::uniform_real_distribution<double> exp10(-8.0, 23.0);
      v = std::pow(10.0, exp10(rng));
    }
    const std::string s = format_canonical_double(v);
    SCOPED_TRACE(s);
    ASSERT_EQ(std::strtod(s.c_str(), nullptr), v == 0 ? 0.0 : v);
    const double a = std::fabs(v);
    const bool plain = a == 0 || (a >= 1e-6 && a < 1e21);
    ASSERT_EQ(s.find('e') == std::string::npos, plain);
    ASSERT_EQ(s.find('E'), std::string::npos);
    if (s.find('.') != std::string::npos && s.find('e') == std::string::npos) {
      ASSERT_NE(s.back(), '0');  // no trailing zeros after the point
    }
  }
}

// ---- KeyWriter ----

TEST(CanonicalWriter, Structure) {
  StringSink sink;
  KeyWriter w(sink);
  w.begin_object();
  w.key("a");
  w.integer(1);
  w.key("b");
  w.begin_array();
  w.null();
  w.boolean(true);
  w.boolean(false);
  w.unsigned_integer(std::numeric_limits<std::uint64_t>::max());
  w.integer(std::numeric_limits<std::int64_t>::min());
  w.number(0.5);
  w.number(-0.0);
  w.number(3.0);
  w.string("x");
  w.begin_string();
  w.string_piece("y");
  w.string_piece("");
  w.string_piece("z");
  w.end_string();
  w.begin_array();
  w.end_array();
  w.begin_object();
  w.end_object();
  w.end_array();
  w.key("c");
  w.begin_string();
  w.end_string();
  w.end_object();
  w.finish();
  EXPECT_EQ(sink.out,
            R"({"a":1,"b":[null,true,false,18446744073709551615,-9223372036854775808,0.5,0,3,)"
            R"("x","yz",[],{}],"c":""})");
}

TEST(CanonicalWriter, EscapesEveryAsciiByte) {
  for (int c = 0; c < 0x80; ++c) {
    const std::string s(1, static_cast<char>(c));
    EXPECT_EQ(write_string(s), ref_quote(s)) << c;
    // Also inside longer runs, at every position of an 8-byte word.
    for (std::size_t pos = 0; pos < 20; ++pos) {
      std::string t(24, 'a');
      t[pos] = static_cast<char>(c);
      ASSERT_EQ(write_string(t), ref_quote(t)) << c << " at " << pos;
    }
  }
  EXPECT_EQ(write_string(std::string("\0\x1f\x7f", 3)), "\"\\u0000\\u001f\x7f\"");
  EXPECT_EQ(write_string("\b\f\n\r\t\x0b\x1b"), "\"\\b\\f\\n\\r\\t\\u000b\\u001b\"");
  EXPECT_EQ(write_string("\xe2\x80\xa8\xe2\x80\xa9"), "\"\xe2\x80\xa8\xe2\x80\xa9\"");
}

const char* const kValidUtf8[] = {
    "\x7f",         "\xc2\x80",         "\xdf\xbf",         "\xe0\xa0\x80",     "\xed\x9f\xbf",
    "\xee\x80\x80", "\xef\xbf\xbf",     "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xf3\xbf\xbf\xbf",
    "caf\xc3\xa9",  "\xf0\x9f\x98\x80", "\xe2\x82\xac",     "\xc3\xbf",
};

const char* const kInvalidUtf8[] = {
    "\x80",
    "\xbf",
    "\xc0\x80",
    "\xc1\xbf",
    "\xc2",
    "\xc2\x41",
    "\xc2\xc0",
    "\xe0\x80\x80",
    "\xe0\x9f\xbf",
    "\xed\xa0\x80",
    "\xed\xbf\xbf",
    "\xe1\x80",
    "\xf0\x80\x80\x80",
    "\xf0\x8f\xbf\xbf",
    "\xf4\x90\x80\x80",
    "\xf5\x80\x80\x80",
    "\xf8\x88\x80\x80\x80",
    "\xff",
    "\xfe",
    "a\xc3",
    "\xf0\x9f\x98",
    "\xed\xa0\x80\xed\xb0\x80",
};

TEST(CanonicalWriter, Utf8Validation) {
  for (const char* s : kValidUtf8) {
    EXPECT_EQ(write_string(s), std::string("\"") + s + "\"") << describe(s);
  }
  for (const char* s : kInvalidUtf8) {
    EXPECT_THROW(write_string(s), InvalidArgument) << describe(s);
    // Also given one byte at a time, and as a member name.
    StringSink sink;
    KeyWriter w(sink);
    w.begin_string();
    EXPECT_THROW(
        {
          for (const char* p = s; *p; ++p) w.string_piece(std::string_view(p, 1));
          w.end_string();
        },
        InvalidArgument)
        << describe(s);
    StringSink sink2;
    KeyWriter w2(sink2);
    w2.begin_object();
    EXPECT_THROW(w2.key(s), InvalidArgument) << describe(s);
  }
}

TEST(CanonicalWriter, PiecesMaySplitUtf8Sequences) {
  const std::string s =
      "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"\\\n\x01z0123456789abcdef\xf4\x8f\xbf\xbf";
  const std::string expected = write_string(s);
  EXPECT_EQ(expected, ref_quote(s));
  for (std::size_t a = 0; a <= s.size(); ++a) {
    for (std::size_t b = a; b <= s.size(); ++b) {
      StringSink sink;
      KeyWriter w(sink);
      w.begin_string();
      w.string_piece(std::string_view(s).substr(0, a));
      w.string_piece(std::string_view(s).substr(a, b - a));
      w.string_piece(std::string_view(s).substr(b));
      w.end_string();
      w.finish();
      ASSERT_EQ(sink.out, expected) << a << "," << b;
    }
  }
  // A sequence cut by end_string is an error.
  StringSink sink;
  KeyWriter w(sink);
  w.begin_string();
  w.string_piece("\xf0\x9f");
  w.string_piece("\x98");
  EXPECT_THROW(w.end_string(), InvalidArgument);
}

TEST(CanonicalWriter, RandomStringsMatchReference) {
  std::mt19937 rng(987);
  const std::vector<std::string> atoms = {"a",
                                          "Z",
                                          " ",
                                          "~",
                                          "\"",
                                          "\\",
                                          "\n",
                                          "\x01",
                                          "\x1f",
                                          "\x7f",
                                          "\xc3\xa9",
                                          "\xe2\x82\xac",
                                          "\xf0\x9f\x98\x80",
                                          "\xed\x9f\xbf",
                                          "\xee\x80\x80",
                                          "\xc3",
                                          "\x80",
                                          "\xed\xa0\x80",
                                          "\xff",
                                          "\xe0\x9f\x80",
                                          "\xf4\x90\x80\x80",
                                          "0123456789abcdefghij"};
  int valid = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    const int atoms_n = static_cast<int>(rng() % 12);
    const bool clean = rng() % 2 == 0;  // half the strings use only valid atoms
    for (int i = 0; i < atoms_n; ++i) {
      std::size_t k = rng() % atoms.size();
      if (clean) {
        while (!ref_valid_utf8(atoms[k])) k = rng() % atoms.size();
      }
      s += atoms[k];
    }
    if (rng() % 8 == 0 && !s.empty()) s[rng() % s.size()] = static_cast<char>(rng());
    SCOPED_TRACE(describe(s));
    // Random split into pieces.
    StringSink sink;
    KeyWriter w(sink);
    bool threw = false;
    try {
      w.begin_string();
      std::size_t pos = 0;
      while (pos < s.size()) {
        const std::size_t n = std::min<std::size_t>(s.size() - pos, 1 + rng() % 9);
        w.string_piece(std::string_view(s).substr(pos, n));
        pos += n;
      }
      w.end_string();
      w.finish();
    } catch (const InvalidArgument&) {
      threw = true;
    }
    ASSERT_EQ(!threw, ref_valid_utf8(s));
    if (!threw) {
      ++valid;
      ASSERT_EQ(sink.out, ref_quote(s));
      ASSERT_EQ(write_string(s), ref_quote(s));
    } else {
      ASSERT_THROW(write_string(s), InvalidArgument);
    }
  }
  EXPECT_GT(valid, 5000);
}

TEST(CanonicalWriter, MemberOrder) {
  auto object_with = [](std::initializer_list<const char*> names) {
    StringSink sink;
    KeyWriter w(sink);
    w.begin_object();
    for (const char* n : names) {
      w.key(n);
      w.integer(0);
    }
    w.end_object();
    w.finish();
    return sink.out;
  };
  EXPECT_EQ(object_with({"", "Z", "a", "aa", "b", "\x7f", "\xc2\x80", "\xc3\xa9", "\xee\x80\x80",
                         "\xf0\x9f\x98\x80"}),
            "{\"\":0,\"Z\":0,\"a\":0,\"aa\":0,\"b\":0,\"\x7f\":0,\"\xc2\x80\":0,\"\xc3\xa9\":0,"
            "\"\xee\x80\x80\":0,\"\xf0\x9f\x98\x80\":0}");
  try {
    object_with({"a", "a"});
    ADD_FAILURE() << "duplicate accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("duplicate member name \"a\""), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(object_with({"b", "a"}), InvalidArgument);
  EXPECT_THROW(object_with({"\xc3\xa9", "z"}), InvalidArgument);  // bytes compare unsigned
  // Embedded NUL: "a" < "a\0" < "aa".
  StringSink sink;
  KeyWriter w(sink);
  w.begin_object();
  w.key("a");
  w.null();
  w.key(std::string_view("a\0", 2));
  w.null();
  w.key("aa");
  w.null();
  w.end_object();
  w.finish();
  EXPECT_EQ(sink.out, "{\"a\":null,\"a\\u0000\":null,\"aa\":null}");
  // Order is per object.
  StringSink sink2;
  KeyWriter w2(sink2);
  w2.begin_object();
  w2.key("b");
  w2.begin_object();
  w2.key("a");
  w2.null();
  w2.end_object();
  w2.key("c");
  w2.begin_object();
  w2.key("a");
  w2.null();
  w2.end_object();
  w2.end_object();
  w2.finish();
  EXPECT_EQ(sink2.out, R"({"b":{"a":null},"c":{"a":null}})");
}

TEST(CanonicalWriter, DepthLimit) {
  {
    StringSink sink;
    KeyWriter w(sink);
    for (std::size_t i = 0; i < bucketcache::kMaxKeyDepth; ++i) w.begin_array();
    for (std::size_t i = 0; i < bucketcache::kMaxKeyDepth; ++i) w.end_array();
    w.finish();
    EXPECT_EQ(sink.out, std::string(bucketcache::kMaxKeyDepth, '[') +
                            std::string(bucketcache::kMaxKeyDepth, ']'));
  }
  StringSink sink;
  KeyWriter w(sink);
  for (std::size_t i = 0; i < bucketcache::kMaxKeyDepth; ++i) {
    if (i % 2) {
      w.begin_array();
    } else {
      w.begin_object();
      w.key("k");
    }
  }
  EXPECT_THROW(w.begin_array(), InvalidArgument);
  EXPECT_THROW(w.null(), InvalidArgument);  // unusable after an error
}

TEST(CanonicalWriter, RejectsNonFiniteNumbers) {
  for (double v :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity()}) {
    StringSink sink;
    KeyWriter w(sink);
    w.begin_array();
    EXPECT_THROW(w.number(v), InvalidArgument);
  }
}

TEST(CanonicalWriter, Misuse) {
  using Step = void (*)(KeyWriter&);
  const std::vector<std::pair<const char*, std::vector<Step>>> bad = {
      {"two top-level values", {[](KeyWriter& w) { w.null(); }, [](KeyWriter& w) { w.null(); }}},
      {"value without name",
       {[](KeyWriter& w) { w.begin_object(); }, [](KeyWriter& w) { w.null(); }}},
      {"name outside object", {[](KeyWriter& w) { w.key("a"); }}},
      {"name in array", {[](KeyWriter& w) { w.begin_array(); }, [](KeyWriter& w) { w.key("a"); }}},
      {"two names",
       {[](KeyWriter& w) { w.begin_object(); }, [](KeyWriter& w) { w.key("a"); },
        [](KeyWriter& w) { w.key("b"); }}},
      {"end_object with pending name",
       {[](KeyWriter& w) { w.begin_object(); }, [](KeyWriter& w) { w.key("a"); },
        [](KeyWriter& w) { w.end_object(); }}},
      {"mismatched end",
       {[](KeyWriter& w) { w.begin_object(); }, [](KeyWriter& w) { w.end_array(); }}},
      {"end without begin", {[](KeyWriter& w) { w.end_array(); }}},
      {"piece outside string", {[](KeyWriter& w) { w.string_piece("a"); }}},
      {"end_string outside string", {[](KeyWriter& w) { w.end_string(); }}},
      {"value inside string",
       {[](KeyWriter& w) { w.begin_string(); }, [](KeyWriter& w) { w.null(); }}},
      {"finish without value", {[](KeyWriter& w) { w.finish(); }}},
      {"finish with open array",
       {[](KeyWriter& w) { w.begin_array(); }, [](KeyWriter& w) { w.finish(); }}},
      {"finish with open string",
       {[](KeyWriter& w) { w.begin_string(); }, [](KeyWriter& w) { w.finish(); }}},
      {"finish twice",
       {[](KeyWriter& w) { w.null(); }, [](KeyWriter& w) { w.finish(); },
        [](KeyWriter& w) { w.finish(); }}},
  };
  for (const auto& [name, steps] : bad) {
    StringSink sink;
    KeyWriter w(sink);
    bool threw = false;
    try {
      for (Step s : steps) s(w);
    } catch (const InvalidArgument&) {
      threw = true;
    }
    EXPECT_TRUE(threw) << name;
  }
}

// Records the sizes of the writes it receives.
class ChunkSink : public KeySink {
 public:
  void write(const char* data, std::size_t size) override {
    out.append(data, size);
    sizes.push_back(size);
  }
  std::string out;
  std::vector<std::size_t> sizes;
};

TEST(CanonicalWriter, BufferBoundaries) {
  for (std::size_t len : {4090u, 4093u, 4094u, 4095u, 4096u, 4097u, 8190u, 8192u, 100000u}) {
    for (const std::string& filler :
         {std::string("x"), std::string("\n"), std::string("\xc3\xa9")}) {
      std::string s;
      while (s.size() < len) s += filler;
      ChunkSink sink;
      KeyWriter w(sink);
      w.begin_array();
      w.integer(12345);
      w.string(s);
      w.begin_string();
      for (std::size_t i = 0; i < s.size(); i += 1000) w.string_piece(s.substr(i, 1000));
      w.end_string();
      w.end_array();
      w.finish();
      ASSERT_EQ(sink.out, "[12345," + ref_quote(s) + "," + ref_quote(s) + "]") << len;
      // Nothing is written before the buffer is full, except large direct runs.
      for (std::size_t i = 0; i + 1 < sink.sizes.size(); ++i) {
        EXPECT_GT(sink.sizes[i], 0u);
      }
    }
  }
  // A small key is written with a single write at finish().
  ChunkSink sink;
  KeyWriter w(sink);
  w.string("small");
  EXPECT_TRUE(sink.sizes.empty());
  w.finish();
  EXPECT_EQ(sink.sizes, std::vector<std::size_t>{7});
}

class ThrowingSink : public KeySink {
 public:
  void write(const char*, std::size_t) override { throw std::runtime_error("sink failed"); }
};

TEST(CanonicalWriter, SinkErrorsPropagate) {
  ThrowingSink sink;
  KeyWriter w(sink);
  EXPECT_THROW(w.string(std::string(10000, 'a')), std::runtime_error);
  EXPECT_THROW(w.null(), InvalidArgument);
  KeyWriter w2(sink);
  w2.null();
  EXPECT_THROW(w2.finish(), std::runtime_error);
}

}  // namespace

// A lone string of printable ASCII takes a shortcut; every byte value inside a string gives
// the same text alone as inside an array (which takes the general path).
TEST(CanonicalJson, LoneStringsMatchTheGeneralPathForEveryByte) {
  for (int c = 0; c < 256; ++c) {
    std::string inner = "k";
    if (c == '"' || c == '\\') {
      inner += '\\';
      inner += static_cast<char>(c);
    } else if (c < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      inner += esc;
    } else if (c < 0x80) {
      inner += static_cast<char>(c);
    } else {
      inner += "\xc3\xa9";  // a two-byte UTF-8 character
    }
    inner += "-1";
    const std::string lone = "\"" + inner + "\"";
    const std::string in_array = canonicalize_json("[" + lone + "]");
    EXPECT_EQ("[" + canonicalize_json(lone) + "]", in_array) << "byte " << c;
  }
  EXPECT_EQ(canonicalize_json("\"a\\/b\""), "\"a/b\"");  // an escape: not a shortcut
  EXPECT_THROW(canonicalize_json("\"unterminated"), bucketcache::InvalidArgument);
  EXPECT_THROW(canonicalize_json("\"a\" \"b\""), bucketcache::InvalidArgument);
}

// canonical_key of a std::string takes a shortcut for printable ASCII: for every byte
// value it gives what KeyWriter writes.
TEST(CanonicalKey, StringKeysMatchKeyWriterForEveryByte) {
  for (int c = 0; c < 256; ++c) {
    std::string key = "key-";
    key += static_cast<char>(c);
    if (c >= 0x80) key = "key-\xc3\xa9";  // a complete UTF-8 character
    std::string written;
    bucketcache::StringKeySink sink(written);
    bucketcache::write_canonical_key(key, sink);
    EXPECT_EQ(bucketcache::canonical_key(key), written) << "byte " << c;
    EXPECT_EQ(bucketcache::canonical_key(std::string_view(key)), written) << "byte " << c;
  }
  EXPECT_EQ(bucketcache::canonical_key(std::string("plain key 42")), "\"plain key 42\"");
  EXPECT_EQ(bucketcache::canonical_key(std::string()), "\"\"");
}
