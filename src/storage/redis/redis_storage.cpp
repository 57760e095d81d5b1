#include "storage/redis/redis_storage.hpp"

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "bucketcache/error.hpp"
#include "storage/entry_codec.hpp"
#include "support/clock.hpp"
#include "support/log_internal.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

namespace {

constexpr std::size_t kHexDigest = 64;
constexpr const char* kLockSuffix = ":lock";
// Expiries further away than this are left to the header alone (no native TTL).
constexpr std::int64_t kMaxNativeTtlMs = std::int64_t{100} * 365 * 24 * 3600 * 1000;
constexpr const char* kScanCount = "1000";

// {STRLEN, the header and key bytes}: what peek() and scan() need, in one atomic step.
constexpr const char* kPeekScript = R"lua(
local n = redis.call('STRLEN', KEYS[1])
local h = redis.call('GETRANGE', KEYS[1], 0, 127)
if n < 128 then return {n, h} end
local kl = string.byte(h, 77) + string.byte(h, 78) * 256 + string.byte(h, 79) * 65536 +
           string.byte(h, 80) * 16777216
if kl > 0 and 128 + kl <= n then return {n, redis.call('GETRANGE', KEYS[1], 0, 127 + kl)} end
return {n, h}
)lua";

// Deletes KEYS[1] if every (start, end, bytes) triple of ARGV matches its value's bytes.
constexpr const char* kRemoveIfScript = R"lua(
for i = 1, #ARGV, 3 do
  if redis.call('GETRANGE', KEYS[1], tonumber(ARGV[i]), tonumber(ARGV[i + 1])) ~= ARGV[i + 2] then
    return 0
  end
end
return redis.call('DEL', KEYS[1])
)lua";

// Replaces the header ARGV[1] by ARGV[2] and sets the native expiry (ARGV[3] ms, "0" =
// none); -1 if the header is no longer ARGV[1] (absent or rewritten meanwhile).
constexpr const char* kTouchScript = R"lua(
if redis.call('GETRANGE', KEYS[1], 0, 127) ~= ARGV[1] then return -1 end
redis.call('SETRANGE', KEYS[1], 0, ARGV[2])
if ARGV[3] == '0' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
)lua";

// Extends the lock's expiry to ARGV[2] ms if ARGV[1] still owns it.
constexpr const char* kExtendScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
)lua";

constexpr const char* kUnlockScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

template <class T>
T get_le(const unsigned char* p) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return static_cast<T>(v);
}

template <class T>
void put_le(std::string& out, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out += static_cast<char>(static_cast<std::uint64_t>(v) >> (8 * i));
  }
}

// The version of a stored entry, from its first 128 bytes (whatever they hold): header
// checksum and payload checksum, value length, expiry, creation time.
EntryVersion version_of_header(std::string_view bytes) {
  unsigned char h[format::kHeaderSize] = {};
  std::memcpy(h, bytes.data(), std::min(bytes.size(), sizeof(h)));
  EntryVersion v;
  v.a = get_le<std::uint32_t>(h + 124) | std::uint64_t{get_le<std::uint32_t>(h + 72)} << 32;
  v.b = get_le<std::uint64_t>(h + 64);
  v.c = get_le<std::uint64_t>(h + 56);
  v.d = get_le<std::int64_t>(h + 48);
  return v;
}

// The header bytes a version was taken from: 48..75 and 124..127.
std::string version_created_to_crc(const EntryVersion& v) {
  std::string s;
  put_le<std::int64_t>(s, v.d);
  put_le<std::uint64_t>(s, v.c);
  put_le<std::uint64_t>(s, v.b);
  put_le<std::uint32_t>(s, static_cast<std::uint32_t>(v.a >> 32));
  return s;
}
std::string version_header_crc(const EntryVersion& v) {
  std::string s;
  put_le<std::uint32_t>(s, static_cast<std::uint32_t>(v.a));
  return s;
}

// Milliseconds until expires_us for PX / PEXPIRE; 0 for none (never, or very far).
std::int64_t native_ttl_ms(std::int64_t expires_us) {
  if (expires_us == 0) return 0;
  const std::int64_t now = now_us();
  if (expires_us <= now) return 1;
  const std::int64_t ms = (expires_us - now) / 1000 + 1;
  return ms > kMaxNativeTtlMs ? 0 : ms;
}

