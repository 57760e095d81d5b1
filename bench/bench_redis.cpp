// bucketcache on Redis against raw hiredis GET/SET of the same values on the same server,
// in one run (docs/redis.md "Performance"). Starts its own redis-server (and a 3-master
// cluster) on free loopback ports and stops them at the end.
//
//   bucketcache_bench_redis [ops per measurement, default 20000] [rounds, default 5]
//
// Each round measures, interleaved: raw SET, bc_set, raw GET, bc_get (memory layer off,
// so every get asks the server), for 100-byte and 10 KiB values; the median of the rounds
// is printed per operation with the ratio bucketcache / raw (target <= 1.2). Then the same
// on the cluster (raw: a connection per master, keys routed by precomputed slot), and
// bc_sync of deferred writes (pipelined) against one raw SET per round trip.
#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bucketcache/bucketcache.h"
#include "redis_cluster.hpp"
#include "redis_server.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Ctx {
  redisContext* c = nullptr;
  explicit Ctx(int port) {
    const struct timeval tv = {5, 0};
    c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == nullptr || c->err != 0) throw std::runtime_error("hiredis connect failed");
  }
  ~Ctx() { redisFree(c); }
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;
  void cmd(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (r == nullptr || r->type == REDIS_REPLY_ERROR)
      throw std::runtime_error("raw command failed");
    freeReplyObject(r);
  }
};

bc_bucket* open(const std::string& url, const std::string& name, bool deferred) {
  bc_options* o = nullptr;
  bc_options_new(&o);
  bc_options_set_str(o, BC_OPT_STORE, url.c_str());
  bc_options_set_int(o, BC_OPT_MEMORY_LIMIT_BYTES, 0);
  bc_options_set_int(o, BC_OPT_DEFERRED, deferred ? 1 : 0);
  bc_bucket* b = nullptr;
  const int rc = bc_bucket_open(&b, name.c_str(), o);
  bc_options_free(o);
  if (rc != BC_OK) throw std::runtime_error(std::string("open: ") + bc_last_error_message());
  return b;
}

double seconds(const std::function<void()>& fn) {
  const auto t0 = Clock::now();
  fn();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Raw side: how to send one command for key i.
using RawCmd = std::function<void(int i, const std::vector<std::string>& args)>;

void compare(const char* where, const RawCmd& raw, bc_bucket* b, int ops, int rounds) {
  for (std::size_t size : {std::size_t{100}, std::size_t{10240}}) {
    const std::string value(size, 'v');
    std::vector<std::string> keys;
    for (int i = 0; i < ops; ++i) keys.push_back("key-" + std::to_string(i));
    std::map<std::string, std::vector<double>> t;
    for (int r = 0; r < rounds; ++r) {
      t["raw SET"].push_back(seconds([&] {
        for (int i = 0; i < ops; ++i) raw(i, {"SET", "raw:" + keys[i], value});
      }));
      t["bc_set"].push_back(seconds([&] {
        for (int i = 0; i < ops; ++i) {
          if (bc_set(b, keys[i].data(), keys[i].size(), value.data(), value.size()) != BC_OK) {
            throw std::runtime_error(bc_last_error_message());
          }
        }
      }));
      t["raw GET"].push_back(seconds([&] {
        for (int i = 0; i < ops; ++i) raw(i, {"GET", "raw:" + keys[i]});
      }));
      t["bc_get"].push_back(seconds([&] {
        for (int i = 0; i < ops; ++i) {
          bc_buf out{nullptr, 0};
          if (bc_get(b, keys[i].data(), keys[i].size(), &out) != BC_OK) {
            throw std::runtime_error(bc_last_error_message());
          }
          bc_buf_dispose(&out);
        }
      }));
    }
    const double rs = median(t["raw SET"]), bs = median(t["bc_set"]);
    const double rg = median(t["raw GET"]), bg = median(t["bc_get"]);
    std::printf(
        "%-10s %6zu B  set: raw %7.1f us  bc %7.1f us  ratio %.2f   "
        "get: raw %7.1f us  bc %7.1f us  ratio %.2f\n",
        where, size, rs / ops * 1e6, bs / ops * 1e6, bs / rs, rg / ops * 1e6, bg / ops * 1e6,
        bg / rg);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int ops = argc > 1 ? std::atoi(argv[1]) : 20000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  try {
    {
      bctest::RedisServer server;
      Ctx raw(server.port());
      bc_bucket* b = open(server.url(), "bench", false);
      compare(
          "redis", [&](int, const std::vector<std::string>& a) { raw.cmd(a); }, b, ops, rounds);
      bc_bucket_close(b);

      // Deferred writes: one pipeline per sync against one SET per round trip.
      bc_bucket* d = open(server.url(), "bench-deferred", true);
      const std::string value(100, 'v');
      std::vector<double> per_entry, synced;
      for (int r = 0; r < rounds; ++r) {
        per_entry.push_back(seconds([&] {
          for (int i = 0; i < ops; ++i) raw.cmd({"SET", "raw:d" + std::to_string(i), value});
        }));
        for (int i = 0; i < ops; ++i) {
          const std::string k = "d" + std::to_string(i);
          bc_set(d, k.data(), k.size(), value.data(), value.size());
        }
        synced.push_back(seconds([&] {
          if (bc_sync(d) != BC_OK) throw std::runtime_error(bc_last_error_message());
        }));
      }
      std::printf(
          "redis      deferred: bc_sync of %d entries %.1f ms, raw SET one by one "
          "%.1f ms, ratio %.2f\n",
          ops, median(synced) * 1e3, median(per_entry) * 1e3, median(synced) / median(per_entry));
      bc_bucket_close(d);
    }
    {
      bctest::RedisCluster cluster(3, 0);
      std::map<int, std::unique_ptr<Ctx>> nodes;
      for (int p : cluster.master_ports()) nodes[p] = std::make_unique<Ctx>(p);
      // The owner of each raw key, computed before timing (CLUSTER KEYSLOT).
      std::vector<int> slot_owner(16384);
      for (int s = 0; s < 16384; ++s) slot_owner[static_cast<std::size_t>(s)] = cluster.owner_of(s);
      std::vector<Ctx*> owner_of_key(static_cast<std::size_t>(ops));
      Ctx& any = *nodes.begin()->second;
      for (int i = 0; i < ops; ++i) {
        const std::string k = "raw:key-" + std::to_string(i);
        auto* r = static_cast<redisReply*>(redisCommand(any.c, "CLUSTER KEYSLOT %s", k.c_str()));
        owner_of_key[static_cast<std::size_t>(i)] =
            nodes[slot_owner[static_cast<std::size_t>(r->integer)]].get();
        freeReplyObject(r);
      }
      bc_bucket* b = open(cluster.url(), "bench", false);
      compare(
          "cluster",
          [&](int i, const std::vector<std::string>& a) {
            owner_of_key[static_cast<std::size_t>(i)]->cmd(a);
          },
          b, ops, rounds);
      bc_bucket_close(b);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_redis: %s\n", e.what());
    return 1;
  }
  return 0;
}
