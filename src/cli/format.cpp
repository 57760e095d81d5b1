// Output of the command-line tool: escaping, times, keys, values, tables.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <msgpack.hpp>

#include "cli/cli.hpp"
#include "support/clock.hpp"

namespace bucketcache {
inline namespace v1 {
namespace cli {

std::string escape_bytes(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string hex_bytes(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string format_time(std::int64_t us) {
  if (us == 0) return "never";
  std::int64_t secs = us / 1000000;
  std::int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  const auto t = static_cast<time_t>(secs);
  struct tm tm;
  if (::gmtime_r(&t, &tm) == nullptr) return std::to_string(us) + "us";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

bool is_expired(const storage::StoredEntry& e, std::int64_t now) {
  return past_expiry(e.header.expires_us, now);
}

namespace {
bool key_omitted(const Entry& e) { return (e.stored.header.flags & format::kKeyOmitted) != 0; }
bool json_keys(const Entry& e) { return e.stored.header.keymaker_id == "json"; }
}  // namespace

std::string key_text(const Entry& e) {
  if (e.status != Entry::Status::ok || key_omitted(e)) return "#" + e.name;
  if (json_keys(e)) {
    // Canonical JSON is text; anything unprintable in it (invalid UTF-8) is escaped.
    const std::string& k = e.stored.key_bytes;
    const bool plain = nlohmann::json::accept(k) && std::none_of(k.begin(), k.end(), [](char c) {
                         return static_cast<unsigned char>(c) < 0x20;
                       });
    return plain ? k : escape_bytes(k);
  }
  return escape_bytes(e.stored.key_bytes);
}

nlohmann::json key_json(const Entry& e) {
  if (e.status != Entry::Status::ok || key_omitted(e)) return nullptr;
  if (json_keys(e)) {
    auto parsed = nlohmann::json::parse(e.stored.key_bytes, nullptr, false);
    if (!parsed.is_discarded()) return parsed;
  }
  return escape_bytes(e.stored.key_bytes);
}

nlohmann::json entry_json(const Entry& e, std::int64_t now) {
  nlohmann::json j;
  j["digest"] = e.name;
  j["path"] = e.where;
  if (e.status != Entry::Status::ok) {
    j["status"] = e.status == Entry::Status::corrupt ? "corrupt" : "foreign";
    j["size"] = e.stored.stored_bytes;
    return j;
  }
  const format::EntryHeader& h = e.stored.header;
  j["status"] = "ok";
  j["backend"] = h.backend_id;
  j["key_format"] = h.keymaker_id;
  j["key"] = key_json(e);
  if (!key_omitted(e)) j["key_text"] = escape_bytes(e.stored.key_bytes);
  j["key_omitted"] = key_omitted(e);
  j["size"] = e.stored.stored_bytes;
  j["value_size"] = h.value_length;
  j["created_us"] = h.created_us;
  j["created"] = format_time(h.created_us);
  j["expires_us"] = h.expires_us;
  j["expires"] =
      h.expires_us == 0 ? nlohmann::json(nullptr) : nlohmann::json(format_time(h.expires_us));
  j["expired"] = is_expired(e.stored, now);
  j["explicit_lifetime"] = (h.flags & format::kExplicitLifetime) != 0;
  return j;
}

namespace {

// A msgpack object as JSON: maps with non-string keys get their keys as JSON text; binary
// and ext values become escaped strings.
nlohmann::json to_json(const msgpack::object& o, int depth) {
  if (depth > 512) throw std::runtime_error("nested too deeply");
  switch (o.type) {
    case msgpack::type::NIL:
      return nullptr;
    case msgpack::type::BOOLEAN:
      return o.via.boolean;
    case msgpack::type::POSITIVE_INTEGER:
      return o.via.u64;
    case msgpack::type::NEGATIVE_INTEGER:
      return o.via.i64;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return o.via.f64;
    case msgpack::type::STR:
      return std::string(o.via.str.ptr, o.via.str.size);
    case msgpack::type::BIN:
      return escape_bytes(std::string_view(o.via.bin.ptr, o.via.bin.size));
    case msgpack::type::EXT:
      return escape_bytes(std::string_view(o.via.ext.data(), o.via.ext.size));
    case msgpack::type::ARRAY: {
      nlohmann::json a = nlohmann::json::array();
      for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
        a.push_back(to_json(o.via.array.ptr[i], depth + 1));
      }
      return a;
    }
    case msgpack::type::MAP: {
      nlohmann::json m = nlohmann::json::object();
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        const msgpack::object_kv& kv = o.via.map.ptr[i];
        std::string key = kv.key.type == msgpack::type::STR
                              ? std::string(kv.key.via.str.ptr, kv.key.via.str.size)
                              : to_json(kv.key, depth + 1).dump();
        m[key] = to_json(kv.val, depth + 1);
      }
      return m;
    }
  }
  return nullptr;
}

}  // namespace

std::optional<nlohmann::json> decode_value(const std::string& backend, std::string_view value,
                                           std::string& why) {
  try {
    if (backend == "json") {
      return nlohmann::json::parse(value.begin(), value.end());
    }
    if (backend == "msgpack") {
      std::size_t offset = 0;
      msgpack::object_handle h = msgpack::unpack(value.data(), value.size(), offset);
      if (offset != value.size()) throw std::runtime_error("extra bytes after the value");
      return to_json(h.get(), 0);
    }
    why = "backend '" + backend + "' is shown as bytes";
  } catch (const std::exception& e) {
    why = "not a valid " + backend + " value: " + e.what();
  }
  return std::nullopt;
}

void print_table(const std::vector<std::string>& head,
                 const std::vector<std::vector<std::string>>& rows,
                 const std::vector<bool>& right) {
  std::vector<std::size_t> width(head.size());
  for (std::size_t i = 0; i < head.size(); ++i) width[i] = head[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const bool last = i + 1 == cells.size();
      const std::size_t pad = width[i] - std::min(width[i], cells[i].size());
      if (i > 0) out += "  ";
      if (i < right.size() && right[i]) out += std::string(pad, ' ');
      out += cells[i];
      if (!(i < right.size() && right[i]) && !last) out += std::string(pad, ' ');
    }
    std::cout << out << '\n';
  };
  line(head);
  for (const auto& row : rows) line(row);
}

void print_json(const nlohmann::json& j) {
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

void warn(const std::string& msg) { std::cerr << "bucketcache: " << msg << '\n'; }

}  // namespace cli
}  // namespace v1
}  // namespace bucketcache