std::string glob_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Digest digest_of_hex(std::string_view hex) {
  static constexpr auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  Digest d;
  for (std::size_t i = 0; i < d.bytes.size(); ++i) {
    d.bytes[i] = static_cast<unsigned char>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  }
  return d;
}

std::string random_token() {
  std::random_device rd;
  std::string token;
  static const char* digits = "0123456789abcdef";
  for (int i = 0; i < 4; ++i) {
    std::uint32_t r = rd();
    for (int j = 0; j < 8; ++j, r >>= 4) token += digits[r & 15];
  }
  return token + "-" + std::to_string(::getpid());
}

std::string_view str(const redisReply* r) { return std::string_view(r->str, r->len); }

}  // namespace

// Keeps the held locks of one store alive: one thread per process, started by its first
// lock, extends each held lock's expiry to the full TTL a third of the TTL after its last
// extension (compare-and-pexpire: only while its token still owns it), so a compute longer
// than the TTL keeps its lock, and a dead holder's lock expires after at most one TTL. A
// lock found lost (expired and taken, or the server unreachable) is no longer extended.
//
// A forked child gets a keeper state of its own: it never touches its parent's mutex,
// condition variables or thread (copied in whatever state the fork caught them).
class LockKeeper {
 public:
  // A registered lock, for remove().
  struct Ticket {
    const void* state = nullptr;
    std::uint64_t id = 0;
  };

  LockKeeper(RedisStorage& store, std::chrono::milliseconds ttl) : store_(store), ttl_(ttl) {}
  ~LockKeeper() {
    State* s = state_.load(std::memory_order_acquire);
    // A forked child's copy of its parent's state is left untouched (and not freed).
    if (s != nullptr && s->owner == ::getpid()) delete s;
  }
  LockKeeper(const LockKeeper&) = delete;
  LockKeeper& operator=(const LockKeeper&) = delete;

  // Registers a held lock. Throws if this process's thread cannot start.
  Ticket add(const std::string& key, const std::string& token) {
    State& s = mine();
    return {&s, s.add(key, token)};
  }

  // Unregisters a lock; when it returns, no extension of it is running or will run.
  void remove(const Ticket& t) noexcept {
    State* s = state_.load(std::memory_order_acquire);
    if (s != nullptr && s == t.state && s->owner == ::getpid()) s->remove(t.id);
  }

 private:
  struct Held {
    std::string key;
    std::string token;
    std::chrono::steady_clock::time_point due;
  };

  // The keeper of one process.
  class State {
   public:
    State(RedisStorage& store, std::chrono::milliseconds ttl, pid_t me)
        : owner(me), store_(store), ttl_(ttl), thread_([this] { run(); }) {}
    ~State() {
      {
        std::lock_guard<std::mutex> hold(mutex_);
        stop_ = true;
      }
      wake_.notify_all();
      thread_.join();
    }
    State(const State&) = delete;
    State& operator=(const State&) = delete;

    std::uint64_t add(const std::string& key, const std::string& token) {
      std::lock_guard<std::mutex> hold(mutex_);
      const std::uint64_t id = next_id_++;
      held_.emplace(id, Held{key, token, std::chrono::steady_clock::now() + ttl_ / 3});
      wake_.notify_all();
      return id;
    }

    void remove(std::uint64_t id) noexcept {
      std::unique_lock<std::mutex> hold(mutex_);
      extended_.wait(hold, [&] { return extending_ != id; });
      held_.erase(id);
    }

    const pid_t owner;

   private:
    void run() {
      std::unique_lock<std::mutex> hold(mutex_);
      while (!stop_) {
        auto next = held_.end();
        for (auto it = held_.begin(); it != held_.end(); ++it) {
          if (next == held_.end() || it->second.due < next->second.due) next = it;
        }
        if (next == held_.end()) {
          wake_.wait(hold);
          continue;
        }
        const auto due = next->second.due;  // a copy: remove() may erase the node meanwhile
        if (std::chrono::steady_clock::now() < due) {
          wake_.wait_until(hold, due);
          continue;  // woken early (a lock added or removed, or stop): look again
        }
        const std::uint64_t id = next->first;
        const Held h = next->second;
        extending_ = id;
        hold.unlock();
        const bool kept = store_.extend_lock(h.key, h.token);
        hold.lock();
        extending_ = 0;
        extended_.notify_all();
        const auto it = held_.find(id);
        if (it == held_.end()) continue;
        if (kept) {
          it->second.due = std::chrono::steady_clock::now() + ttl_ / 3;
        } else {
          held_.erase(it);
        }
      }
    }

