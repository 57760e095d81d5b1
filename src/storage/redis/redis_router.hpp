// Where each Redis command goes: one server (redis://), or the master owning the key's hash
// slot in a Redis Cluster (redis-cluster://), following MOVED and ASK redirections.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "storage/redis/redis_connection.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

// One command of a pipeline: its key (for routing) and its arguments.
struct RoutedCommand {
  std::string_view key;
  std::vector<std::string_view> args;
};

class RedisRouter {
 public:
  virtual ~RedisRouter() = default;

  // Runs `args` (a command on the single key `key`) where `key` lives and returns its
  // reply, error replies included. Throws IoError ("redis <host:port>: <reason>") when no
  // server answers within the timeout.
  virtual Reply command(std::string_view key, const std::vector<std::string_view>& args) = 0;
  // command(), and an error reply is thrown as IoError.
  Reply run(std::string_view key, const std::vector<std::string_view>& args);
  // Runs the commands in as few round trips as possible (one pipeline per server); the
  // replies are in the commands' order. Throws IoError as command().
  virtual std::vector<Reply> pipeline(const std::vector<RoutedCommand>& commands) = 0;
  // Calls fn with the pool of every master (the single server, or each cluster master).
  virtual void for_each_master(const std::function<void(RedisPool&)>& fn) = 0;
  // "redis://host:port/db" or "redis-cluster://host:port,...", without credentials.
  virtual const std::string& redacted() const = 0;
  // Throws IoError("redis <where>: <what>: <detail>").
  [[noreturn]] void fail(const std::string& what, const std::string& detail) const;
};

// One Redis server through a pool of connections.
class SingleRouter final : public RedisRouter {
 public:
  explicit SingleRouter(RedisConfig config);
  Reply command(std::string_view key, const std::vector<std::string_view>& args) override;
  std::vector<Reply> pipeline(const std::vector<RoutedCommand>& commands) override;
  void for_each_master(const std::function<void(RedisPool&)>& fn) override { fn(pool_); }
  const std::string& redacted() const override { return redacted_; }

 private:
  RedisPool pool_;
  std::string redacted_;
};

// The hash slot of a key (CRC16/XMODEM of the key, or of its first non-empty {hash tag},
// modulo 16384), as Redis Cluster computes it.
std::uint16_t key_slot(std::string_view key);

// A Redis Cluster. The slot map comes from CLUSTER SLOTS (asked of any known node) at
// construction and again after a MOVED or a failed node; each master gets a pool. A
// command follows at most kMaxRedirects redirections and retries failed nodes and
// CLUSTERDOWN / TRYAGAIN until the timeout has passed, then fails with the last reason.
class ClusterRouter final : public RedisRouter {
 public:
  static constexpr int kSlots = 16384;
  static constexpr int kMaxRedirects = 16;

  // `url`: redis-cluster://[user:password@]host:port[,host:port...] (no database: a
  // cluster has only database 0). Throws InvalidArgument (bad URL) or IoError (no seed
  // node answers CLUSTER SLOTS, or the cluster does not cover every slot).
  ClusterRouter(const std::string& url, std::chrono::milliseconds timeout);
  Reply command(std::string_view key, const std::vector<std::string_view>& args) override;
  std::vector<Reply> pipeline(const std::vector<RoutedCommand>& commands) override;
  void for_each_master(const std::function<void(RedisPool&)>& fn) override;
  const std::string& redacted() const override { return redacted_; }

 private:
  // The pool of node "host:port" (created on first use).
  RedisPool& pool_for(const std::string& address);
  // The master of a slot now ("" when no node serves it).
  std::string owner(std::uint16_t slot) const;
  // Asks the known nodes for CLUSTER SLOTS and installs the first answer. Returns an
  // empty string, or why no node answered.
  std::string refresh();

  RedisConfig seed_config_;  // credentials and timeout; host and port of each node differ
  std::vector<std::string> seeds_;
  std::string redacted_;

  mutable std::shared_mutex map_mutex_;  // guards owners_
  std::vector<std::string> owners_;      // slot -> "host:port" of its master

  std::mutex pools_mutex_;  // guards pools_ (pools live as long as the router)
  std::map<std::string, std::unique_ptr<RedisPool>> pools_;
  std::mutex refresh_mutex_;  // one CLUSTER SLOTS refresh at a time
};

// Parses redis-cluster://... into its node addresses and credentials; throws
// InvalidArgument without the password in the message.
struct ClusterUrl {
  std::vector<RedisUrl> nodes;
};
ClusterUrl parse_cluster_url(const std::string& url);

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
