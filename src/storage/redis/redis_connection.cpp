#include "storage/redis/redis_connection.hpp"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "bucketcache/error.hpp"
#include "support/log_internal.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

namespace {

struct timeval to_timeval(std::chrono::milliseconds ms) {
  struct timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// hiredis 0.14 writes with write(2): a peer that closed the connection would raise
// SIGPIPE and kill the program. SIGPIPE is blocked on this thread around each call, and a
// SIGPIPE the call raised is consumed before it is unblocked (the program's own pending
// SIGPIPE, if any, is left alone).
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, SIGPIPE);
        const struct timespec zero = {0, 0};
        const int saved = errno;
        while (sigtimedwait(&only, nullptr, &zero) < 0 && errno == EINTR) {
        }
        errno = saved;
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

void to_argv(const std::vector<std::string_view>& args, std::vector<const char*>& argv,
             std::vector<size_t>& lens) {
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
}

}  // namespace

void ReplyDeleter::operator()(redisReply* r) const { freeReplyObject(r); }

bool is_error(const redisReply* r, std::string_view prefix) {
  if (r == nullptr || r->type != REDIS_REPLY_ERROR) return false;
  return std::string_view(r->str, r->len).substr(0, prefix.size()) == prefix;
}

RedisConnection::RedisConnection(const RedisConfig& config)
    : address_(config.url.address()), timeout_(config.timeout) {
  try {
    connect(config);
  } catch (...) {
    if (context_ != nullptr) redisFree(context_);
    throw;
  }
}

void RedisConnection::connect(const RedisConfig& config) {
  const struct timeval tv = to_timeval(config.timeout);
  {
    SigpipeGuard no_sigpipe;
    context_ = redisConnectWithTimeout(config.url.host.c_str(), config.url.port, tv);
  }
  if (context_ == nullptr) fail("cannot connect", "out of memory");
  if (context_->err != 0) fail_io("cannot connect");
  if (redisSetTimeout(context_, tv) != REDIS_OK) fail_io("cannot set the timeout");
  if (config.url.has_password) {
    std::vector<std::string_view> auth = {"AUTH"};
    if (!config.url.user.empty()) auth.push_back(config.url.user);
    auth.push_back(config.url.password);
    Reply r = command(auth);
    if (is_error(r.get())) {
      fail("authentication failed (user '" +
               (config.url.user.empty() ? std::string("default") : config.url.user) + "')",
           std::string(r->str, r->len));
    }
  }
  if (config.url.db != 0) run({"SELECT", std::to_string(config.url.db)});
}

RedisConnection::~RedisConnection() {
  if (context_ != nullptr) redisFree(context_);
}

void RedisConnection::fail(const std::string& what, const std::string& detail) const {
  throw IoError("redis " + address_ + ": " + what + ": " + detail, EIO);
}

void RedisConnection::fail_io(const char* what) {
  broken_ = true;
  const int err = context_ != nullptr ? context_->err : REDIS_ERR_OTHER;
  std::string detail = context_ != nullptr ? context_->errstr : "unknown error";
  int code = EIO;
  if (err == REDIS_ERR_IO &&
      (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT ||
       detail == std::strerror(EAGAIN) || detail == std::strerror(ETIMEDOUT) ||
       detail.find("timed out") != std::string::npos)) {
    detail = "timed out after " + std::to_string(timeout_.count()) + " ms (" + detail + ")";
    code = ETIMEDOUT;
  } else if (err == REDIS_ERR_EOF) {
    detail = "connection closed by the server (" + detail + ")";
  }
  throw IoError("redis " + address_ + ": " + what + ": " + detail, code);
}

Reply RedisConnection::command(const std::vector<std::string_view>& args) {
  if (broken()) fail(std::string(args.at(0)), "connection unusable");
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  to_argv(args, argv, lens);
  void* reply = nullptr;
  {
    SigpipeGuard no_sigpipe;
    reply = redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lens.data());
  }
  if (reply == nullptr) fail_io(std::string(args[0]).c_str());
  return Reply(static_cast<redisReply*>(reply));
}

Reply RedisConnection::run(const std::vector<std::string_view>& args) {
  Reply r = command(args);
  if (r->type == REDIS_REPLY_ERROR) fail(std::string(args[0]), std::string(r->str, r->len));
  return r;
}

void RedisConnection::append(const std::vector<std::string_view>& args) {
  if (broken_) fail(std::string(args.at(0)), "connection unusable");
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  to_argv(args, argv, lens);
  if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lens.data()) !=
      REDIS_OK) {
    fail_io(std::string(args[0]).c_str());
  }
  ++pending_;
}

Reply RedisConnection::next_reply() {
  if (pending_ == 0) fail("pipeline", "no reply pending");
  void* reply = nullptr;
  int rc;
  {
    SigpipeGuard no_sigpipe;
    rc = redisGetReply(context_, &reply);
  }
  if (rc != REDIS_OK || reply == nullptr) fail_io("pipeline");
  --pending_;
  return Reply(static_cast<redisReply*>(reply));
}

RedisPool::Lease::~Lease() {
  if (conn_ && !conn_->broken()) pool_.give_back(std::move(conn_));
}

RedisPool::Lease RedisPool::lease() {
  {
    std::lock_guard<std::mutex> hold(mutex_);
    const pid_t me = ::getpid();
    if (pid_ != me) {
      // A forked child: the parent's sockets are the parent's. Closing our copies leaves
      // the parent's connections open.
      idle_.clear();
      pid_ = me;
    }
    if (!idle_.empty()) {
      std::unique_ptr<RedisConnection> c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(c));
    }
  }
  return Lease(*this, std::make_unique<RedisConnection>(config_));
}

void RedisPool::give_back(std::unique_ptr<RedisConnection> c) {
  std::lock_guard<std::mutex> hold(mutex_);
  if (pid_ == ::getpid() && idle_.size() < kMaxIdle) idle_.push_back(std::move(c));
}

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