    RedisStorage& store_;
    const std::chrono::milliseconds ttl_;
    std::mutex mutex_;
    std::condition_variable wake_;      // a lock added, or stop
    std::condition_variable extended_;  // an extension finished
    std::map<std::uint64_t, Held> held_;
    std::uint64_t next_id_ = 1;
    std::uint64_t extending_ = 0;  // the id being extended now (0: none)
    bool stop_ = false;
    std::thread thread_;  // last: starts once the members above exist
  };

  // This process's state, made by its first lock.
  State& mine() {
    const pid_t me = ::getpid();
    State* s = state_.load(std::memory_order_acquire);
    if (s != nullptr && s->owner == me) return *s;
    auto fresh = std::make_unique<State>(store_, ttl_, me);
    // On success the previous state (a parent's, in a forked child) is dropped untouched.
    if (state_.compare_exchange_strong(s, fresh.get(), std::memory_order_acq_rel)) {
      return *fresh.release();
    }
    return *s;  // another thread of this process made it first
  }

  RedisStorage& store_;
  const std::chrono::milliseconds ttl_;
  std::atomic<State*> state_{nullptr};
};

namespace {

// A held lock: registered with the store's LockKeeper while held, released by
// compare-and-delete when dropped.
class RedisKeyLock final : public KeyLock {
 public:
  RedisKeyLock(RedisStorage& store, LockKeeper& keeper, std::string key, std::string token)
      : store_(store),
        keeper_(keeper),
        key_(std::move(key)),
        token_(std::move(token)),
        ticket_(keeper.add(key_, token_)) {}
  ~RedisKeyLock() override {
    keeper_.remove(ticket_);
    store_.unlock(key_, token_);
  }
  RedisKeyLock(const RedisKeyLock&) = delete;
  RedisKeyLock& operator=(const RedisKeyLock&) = delete;

 private:
  RedisStorage& store_;
  LockKeeper& keeper_;
  std::string key_;
  std::string token_;
  LockKeeper::Ticket ticket_;
};

std::unique_ptr<RedisRouter> make_router(const std::string& url,
                                         std::chrono::milliseconds timeout) {
  if (url.rfind("redis-cluster://", 0) == 0) return std::make_unique<ClusterRouter>(url, timeout);
  return std::make_unique<SingleRouter>(RedisConfig{parse_redis_url(url), timeout});
}
}  // namespace

RedisStorage::RedisStorage(const std::string& url, std::string bucket, RedisStorageOptions options)
    : options_(options) {
  if (bucket.empty()) throw InvalidArgument("bucket name is empty");
  for (char c : bucket) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      throw InvalidArgument("a Redis bucket name must not contain control characters");
    }
  }
  if (options_.lock_ttl.count() < 3) throw InvalidArgument("the lock TTL must be >= 3 ms");
  router_ = make_router(url, options.timeout);
  prefix_ = "bc:" + bucket + ":";
  description_ = router_->redacted() + " bucket " + bucket;
  router_->for_each_master([](RedisPool& pool) { pool.lease()->run({"PING"}); });
  keeper_ = std::make_unique<LockKeeper>(*this, options_.lock_ttl);
}

RedisStorage::~RedisStorage() = default;

Found RedisStorage::read(const Digest& key, StoredEntry& out) {
  const std::string k = entry_key(key);
  Reply r = router_->command(k, {"GET", k});
  if (is_error(r.get(), "WRONGTYPE")) return Found::foreign;
  if (r->type == REDIS_REPLY_ERROR) router_->fail("GET " + k, std::string(str(r.get())));
  if (r->type == REDIS_REPLY_NIL) return Found::absent;
  if (r->type != REDIS_REPLY_STRING) return Found::foreign;
  const Found found = decode_entry(str(r.get()), r->len, true, out);
  if (found == Found::yes) out.version = version_of_header(str(r.get()));
  return found;
}

