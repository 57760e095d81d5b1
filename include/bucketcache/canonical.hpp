// The canonical key form (DESIGN section 3): JSON text with sorted members, no whitespace,
// minimal escapes, exact integers and ECMAScript-style shortest doubles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bucketcache/digest.hpp"
#include "bucketcache/export.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

// Deepest nesting of arrays/objects a key may have (a key at this depth is valid).
inline constexpr std::size_t kMaxKeyDepth = 1024;

// Writes canonical JSON to a KeySink through a small fixed buffer, so a key of any size
// costs constant memory. Enforces the rules: invalid UTF-8 (including encoded surrogates),
// NaN and infinities, nesting past kMaxKeyDepth, and object members not given in strictly
// increasing UTF-8 byte order (duplicates) throw InvalidArgument. Call finish() at the end.
class BUCKETCACHE_API KeyWriter {
 public:
  explicit KeyWriter(KeySink& sink);
  ~KeyWriter();
  KeyWriter(const KeyWriter&) = delete;
  KeyWriter& operator=(const KeyWriter&) = delete;

  void null();
  void boolean(bool v);
  void integer(std::int64_t v);
  void unsigned_integer(std::uint64_t v);
  void number(double v);  // integral values print as integers (1.0 -> 1), -0 -> 0
  void string(std::string_view utf8);
  // A string given in pieces (for generated or very large keys). UTF-8 sequences may be
  // split across pieces.
  void begin_string();
  void string_piece(std::string_view utf8);
  void end_string();

  void begin_array();
  void end_array();
  void begin_object();
  // Member name; members must come in strictly increasing UTF-8 byte order.
  void key(std::string_view utf8);
  void end_object();

  // Flushes the buffer to the sink; throws InvalidArgument if the value is incomplete.
  void finish();

 private:
  struct State;
  State* state_;  // owned; raw pointer keeps the class layout independent of State
};

// Parses JSON text (RFC 8259, UTF-8) and returns its canonical form. Throws
// InvalidArgument naming the byte offset of the first problem: syntax errors, duplicate
// member names, invalid UTF-8, lone surrogates, NaN/Infinity, depth past kMaxKeyDepth.
BUCKETCACHE_API std::string canonicalize_json(std::string_view json_text);

// ECMAScript Number.prototype.toString of a finite double (shortest round trip), with
// -0 written as 0. Throws InvalidArgument for NaN and infinities.
BUCKETCACHE_API std::string format_canonical_double(double v);

BUCKETCACHE_NAMESPACE_END
