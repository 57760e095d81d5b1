// Connections to one Redis server over hiredis (synchronous API, no TLS): connect with a
// timeout, AUTH, SELECT, one command or a pipeline at a time, and a pool of idle
// connections shared by the threads of one store.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "storage/redis/redis_url.hpp"

struct redisContext;
struct redisReply;

namespace bucketcache {
inline namespace v1 {
namespace storage {

struct ReplyDeleter {
  void operator()(redisReply* r) const;
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct RedisConfig {
  RedisUrl url;
  std::chrono::milliseconds timeout{2000};  // connect, and each command's send and receive
};

// One connection. Not thread-safe: a thread holds it through a RedisPool::Lease.
class RedisConnection {
 public:
  // Connects, authenticates and selects the database. Throws IoError ("redis
  // <host:port>: <reason>"); a refused AUTH says so.
  explicit RedisConnection(const RedisConfig& config);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Runs one command and returns its reply, error replies included. Throws IoError when
  // the connection fails (it is then broken).
  Reply command(const std::vector<std::string_view>& args);
  // command(), and an error reply is thrown as IoError too (the connection stays usable).
  Reply run(const std::vector<std::string_view>& args);

  // A pipeline: append commands, then take their replies in order.
  void append(const std::vector<std::string_view>& args);
  Reply next_reply();

  // Unusable: an I/O error happened, or pipelined replies were left unread.
  bool broken() const { return broken_ || pending_ != 0; }
  // Throws IoError("redis <host:port>: <what>: <detail>").
  [[noreturn]] void fail(const std::string& what, const std::string& detail) const;

 private:
  void connect(const RedisConfig& config);
  [[noreturn]] void fail_io(const char* what);
  std::string address_;
  std::chrono::milliseconds timeout_;
  redisContext* context_ = nullptr;
  bool broken_ = false;
  std::size_t pending_ = 0;
};

// Idle connections of one store. A lease hands one connection to one thread and gives it
// back when it is still usable; a broken one is closed, and the next lease connects
// again. A forked child never uses its parent's connections.
class RedisPool {
 public:
  explicit RedisPool(RedisConfig config) : config_(std::move(config)) {}

  class Lease {
   public:
    Lease(RedisPool& pool, std::unique_ptr<RedisConnection> c) : pool_(pool), conn_(std::move(c)) {}
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    RedisConnection* operator->() { return conn_.get(); }
    RedisConnection& operator*() { return *conn_; }

   private:
    RedisPool& pool_;
    std::unique_ptr<RedisConnection> conn_;
  };

  // An idle connection, or a new one. Throws IoError.
  Lease lease();
  const RedisConfig& config() const { return config_; }

 private:
  void give_back(std::unique_ptr<RedisConnection> c);

  static constexpr std::size_t kMaxIdle = 16;
  const RedisConfig config_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<RedisConnection>> idle_;
  pid_t pid_ = 0;
};

// Whether a reply is an error reply starting with `prefix` (e.g. "WRONGTYPE").
bool is_error(const redisReply* r, std::string_view prefix = {});

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
