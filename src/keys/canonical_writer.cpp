// KeyWriter: streaming writer of the canonical key form (DESIGN section 3).

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "bucketcache/canonical.hpp"
#include "bucketcache/error.hpp"
#include "keys/canonical_internal.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

namespace {

constexpr std::size_t kBufferSize = 4096;
constexpr char kHexDigits[] = "0123456789abcdef";

[[noreturn]] void throw_invalid(const std::string& what) {
  throw InvalidArgument("invalid key: " + what);
}

// True if the 8 bytes in v may hold a byte that is not "safe" in a string: < 0x20, '"',
// '\\' or >= 0x80. Never false when such a byte is present.
inline bool word_has_unsafe(std::uint64_t v) {
  constexpr std::uint64_t k01 = 0x0101010101010101ULL;
  constexpr std::uint64_t k80 = 0x8080808080808080ULL;
  const std::uint64_t control = (v - k01 * 0x20) & ~v;  // some byte < 0x20
  const std::uint64_t q = v ^ (k01 * 0x22);
  const std::uint64_t quote = (q - k01) & ~q;  // some byte == '"'
  const std::uint64_t b = v ^ (k01 * 0x5c);
  const std::uint64_t backslash = (b - k01) & ~b;  // some byte == '\\'
  return ((control | quote | backslash | v) & k80) != 0;
}

inline bool byte_is_safe(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

inline bool is_continuation(unsigned char c) { return (c & 0xc0) == 0x80; }

// Length of the leading run of bytes that are copied to the output unchanged: ASCII other
// than controls, '"' and '\\', and complete, valid UTF-8 sequences. The byte at the
// returned position (if any) needs the careful path: an escape, a sequence cut by the end
// of the piece, or invalid UTF-8.
inline std::size_t safe_run(const unsigned char* p, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      if (!byte_is_safe(c)) return i;
      ++i;
      while (i + 8 <= n) {
        std::uint64_t v;
        std::memcpy(&v, p + i, 8);
        if (word_has_unsafe(v)) break;
        i += 8;
      }
    } else if (c < 0xe0) {  // 2 bytes: C2..DF 80..BF
      if (c < 0xc2 || i + 1 >= n || !is_continuation(p[i + 1])) return i;
      i += 2;
    } else if (c < 0xf0) {  // 3 bytes: E0 A0..BF, ED 80..9F, else 80..BF; then 80..BF
      if (i + 2 >= n) return i;
      const unsigned char c1 = p[i + 1];
      const unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
      const unsigned char hi = c == 0xed ? 0x9f : 0xbf;
      if (c1 < lo || c1 > hi || !is_continuation(p[i + 2])) return i;
      i += 3;
    } else {  // 4 bytes: F0 90..BF, F4 80..8F, F1..F3 80..BF; then 80..BF 80..BF
      if (c > 0xf4 || i + 3 >= n) return i;
      const unsigned char c1 = p[i + 1];
      const unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
      const unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;
      if (c1 < lo || c1 > hi || !is_continuation(p[i + 2]) || !is_continuation(p[i + 3])) {
        return i;
      }
      i += 4;
    }
  }
  return i;
}

}  // namespace

