// BoostBackend: values through Boost.Serialization archives (id "boost"), the analogue of
// Python's pickle.
//
//   bucketcache::Bucket<bucketcache::BoostBackend> b(dir, {}, {bucketcache::BoostArchive::xml});
//
// Any type Boost.Serialization can save and load works: a serialize() member or free
// function, save/load pairs, and the std types whose boost/serialization headers this
// header includes (string, vector, map, set, unordered_map, unordered_set, list, deque,
// pair, array). Include other boost/serialization headers yourself for other types.
//
// The top-level value is written as make_nvp("value", v). XML archives need every member
// named: use BOOST_SERIALIZATION_NVP(member) (or make_nvp) in serialize(); binary and text
// archives ignore names, so NVP-style serialize() functions work with all three kinds.
// Polymorphic pointers need BOOST_CLASS_EXPORT placed after this header is included.
//
// Payload: one byte for the archive kind ('b', 't' or 'x'), one byte of Boost archive
// flags, then the archive. Readers use the recorded kind and flags, so every Config reads
// every entry; an unknown kind or flag byte, a truncated archive or trailing bytes throw.
//
// Security and portability: like pickle, a Boost archive is not a data-only format. Reads
// are bounded (collection sizes and string lengths are checked against the input left,
// so garbage cannot allocate much more than a small multiple of its own size), but Boost
// was not written to parse hostile input: do not read buckets that other users can write.
// Binary archives use the writer's native sizes and byte order (a different machine type
// gets a miss when the header is kept, garbage with no_header); text and XML archives are
// portable. Archives written by a newer Boost may not be readable by an older one.
//
// Limitation: a collection cannot have more elements than bytes remain in the input, so a
// large collection of elements that serialize to nothing (empty classes) does not load.
#pragma once

#include <boost/archive/archive_exception.hpp>
#include <boost/archive/basic_archive.hpp>
#include <boost/archive/binary_iarchive_impl.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/archive/detail/archive_serializer_map.hpp>
#include <boost/archive/detail/register_archive.hpp>
#include <boost/archive/impl/archive_serializer_map.ipp>
#include <boost/archive/impl/basic_binary_iarchive.ipp>
#include <boost/archive/impl/basic_binary_iprimitive.ipp>
#include <boost/archive/impl/basic_text_iarchive.ipp>
#include <boost/archive/impl/basic_xml_iarchive.ipp>
#include <boost/archive/impl/text_iarchive_impl.ipp>
#include <boost/archive/impl/xml_iarchive_impl.ipp>
#include <boost/archive/text_iarchive.hpp>
#include <boost/archive/text_oarchive.hpp>
#include <boost/archive/xml_archive_exception.hpp>
#include <boost/archive/xml_iarchive.hpp>
#include <boost/archive/xml_oarchive.hpp>
#include <boost/serialization/array.hpp>
#include <boost/serialization/collection_size_type.hpp>
#include <boost/serialization/deque.hpp>
#include <boost/serialization/list.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/nvp.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/unordered_map.hpp>
#include <boost/serialization/unordered_set.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#include <cstddef>
#include <istream>
#include <locale>
#include <ostream>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <string_view>

#include "bucketcache/export.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

// Archive kinds; the values are the payload's first byte.
enum class BoostArchive : char {
  binary = 'b',  // boost::archive::binary_*archive: compact, fast, not portable
  text = 't',    // boost::archive::text_*archive: portable
  xml = 'x',     // boost::archive::xml_*archive: portable; members need NVP names
};

