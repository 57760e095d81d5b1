// A real redis-server for a test: started on a free port of 127.0.0.1 (never another
// interface), with persistence off and an ACL user alice/secret, stopped (SIGKILL) by the
// destructor whatever the test did. start() fails loudly if the server cannot run.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace bctest {

// A port of 127.0.0.1 free right now (another program may take it before it is used).
int free_port();

// Runs `redis-server args...` (args without the program name; they must bind 127.0.0.1
// only and log to `log`) and waits until it answers PING on `port`; returns its pid.
// Throws std::runtime_error, with the log's path, if it exits or is silent for 10 s (then
// it is killed).
pid_t start_redis_server(const std::vector<std::string>& args, int port, const std::string& log);
// SIGKILLs *pid (resuming it first if stopped) and reaps it; sets *pid to -1. No-op if <= 0.
void kill_and_reap(pid_t& pid);

class RedisServer {
 public:
  // Starts a server on a free port; throws std::runtime_error if it does not answer PING
  // within a few seconds.
  RedisServer();
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  // "redis://127.0.0.1:<port>" (with "user:password@" if given).
  std::string url(const std::string& credentials = "") const;

  void kill();     // SIGKILL and reap: the server is gone, its port closed
  void restart();  // start again on the same port (after kill())
  void pause();    // SIGSTOP: connections stay open, nothing answers
  void resume();   // SIGCONT

 private:
  void start();
  int port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
  std::string dir_;
};

}  // namespace bctest
