// FileStorage's walks: scan() over every entry file, sweep() of what dead writers left.
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "storage/file/file_storage.hpp"
#include "support/clock.hpp"
#include "support/log_internal.hpp"
#include "support/posix_io.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

namespace {

// A temp file untouched this long, whose writer no longer holds its lock, is stale.
constexpr std::int64_t kStaleTempAgeSeconds = 60;
constexpr const char* kScanLockName = ".prune.lock";
constexpr std::size_t kHexDigest = 64;
// Key bytes read together with an entry's header by a scan (longer keys: a second pread).
constexpr std::size_t kScanKeyPeek = 512;

// Opens a file of a shard: never follows a symlink, never blocks on a FIFO; -1 for
// anything but a regular file (st filled on success). Reading headers leaves the access
// time alone (O_NOATIME, where the file's owner may): the "lru" eviction order is made of
// access times, and a scan is no use.
int open_regular_at(int dir, const char* name, struct stat& st) {
  const int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  int raw = ::openat(dir, name, flags | O_NOATIME);
  if (raw < 0 && errno == EPERM) raw = ::openat(dir, name, flags);  // not the file's owner
  Fd fd(raw);
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  return fd.release();
}

bool has_suffix(const std::string& name, const char* suffix) {
  const std::size_t n = std::strlen(suffix);
  return name.size() == kHexDigest + n && is_hex_name(name.substr(0, kHexDigest), kHexDigest) &&
         name.compare(kHexDigest, n, suffix) == 0;
}

bool digest_of_name(const std::string& name, Digest& out) {
  static constexpr auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (std::size_t i = 0; i < out.bytes.size(); ++i) {
    out.bytes[i] = static_cast<unsigned char>(nibble(name[2 * i]) << 4 | nibble(name[2 * i + 1]));
  }
  return true;
}

}  // namespace

