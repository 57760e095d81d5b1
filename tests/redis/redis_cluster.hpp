// A real Redis Cluster for a test: `masters` redis-server processes with cluster mode on
// (plus `replicas` replicas of each), on free ports of 127.0.0.1 (never another
// interface), in a temporary directory, joined with `redis-cli --cluster create`. The
// destructor kills every node (SIGKILL) and removes the directory whatever the test did.
// Node timeout 1 s (failover within a few seconds); cluster-require-full-coverage off,
// so a dead master without a replica fails only its own slots.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace bctest {

class RedisCluster {
 public:
  // Throws std::runtime_error if the cluster does not form within a minute.
  explicit RedisCluster(int masters = 3, int replicas = 0);
  ~RedisCluster();
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  // "redis-cluster://127.0.0.1:<p1>,127.0.0.1:<p2>" (two seed nodes).
  std::string url() const;
  // Ports of the masters serving slots now (from CLUSTER SLOTS of a live node).
  std::vector<int> master_ports() const;
  // Port of the master serving `slot` now.
  int owner_of(int slot) const;
  std::string node_id(int port) const;
  // Runs `redis-cli --cluster <args>` against a live node; returns its exit status.
  int cli(const std::string& args) const;

  void kill(int port);   // SIGKILL and reap one node
  void pause(int port);  // SIGSTOP: its connections stay open, nothing answers
  void resume(int port);
  // Waits until every live node says cluster_state:ok and every slot has a live master
  // (and, with replicas, each replica's link is up). Throws after `seconds`.
  void wait_ok(int seconds = 60) const;

 private:
  struct Node {
    int port = 0;
    int bus_port = 0;
    pid_t pid = -1;
    std::string dir;
  };
  void start(Node& n);
  int live_port() const;
  std::string root_;
  std::vector<Node> nodes_;
};

}  // namespace bctest
