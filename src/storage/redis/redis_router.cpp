#include "storage/redis/redis_router.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <boost/crc.hpp>
#include <set>
#include <thread>

#include "bucketcache/error.hpp"
#include "support/log_internal.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

namespace {

constexpr const char* kClusterScheme = "redis-cluster://";

std::string_view str(const redisReply* r) { return std::string_view(r->str, r->len); }

// "host:port" split at its last ':' (IPv6 hosts may come in brackets or bare).
RedisUrl node_url(const RedisUrl& credentials, const std::string& address) {
  RedisUrl u = credentials;
  const std::size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  u.host = host;
  u.port = std::stoi(address.substr(colon + 1));
  u.db = 0;
  return u;
}

// The words of an error reply: "MOVED 3999 127.0.0.1:6381" -> {MOVED, 3999, 127.0.0.1:6381}.
std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t j = std::min(s.find(' ', i), s.size());
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// A redirection: the node named by MOVED or ASK (empty for other replies).
std::string redirect_target(const redisReply* r, bool& ask) {
  ask = is_error(r, "ASK ");
  if (!ask && !is_error(r, "MOVED ")) return {};
  const std::vector<std::string> w = words(str(r));
  return w.size() >= 3 ? w[2] : std::string();
}

bool retry_later(const redisReply* r) {
  return is_error(r, "TRYAGAIN") || is_error(r, "CLUSTERDOWN") || is_error(r, "LOADING");
}

}  // namespace

void RedisRouter::fail(const std::string& what, const std::string& detail) const {
  throw IoError("redis " + redacted() + ": " + what + ": " + detail, EIO);
}

Reply RedisRouter::run(std::string_view key, const std::vector<std::string_view>& args) {
  Reply r = command(key, args);
  if (r->type == REDIS_REPLY_ERROR) {
    fail(std::string(args.at(0)) + " " + std::string(key), std::string(str(r.get())));
  }
  return r;
}

// ---- one server ----

SingleRouter::SingleRouter(RedisConfig config)
    : pool_(std::move(config)), redacted_(pool_.config().url.redacted()) {}

Reply SingleRouter::command(std::string_view /*key*/, const std::vector<std::string_view>& args) {
  auto conn = pool_.lease();
  return conn->command(args);
}

std::vector<Reply> SingleRouter::pipeline(const std::vector<RoutedCommand>& commands) {
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  if (commands.empty()) return replies;
  auto conn = pool_.lease();
  for (const RoutedCommand& c : commands) conn->append(c.args);
  for (std::size_t i = 0; i < commands.size(); ++i) replies.push_back(conn->next_reply());
  return replies;
}

// ---- cluster ----

std::uint16_t key_slot(std::string_view key) {
  const std::size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const std::size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  boost::crc_optimal<16, 0x1021, 0, 0, false, false> crc;  // CRC16/XMODEM
  crc.process_bytes(key.data(), key.size());
  return static_cast<std::uint16_t>(crc.checksum() % ClusterRouter::kSlots);
}

ClusterUrl parse_cluster_url(const std::string& url) {
  const std::string scheme = kClusterScheme;
  auto bad = [](const std::string& why) -> void {
    throw InvalidArgument(
        "invalid Redis Cluster URL (expected "
        "redis-cluster://[user:password@]host:port[,host:port...]): " +
        why);
  };
  if (url.compare(0, scheme.size(), scheme) != 0) bad("it must start with redis-cluster://");
  std::string rest = url.substr(scheme.size());
  std::string credentials;
  const std::size_t at = rest.rfind('@');
  if (at != std::string::npos) {
    credentials = rest.substr(0, at + 1);
    rest = rest.substr(at + 1);
  }
  if (rest.find('/') != std::string::npos) bad("a cluster has no database number");
  ClusterUrl out;
  std::size_t i = 0;
  for (;;) {
    const std::size_t comma = std::min(rest.find(',', i), rest.size());
    const std::string node = rest.substr(i, comma - i);
    if (node.empty()) bad("an empty node address");
    try {
      out.nodes.push_back(parse_redis_url("redis://" + credentials + node));
    } catch (const InvalidArgument& e) {
      // The message of parse_redis_url never holds the password.
      bad(std::string("node '") + node + "': " + e.what());
    }
    if (comma == rest.size()) break;
    i = comma + 1;
  }
  return out;
}