namespace detail {
namespace boost_backend {

namespace ba = boost::archive;

// Flags a payload may record: no_header | no_codecvt | no_xml_tag_checking | no_tracking.
inline constexpr unsigned known_flags =
    ba::no_header | ba::no_codecvt | ba::no_xml_tag_checking | ba::no_tracking;

[[noreturn]] inline void fail(const char* what) {
  throw ba::archive_exception(ba::archive_exception::input_stream_error, what);
}

// Read-only std::streambuf over a string_view; never writes to the viewed bytes.
class ViewBuf : public std::streambuf {
 public:
  explicit ViewBuf(std::string_view bytes) {
    char* p = const_cast<char*>(bytes.data());
    setg(p, p, p + bytes.size());
  }
  std::size_t remaining() const { return static_cast<std::size_t>(egptr() - gptr()); }
  std::string_view rest() const { return std::string_view(gptr(), remaining()); }
};

// Write-only std::streambuf appending to a std::string.
class AppendBuf : public std::streambuf {
 public:
  explicit AppendBuf(std::string& out) : out_(out) {}

 protected:
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      out_.push_back(traits_type::to_char_type(c));
    }
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.append(s, static_cast<std::size_t>(n));
    return n;
  }

 private:
  std::string& out_;
};

// An element count read from the input: every element takes at least one byte of what is
// left, so a larger count is garbage (and would make the container allocate for it).
inline void check_count(std::size_t count, std::size_t remaining) {
  if (count > remaining) fail("collection size exceeds the remaining input");
}

// Archives of library version < 7 (about Boost 1.42 and older) read sizes in ways that
// bypass the checks below; a header claiming such a version is refused.
inline void check_library_version(boost::serialization::library_version_type v) {
  if (v < boost::serialization::library_version_type(7)) fail("unsupported archive version");
}

// binary_iarchive with bounded string/collection sizes and checked bools.
class BinaryIArchive
    : public ba::binary_iarchive_impl<BinaryIArchive, char, std::char_traits<char>> {
  using Impl = ba::binary_iarchive_impl<BinaryIArchive, char, std::char_traits<char>>;
  using Primitive = ba::basic_binary_iprimitive<BinaryIArchive, char, std::char_traits<char>>;

 public:
  BinaryIArchive(ViewBuf& buf, unsigned flags) : Impl(buf, flags), buf_(buf) {
    // The header is an 8-byte length, the 22-byte signature, then a version byte that
    // Boost reads unchecked (end of input trips a BOOST_ASSERT): make sure it is there.
    if ((flags & ba::no_header) == 0 && buf.remaining() <= 30) fail("truncated header");
    init(flags);
    check_library_version(this->get_library_version());
  }

  using Primitive::load;
  void load(bool& t) {
    unsigned char c = 0;
    this->load_binary(&c, 1);
    if (c > 1) fail("invalid bool");
    t = c != 0;
  }
  void load(std::string& s) {
    std::size_t n = 0;
    Primitive::load(n);
    check_count(n, buf_.remaining());
    s.resize(n);
    if (n != 0) this->load_binary(&s[0], n);
  }
  void load(std::wstring& s) {
    std::size_t n = 0;
    Primitive::load(n);
    check_count(n, buf_.remaining() / sizeof(wchar_t));
    s.resize(n);
    if (n != 0) this->load_binary(&s[0], n * sizeof(wchar_t));
  }
  void load(boost::serialization::collection_size_type& t) {
    Primitive::load(t);
    check_count(t, buf_.remaining());
  }
  // C strings have no bound on the destination: refused.
  void load(char*) { fail("C strings are not supported"); }
  void load(wchar_t*) { fail("C strings are not supported"); }

 private:
  ViewBuf& buf_;
};

// text_iarchive with bounded string/collection sizes.
class TextIArchive : public ba::text_iarchive_impl<TextIArchive> {
  using Impl = ba::text_iarchive_impl<TextIArchive>;

 public:
  TextIArchive(std::istream& stream, ViewBuf& buf, unsigned flags)
      : Impl(stream, flags), buf_(buf) {
    if ((flags & ba::no_header) == 0) init();
    check_library_version(this->get_library_version());
  }

  using Impl::load;
  void load(std::string& s) { load_chars(s); }
  void load(std::wstring& s) { load_chars(s); }
  void load(boost::serialization::collection_size_type& t) {
    Impl::load(t);
    check_count(t, buf_.remaining());
  }
  void load(char*) { fail("C strings are not supported"); }
  void load(wchar_t*) { fail("C strings are not supported"); }

