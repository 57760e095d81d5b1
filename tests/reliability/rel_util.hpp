// Helpers for the reliability tests (docs/reliability.md): self-checking values, child
// processes with bounded waits, the file tree of a directory, stress durations and seeds.
// Depends on nothing of bucketcache, so the C++ and the C API test programs share it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace reltest {

// ---- Self-checking values -----------------------------------------------------------
//
// A value of length >= kCheckedHeader carries "RELV", its key number, a generation, its
// length and a checksum of those, then a pattern derived from (key, generation): a torn,
// truncated, mixed or misplaced value fails check_value. Shorter values are the first n
// bytes of a pattern derived from (key, n) only, so they too are checked byte for byte.
inline constexpr std::size_t kCheckedHeader = 32;

std::string make_value(std::uint32_t key, std::uint64_t generation, std::size_t length);
// "" if v is a value make_value(key, some generation, v.size()) returns; else what is wrong.
std::string check_value(std::uint32_t key, std::string_view v);
// The generation recorded in a checked value of length >= kCheckedHeader (else 0).
std::uint64_t generation_of(std::string_view v);

// ---- Randomness ------------------------------------------------------------------------

// splitmix64: small, fast, good enough for test data and choices.
struct Rng {
  std::uint64_t state;
  explicit Rng(std::uint64_t seed) : state(seed) {}
  std::uint64_t next();
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
};

// The run's base seed: BUCKETCACHE_TEST_SEED if set, else a fixed default. Failure messages
// print it, so a failing run can be repeated exactly.
std::uint64_t base_seed();
// Duration of stress loops: BUCKETCACHE_STRESS_SECONDS if set (> 0), else `fallback`.
double stress_seconds(double fallback);

// ---- Child processes -------------------------------------------------------------------

// fork()s and runs fn in the child, which then _exit()s with fn's return value (an
// exception or a crash is a non-zero status). The child also arms alarm(alarm_seconds) so
// it dies by itself if its parent's watchdog is gone.
pid_t spawn(const std::function<int()>& fn, unsigned alarm_seconds = 600);

struct ChildStatus {
  pid_t pid = -1;
  bool exited = false;  // else killed by a signal (or not reaped: see timed_out)
  int code = -1;        // exit code when exited
  int signal = 0;       // signal number when killed
  bool timed_out = false;
  std::string describe() const;
};

// Waits for pid until deadline_seconds from now; past it, SIGKILLs and reaps the child and
// reports timed_out. Never blocks longer than the deadline plus the reaping of a killed child.
ChildStatus wait_child(pid_t pid, double deadline_seconds);
// Waits for all, with one shared deadline (the watchdog of a group of children).
std::vector<ChildStatus> wait_children(const std::vector<pid_t>& pids, double deadline_seconds);

// ---- Files -----------------------------------------------------------------------------

struct TreeItem {
  std::string path;  // relative to the walked root
  bool is_dir = false;
  bool is_symlink = false;
  unsigned mode = 0;  // permission bits
};
// Every file, directory and symlink under root (not following symlinks), sorted by path.
std::vector<TreeItem> walk_tree(const std::string& root);
// Paths (relative to root) of temp files (".tmp-*") and lock files ("*.lock") under root.
std::vector<std::string> leftovers(const std::string& root);
// Sets a file's atime and mtime to 1000 s after the epoch (older than any stale limit).
bool age_file(const std::string& path);

// Reads a whole file; "" if it cannot be read (see file_exists).
std::string slurp(const std::string& path);
bool file_exists(const std::string& path);

// A temp directory (mkdtemp), removed with its contents by the destructor.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// ---- tmpfs -----------------------------------------------------------------------------

// In the calling (child) process: enters a private mount namespace (directly, or through a
// new user namespace when that is refused) and mounts a tmpfs with `options` (e.g.
// "size=256k") at mount_point, which must exist. Returns "" on success, else why it could
// not (each attempt's errno text), for the test to report as skipped - never a silent pass.
std::string mount_private_tmpfs(const std::string& mount_point, const std::string& options);

// ---- Reporting from children -------------------------------------------------------------

// A pipe a child writes failure lines to and the parent reads after the child ends.
class Report {
 public:
  Report();
  ~Report();
  Report(const Report&) = delete;
  Report& operator=(const Report&) = delete;
  // In the child: appends a line (best effort, never blocks for long).
  void line(const std::string& text) const;
  // In the parent, after the child ended: everything written.
  std::string collect();
  // In the child, right after fork: closes the read end.
  void child_side();

 private:
  int fds_[2] = {-1, -1};
};

}  // namespace reltest
