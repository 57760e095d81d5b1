// The address of a Redis server: redis://[user:password@]host[:port][/db].
#pragma once

#include <string>

namespace bucketcache {
inline namespace v1 {
namespace storage {

struct RedisUrl {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user;      // empty: AUTH password (the default user), if a password is given
  std::string password;  // empty: no AUTH
  bool has_password = false;

  // "host:port" (IPv6 hosts in brackets), for messages.
  std::string address() const;
  // The URL without its credentials, for messages and describe().
  std::string redacted() const;
};

// Parses a redis:// URL. User and password may be percent-encoded ("%40" for '@').
// `redis://user@host` (a user without a password) is rejected. Throws InvalidArgument
// with a message that never contains the password.
RedisUrl parse_redis_url(const std::string& url);

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