 private:
  template <class S>
  void load_chars(S& s) {
    std::size_t n = 0;
    Impl::load(n);
    this->is.get();  // the separating space
    check_count(n, buf_.remaining() / sizeof(typename S::value_type));
    s.resize(n);
    if (n == 0) return;
    const auto bytes = static_cast<std::streamsize>(n * sizeof(typename S::value_type));
    this->is.read(reinterpret_cast<char*>(&s[0]), bytes);
    if (this->is.gcount() != bytes) fail("truncated string");
  }

  ViewBuf& buf_;
};

// xml_iarchive with bounded collection sizes; reads the closing tag itself (the stock
// destructor would throw from a destructor on a truncated archive).
class XmlIArchive : public ba::xml_iarchive_impl<XmlIArchive> {
  using Impl = ba::xml_iarchive_impl<XmlIArchive>;

 public:
  XmlIArchive(std::istream& stream, ViewBuf& buf, unsigned flags)
      : Impl(stream, flags | ba::no_header), buf_(buf), header_((flags & ba::no_header) == 0) {
    if (header_) {
      // Impl::init() without its unchecked conversion of the version attribute.
      this->gimpl->init(this->is);
      const unsigned version = this->gimpl->rv.version;
      if (version > ba::BOOST_ARCHIVE_VERSION()) fail("unsupported archive version");
      this->set_library_version(boost::serialization::library_version_type(version));
    }
    check_library_version(this->get_library_version());
  }

  using Impl::load;
  void load(boost::serialization::collection_size_type& t) {
    Impl::load(t);
    check_count(t, buf_.remaining());
  }
  void load(char*) { fail("C strings are not supported"); }
  void load(wchar_t*) { fail("C strings are not supported"); }

  // Replace Boost's, whose tag check reads past the expected name when the input's tag
  // is longer (Boost 1.74). Like Boost, only end tags below the top level are checked.
  void load_start(const char* name) {
    if (name == nullptr) return;
    if (!this->gimpl->parse_start_tag(this->is)) fail("bad XML start tag");
    ++depth_;
  }
  void load_end(const char* name) {
    if (name == nullptr) return;
    if (!this->gimpl->parse_end_tag(this->is) || depth_ == 0) fail("bad XML end tag");
    if (--depth_ == 0) return;
    if ((this->get_flags() & ba::no_xml_tag_checking) == 0 && this->gimpl->rv.object_name != name) {
      throw ba::xml_archive_exception(ba::xml_archive_exception::xml_archive_tag_mismatch, name);
    }
  }

  // Reads the closing </boost_serialization> tag (when there is a header).
  void finish() {
    if (header_ && !this->gimpl->windup(this->is)) fail("missing closing tag");
  }

 private:
  ViewBuf& buf_;
  bool header_;
  unsigned depth_ = 0;
};

inline bool only_whitespace(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return false;
  }
  return true;
}

}  // namespace boost_backend
}  // namespace detail

struct BoostBackend {
  static constexpr std::string_view id = "boost";
  using ArchiveKind = BoostArchive;

  struct Config {
    // Archive used by dump(); load() uses the kind recorded in the payload.
    BoostArchive archive = BoostArchive::binary;
    // boost::archive flags for dump(): any of no_header, no_codecvt, no_xml_tag_checking,
    // no_tracking (recorded; load() uses the recorded flags). The default keeps the
    // header, which lets a binary archive from another platform or a newer Boost fail
    // cleanly instead of loading garbage; no_header saves about 40 bytes per entry.
    unsigned archive_flags = 0;
  };