Found RedisStorage::peek_reply(const redisReply* r, StoredEntry& out) const {
  if (is_error(r, "WRONGTYPE") ||
      (r->type == REDIS_REPLY_ERROR && std::strstr(r->str, "WRONGTYPE"))) {
    return Found::foreign;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_STRING) {
    return Found::foreign;
  }
  const auto size = static_cast<std::uint64_t>(r->element[0]->integer);
  if (size == 0) return Found::absent;
  const std::string_view bytes = str(r->element[1]);
  const Found found = decode_entry(bytes, size, false, out);
  out.version = version_of_header(bytes);
  out.stored_bytes = size;
  return found;
}

Found RedisStorage::peek(const Digest& key, StoredEntry& out) {
  const std::string k = entry_key(key);
  Reply r = router_->command(k, {"EVAL", kPeekScript, "1", k});
  if (r->type == REDIS_REPLY_ERROR && !std::strstr(r->str, "WRONGTYPE")) {
    router_->fail("EVAL (peek) " + k, std::string(str(r.get())));
  }
  return peek_reply(r.get(), out);
}

bool RedisStorage::write(const Digest& key, const EntryToWrite& entry, Overwrite overwrite,
                         EntryVersion* written) {
  const format::EntryHeader h = complete_header(key, entry);
  const std::string bytes = encode_entry(h, entry);
  const std::string k = entry_key(key);
  std::vector<std::string_view> args = {"SET", k, bytes};
  const std::int64_t ttl = native_ttl_ms(h.expires_us);
  const std::string px = std::to_string(ttl);
  if (ttl > 0) {
    args.push_back("PX");
    args.push_back(px);
  }
  if (overwrite == Overwrite::no) args.push_back("NX");
  Reply r = router_->run(k, args);
  if (r->type == REDIS_REPLY_NIL) return false;
  if (written != nullptr) *written = version_of_header(bytes);
  BC_LOG(LogLevel::debug, "wrote entry {} ({} bytes) to {}", key_label(key), entry.value.size(),
         description_);
  return true;
}

std::vector<std::exception_ptr> RedisStorage::write_many(const std::vector<BatchWrite>& writes) {
  std::vector<std::exception_ptr> errors(writes.size());
  std::vector<std::string> keys, bytes, pxs;
  keys.reserve(writes.size());
  bytes.reserve(writes.size());
  pxs.reserve(writes.size());
  std::vector<RoutedCommand> commands;
  commands.reserve(writes.size());
  for (const BatchWrite& w : writes) {
    const format::EntryHeader h = complete_header(w.key, w.entry);
    keys.push_back(entry_key(w.key));
    bytes.push_back(encode_entry(h, w.entry));
    const std::int64_t ttl = native_ttl_ms(h.expires_us);
    pxs.push_back(ttl > 0 ? std::to_string(ttl) : std::string());
  }
  for (std::size_t i = 0; i < writes.size(); ++i) {
    RoutedCommand c{keys[i], {"SET", keys[i], bytes[i]}};
    if (!pxs[i].empty()) {
      c.args.push_back("PX");
      c.args.push_back(pxs[i]);
    }
    commands.push_back(std::move(c));
  }
  std::vector<Reply> replies;
  try {
    replies = router_->pipeline(commands);
  } catch (...) {
    // The connection failed: which writes landed is unknown; each is reported failed (a
    // retry stores the same bytes).
    const std::exception_ptr e = std::current_exception();
    for (auto& err : errors) err = e;
    return errors;
  }
  for (std::size_t i = 0; i < writes.size(); ++i) {
    const redisReply* r = replies[i].get();
    if (r->type == REDIS_REPLY_ERROR) {
      errors[i] = std::make_exception_ptr(IoError(
          "redis " + router_->redacted() + ": SET " + keys[i] + ": " + std::string(str(r)), EIO));
      continue;
    }
    if (writes[i].written != nullptr) *writes[i].written = version_of_header(bytes[i]);
  }
  BC_LOG(LogLevel::debug, "wrote {} entries to {} in one pipeline", writes.size(), description_);
  return errors;
}

bool RedisStorage::remove(const Digest& key) {
  const std::string k = entry_key(key);
  Reply r = router_->run(k, {"DEL", k});
  return r->type == REDIS_REPLY_INTEGER && r->integer > 0;
}