namespace detail {

std::string quote_for_message(std::string_view text, std::size_t limit) {
  std::string out = "\"";
  std::size_t n = text.size() < limit ? text.size() : limit;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += kHexDigits[c >> 4];
      out += kHexDigits[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (n < text.size()) out += "...";
  return out;
}

std::size_t format_canonical_double_to(double v, char* out) {
  if (std::isnan(v)) throw_invalid("NaN is not a valid number");
  if (std::isinf(v)) throw_invalid("infinity is not a valid number");
  char* p = out;
  if (v == 0) {  // 0 and -0
    *p++ = '0';
    return 1;
  }
  if (v < 0) {
    *p++ = '-';
    v = -v;
  }
  // Shortest round-trip digits: "d[.ddd]e[+-]xx".
  char sci[48];
  const std::to_chars_result r =
      std::to_chars(sci, sci + sizeof(sci), v, std::chars_format::scientific);
  char digits[24];
  int k = 0;
  const char* q = sci;
  for (; q < r.ptr && *q != 'e'; ++q) {
    if (*q != '.') digits[k++] = *q;
  }
  int exp10 = 0;
  bool exp_negative = false;
  if (q < r.ptr) {
    ++q;  // 'e'
    if (q < r.ptr && (*q == '-' || *q == '+')) exp_negative = *q++ == '-';
    for (; q < r.ptr; ++q) exp10 = exp10 * 10 + (*q - '0');
  }
  if (exp_negative) exp10 = -exp10;
  while (k > 1 && digits[k - 1] == '0') --k;

  // ECMAScript Number::toString: value = digits * 10^(n - k).
  const int n = exp10 + 1;
  if (k <= n && n <= 21) {
    std::memcpy(p, digits, static_cast<std::size_t>(k));
    p += k;
    for (int i = k; i < n; ++i) *p++ = '0';
  } else if (0 < n && n <= 21) {
    std::memcpy(p, digits, static_cast<std::size_t>(n));
    p += n;
    *p++ = '.';
    std::memcpy(p, digits + n, static_cast<std::size_t>(k - n));
    p += k - n;
  } else if (-6 < n && n <= 0) {
    *p++ = '0';
    *p++ = '.';
    for (int i = n; i < 0; ++i) *p++ = '0';
    std::memcpy(p, digits, static_cast<std::size_t>(k));
    p += k;
  } else {
    *p++ = digits[0];
    if (k > 1) {
      *p++ = '.';
      std::memcpy(p, digits + 1, static_cast<std::size_t>(k - 1));
      p += k - 1;
    }
    *p++ = 'e';
    int e = n - 1;
    *p++ = e < 0 ? '-' : '+';
    if (e < 0) e = -e;
    p = std::to_chars(p, p + 8, e).ptr;
  }
  return static_cast<std::size_t>(p - out);
}

}  // namespace detail

std::string format_canonical_double(double v) {
  char buf[32];
  return std::string(buf, detail::format_canonical_double_to(v, buf));
}

struct KeyWriter::State {
  explicit State(KeySink& s) : sink(&s) {}
  // As a new State writing to s, keeping the stack's memory (a reused spare).
  void reset(KeySink& s) {
    sink = &s;
    stack.clear();
    done = in_string = failed = finished = false;
    need = 0;
    lo = 0x80;
    hi = 0xbf;
    string_pos = 0;
    len = 0;
  }

  struct Frame {
    bool object = false;
    bool first = true;       // no element/member written yet
    bool have_key = false;   // object: a name was written, its value is due
    bool have_prev = false;  // object: prev_key holds the last name
    std::string prev_key;
  };

  KeySink* sink;
  std::vector<Frame> stack;
  bool done = false;       // the top-level value is complete
  bool in_string = false;  // between begin_string and end_string
  bool failed = false;     // an exception escaped; the writer is unusable
  bool finished = false;

  // UTF-8 decoding state of the string being written (may span string_piece calls).
  unsigned need = 0;                   // continuation bytes still expected
  unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the next continuation byte
  std::uint64_t string_pos = 0;        // bytes of the current string consumed so far

  std::size_t len = 0;
  char buf[kBufferSize];

  void flush() {
    if (len == 0) return;
    std::size_t n = len;
    len = 0;
    sink->write(buf, n);
  }
  void put(char c) {
    if (len == kBufferSize) flush();
    buf[len++] = c;
  }
  void put(const char* p, std::size_t n) {
    if (n >= kBufferSize) {
      flush();
      sink->write(p, n);
      return;
    }
    if (len + n > kBufferSize) flush();
    std::memcpy(buf + len, p, n);
    len += n;
  }

  [[noreturn]] void invalid(const std::string& what) {
    failed = true;
    throw_invalid(what);
  }

  void check_usable() {
    if (failed) invalid("KeyWriter used after an error");
    if (finished) invalid("KeyWriter used after finish()");
    if (in_string) invalid("value written inside begin_string()/end_string()");
  }

  // Called before any value (scalar or container) is written.
  void before_value() {
    check_usable();
    if (stack.empty()) {
      if (done) invalid("more than one top-level value");
      return;
    }
    Frame& f = stack.back();
    if (f.object) {
      if (!f.have_key) invalid("object member value without a member name");
      f.have_key = false;
    } else {
      if (!f.first) put(',');
      f.first = false;
    }
  }

  void after_value() {
    if (stack.empty()) done = true;
  }

  void begin_container(bool object) {
    before_value();
    if (stack.size() >= kMaxKeyDepth) {
      invalid("nesting deeper than " + std::to_string(kMaxKeyDepth) + " levels");
    }
    stack.emplace_back();
    stack.back().object = object;
    put(object ? '{' : '[');
  }