  // Appends kind byte, flags byte and the archive of value to out. Throws
  // std::invalid_argument for a bad Config, boost::archive::archive_exception (or what
  // the user's serialize() throws) on failure, leaving out unchanged.
  template <class T>
  static void dump(const T& value, std::string& out, const Config& config) {
    namespace ba = boost::archive;
    const std::size_t old_size = out.size();
    if ((config.archive_flags & ~detail::boost_backend::known_flags) != 0) {
      throw std::invalid_argument("BoostBackend: unknown archive flags");
    }
    const unsigned flags = config.archive_flags;
    try {
      out.push_back(static_cast<char>(config.archive));
      out.push_back(static_cast<char>(flags));
      detail::boost_backend::AppendBuf buf(out);
      switch (config.archive) {
        case BoostArchive::binary: {
          ba::binary_oarchive ar(buf, flags);
          ar << boost::serialization::make_nvp("value", value);
          break;
        }
        case BoostArchive::text: {
          std::ostream os(&buf);
          os.imbue(std::locale::classic());
          {
            ba::text_oarchive ar(os, flags);
            ar << boost::serialization::make_nvp("value", value);
          }
          break;
        }
        case BoostArchive::xml: {
          std::ostream os(&buf);
          os.imbue(std::locale::classic());
          {
            ba::xml_oarchive ar(os, flags);
            ar << boost::serialization::make_nvp("value", value);
          }
          break;
        }
        default:
          throw std::invalid_argument("BoostBackend: unknown archive kind");
      }
    } catch (...) {
      out.resize(old_size);
      throw;
    }
  }

  // Reads a T from a payload written by dump() with any Config (config is unused). T must
  // be default-constructible. Throws std::exception (mostly archive_exception) on an
  // unknown kind or flags, a malformed, truncated or oversized archive, trailing bytes,
  // or a payload that does not hold a T.
  template <class T>
  static T load(std::string_view bytes, const Config& /*config*/) {
    namespace ba = boost::archive;
    namespace bb = detail::boost_backend;
    if (bytes.size() < 2) bb::fail("BoostBackend: payload too short");
    const auto flags = static_cast<unsigned char>(bytes[1]);
    if ((flags & ~bb::known_flags) != 0) bb::fail("BoostBackend: unknown archive flags");
    bb::ViewBuf buf(bytes.substr(2));
    T value{};
    switch (bytes[0]) {
      case static_cast<char>(BoostArchive::binary): {
        {
          bb::BinaryIArchive ar(buf, flags);
          ar >> boost::serialization::make_nvp("value", value);
        }
        if (buf.remaining() != 0) bb::fail("BoostBackend: trailing bytes");
        break;
      }
      case static_cast<char>(BoostArchive::text): {
        std::istream is(&buf);
        is.imbue(std::locale::classic());
        {
          bb::TextIArchive ar(is, buf, flags);
          ar >> boost::serialization::make_nvp("value", value);
        }
        // The writer ends the archive with a newline, which the reader leaves unread.
        if (buf.remaining() == 0 || !bb::only_whitespace(buf.rest())) {
          bb::fail("BoostBackend: truncated text archive or trailing bytes");
        }
        break;
      }
      case static_cast<char>(BoostArchive::xml): {
        std::istream is(&buf);
        is.imbue(std::locale::classic());
        {
          bb::XmlIArchive ar(is, buf, flags);
          ar >> boost::serialization::make_nvp("value", value);
          ar.finish();
        }
        if (!bb::only_whitespace(buf.rest())) bb::fail("BoostBackend: trailing bytes");
        break;
      }
      default:
        bb::fail("BoostBackend: unknown archive kind");
    }
    return value;
  }
};

BUCKETCACHE_NAMESPACE_END

// Lets BOOST_CLASS_EXPORT register polymorphic pointer loaders for the backend's archives;
// the binary reader must use the array optimization as binary_oarchive does.
BOOST_SERIALIZATION_REGISTER_ARCHIVE(bucketcache::detail::boost_backend::BinaryIArchive)
BOOST_SERIALIZATION_USE_ARRAY_OPTIMIZATION(bucketcache::detail::boost_backend::BinaryIArchive)
BOOST_SERIALIZATION_REGISTER_ARCHIVE(bucketcache::detail::boost_backend::TextIArchive)
BOOST_SERIALIZATION_REGISTER_ARCHIVE(bucketcache::detail::boost_backend::XmlIArchive)
