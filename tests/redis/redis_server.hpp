// A real redis-server for a test: started on a free port of 127.0.0.1 (never another
// interface), with persistence off and an ACL user alice/secret, stopped (SIGKILL) by the
// destructor whatever the test did. start() fails loudly if the server cannot run.
#pragma once

#include <sys/types.h>

#include <string>

namespace bctest {

// A port of 127.0.0.1 free right now (another program may take it before it is used).
int free_port();

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
