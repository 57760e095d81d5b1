#include "redis_server.hpp"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

namespace bctest {

// A port of 127.0.0.1 free right now: bind port 0 and read what the kernel chose.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  struct sockaddr_in a;
  std::memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<struct sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

namespace {

bool answers_ping(int port) {
  const struct timeval tv = {0, 200000};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  bool ok = false;
  if (c != nullptr && c->err == 0) {
    redisSetTimeout(c, tv);
    auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
    ok = r != nullptr && r->type == REDIS_REPLY_STATUS && std::strcmp(r->str, "PONG") == 0;
    if (r != nullptr) freeReplyObject(r);
  }
  if (c != nullptr) redisFree(c);
  return ok;
}

}  // namespace

RedisServer::RedisServer() {
  char tmpl[] = "/tmp/bc-redis-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  // The port is free when probed; another program may take it before the server binds:
  // try a few ports.
  for (int attempt = 0;; ++attempt) {
    port_ = free_port();
    try {
      start();
      return;
    } catch (const std::exception&) {
      if (attempt == 4) throw;
    }
  }
}

RedisServer::~RedisServer() {
  kill();
  const std::string log = dir_ + "/redis.log";
  ::unlink(log.c_str());
  ::rmdir(dir_.c_str());
}

std::string RedisServer::url(const std::string& credentials) const {
  return "redis://" + (credentials.empty() ? std::string() : credentials + "@") +
         "127.0.0.1:" + std::to_string(port_);
}

pid_t start_redis_server(const std::vector<std::string>& args, int port, const std::string& log) {
  std::vector<std::string> argv_strings = {"redis-server"};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    std::vector<char*> argv;
    for (std::string& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp("redis-server", argv.data());
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      throw std::runtime_error(
          "redis-server exited at start (exit status " + std::to_string(WEXITSTATUS(status)) +
          (WEXITSTATUS(status) == 127 ? ": not installed? run scripts/install-deps.sh" : "") +
          "); log: " + log);
    }
    if (answers_ping(port)) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill_and_reap(pid);
  throw std::runtime_error("redis-server did not answer PING within 10 s on port " +
                           std::to_string(port) + "; log: " + log);
}

void kill_and_reap(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGCONT);
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  pid = -1;
}

void RedisServer::start() {
  const std::string log = dir_ + "/redis.log";
  pid_ = start_redis_server(
      {"--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
       "--dir", dir_, "--logfile", log, "--daemonize", "no",
       // An ACL user for the AUTH tests; the default user stays open.
       "--user", "alice", "on", ">secret", "~*", "&*", "+@all"},
      port_, log);
}

void RedisServer::kill() {
  paused_ = false;
  kill_and_reap(pid_);
}

void RedisServer::restart() {
  kill();
  start();
}

void RedisServer::pause() {
  if (pid_ > 0 && ::kill(pid_, SIGSTOP) == 0) paused_ = true;
}

void RedisServer::resume() {
  if (pid_ > 0 && paused_) ::kill(pid_, SIGCONT);
  paused_ = false;
}

}  // namespace bctest
