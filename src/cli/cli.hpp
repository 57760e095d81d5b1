// The `bucketcache` command-line tool (docs/cli.md): shared pieces of its commands.
//
// The tool sits above the core: it opens a bucket's Storage directly (a FileStorage for a
// directory, a RedisStorage for a redis:// URL) and reads entries as the library stores
// them (docs/on-disk-format.md). Nothing is written unless a command says so (verify --fix,
// prune, clear).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "storage/storage.hpp"

namespace bucketcache {
inline namespace v1 {
namespace cli {

// Exit statuses.
inline constexpr int kExitOk = 0;
inline constexpr int kExitProblems = 1;
inline constexpr int kExitError = 2;

// A usage or I/O error: main prints "bucketcache: <what>" and exits 2.
struct CliError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class ProgressMode { automatic, quiet, forced };

struct GlobalOptions {
  bool json = false;
  ProgressMode progress = ProgressMode::automatic;
  std::string bucket_name;  // with a store URL
};

// Counts and rate on stderr while a walk runs: shown when stderr is a terminal and the walk
// has taken more than a second (BUCKETCACHE_PROGRESS_AFTER_MS overrides the delay, for
// tests), always with ProgressMode::forced, never with quiet.
class Progress {
 public:
  Progress(ProgressMode mode, std::string what);
  ~Progress();
  void set_total(std::uint64_t total) { total_ = total; }
  void tick(std::uint64_t n = 1);
  // Draws the final state (if anything was drawn) and ends the line.
  void finish();

 private:
  void draw();
  bool enabled_ = false;
  bool shown_ = false;
  bool finished_ = false;
  bool tty_ = false;
  std::string what_;
  std::uint64_t count_ = 0, total_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::chrono::milliseconds delay_{1000};
};

// An entry as the tool sees it.
struct Entry {
  enum class Status { ok, corrupt, foreign };
  std::string name;   // digest, 64 hex
  std::string where;  // file path or remote key
  Status status = Status::ok;
  storage::StoredEntry stored;  // header, key bytes, version, stored bytes (ok entries)
};

// A temp, lock or other file of a file bucket (du, verify).
struct OtherFile {
  enum class Kind { temp, aside, lock, other };
  Kind kind;
  std::string path;
  std::uint64_t bytes = 0;       // apparent size
  std::uint64_t disk_bytes = 0;  // st_blocks * 512
  std::int64_t mtime_s = 0;      // last change, as sweep judges staleness
};

// An opened bucket: a directory or a store URL plus bucket name.
class Bucket {
 public:
  // Throws CliError for a path that does not exist, is not a directory, cannot be read or
  // is not a bucket; bucketcache::Error for a bad URL or unreachable store.
  static Bucket open(const std::string& spec, const GlobalOptions& global);

  storage::Storage& storage() { return *storage_; }
  bool is_directory() const { return is_dir_; }
  const std::string& describe() const { return storage_->describe(); }

  // Calls fn for every entry: well-formed ones (from Storage::scan) and, for a directory,
  // the damaged or foreign entry files that scan passes over. Ticks progress per entry.
  void walk(const std::function<void(Entry&)>& fn, Progress& progress);
  // Every non-entry file of a directory bucket (temp, aside, lock and other files).
  std::vector<OtherFile> other_files() const;
  // Disk use of a directory bucket's entry files: apparent bytes and allocated bytes.
  struct DiskUse {
    std::uint64_t files = 0, bytes = 0, disk_bytes = 0, shards = 0;
  };
  DiskUse entry_disk_use() const;

 private:
  // Entry file names (digest hex) of a directory bucket, by shard; throws CliError when a
  // shard cannot be read.
  std::vector<std::string> entry_names() const;
  std::unique_ptr<storage::Storage> storage_;
  std::string root_;
  bool is_dir_ = false;
};

// ---- formatting (format.cpp) ----
// Bytes as text: printable ASCII as is, backslash as \\, others as \xNN (and \n, \t, \r).
std::string escape_bytes(std::string_view bytes);
std::string hex_bytes(std::string_view bytes);
// "2026-11-28T19:36:15.123456Z"; "never" for 0.
std::string format_time(std::int64_t us);
bool is_expired(const storage::StoredEntry& e, std::int64_t now);
// The key of an entry for people: canonical JSON, escaped raw bytes, or "#<digest>" when
// omitted.
std::string key_text(const Entry& e);
// The key for --json: a JSON value (json keys), an escaped string (raw keys) or null.
nlohmann::json key_json(const Entry& e);
// An entry's common fields for --json.
nlohmann::json entry_json(const Entry& e, std::int64_t now);
// A value decoded as JSON (json and msgpack backends); nullopt with `why` when it cannot be.
std::optional<nlohmann::json> decode_value(const std::string& backend, std::string_view value,
                                           std::string& why);
// Prints rows as a table with left-aligned columns (numbers right-aligned when `right`).
void print_table(const std::vector<std::string>& head,
                 const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right);
void print_json(const nlohmann::json& j);
// One line on stderr: "bucketcache: <msg>".
void warn(const std::string& msg);

// ---- commands (commands.cpp) ----
struct Filters {
  std::string backend, key_format;  // empty: any
  bool matches(const format::EntryHeader& h) const {
    return (backend.empty() || h.backend_id == backend) &&
           (key_format.empty() || h.keymaker_id == key_format);
  }
};

struct LsOptions {
  Filters filters;
  bool expired_only = false;
  std::string sort = "key";
};
struct ShowOptions {
  std::string key;
  std::string backend = "json", key_format = "json";
  bool raw_key = false, digest = false, hex = false;
};

int cmd_ls(Bucket& b, const GlobalOptions& g, const LsOptions& o);
int cmd_show(Bucket& b, const GlobalOptions& g, const ShowOptions& o);
int cmd_stats(Bucket& b, const GlobalOptions& g, const Filters& f);
int cmd_verify(Bucket& b, const GlobalOptions& g, bool fix);
int cmd_prune(Bucket& b, const GlobalOptions& g, const Filters& f);
int cmd_clear(Bucket& b, const GlobalOptions& g, const Filters& f, bool yes);
int cmd_du(Bucket& b, const GlobalOptions& g);

}  // namespace cli
}  // namespace v1
}  // namespace bucketcache