  void end_container(bool object) {
    check_usable();
    if (stack.empty() || stack.back().object != object) {
      invalid(object ? "end_object() without a matching begin_object()"
                     : "end_array() without a matching begin_array()");
    }
    if (object && stack.back().have_key) invalid("object member name without a value");
    stack.pop_back();
    put(object ? '}' : ']');
    after_value();
  }

  void start_string_bytes() {
    need = 0;
    string_pos = 0;
    put('"');
  }

  void end_string_bytes() {
    if (need != 0) invalid("string ends inside a UTF-8 sequence");
    put('"');
  }

  void escape(unsigned char c) {
    char e[6] = {'\\', 0, 0, 0, 0, 0};
    std::size_t n = 2;
    switch (c) {
      case '"':
        e[1] = '"';
        break;
      case '\\':
        e[1] = '\\';
        break;
      case '\b':
        e[1] = 'b';
        break;
      case '\f':
        e[1] = 'f';
        break;
      case '\n':
        e[1] = 'n';
        break;
      case '\r':
        e[1] = 'r';
        break;
      case '\t':
        e[1] = 't';
        break;
      default:
        e[1] = 'u';
        e[2] = '0';
        e[3] = '0';
        e[4] = kHexDigits[c >> 4];
        e[5] = kHexDigits[c & 0xf];
        n = 6;
    }
    put(e, n);
  }

  [[noreturn]] void bad_utf8(std::uint64_t at, unsigned char c) {
    std::string msg = "invalid UTF-8 in string at byte " + std::to_string(at) + " (0x";
    msg += kHexDigits[c >> 4];
    msg += kHexDigits[c & 0xf];
    msg += ')';
    invalid(msg);
  }

  // Validates and escapes string bytes, continuing the UTF-8 state of previous pieces.
  void string_bytes(const char* data, std::size_t n) {
    const auto* u = reinterpret_cast<const unsigned char*>(data);
    std::size_t i = 0;
    while (i < n) {
      if (need == 0) {
        const std::size_t run = safe_run(u + i, n - i);
        if (run != 0) {
          put(data + i, run);
          i += run;
          if (i == n) break;
        }
        const unsigned char c = u[i];
        if (c < 0x80) {
          escape(c);
        } else {
          if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            lo = 0x80;
            hi = 0xbf;
          } else if (c == 0xe0) {
            need = 2;
            lo = 0xa0;  // no overlong 3-byte forms
            hi = 0xbf;
          } else if (c == 0xed) {
            need = 2;
            lo = 0x80;
            hi = 0x9f;  // no encoded surrogates U+D800..DFFF
          } else if (c >= 0xe1 && c <= 0xef) {
            need = 2;
            lo = 0x80;
            hi = 0xbf;
          } else if (c == 0xf0) {
            need = 3;
            lo = 0x90;  // no overlong 4-byte forms
            hi = 0xbf;
          } else if (c >= 0xf1 && c <= 0xf3) {
            need = 3;
            lo = 0x80;
            hi = 0xbf;
          } else if (c == 0xf4) {
            need = 3;
            lo = 0x80;
            hi = 0x8f;  // nothing above U+10FFFF
          } else {
            bad_utf8(string_pos + i, c);
          }
          put(static_cast<char>(c));
        }
        ++i;
      } else {
        const unsigned char c = u[i];
        if (c < lo || c > hi) bad_utf8(string_pos + i, c);
        lo = 0x80;
        hi = 0xbf;
        --need;
        put(static_cast<char>(c));
        ++i;
      }
    }
    string_pos += n;
  }

  void whole_string(std::string_view s) {
    start_string_bytes();
    string_bytes(s.data(), s.size());
    end_string_bytes();
  }
};

namespace {

// Marks the writer failed if an exception (from the sink, or bad_alloc) leaves a method.
class FailOnThrow {
 public:
  explicit FailOnThrow(bool& failed) : failed_(failed), count_(std::uncaught_exceptions()) {}
  ~FailOnThrow() {
    if (std::uncaught_exceptions() > count_) failed_ = true;
  }
  FailOnThrow(const FailOnThrow&) = delete;
  FailOnThrow& operator=(const FailOnThrow&) = delete;

 private:
  bool& failed_;
  int count_;
};

}  // namespace

