// FileStorage's per-bucket files: statistics counters, the size estimate of a size-limited
// bucket, the exclusive-scan lock held across a whole eviction, and access times for "lru".
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "storage/file/file_storage.hpp"
#include "support/log_internal.hpp"
#include "support/posix_io.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

namespace {

// Every record is rewritten whole, padded to this size, by one pwrite: a reader (under the
// same flock) never sees a mix, and the file never needs truncating.
constexpr std::size_t kRecordSize = 512;

class ScanLock final : public KeyLock {
 public:
  explicit ScanLock(Fd fd) : fd_(std::move(fd)) {}

 private:
  Fd fd_;  // closing it releases the flock
};

std::uint64_t field(const nlohmann::json& j, const char* name) {
  const auto it = j.find(name);
  return it != j.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) {
  return a + b < a ? ~std::uint64_t{0} : a + b;
}

}  // namespace

void FileStorage::rewrite_locked(const std::string& name,
                                 const std::function<std::string(const std::string&)>& f) const {
  const std::string path = dirs_.root() + "/" + name;
  Fd fd(dirs_.open_in_root(name.c_str(), O_RDWR | O_CREAT | O_NONBLOCK, options_.file_mode));
  if (fd.get() < 0) throw_io("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw_io("not a regular file:", path, EINVAL);
  }
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) throw_io("cannot lock", path, errno);
  }
  std::string old(kRecordSize, '\0');
  const ssize_t n = ::pread(fd.get(), old.data(), old.size(), 0);
  if (n < 0) throw_io("cannot read", path, errno);
  old.resize(static_cast<std::size_t>(n));
  std::string next = f(old);
  if (next.size() >= kRecordSize) throw_io("record too long for", path, EOVERFLOW);
  next.resize(kRecordSize - 1, ' ');
  next.push_back('\n');
  if (::pwrite(fd.get(), next.data(), next.size(), 0) != static_cast<ssize_t>(next.size())) {
    throw_io("cannot write", path, errno == 0 ? EIO : errno);
  }
  if (st.st_size > static_cast<off_t>(kRecordSize) && ::ftruncate(fd.get(), kRecordSize) != 0) {
    throw_io("cannot truncate", path, errno);
  }
}

Counters FileStorage::merge_counters(const std::string& bucket, const Counters& delta, bool reset) {
  Counters total;
  rewrite_locked(".stats-" + bucket, [&](const std::string& old) {
    if (!reset) {
      const nlohmann::json j = nlohmann::json::parse(old, nullptr, /*allow_exceptions=*/false);
      if (j.is_object()) {
        total.hits = field(j, "hits");
        total.misses = field(j, "misses");
        total.writes = field(j, "writes");
        total.evictions = field(j, "evictions");
        total.expired = field(j, "expired");
      } else if (old.find_first_not_of(std::string(" \n\0", 3)) != std::string::npos) {
        BC_LOG(LogLevel::warn, "statistics file .stats-{} in {} is damaged; counting from zero",
               bucket, dirs_.root());
      }
    }
    total.hits = sat_add(total.hits, delta.hits);
    total.misses = sat_add(total.misses, delta.misses);
    total.writes = sat_add(total.writes, delta.writes);
    total.evictions = sat_add(total.evictions, delta.evictions);
    total.expired = sat_add(total.expired, delta.expired);
    const nlohmann::json out = {{"hits", total.hits},
                                {"misses", total.misses},
                                {"writes", total.writes},
                                {"evictions", total.evictions},
                                {"expired", total.expired}};
    return out.dump();
  });
  return total;
}

std::uint64_t FileStorage::adjust_size_estimate(
    const std::string& bucket, const std::function<std::uint64_t(std::uint64_t)>& f) {
  std::uint64_t now = 0;
  rewrite_locked(".size-" + bucket, [&](const std::string& old) {
    std::uint64_t before = 0;
    const char* p = old.c_str();
    while (*p == ' ') ++p;
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(p, &end, 10);
    if (end != p && errno == 0)
      before = v;  // damaged or empty: 0 (an under-estimate,
                   // corrected by the next eviction scan)
    now = f(before);
    return std::to_string(now);
  });
  return now;
}

std::unique_ptr<KeyLock> FileStorage::lock_exclusive() {
  return std::make_unique<ScanLock>(lock_scan());
}

void FileStorage::note_use(const Digest& key) {
  // atime only: mtime is part of EntryVersion (a changed mtime would look like a new entry).
  // The time is read here, not UTIME_NOW: the kernel's file times are coarse (a tick), and
  // eviction compares them with the headers' precise creation times.
  struct timespec times[2];
  ::clock_gettime(CLOCK_REALTIME, &times[0]);
  times[1].tv_sec = 0;
  times[1].tv_nsec = UTIME_OMIT;
  const ShardDirs::RelativeEntryName name = ShardDirs::relative_entry_name(key);
  if (::utimensat(dirs_.root_fd(), name.text, times, AT_SYMLINK_NOFOLLOW) != 0) {
    BC_LOG(LogLevel::trace, "cannot set the access time of {}: errno {}", dirs_.entry_path(key),
           errno);
  }
}

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