ClusterRouter::ClusterRouter(const std::string& url, std::chrono::milliseconds timeout)
    : owners_(kSlots) {
  const ClusterUrl parsed = parse_cluster_url(url);
  seed_config_.url = parsed.nodes.front();
  seed_config_.timeout = timeout;
  redacted_ = kClusterScheme;
  for (const RedisUrl& u : parsed.nodes) {
    seeds_.push_back(u.address());
    redacted_ += (redacted_.size() > std::string(kClusterScheme).size() ? "," : "") + u.address();
  }
  const std::string why = refresh();
  if (!why.empty()) fail("cannot read the cluster's slots", why);
  for (int s = 0; s < kSlots; ++s) {
    if (owners_[static_cast<std::size_t>(s)].empty()) {
      fail("cluster not ready", "slot " + std::to_string(s) + " has no master");
    }
  }
}

RedisPool& ClusterRouter::pool_for(const std::string& address) {
  std::lock_guard<std::mutex> hold(pools_mutex_);
  auto it = pools_.find(address);
  if (it == pools_.end()) {
    RedisConfig c = seed_config_;
    c.url = node_url(seed_config_.url, address);
    it = pools_.emplace(address, std::make_unique<RedisPool>(std::move(c))).first;
  }
  return *it->second;
}

std::string ClusterRouter::owner(std::uint16_t slot) const {
  std::shared_lock<std::shared_mutex> hold(map_mutex_);
  return owners_[slot];
}

std::string ClusterRouter::refresh() {
  std::lock_guard<std::mutex> one_at_a_time(refresh_mutex_);
  // Ask the masters known now first, then the seeds.
  std::vector<std::string> candidates;
  {
    std::shared_lock<std::shared_mutex> hold(map_mutex_);
    std::set<std::string> seen;
    for (const std::string& a : owners_) {
      if (!a.empty() && seen.insert(a).second) candidates.push_back(a);
    }
  }
  for (const std::string& s : seeds_) {
    if (std::find(candidates.begin(), candidates.end(), s) == candidates.end()) {
      candidates.push_back(s);
    }
  }
  std::string why;
  for (const std::string& address : candidates) {
    try {
      auto conn = pool_for(address).lease();
      Reply r = conn->command({"CLUSTER", "SLOTS"});
      if (r->type != REDIS_REPLY_ARRAY) {
        why = address + ": CLUSTER SLOTS: " +
              (r->type == REDIS_REPLY_ERROR ? std::string(str(r.get())) : "unexpected reply");
        continue;
      }
      std::vector<std::string> owners(kSlots);
      for (std::size_t i = 0; i < r->elements; ++i) {
        const redisReply* range = r->element[i];
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) continue;
        const redisReply* master = range->element[2];
        if (range->element[0]->type != REDIS_REPLY_INTEGER ||
            range->element[1]->type != REDIS_REPLY_INTEGER || master->type != REDIS_REPLY_ARRAY ||
            master->elements < 2 || master->element[0]->type != REDIS_REPLY_STRING ||
            master->element[1]->type != REDIS_REPLY_INTEGER) {
          continue;
        }
        std::string host(str(master->element[0]));
        // An empty or "?" host means the node we asked.
        if (host.empty() || host == "?") host = address.substr(0, address.rfind(':'));
        if (host.find(':') != std::string::npos) host = "[" + host + "]";
        const std::string owner = host + ":" + std::to_string(master->element[1]->integer);
        const long long first = std::max<long long>(0, range->element[0]->integer);
        const long long last = std::min<long long>(kSlots - 1, range->element[1]->integer);
        for (long long s = first; s <= last; ++s) owners[static_cast<std::size_t>(s)] = owner;
      }
      std::unique_lock<std::shared_mutex> hold(map_mutex_);
      owners_ = std::move(owners);
      return {};
    } catch (const IoError& e) {
      why = e.what();
    }
  }
  return why.empty() ? std::string("no node known") : why;
}

