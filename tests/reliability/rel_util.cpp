#include "rel_util.hpp"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <sstream>
#include <thread>

namespace reltest {

namespace {

constexpr char kMagic[4] = {'R', 'E', 'L', 'V'};

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void put64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

std::uint64_t get64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}

// Byte i of the pattern seeded by seed.
void fill_pattern(char* out, std::size_t n, std::uint64_t seed, std::size_t first_index) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t idx = first_index + i;
    const std::uint64_t w = mix(seed ^ (idx / 8) * 0x100000001b3ull);
    out[i] = static_cast<char>((w >> (8 * (idx % 8))) & 0xff);
  }
}

std::uint64_t header_sum(std::uint32_t key, std::uint64_t gen, std::uint64_t len) {
  return mix(mix(key) ^ mix(gen + 1) ^ mix(len + 2));
}

std::uint64_t long_seed(std::uint32_t key, std::uint64_t gen) {
  return mix((std::uint64_t{key} << 32) ^ mix(gen));
}

std::uint64_t short_seed(std::uint32_t key, std::size_t len) {
  return mix(0x5eed5eed00000000ull ^ (std::uint64_t{key} << 8) ^ len);
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string make_value(std::uint32_t key, std::uint64_t generation, std::size_t length) {
  std::string v(length, '\0');
  if (length < kCheckedHeader) {
    fill_pattern(v.data(), length, short_seed(key, length), 0);
    return v;
  }
  std::memcpy(v.data(), kMagic, 4);
  for (int i = 0; i < 4; ++i) v[4 + i] = static_cast<char>((key >> (8 * i)) & 0xff);
  put64(v.data() + 8, generation);
  put64(v.data() + 16, length);
  put64(v.data() + 24, header_sum(key, generation, length));
  fill_pattern(v.data() + kCheckedHeader, length - kCheckedHeader, long_seed(key, generation),
               kCheckedHeader);
  return v;
}

std::string check_value(std::uint32_t key, std::string_view v) {
  if (v.size() < kCheckedHeader) {
    std::string want(v.size(), '\0');
    fill_pattern(want.data(), want.size(), short_seed(key, v.size()), 0);
    if (v != want) return "short value of " + std::to_string(v.size()) + " bytes differs";
    return "";
  }
  if (std::memcmp(v.data(), kMagic, 4) != 0) return "no RELV magic";
  std::uint32_t k = 0;
  for (int i = 0; i < 4; ++i) k |= std::uint32_t{static_cast<unsigned char>(v[4 + i])} << (8 * i);
  const std::uint64_t gen = get64(v.data() + 8);
  const std::uint64_t len = get64(v.data() + 16);
  if (get64(v.data() + 24) != header_sum(k, gen, len)) return "header checksum mismatch";
  if (k != key) {
    return "value of key " + std::to_string(k) + " returned for key " + std::to_string(key);
  }
  if (len != v.size()) {
    return "length " + std::to_string(v.size()) + " but the value says " + std::to_string(len);
  }
  const std::uint64_t seed = long_seed(key, gen);
  char chunk[4096];
  for (std::size_t off = kCheckedHeader; off < v.size(); off += sizeof(chunk)) {
    const std::size_t n = std::min(sizeof(chunk), v.size() - off);
    fill_pattern(chunk, n, seed, off);
    if (std::memcmp(chunk, v.data() + off, n) != 0) {
      std::size_t i = 0;
      while (chunk[i] == v[off + i]) ++i;
      return "pattern differs at byte " + std::to_string(off + i) + " of " +
             std::to_string(v.size()) + " (generation " + std::to_string(gen) + ")";
    }
  }
  return "";
}

std::uint64_t generation_of(std::string_view v) {
  return v.size() < kCheckedHeader ? 0 : get64(v.data() + 8);
}

std::uint64_t Rng::next() {
  state += 0x9e3779b97f4a7c15ull;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::uint64_t base_seed() {
  const char* s = std::getenv("BUCKETCACHE_TEST_SEED");
  if (s != nullptr && *s != '\0') return std::strtoull(s, nullptr, 0);
  return 20240611;
}

double stress_seconds(double fallback) {
  const char* s = std::getenv("BUCKETCACHE_STRESS_SECONDS");
  if (s != nullptr && *s != '\0') {
    const double v = std::strtod(s, nullptr);
    if (v > 0) return v;
  }
  return fallback;
}

pid_t spawn(const std::function<int()>& fn, unsigned alarm_seconds) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid != 0) return pid;  // parent (or -1)
  ::alarm(alarm_seconds);
  int code = 99;
  try {
    code = fn();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child %d: uncaught exception: %s\n", static_cast<int>(::getpid()),
                 e.what());
    code = 98;
  } catch (...) {
    code = 97;
  }
  std::fflush(nullptr);
  ::_exit(code);
}

std::string ChildStatus::describe() const {
  std::ostringstream s;
  s << "child " << pid << ": ";
  if (timed_out) s << "did not finish in time (watchdog killed it); ";
  if (exited) {
    s << "exited with " << code;
  } else {
    s << "killed by signal " << signal << " (" << ::strsignal(signal) << ")";
  }
  return s.str();
}

namespace {

ChildStatus status_of(pid_t pid, int st) {
  ChildStatus c;
  c.pid = pid;
  if (WIFEXITED(st)) {
    c.exited = true;
    c.code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    c.signal = WTERMSIG(st);
  }
  return c;
}

}  // namespace