bool RedisStorage::remove_if_same(const Digest& key, const EntryVersion& judged) {
  const std::string a = version_created_to_crc(judged);
  const std::string b = version_header_crc(judged);
  const std::string k = entry_key(key);
  Reply r = router_->run(k, {"EVAL", kRemoveIfScript, "1", k, "48", "75", a, "124", "127", b});
  return r->type == REDIS_REPLY_INTEGER && r->integer > 0;
}

bool RedisStorage::version(const Digest& key, EntryVersion& out) {
  const std::string k = entry_key(key);
  Reply r = router_->command(k, {"GETRANGE", k, "0", "127"});
  if (r->type != REDIS_REPLY_STRING || r->len == 0) return false;  // absent, or not a string
  out = version_of_header(str(r.get()));
  return true;
}

bool RedisStorage::touch(const Digest& key, std::int64_t expires_us, std::uint32_t flags) {
  const std::string k = entry_key(key);
  // A set landing between the read and the script makes the script refuse: read again.
  for (int attempt = 0; attempt < 8; ++attempt) {
    Reply r = router_->run(k, {"GETRANGE", k, "0", "127"});
    if (r->type != REDIS_REPLY_STRING || r->len != format::kHeaderSize) return false;
    const std::string old_header(str(r.get()));
    format::EntryHeader h;
    if (format::decode_header(reinterpret_cast<const unsigned char*>(old_header.data()), h) !=
        format::HeaderStatus::ok) {
      return false;
    }
    h.expires_us = expires_us;
    h.flags = (h.flags & format::kKeyOmitted) | (flags & ~format::kKeyOmitted);
    std::string new_header(format::kHeaderSize, '\0');
    format::encode_header(h, reinterpret_cast<unsigned char*>(new_header.data()));
    const std::string ttl = std::to_string(native_ttl_ms(expires_us));
    Reply t = router_->run(k, {"EVAL", kTouchScript, "1", k, old_header, new_header, ttl});
    if (t->type == REDIS_REPLY_INTEGER && t->integer == 1) return true;
  }
  return false;
}

ScanResult RedisStorage::scan(const std::function<ScanAction(const ScanItem&)>& fn,
                              bool /*exclusive*/, bool remove_damaged) {
  ScanResult result;
  const std::string pattern = glob_escape(prefix_) + "*";
  bool stopped = false;
  // SCAN each master in turn (a cluster's keys are spread over all of them); the peeks of
  // one SCAN page go out as one pipeline per server.
  router_->for_each_master([&](RedisPool& pool) {
    std::string cursor = "0";
    do {
      if (stopped) return;
      std::vector<std::string> keys;
      {
        auto conn = pool.lease();
        Reply r = conn->run({"SCAN", cursor, "MATCH", pattern, "COUNT", kScanCount});
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
          conn->fail("SCAN", "unexpected reply");
        }
        cursor.assign(str(r->element[0]));
        const redisReply* names = r->element[1];
        for (std::size_t i = 0; i < names->elements; ++i) {
          const std::string_view name = str(names->element[i]);
          // Only "<prefix><64 hex>": lock keys and other buckets' keys ("<prefix>x:<hex>").
          if (name.size() != prefix_.size() + kHexDigest) continue;
          if (!is_lower_hex(name.substr(prefix_.size()))) continue;
          keys.emplace_back(name);
        }
      }
      std::vector<RoutedCommand> commands;
      commands.reserve(keys.size());
      for (const std::string& k : keys) commands.push_back({k, {"EVAL", kPeekScript, "1", k}});
      const std::vector<Reply> peeks = router_->pipeline(commands);
      for (std::size_t i = 0; i < keys.size(); ++i) {
        ScanItem item;
        item.key = digest_of_hex(std::string_view(keys[i]).substr(prefix_.size()));
        const Found found = peek_reply(peeks[i].get(), item.entry);
        if (found == Found::absent || found == Found::foreign) continue;
        if (found == Found::corrupt) {
          if (!remove_damaged || peeks[i]->type != REDIS_REPLY_ARRAY) continue;
          const std::string first(str(peeks[i]->element[1]).substr(0, format::kHeaderSize));
          const std::string last = std::to_string(first.size() - 1);
          Reply r =
              router_->run(keys[i], {"EVAL", kRemoveIfScript, "1", keys[i], "0", last, first});
          if (r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
            result.removed_files += 1;
            result.removed_bytes += item.entry.stored_bytes;
            result.damaged_removed += 1;
          }
          continue;
        }
        const ScanAction action = fn(item);
        if (action == ScanAction::stop) {
          stopped = true;
          return;
        }
        if (action == ScanAction::remove && remove_if_same(item.key, item.entry.version)) {
          result.removed_files += 1;
          result.removed_bytes += item.entry.stored_bytes;
        }
      }
    } while (cursor != "0");
  });
  return result;
}