Reply ClusterRouter::command(std::string_view key, const std::vector<std::string_view>& args) {
  const std::uint16_t slot = key_slot(key);
  const auto deadline = std::chrono::steady_clock::now() + seed_config_.timeout;
  std::string address = owner(slot);
  bool asking = false;
  std::string last_error;
  auto backoff = std::chrono::milliseconds(10);
  for (int redirects = 0; redirects <= kMaxRedirects;) {
    Reply r;
    if (!address.empty()) {
      try {
        auto conn = pool_for(address).lease();
        if (asking) {
          conn->append({"ASKING"});
          conn->append(args);
          conn->next_reply();
          r = conn->next_reply();
        } else {
          r = conn->command(args);
        }
      } catch (const IoError& e) {
        last_error = e.what();
      }
    } else {
      last_error = "redis " + redacted_ + ": slot " + std::to_string(slot) + " has no master";
    }
    if (r) {
      bool ask = false;
      const std::string target = redirect_target(r.get(), ask);
      if (!target.empty()) {
        ++redirects;
        asking = ask;
        address = target;
        if (!ask) {
          {
            std::unique_lock<std::shared_mutex> hold(map_mutex_);
            owners_[slot] = target;
          }
          refresh();  // a MOVED usually means more slots moved
        }
        continue;
      }
      if (!retry_later(r.get())) return r;
      last_error = "redis " + address + ": " + std::string(str(r.get()));
    }
    // A node failed or the cluster is not ready: wait a little, read the map, try again.
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(backoff, deadline - now));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
    refresh();
    address = owner(slot);
    asking = false;
  }
  throw IoError(std::string(args.at(0)) + " on slot " + std::to_string(slot) +
                    " failed: " + (last_error.empty() ? "too many redirections" : last_error),
                EIO);
}

std::vector<Reply> ClusterRouter::pipeline(const std::vector<RoutedCommand>& commands) {
  std::vector<Reply> replies(commands.size());
  // Group by the master owning each key now; one pipeline per master.
  std::map<std::string, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    groups[owner(key_slot(commands[i].key))].push_back(i);
  }
  for (const auto& g : groups) {
    if (g.first.empty()) continue;  // redone one by one below
    try {
      auto conn = pool_for(g.first).lease();
      for (std::size_t i : g.second) conn->append(commands[i].args);
      for (std::size_t i : g.second) replies[i] = conn->next_reply();
    } catch (const IoError&) {
      // The connection is dropped; what has no reply is redone one by one below.
    }
  }
  // Redirected, refused or unanswered commands: one by one, with redirections followed.
  // Every command sent here is idempotent for its caller (SET of the same bytes, reads).
  for (std::size_t i = 0; i < commands.size(); ++i) {
    bool ask = false;
    if (!replies[i] || !redirect_target(replies[i].get(), ask).empty() ||
        retry_later(replies[i].get())) {
      replies[i] = command(commands[i].key, commands[i].args);
    }
  }
  return replies;
}

void ClusterRouter::for_each_master(const std::function<void(RedisPool&)>& fn) {
  const std::string why = refresh();
  if (!why.empty()) fail("cannot read the cluster's slots", why);
  std::set<std::string> masters;
  {
    std::shared_lock<std::shared_mutex> hold(map_mutex_);
    for (const std::string& a : owners_) {
      if (!a.empty()) masters.insert(a);
    }
  }
  for (const std::string& m : masters) fn(pool_for(m));
}

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
