#include "redis_cluster.hpp"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <thread>

#include "redis_server.hpp"

namespace bctest {

namespace {

// One command to 127.0.0.1:port; the reply as text (status, string, integer or error),
// or an array's first-level strings joined by '\n'; "" if the node does not answer.
std::string ask(int port, const std::vector<std::string>& args, redisReply** keep = nullptr) {
  const struct timeval tv = {1, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  std::string out;
  if (c != nullptr && c->err == 0) {
    redisSetTimeout(c, tv);
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (r != nullptr) {
      if (r->type == REDIS_REPLY_INTEGER) {
        out = std::to_string(r->integer);
      } else if (r->str != nullptr) {
        out.assign(r->str, r->len);
      }
      if (keep != nullptr) {
        *keep = r;
      } else {
        freeReplyObject(r);
      }
    }
  }
  if (c != nullptr) redisFree(c);
  return out;
}

}  // namespace

RedisCluster::RedisCluster(int masters, int replicas) {
  char tmpl[] = "/tmp/bc-redis-cluster-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  root_ = tmpl;
  try {
    const int count = masters * (1 + replicas);
    std::set<int> used;
    for (int i = 0; i < count; ++i) {
      Node n;
      do {
        n.port = free_port();
        n.bus_port = free_port();
      } while (used.count(n.port) || used.count(n.bus_port) || n.port == n.bus_port);
      used.insert(n.port);
      used.insert(n.bus_port);
      n.dir = root_ + "/n" + std::to_string(i);
      std::filesystem::create_directory(n.dir);
      start(n);
      nodes_.push_back(n);
    }
    std::string create = "create";
    for (const Node& n : nodes_) create += " 127.0.0.1:" + std::to_string(n.port);
    create += " --cluster-replicas " + std::to_string(replicas) + " --cluster-yes";
    if (cli(create) != 0) {
      throw std::runtime_error("redis-cli --cluster create failed; see " + root_ + "/cli.log");
    }
    wait_ok();
  } catch (...) {
    for (Node& n : nodes_) kill(n.port);
    throw;
  }
}

RedisCluster::~RedisCluster() {
  for (Node& n : nodes_) kill(n.port);
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

void RedisCluster::start(Node& n) {
  const std::vector<std::string> args = {"--port",
                                         std::to_string(n.port),
                                         "--bind",
                                         "127.0.0.1",
                                         "--cluster-enabled",
                                         "yes",
                                         "--cluster-port",
                                         std::to_string(n.bus_port),
                                         "--cluster-config-file",
                                         n.dir + "/nodes.conf",
                                         "--cluster-node-timeout",
                                         "1000",
                                         "--cluster-require-full-coverage",
                                         "no",
                                         "--save",
                                         "",
                                         "--appendonly",
                                         "no",
                                         "--dir",
                                         n.dir,
                                         "--logfile",
                                         n.dir + "/redis.log",
                                         "--daemonize",
                                         "no"};
  n.pid = start_redis_server(args, n.port, n.dir + "/redis.log");
}

void RedisCluster::kill(int port) {
  for (Node& n : nodes_) {
    if (n.port == port) kill_and_reap(n.pid);
  }
}

void RedisCluster::pause(int port) {
  for (Node& n : nodes_) {
    if (n.port == port && n.pid > 0) ::kill(n.pid, SIGSTOP);
  }
}

void RedisCluster::resume(int port) {
  for (Node& n : nodes_) {
    if (n.port == port && n.pid > 0) ::kill(n.pid, SIGCONT);
  }
}

int RedisCluster::live_port() const {
  for (const Node& n : nodes_) {
    if (n.pid > 0) return n.port;
  }
  throw std::runtime_error("no live cluster node");
}

std::string RedisCluster::url() const {
  std::string u = "redis-cluster://";
  int seeds = 0;
  for (const Node& n : nodes_) {
    if (n.pid <= 0) continue;
    u += (seeds ? "," : "") + std::string("127.0.0.1:") + std::to_string(n.port);
    if (++seeds == 2) break;
  }
  return u;
}

int RedisCluster::cli(const std::string& args) const {
  const std::string command = "redis-cli --cluster " + args + " >>" + root_ + "/cli.log 2>&1";
  const int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::vector<int> RedisCluster::master_ports() const {
  redisReply* r = nullptr;
  ask(live_port(), {"CLUSTER", "SLOTS"}, &r);
  std::set<int> ports;
  if (r != nullptr && r->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < r->elements; ++i) {
      ports.insert(static_cast<int>(r->element[i]->element[2]->element[1]->integer));
    }
  }
  if (r != nullptr) freeReplyObject(r);
  return std::vector<int>(ports.begin(), ports.end());
}

int RedisCluster::owner_of(int slot) const {
  redisReply* r = nullptr;
  ask(live_port(), {"CLUSTER", "SLOTS"}, &r);
  int port = 0;
  if (r != nullptr && r->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < r->elements; ++i) {
      const redisReply* range = r->element[i];
      if (range->element[0]->integer <= slot && slot <= range->element[1]->integer) {
        port = static_cast<int>(range->element[2]->element[1]->integer);
      }
    }
  }
  if (r != nullptr) freeReplyObject(r);
  return port;
}

std::string RedisCluster::node_id(int port) const { return ask(port, {"CLUSTER", "MYID"}); }

void RedisCluster::wait_ok(int seconds) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::string why;
  while (std::chrono::steady_clock::now() < deadline) {
    bool ok = true;
    for (const Node& n : nodes_) {
      if (n.pid <= 0) continue;
      const std::string info = ask(n.port, {"CLUSTER", "INFO"});
      if (info.find("cluster_state:ok") == std::string::npos ||
          info.find("cluster_slots_ok:16384") == std::string::npos) {
        ok = false;
        why = "node " + std::to_string(n.port) + ": " + info.substr(0, 120);
        break;
      }
      const std::string repl = ask(n.port, {"INFO", "replication"});
      if (repl.find("role:slave") != std::string::npos &&
          repl.find("master_link_status:up") == std::string::npos) {
        ok = false;
        why = "replica " + std::to_string(n.port) + " not linked";
        break;
      }
    }
    // Every slot's master must be a live node.
    if (ok) {
      std::set<int> live;
      for (const Node& n : nodes_) {
        if (n.pid > 0) live.insert(n.port);
      }
      for (int p : master_ports()) {
        if (!live.count(p)) {
          ok = false;
          why = "slots still assigned to dead node " + std::to_string(p);
        }
      }
    }
    if (ok) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("cluster not ok after " + std::to_string(seconds) + " s: " + why);
}

}  // namespace bctest