std::unique_ptr<KeyLock> RedisStorage::lock(const Digest& key,
                                            std::chrono::steady_clock::time_point deadline,
                                            const std::function<bool()>& done,
                                            LockOutcome& outcome) {
  const std::string k = entry_key(key) + kLockSuffix;
  const std::string token = random_token();
  const std::string ttl = std::to_string(options_.lock_ttl.count());
  auto backoff = std::chrono::milliseconds(1);
  for (;;) {
    {
      Reply r = router_->run(k, {"SET", k, token, "NX", "PX", ttl});
      if (r->type == REDIS_REPLY_STATUS) {
        outcome = LockOutcome::held;
        try {
          return std::make_unique<RedisKeyLock>(*this, *keeper_, k, token);
        } catch (...) {
          unlock(k, token);  // not kept alive: release now rather than at expiry
          throw;
        }
      }
    }
    if (done && done()) {
      outcome = LockOutcome::done;
      return nullptr;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      outcome = LockOutcome::timed_out;
      return nullptr;
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(backoff, deadline - now));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
  }
}

bool RedisStorage::extend_lock(const std::string& lock_key, const std::string& token) noexcept {
  try {
    const std::string ttl = std::to_string(options_.lock_ttl.count());
    Reply r = router_->run(lock_key, {"EVAL", kExtendScript, "1", lock_key, token, ttl});
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) return true;
    BC_LOG(LogLevel::warn, "lock {} was lost (expired and taken by another holder)", lock_key);
  } catch (const std::exception& e) {
    try {
      BC_LOG(LogLevel::warn, "cannot extend lock {} ({}); it expires in at most {} ms", lock_key,
             e.what(), options_.lock_ttl.count());
    } catch (...) {
    }
  } catch (...) {
  }
  return false;
}

void RedisStorage::unlock(const std::string& lock_key, const std::string& token) noexcept {
  try {
    router_->run(lock_key, {"EVAL", kUnlockScript, "1", lock_key, token});
  } catch (const std::exception& e) {
    try {
      BC_LOG(LogLevel::warn, "cannot release lock {} ({}); it expires in at most {} ms", lock_key,
             e.what(), options_.lock_ttl.count());
    } catch (...) {
    }
  } catch (...) {
  }
}

Counters RedisStorage::merge_counters(const std::string& name, const Counters& delta, bool reset) {
  // Outside the bucket's "bc:<bucket>:" entry namespace (scans and listings of it see
  // entries and locks only).
  const std::string k = "bcstats:" + prefix_.substr(3) + name;
  const std::pair<const char*, std::uint64_t> fields[] = {{"hits", delta.hits},
                                                          {"misses", delta.misses},
                                                          {"writes", delta.writes},
                                                          {"evictions", delta.evictions},
                                                          {"expired", delta.expired}};
  if (reset) router_->run(k, {"DEL", k});
  for (const auto& [field, n] : fields) {
    if (n == 0) continue;
    const std::string by = std::to_string(std::min<std::uint64_t>(n, INT64_MAX));
    router_->run(k, {"HINCRBY", k, field, by});
  }
  Reply r = router_->run(k, {"HMGET", k, "hits", "misses", "writes", "evictions", "expired"});
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 5)
    router_->fail("HMGET " + k, "unexpected reply");
  std::uint64_t v[5] = {};
  for (std::size_t i = 0; i < 5; ++i) {
    const redisReply* e = r->element[i];
    if (e->type == REDIS_REPLY_STRING)
      v[i] = std::strtoull(std::string(str(e)).c_str(), nullptr, 10);
  }
  Counters total;
  total.hits = v[0];
  total.misses = v[1];
  total.writes = v[2];
  total.evictions = v[3];
  total.expired = v[4];
  return total;
}

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
