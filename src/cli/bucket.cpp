// Opening a bucket (directory or store URL), walking its entries, and the progress bar.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "bucketcache/error.hpp"
#include "cli/cli.hpp"
#include "storage/file/file_storage.hpp"
#include "storage/redis/redis_storage.hpp"

namespace bucketcache {
inline namespace v1 {
namespace cli {

namespace {

constexpr std::size_t kHexDigest = 64;

bool is_hex(const std::string& s, std::size_t len) {
  return s.size() == len && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_entry_name(const std::string& name) {
  const std::size_t n = std::strlen(format::kEntrySuffix);
  return name.size() == kHexDigest + n && is_hex(name.substr(0, kHexDigest), kHexDigest) &&
         name.compare(kHexDigest, n, format::kEntrySuffix) == 0;
}

std::string reason(int err) { return std::strerror(err); }

// Names in a directory, or a CliError naming the path.
std::vector<std::string> read_dir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) throw CliError("cannot read " + path + ": " + reason(errno));
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) throw CliError("cannot read " + path + ": " + reason(err));
  std::sort(names.begin(), names.end());
  return names;
}

bool is_real_dir(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The shard directories of a bucket (never symlinks).
std::vector<std::string> shards_of(const std::string& root) {
  std::vector<std::string> out;
  for (const std::string& name : read_dir(root)) {
    if (is_hex(name, 2) && is_real_dir(root + "/" + name)) out.push_back(name);
  }
  return out;
}

bool digest_from_hex(const std::string& hex, Digest& out) {
  if (!is_hex(hex, kHexDigest)) return false;
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (std::size_t i = 0; i < out.bytes.size(); ++i) {
    out.bytes[i] = static_cast<unsigned char>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  }
  return true;
}

}  // namespace

// ---- Progress ----

Progress::Progress(ProgressMode mode, std::string what) : what_(std::move(what)) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
  tty_ = ::isatty(STDERR_FILENO) != 0;
  if (mode == ProgressMode::forced) {
    enabled_ = true;
    delay_ = std::chrono::milliseconds(0);
  } else if (mode == ProgressMode::automatic && tty_) {
    enabled_ = true;
    if (const char* env = std::getenv("BUCKETCACHE_PROGRESS_AFTER_MS")) {
      delay_ = std::chrono::milliseconds(std::atol(env));
    }
  }
}

Progress::~Progress() {
  if (shown_ && !finished_) std::fputs("\n", stderr);
}

void Progress::tick(std::uint64_t n) {
  count_ += n;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - start_ < delay_) return;
  if (shown_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw();
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  if (!shown_ && std::chrono::steady_clock::now() - start_ < delay_) return;
  draw();
  std::fputs("\n", stderr);
}

void Progress::draw() {
  shown_ = true;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? static_cast<double>(count_) / secs : 0.0;
  std::string bar;
  if (total_ > 0) {
    constexpr int kWidth = 24;
    const auto done = static_cast<int>(kWidth * std::min<std::uint64_t>(count_, total_) / total_);
    bar = "[" + std::string(static_cast<std::size_t>(done), '#') +
          std::string(static_cast<std::size_t>(kWidth - done), '-') + "] ";
  }
  std::fprintf(stderr, "\r%s: %s%llu", what_.c_str(), bar.c_str(),
               static_cast<unsigned long long>(count_));
  if (total_ > 0) std::fprintf(stderr, "/%llu", static_cast<unsigned long long>(total_));
  // On a terminal, clear what a longer earlier line left; elsewhere plain text.
  std::fprintf(stderr, " entries, %.0f/s%s", rate, tty_ ? "\033[K" : "");
  std::fflush(stderr);
}

// ---- Bucket ----

Bucket Bucket::open(const std::string& spec, const GlobalOptions& global) {
  Bucket b;
  if (spec.rfind("redis://", 0) == 0 || spec.rfind("redis-cluster://", 0) == 0) {
    if (global.bucket_name.empty()) {
      throw CliError("a store URL needs --bucket NAME (the bucket's name in the store)");
    }
    b.storage_ = std::make_unique<storage::RedisStorage>(spec, global.bucket_name,
                                                         storage::RedisStorageOptions{});
    return b;
  }
  if (spec.find("://") != std::string::npos) {
    throw CliError(spec +
                   ": unknown store URL (only redis://, redis-cluster:// URLs and directories)");
  }
  if (!global.bucket_name.empty()) throw CliError("--bucket is for store URLs only");
  struct stat st;
  if (::stat(spec.c_str(), &st) != 0) throw CliError(spec + ": " + reason(errno));
  if (!S_ISDIR(st.st_mode)) throw CliError(spec + ": not a directory, so not a bucket");
  // A bucket holds shard directories (two hex digits), .prune.lock and the library's
  // .stats-* / .size-* files (statistics, size accounting); an empty directory is
  // an empty bucket. Anything else is some other directory, and the tool leaves it alone.
  const std::vector<std::string> names = read_dir(spec);
  bool ours = names.empty();
  for (const std::string& name : names) {
    if (name == ".prune.lock" || name.rfind(".stats-", 0) == 0 || name.rfind(".size-", 0) == 0 ||
        (is_hex(name, 2) && is_real_dir(spec + "/" + name))) {
      ours = true;
    }
  }
  if (!ours) {
    throw CliError(spec + ": not a bucket (no shard directories or .prune.lock in it)");
  }
  b.root_ = spec;
  while (b.root_.size() > 1 && b.root_.back() == '/') b.root_.pop_back();
  b.is_dir_ = true;
  b.storage_ = std::make_unique<storage::FileStorage>(b.root_, storage::FileStorageOptions{});
  return b;
}

std::vector<std::string> Bucket::entry_names() const {
  std::vector<std::string> out;
  for (const std::string& shard : shards_of(root_)) {
    for (const std::string& name : read_dir(root_ + "/" + shard)) {
      if (is_entry_name(name)) out.push_back(name.substr(0, kHexDigest));
    }
  }
  return out;
}

void Bucket::walk(const std::function<void(Entry&)>& fn, Progress& progress) {
  std::vector<std::string> names;
  if (is_dir_) {
    names = entry_names();
    progress.set_total(names.size());
  }
  std::set<std::string> seen;
  storage_->scan(
      [&](const storage::ScanItem& item) {
        Entry e;
        e.name = item.key.hex();
        e.where = storage_->locate(item.key);
        e.stored = item.entry;
        if (is_dir_) seen.insert(e.name);
        fn(e);
        progress.tick();
        return storage::ScanAction::keep;
      },
      false, false);
  // Entry files scan passed over: damaged (header, length) or foreign (another format
  // version, not a regular file, a symlink).
  for (const std::string& name : names) {
    if (seen.count(name) != 0) continue;
    Entry e;
    Digest key;
    digest_from_hex(name, key);
    e.name = name;
    e.where = storage_->locate(key);
    storage_->version(key, e.stored.version);
    storage::StoredEntry peeked;
    const storage::Found found = storage_->peek(key, peeked);
    if (found == storage::Found::absent) continue;  // removed meanwhile
    if (found == storage::Found::yes) {
      e.stored = std::move(peeked);  // written meanwhile
    } else {
      e.status = found == storage::Found::corrupt ? Entry::Status::corrupt : Entry::Status::foreign;
      struct stat st;
      if (::lstat(e.where.c_str(), &st) == 0)
        e.stored.stored_bytes = static_cast<std::uint64_t>(st.st_size);
    }
    fn(e);
    progress.tick();
  }
}

std::vector<OtherFile> Bucket::other_files() const {
  std::vector<OtherFile> out;
  if (!is_dir_) return out;
  auto add = [&out](const std::string& path, const std::string& name) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return;
    OtherFile f;
    f.path = path;
    f.bytes = static_cast<std::uint64_t>(st.st_size);
    f.disk_bytes = static_cast<std::uint64_t>(st.st_blocks) * 512;
    // An aside file keeps its entry's mtime; its rename aside set its ctime (as sweep judges).
    f.mtime_s = name.rfind(format::kAsidePrefix, 0) == 0
                    ? std::max(st.st_mtim.tv_sec, st.st_ctim.tv_sec)
                    : st.st_mtim.tv_sec;
    if (name.rfind(format::kTempPrefix, 0) == 0) {
      f.kind = OtherFile::Kind::temp;
    } else if (name.rfind(format::kAsidePrefix, 0) == 0) {
      f.kind = OtherFile::Kind::aside;
    } else if (name == ".prune.lock" ||
               (name.size() == kHexDigest + 5 && name.compare(kHexDigest, 5, ".lock") == 0)) {
      f.kind = OtherFile::Kind::lock;
    } else {
      f.kind = OtherFile::Kind::other;
    }
    out.push_back(f);
  };
  for (const std::string& name : read_dir(root_)) {
    if (is_hex(name, 2) && is_real_dir(root_ + "/" + name)) {
      for (const std::string& inner : read_dir(root_ + "/" + name)) {
        if (!is_entry_name(inner)) add(root_ + "/" + name + "/" + inner, inner);
      }
    } else {
      add(root_ + "/" + name, name);
    }
  }
  return out;
}

Bucket::DiskUse Bucket::entry_disk_use() const {
  DiskUse use;
  for (const std::string& shard : shards_of(root_)) {
    use.shards += 1;
    for (const std::string& name : read_dir(root_ + "/" + shard)) {
      if (!is_entry_name(name)) continue;
      struct stat st;
      if (::lstat((root_ + "/" + shard + "/" + name).c_str(), &st) != 0) continue;
      use.files += 1;
      use.bytes += static_cast<std::uint64_t>(st.st_size);
      use.disk_bytes += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
  }
  return use;
}

}  // namespace cli
}  // namespace v1
}  // namespace bucketcache
