#include "storage/redis/redis_url.hpp"

#include <cctype>

#include "bucketcache/error.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

namespace {

constexpr const char* kScheme = "redis://";

[[noreturn]] void bad_url(const std::string& why) {
  throw InvalidArgument("invalid Redis URL (expected redis://[user:password@]host[:port][/db]): " +
                        why);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(const std::string& s, const char* what) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) bad_url(std::string("bad %-escape in the ") + what);
    const int hi = hex_value(s[i + 1]);
    const int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) bad_url(std::string("bad %-escape in the ") + what);
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// Digits only, in [lo, hi].
int number(const std::string& s, long lo, long hi, const char* what) {
  if (s.empty() || s.size() > 9) bad_url(std::string("bad ") + what + " '" + s + "'");
  long v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      bad_url(std::string("bad ") + what + " '" + s + "'");
    }
    v = v * 10 + (c - '0');
  }
  if (v < lo || v > hi) bad_url(std::string(what) + " out of range: " + s);
  return static_cast<int>(v);
}

}  // namespace

std::string RedisUrl::address() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string RedisUrl::redacted() const {
  std::string s = kScheme;
  if (has_password) s += (user.empty() ? std::string() : user) + ":***@";
  return s + address() + "/" + std::to_string(db);
}

RedisUrl parse_redis_url(const std::string& url) {
  const std::string scheme = kScheme;
  if (url.compare(0, scheme.size(), scheme) != 0) bad_url("it must start with redis://");
  std::string rest = url.substr(scheme.size());
  RedisUrl out;

  // Credentials end at the last '@' (an unencoded '@' in a password is tolerated).
  const std::size_t at = rest.rfind('@');
  if (at != std::string::npos) {
    const std::string userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (colon == std::string::npos) {
      bad_url("credentials need a password (user:password@ or :password@)");
    }
    out.user = percent_decode(userinfo.substr(0, colon), "user name");
    out.password = percent_decode(userinfo.substr(colon + 1), "password");
    out.has_password = true;
  }

  const std::size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) {
    const std::string db = rest.substr(slash + 1);
    if (!db.empty()) out.db = number(db, 0, 1 << 20, "database number");
  }
  std::string port;
  bool has_port = false;
  if (!hostport.empty() && hostport[0] == '[') {
    const std::size_t close = hostport.find(']');
    if (close == std::string::npos) bad_url("unclosed '[' in the host");
    out.host = hostport.substr(1, close - 1);
    const std::string after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') bad_url("junk after the host");
      port = after.substr(1);
      has_port = true;
    }
  } else {
    const std::size_t colon = hostport.rfind(':');
    out.host = hostport.substr(0, colon);
    if (colon != std::string::npos) {
      port = hostport.substr(colon + 1);
      has_port = true;
    }
  }
  if (out.host.empty()) bad_url("no host");
  for (char c : out.host) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '?' || c == '#' || c == '/') {
      bad_url("bad character in the host");
    }
  }
  if (has_port) {
    out.port = number(port, 1, 65535, "port");
  }
  return out;
}

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