std::vector<ChildStatus> wait_children(const std::vector<pid_t>& pids, double deadline_seconds) {
  std::vector<ChildStatus> out(pids.size());
  std::vector<bool> done(pids.size(), false);
  std::size_t left = pids.size();
  for (std::size_t i = 0; i < pids.size(); ++i) {
    out[i].pid = pids[i];
    if (pids[i] <= 0) {
      done[i] = true;
      --left;
    }
  }
  const double deadline = now_seconds() + deadline_seconds;
  auto pause = std::chrono::microseconds(100);
  while (left > 0) {
    for (std::size_t i = 0; i < pids.size(); ++i) {
      if (done[i]) continue;
      int st = 0;
      const pid_t r = ::waitpid(pids[i], &st, WNOHANG);
      if (r == pids[i] || (r < 0 && errno != EINTR)) {
        if (r == pids[i]) out[i] = status_of(pids[i], st);
        done[i] = true;
        --left;
      }
    }
    if (left == 0) break;
    if (now_seconds() > deadline) {
      for (std::size_t i = 0; i < pids.size(); ++i) {
        if (done[i]) continue;
        ::kill(pids[i], SIGKILL);
        int st = 0;
        while (::waitpid(pids[i], &st, 0) < 0 && errno == EINTR) {
        }
        out[i] = status_of(pids[i], st);
        out[i].timed_out = true;
      }
      break;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
  return out;
}

ChildStatus wait_child(pid_t pid, double deadline_seconds) {
  return wait_children({pid}, deadline_seconds)[0];
}

namespace {

void walk(const std::string& root, const std::string& rel, std::vector<TreeItem>& out) {
  const std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> names;
  while (const struct dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const std::string& n : names) {
    const std::string r = rel.empty() ? n : rel + "/" + n;
    struct stat st;
    if (::lstat((root + "/" + r).c_str(), &st) != 0) continue;
    TreeItem item;
    item.path = r;
    item.is_dir = S_ISDIR(st.st_mode);
    item.is_symlink = S_ISLNK(st.st_mode);
    item.mode = st.st_mode & 07777;
    out.push_back(item);
    if (item.is_dir) walk(root, r, out);
  }
}

}  // namespace

std::vector<TreeItem> walk_tree(const std::string& root) {
  std::vector<TreeItem> out;
  walk(root, "", out);
  std::sort(out.begin(), out.end(),
            [](const TreeItem& a, const TreeItem& b) { return a.path < b.path; });
  return out;
}

std::vector<std::string> leftovers(const std::string& root) {
  std::vector<std::string> out;
  for (const TreeItem& t : walk_tree(root)) {
    const std::string name = t.path.substr(t.path.rfind('/') + 1);
    const bool temp = name.rfind(".tmp-", 0) == 0;
    const bool lock =
        name.size() > 5 && name.compare(name.size() - 5, 5, ".lock") == 0 && name != ".prune.lock";
    if (temp || lock) out.push_back(t.path);
  }
  return out;
}

bool age_file(const std::string& path) {
  struct timeval tv[2] = {{1000, 0}, {1000, 0}};
  return ::lutimes(path.c_str(), tv) == 0;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

ScratchDir::ScratchDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/bcrel-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) std::terminate();
  path_ = tmpl;
}

ScratchDir::~ScratchDir() {
  // Children may have left read-only or odd files; remove everything, never following links.
  std::vector<TreeItem> items = walk_tree(path_);
  for (auto it = items.rbegin(); it != items.rend(); ++it) {
    const std::string p = path_ + "/" + it->path;
    if (it->is_dir) {
      ::chmod(p.c_str(), 0700);
      ::rmdir(p.c_str());
    } else {
      ::unlink(p.c_str());
    }
  }
  ::rmdir(path_.c_str());
}

namespace {

bool write_text(const char* path, const std::string& text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

std::string err_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

std::string mount_private_tmpfs(const std::string& mount_point, const std::string& options) {
  std::string why;
  // 1. A private mount namespace of our own (needs CAP_SYS_ADMIN, e.g. root on a VM).
  if (::unshare(CLONE_NEWNS) == 0) {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      why += err_text("make / private") + "; ";
    } else if (::mount("tmpfs", mount_point.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                       options.c_str()) == 0) {
      return "";
    } else {
      why += err_text("mount tmpfs in a new mount namespace") + "; ";
    }
  } else {
    why += err_text("unshare(CLONE_NEWNS)") + "; ";
  }
  // 2. A new user namespace, where we hold CAP_SYS_ADMIN over a new mount namespace.
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
    return why + err_text("unshare(CLONE_NEWUSER|CLONE_NEWNS)");
  }
  write_text("/proc/self/setgroups", "deny");
  if (!write_text("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1") ||
      !write_text("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1")) {
    return why + err_text("write uid_map/gid_map in a new user namespace");
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return why + err_text("make / private in a new user namespace");
  }
  if (::mount("tmpfs", mount_point.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    return why + err_text("mount tmpfs in a new user namespace");
  }
  return "";
}

Report::Report() {
  if (::pipe2(fds_, O_CLOEXEC) == 0) {
    ::fcntl(fds_[1], F_SETFL, O_NONBLOCK);
    ::fcntl(fds_[0], F_SETFL, O_NONBLOCK);
  }
}

Report::~Report() {
  for (int fd : fds_) {
    if (fd >= 0) ::close(fd);
  }
}

void Report::line(const std::string& text) const {
  if (fds_[1] < 0) return;
  const std::string l = text + "\n";
  ssize_t n = ::write(fds_[1], l.data(), std::min<std::size_t>(l.size(), 4000));
  (void)n;
}

void Report::child_side() {
  if (fds_[0] >= 0) ::close(fds_[0]);
  fds_[0] = -1;
}

std::string Report::collect() {
  std::string out;
  if (fds_[1] >= 0) {
    ::close(fds_[1]);
    fds_[1] = -1;
  }
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds_[0], buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace reltest