Fd FileStorage::lock_scan() const {
  const std::string path = dirs_.root() + "/" + kScanLockName;
  Fd lock(dirs_.open_in_root(kScanLockName, O_RDWR | O_CREAT | O_NONBLOCK, options_.file_mode));
  if (lock.get() < 0) throw_io("cannot open prune lock", path, errno);
  struct stat st;
  if (::fstat(lock.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw_io("prune lock is not a regular file:", path, EINVAL);
  }
  while (::flock(lock.get(), LOCK_EX) != 0) {
    if (errno != EINTR) throw_io("cannot lock", path, errno);
  }
  return lock;
}

ScanResult FileStorage::scan(const std::function<ScanAction(const ScanItem&)>& fn, bool exclusive,
                             bool remove_damaged) {
  ScanResult result;
  Fd held;
  if (exclusive) held = lock_scan();
  // Each shard is opened with openat(O_NOFOLLOW|O_DIRECTORY) and files are removed with
  // unlinkat relative to it: a shard that is a symlink is skipped, never followed.
  Fd root(dirs_.open_root());
  if (root.get() < 0) throw_io("cannot list bucket directory", dirs_.root(), errno);
  for (const std::string& shard_name : list_dir(root.get())) {
    if (!is_hex_name(shard_name, 2)) continue;
    Fd shard(open_dir_at(root.get(), shard_name.c_str()));
    if (shard.get() < 0) continue;  // a symlink or not a directory: not ours
    for (const std::string& name : list_dir(shard.get())) {
      if (!has_suffix(name, format::kEntrySuffix)) continue;
      struct stat st;
      Fd fd(open_regular_at(shard.get(), name.c_str(), st));
      if (fd.get() < 0) continue;
      ScanItem item;
      digest_of_name(name, item.key);
      // The header and, for a key of up to kScanKeyPeek bytes, the key in one pread.
      unsigned char buf[format::kHeaderSize + kScanKeyPeek];
      unsigned char* const header = buf;
      const ssize_t n = ::pread(fd.get(), buf, sizeof(buf), 0);
      if (n < 0) continue;
      format::EntryHeader& h = item.entry.header;
      auto decoded = static_cast<std::size_t>(n) >= format::kHeaderSize
                         ? format::decode_header(header, h)
                         : format::HeaderStatus::bad_magic;
      const auto size = static_cast<std::uint64_t>(st.st_size);
      item.entry.version = version_of(st);
      item.entry.stored_bytes = size;
      item.entry.used_us =
          static_cast<std::int64_t>(st.st_atim.tv_sec) * 1000000 + st.st_atim.tv_nsec / 1000;
      bool damaged = decoded == format::HeaderStatus::bad_magic ||
                     decoded == format::HeaderStatus::bad_checksum ||
                     (decoded == format::HeaderStatus::ok && h.entry_size() != size);
      if (damaged && decoded == format::HeaderStatus::bad_checksum) {
        // A header rewritten in place (touch) may be read half-written: read it again
        // before judging it damaged.
        if (::pread(fd.get(), header, format::kHeaderSize, 0) ==
                static_cast<ssize_t>(format::kHeaderSize) &&
            format::decode_header(header, h) == format::HeaderStatus::ok &&
            h.entry_size() == size) {
          damaged = false;
          decoded = format::HeaderStatus::ok;
        }
      }
      if (damaged) {
        // No bucket can read it.
        if (remove_damaged && unlink_if_same(shard.get(), name, item.entry.version)) {
          result.removed_files += 1;
          result.removed_bytes += size;
          result.damaged_removed += 1;
        }
        continue;
      }
      if (decoded != format::HeaderStatus::ok) continue;  // another format version
      // Key bytes past the header are never rewritten in place (touch rewrites only the
      // header), so those of the first read stand even if the header was read again.
      const std::size_t have = static_cast<std::size_t>(n) - format::kHeaderSize;
      if (h.key_length <= have) {
        item.entry.key_bytes.assign(reinterpret_cast<const char*>(buf) + format::kHeaderSize,
                                    h.key_length);
      } else {
        item.entry.key_bytes.resize(h.key_length);
        if (::pread(fd.get(), item.entry.key_bytes.data(), h.key_length, format::kHeaderSize) !=
            static_cast<ssize_t>(h.key_length)) {
          continue;
        }
      }
      const ScanAction action = fn(item);
      if (action == ScanAction::stop) return result;
      if (action == ScanAction::remove && unlink_if_same(shard.get(), name, item.entry.version)) {
        result.removed_files += 1;
        result.removed_bytes += size;
      }
    }
  }
  return result;
}

SweepResult FileStorage::sweep() {
  SweepResult info;
  auto count = [&info](const struct stat& st) {
    info.bytes += static_cast<std::uint64_t>(st.st_size);
    info.files += 1;
  };
  Fd held = lock_scan();
  const std::int64_t stale_before_s = now_us() / 1000000 - kStaleTempAgeSeconds;
  Fd root(dirs_.open_root());
  if (root.get() < 0) throw_io("cannot list bucket directory", dirs_.root(), errno);
  for (const std::string& shard_name : list_dir(root.get())) {
    if (!is_hex_name(shard_name, 2)) continue;
    Fd shard(open_dir_at(root.get(), shard_name.c_str()));
    if (shard.get() < 0) continue;
    const int dir = shard.get();
    for (const std::string& name : list_dir(dir)) {
      struct stat st;
      const bool temp = name.rfind(format::kTempPrefix, 0) == 0;
      const bool aside = name.rfind(format::kAsidePrefix, 0) == 0;
      if (temp || aside) {
        // Stale when old and not locked by a live writer. A file renamed aside to be
        // deleted (FileStorage::unlink_if_same) keeps its entry's old mtime; its rename
        // gave it a new ctime, so it is judged by that and never swept while being judged.
        Fd tfd(open_regular_at(dir, name.c_str(), st));
        if (tfd.get() < 0 || st.st_mtim.tv_sec > stale_before_s ||
            (aside && st.st_ctim.tv_sec > stale_before_s)) {
          continue;
        }
        if (::flock(tfd.get(), LOCK_EX | LOCK_NB) != 0) continue;
        if (::unlinkat(dir, name.c_str(), 0) == 0) count(st);
      } else if (has_suffix(name, ".lock")) {
        // Left by a process that died computing; a live holder keeps it locked. The name
        // must still be the file we locked: its holder may have released (unlinked) it
        // and a new holder created and locked a new one. While we hold the lock, nobody
        // else can replace it.
        Fd lfd(open_regular_at(dir, name.c_str(), st));
        if (lfd.get() < 0 || ::flock(lfd.get(), LOCK_EX | LOCK_NB) != 0) continue;
        struct stat now;
        if (::fstatat(dir, name.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 &&
            now.st_ino == st.st_ino && now.st_dev == st.st_dev &&
            ::unlinkat(dir, name.c_str(), 0) == 0) {
          count(st);
        }
      }
    }
    // A shard left empty goes (rmdir fails on anything left in it); writers that opened
    // it meanwhile create it again (FileStorage::write, lock_key_file).
    if (::unlinkat(root.get(), shard_name.c_str(), AT_REMOVEDIR) == 0) {
      BC_LOG(LogLevel::trace, "removed empty shard directory {}/{}", dirs_.root(), shard_name);
    }
  }
  return info;
}

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