// State holds a 4 KiB buffer, and allocating it for every key cost
// ~50 ns of a ~200 ns memory-layer hit. Each thread keeps one spare State: a KeyWriter takes
// it (or allocates when it is in use: nested writers) and gives it back when destroyed.
// A reused State is reset() to start exactly as a new one, keeping its stack's memory.
namespace {
struct SpareState {
  void* state = nullptr;  // a KeyWriter::State
  void (*destroy)(void*) = nullptr;
  ~SpareState() {
    if (state != nullptr) destroy(state);
  }
};
thread_local SpareState spare_state;
}  // namespace

KeyWriter::KeyWriter(KeySink& sink) {
  if (spare_state.state != nullptr) {
    state_ = static_cast<State*>(spare_state.state);
    spare_state.state = nullptr;
    state_->reset(sink);
  } else {
    state_ = new State(sink);
  }
}

KeyWriter::~KeyWriter() {
  if (spare_state.state == nullptr) {
    spare_state.state = state_;
    spare_state.destroy = [](void* p) { delete static_cast<State*>(p); };
  } else {
    delete state_;
  }
}

void KeyWriter::null() {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  s.before_value();
  s.put("null", 4);
  s.after_value();
}

void KeyWriter::boolean(bool v) {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  s.before_value();
  if (v) {
    s.put("true", 4);
  } else {
    s.put("false", 5);
  }
  s.after_value();
}

void KeyWriter::integer(std::int64_t v) {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  s.before_value();
  char buf[24];
  const char* end = std::to_chars(buf, buf + sizeof(buf), v).ptr;
  s.put(buf, static_cast<std::size_t>(end - buf));
  s.after_value();
}

void KeyWriter::unsigned_integer(std::uint64_t v) {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  s.before_value();
  char buf[24];
  const char* end = std::to_chars(buf, buf + sizeof(buf), v).ptr;
  s.put(buf, static_cast<std::size_t>(end - buf));
  s.after_value();
}

void KeyWriter::number(double v) {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  s.before_value();
  char buf[32];
  const std::size_t n = detail::format_canonical_double_to(v, buf);
  s.put(buf, n);
  s.after_value();
}

void KeyWriter::string(std::string_view utf8) {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  s.before_value();
  s.whole_string(utf8);
  s.after_value();
}

void KeyWriter::begin_string() {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  s.before_value();
  s.start_string_bytes();
  s.in_string = true;
}

void KeyWriter::string_piece(std::string_view utf8) {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  if (s.failed) s.invalid("KeyWriter used after an error");
  if (!s.in_string) s.invalid("string_piece() outside begin_string()/end_string()");
  s.string_bytes(utf8.data(), utf8.size());
}

void KeyWriter::end_string() {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  if (s.failed) s.invalid("KeyWriter used after an error");
  if (!s.in_string) s.invalid("end_string() without begin_string()");
  s.in_string = false;
  s.end_string_bytes();
  s.after_value();
}

void KeyWriter::begin_array() {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  s.begin_container(false);
}

void KeyWriter::end_array() {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  s.end_container(false);
}

void KeyWriter::begin_object() {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  s.begin_container(true);
}

void KeyWriter::key(std::string_view utf8) {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  s.check_usable();
  if (s.stack.empty() || !s.stack.back().object) s.invalid("member name outside an object");
  State::Frame& f = s.stack.back();
  if (f.have_key) s.invalid("two member names without a value between them");
  if (f.have_prev) {
    const int c = utf8.compare(f.prev_key);  // char_traits<char>: unsigned byte order
    if (c == 0) s.invalid("duplicate member name " + detail::quote_for_message(utf8));
    if (c < 0) {
      s.invalid("member name " + detail::quote_for_message(utf8) + " after " +
                detail::quote_for_message(f.prev_key) +
                ": members must come in strictly increasing UTF-8 byte order");
    }
  }
  if (!f.first) s.put(',');
  f.first = false;
  s.whole_string(utf8);
  s.put(':');
  f.prev_key.assign(utf8.data(), utf8.size());
  f.have_prev = true;
  f.have_key = true;
}

void KeyWriter::end_object() {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  s.end_container(true);
}

void KeyWriter::finish() {
  State& s = *state_;
  FailOnThrow guard(s.failed);
  if (s.failed) s.invalid("KeyWriter used after an error");
  if (s.finished) s.invalid("finish() called twice");
  if (s.in_string) s.invalid("incomplete key: string not ended");
  if (!s.stack.empty()) s.invalid("incomplete key: array or object not ended");
  if (!s.done) s.invalid("incomplete key: no value written");
  s.flush();
  s.finished = true;
}

BUCKETCACHE_NAMESPACE_END
