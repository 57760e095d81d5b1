// bucketcache's C++ benchmarks (docs/performance.md), with Google Benchmark.
//
// One run of this program is one *round*. Store workloads (an operation at a value size)
// interleave their contenders in slices of a few operations (see run_lanes); the other
// workloads run each contender once, back to back, in an order rotated by --round. Either
// way machine noise hits all contenders of a workload alike. bench/run.py runs R rounds
// (and the Python round between them) and reports medians over rounds.
//
// Contenders:
//   raw     the file system's limit: the same file work as plain system calls, on the
//           library's sharded layout, beside the C++ entries (raw_c: beside the C ones)
//           (set: open O_CREAT|O_EXCL temp in the entry's directory, write, close, rename -
//           no fsync, as the library's default; get: open, read, close into a reused
//           buffer)
//   cpp     Bucket<RawBackend> (DefaultKeyMaker, std::string keys and values)
//   c       the C API (raw backend, raw keys)
//   sqlite  a table (key BLOB PRIMARY KEY, value BLOB), WAL, synchronous=OFF (no fsync,
//           as above), prepared statements, one transaction per write
//
// Names: <workload>/<size>/<contender>, counter ops (operations per iteration); store
// workloads: <workload>/<size>/interleaved with counters <contender>_ns (ns per operation).
// Own flags (with Google Benchmark's): --data-dir=DIR (required) --round=N --quick
// --prune-entries=N --min-time=SECONDS --lanes=a,b (only these lanes, for profiling);
// --rss [--rss-default] --rss-out=FILE: only the peak-memory test of a generated 1 GiB key.
#define OPENSSL_SUPPRESS_DEPRECATED  // SHA256_*: the plain-hash baseline
#include <benchmark/benchmark.h>
#include <bucketcache/bucketcache.h>
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <bucketcache/backends/raw.hpp>
#include <bucketcache/bucketcache.hpp>
#include <bucketcache/memoize.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bc = bucketcache;
namespace stdfs = std::filesystem;
using RawBucket = bc::Bucket<bc::RawBackend>;  // DefaultKeyMaker: keys in canonical JSON

namespace {

struct Config {
  std::string data_dir;
  int round = 0;
  bool quick = false;
  std::size_t prune_entries = 100000;
  double min_time = 0.2;  // seconds per benchmark per round
  int compute_ms = 100;
  std::string lanes;  // --lanes=a,b: run only these lanes of interleaved workloads (profiling)
} cfg;

constexpr std::size_t kSizes[] = {100, 4096, 65536, 1048576};

std::size_t working_set(std::size_t size) {
  // Keys cycled through; at most 64 MiB of values per contender and size.
  if (size <= 4096) return 1000;
  if (size <= 65536) return 256;
  return 64;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bucketcache_bench: %s\n", what.c_str());
  std::exit(2);
}

// The file-operation contenders (raw, cpp, c with the memory layer off) share one directory
// tree per value size: C++ and C entries have different names (JSON vs raw keymaker), raw
// files are <digest of the C++ key>.raw beside them. Sharing matters: every set allocates
// an inode (its temp file) and every overwrite or erase frees one, and ext4 without a
// journal skips inodes freed in the last 5 minutes when allocating, so the cost of a create
// depends on the churn in the directory's block group. Contenders in one tree pay alike.
std::string dir_for(const std::string& contender, std::size_t size) {
  const bool shared = contender == "raw" || contender == "cpp" || contender == "c";
  return cfg.data_dir + "/" + (shared ? std::string("store") : contender) + "/" +
         std::to_string(size);
}

std::string random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t r = rng();
    std::memcpy(&s[i], &r, std::min<std::size_t>(8, n - i));
  }
  return s;
}

std::string key_name(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "key-%06zu", i);
  return buf;
}

// ---- The data of one value size ----

struct Workload {
  std::size_t size = 0;
  std::string value;
  std::vector<std::string> keys;
};

const Workload& workload(std::size_t size) {
  static std::map<std::size_t, std::unique_ptr<Workload>> cache;
  auto& w = cache[size];
  if (!w) {
    w = std::make_unique<Workload>();
    w->size = size;
    w->value = random_bytes(size, size);
    for (std::size_t i = 0; i < working_set(size); ++i) w->keys.push_back(key_name(i));
  }
  return *w;
}

// ---- Contender fixtures, created on first use and kept for the run ----

bc::Options bucket_options(bool memory) {
  bc::Options o;
  o.memory_limit_bytes = memory ? (std::size_t{256} << 20) : 0;
  return o;
}

struct CppFixture {
  RawBucket bucket;
  bool populated = false;
  CppFixture(const std::string& dir, bool memory) : bucket(dir, bucket_options(memory)) {}
};

CppFixture& cpp_fixture(std::size_t size, bool memory) {
  static std::map<std::pair<std::size_t, bool>, std::unique_ptr<CppFixture>> cache;
  auto& f = cache[{size, memory}];
  if (!f) f = std::make_unique<CppFixture>(dir_for(memory ? "cppmem" : "cpp", size), memory);
  return *f;
}

void populate(CppFixture& f, const Workload& w) {
  if (f.populated) return;
  for (const auto& k : w.keys) f.bucket.set(k, w.value);
  f.populated = true;
}

struct CFixture {
  bc_bucket* b = nullptr;
  bool populated = false;
  CFixture(const std::string& dir, bool memory) {
    bc_options* o = nullptr;
    if (bc_options_new(&o) != BC_OK ||
        bc_options_set_int(o, BC_OPT_MEMORY_LIMIT_BYTES, memory ? (256 << 20) : 0) != BC_OK ||
        bc_bucket_open(&b, dir.c_str(), o) != BC_OK) {
      die(std::string("bc_bucket_open: ") + bc_last_error_message());
    }
    bc_options_free(o);
  }
  ~CFixture() { bc_bucket_close(b); }
};

bc_bucket* c_fixture_open(const std::string& dir) {
  bc_options* o = nullptr;
  bc_bucket* b = nullptr;
  if (bc_options_new(&o) != BC_OK || bc_options_set_int(o, BC_OPT_MEMORY_LIMIT_BYTES, 0) != BC_OK ||
      bc_bucket_open(&b, dir.c_str(), o) != BC_OK) {
    die(std::string("bc_bucket_open: ") + bc_last_error_message());
  }
  bc_options_free(o);
  return b;
}

CFixture& c_fixture(std::size_t size, bool memory) {
  static std::map<std::pair<std::size_t, bool>, std::unique_ptr<CFixture>> cache;
  auto& f = cache[{size, memory}];
  if (!f) f = std::make_unique<CFixture>(dir_for(memory ? "cmem" : "c", size), memory);
  return *f;
}

void populate(CFixture& f, const Workload& w) {
  if (f.populated) return;
  for (const auto& k : w.keys) {
    if (bc_set(f.b, k.data(), k.size(), w.value.data(), w.value.size()) != BC_OK) {
      die(std::string("bc_set: ") + bc_last_error_message());
    }
  }
  f.populated = true;
}

// Plain system calls on the library's own layout: <root>/<h0h1>/<digest>.raw (the
// C++ contender's digest, in its directory; see dir_for), computed beforehand (so no
// hashing is timed).
struct RawFixture {
  std::vector<std::string> paths;  // final entry paths, one per key
  std::vector<std::string> dirs;   // their directories
  std::string buffer;              // reused read buffer
  std::uint64_t counter = 0;
  bool populated = false;
};

// beside: "cpp" - files named by the C++ contender's digests (in its shard directories);
// "c" - by the C contender's (raw keys), the raw twin the C figures are compared with.
RawFixture& raw_fixture(std::size_t size, const std::string& beside = "cpp") {
  static std::map<std::pair<std::size_t, std::string>, std::unique_ptr<RawFixture>> cache;
  auto& f = cache[{size, beside}];
  if (!f) {
    f = std::make_unique<RawFixture>();
    const std::string root = dir_for("raw", size);
    for (const auto& k : workload(size).keys) {
      const std::string hex = (beside == "c" ? bc::RawKeyMaker{}.make_digest(k, "raw")
                                             : bc::DefaultKeyMaker{}.make_digest(k, "raw"))
                                  .hex();
      const std::string dir = root + "/" + hex.substr(0, 2);
      stdfs::create_directories(dir);
      f->dirs.push_back(dir);
      f->paths.push_back(dir + "/" + hex + ".raw");
    }
    f->buffer.resize(size);
  }
  return *f;
}

bool raw_write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// What a careful atomic writer must do (no fsync, as the library's default).
bool raw_set(RawFixture& f, std::size_t i, const std::string& value) {
  char tmp[512];
  std::snprintf(tmp, sizeof tmp, "%s/.tmp-%d-%016llx", f.dirs[i].c_str(),
                static_cast<int>(::getpid()), static_cast<unsigned long long>(f.counter++));
  const int fd = ::open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const bool ok = raw_write_all(fd, value.data(), value.size());
  ::close(fd);
  if (!ok || ::rename(tmp, f.paths[i].c_str()) != 0) {
    ::unlink(tmp);
    return false;
  }
  return true;
}

// The overwrite alternative to rename-over (docs/performance.md): renameat2 RENAME_EXCHANGE
// of the temp file with the existing one, then unlink of the old one (now at the temp name).
bool raw_set_exchange(RawFixture& f, std::size_t i, const std::string& value) {
  char tmp[512];
  std::snprintf(tmp, sizeof tmp, "%s/.tmp-%d-%016llx", f.dirs[i].c_str(),
                static_cast<int>(::getpid()), static_cast<unsigned long long>(f.counter++));
  const int fd = ::open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const bool ok = raw_write_all(fd, value.data(), value.size());
  ::close(fd);
  if (!ok || ::renameat2(AT_FDCWD, tmp, AT_FDCWD, f.paths[i].c_str(), RENAME_EXCHANGE) != 0) {
    ::unlink(tmp);
    return false;
  }
  return ::unlink(tmp) == 0;
}

// open, read (the value's known size), close; with_fstat: open, fstat, read, close (issue
// 12's baseline of a small get: a reader that learns the size, and that it has a file).
bool raw_get(RawFixture& f, std::size_t i, bool with_fstat = false) {
  const int fd = ::open(f.paths[i].c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  if (with_fstat) {
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::size_t>(st.st_size) != f.buffer.size()) {
      ::close(fd);
      return false;
    }
  }
  std::size_t got = 0;
  while (got < f.buffer.size()) {
    const ssize_t n = ::read(fd, f.buffer.data() + got, f.buffer.size() - got);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return got == f.buffer.size();
}

void populate(RawFixture& f, const Workload& w) {
  if (f.populated) return;
  for (std::size_t i = 0; i < w.keys.size(); ++i) {
    if (!raw_set(f, i, w.value)) die("raw set failed: " + f.paths[i]);
  }
  f.populated = true;
}

struct SqliteFixture {
  sqlite3* db = nullptr;
  sqlite3_stmt* put = nullptr;
  sqlite3_stmt* get = nullptr;
  sqlite3_stmt* has = nullptr;
  sqlite3_stmt* del = nullptr;
  bool populated = false;

  explicit SqliteFixture(const std::string& dir) {
    stdfs::create_directories(dir);
    const std::string path = dir + "/kv.sqlite";
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) die("sqlite3_open " + path);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=OFF");
    exec("CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB)");
    put = prepare(
        "INSERT INTO kv (key, value) VALUES (?1, ?2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    get = prepare("SELECT value FROM kv WHERE key = ?1");
    has = prepare("SELECT 1 FROM kv WHERE key = ?1");
    del = prepare("DELETE FROM kv WHERE key = ?1");
  }
  ~SqliteFixture() {
    for (sqlite3_stmt* s : {put, get, has, del}) sqlite3_finalize(s);
    sqlite3_close(db);
  }
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      die(std::string("sqlite: ") + sql + ": " + (err ? err : "?"));
    }
  }
  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
      die(std::string("sqlite prepare: ") + sqlite3_errmsg(db));
    }
    return s;
  }
  bool set(const std::string& k, const std::string& v) {
    sqlite3_bind_blob(put, 1, k.data(), static_cast<int>(k.size()), SQLITE_STATIC);
    sqlite3_bind_blob(put, 2, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(put);
    sqlite3_reset(put);
    return rc == SQLITE_DONE;
  }
  // The value as an owned std::string (as the library's get returns one).
  bool fetch(const std::string& k, std::string& out) {
    sqlite3_bind_blob(get, 1, k.data(), static_cast<int>(k.size()), SQLITE_STATIC);
    bool found = false;
    if (sqlite3_step(get) == SQLITE_ROW) {
      const void* p = sqlite3_column_blob(get, 0);
      const int n = sqlite3_column_bytes(get, 0);
      out = std::string(static_cast<const char*>(p), static_cast<std::size_t>(n));
      found = true;
    }
    sqlite3_reset(get);
    return found;
  }
  bool contains(const std::string& k) {
    sqlite3_bind_blob(has, 1, k.data(), static_cast<int>(k.size()), SQLITE_STATIC);
    const bool found = sqlite3_step(has) == SQLITE_ROW;
    sqlite3_reset(has);
    return found;
  }
  bool erase(const std::string& k) {
    sqlite3_bind_blob(del, 1, k.data(), static_cast<int>(k.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(del);
    sqlite3_reset(del);
    return rc == SQLITE_DONE && sqlite3_changes(db) == 1;
  }
};

SqliteFixture& sqlite_fixture(std::size_t size) {
  static std::map<std::size_t, std::unique_ptr<SqliteFixture>> cache;
  auto& f = cache[size];
  if (!f) f = std::make_unique<SqliteFixture>(dir_for("sqlite", size));
  return *f;
}

void populate(SqliteFixture& f, const Workload& w) {
  if (f.populated) return;
  f.exec("BEGIN");
  for (const auto& k : w.keys) f.set(k, w.value);
  f.exec("COMMIT");
  f.populated = true;
}

// ---- Registration: workloads of contenders, rotated by round ----

using BenchFn = std::function<void(benchmark::State&)>;
struct Contender {
  std::string name;
  BenchFn fn;
  // Fixed iteration count (manual-time benchmarks); 0: Google Benchmark decides.
  benchmark::IterationCount iterations = 0;
  bool manual_time = false;
};

int g_workload_index = 0;

void register_workload(const std::string& workload, std::vector<Contender> contenders) {
  const std::size_t n = contenders.size();
  const std::size_t shift = static_cast<std::size_t>(cfg.round + g_workload_index++) % n;
  std::rotate(contenders.begin(), contenders.begin() + static_cast<std::ptrdiff_t>(shift),
              contenders.end());
  for (auto& c : contenders) {
    const std::string name = workload + "/" + c.name;
    auto* b = benchmark::RegisterBenchmark(name.c_str(), c.fn);
    b->Unit(benchmark::kNanosecond);
    if (c.manual_time) {
      b->UseManualTime();
    } else {
      b->UseRealTime();
    }
    if (c.iterations > 0) {
      b->Iterations(c.iterations);
    } else {
      b->MinTime(cfg.min_time);
    }
  }
}

// ---- Store workloads: contenders interleaved in small slices ----
//
// File-system figures on a shared machine swing by 2x within seconds (journal commits,
// writeback, other tenants). So each store workload is one benchmark in which the
// contenders ("lanes") take turns in slices of a few operations until the time budget is
// spent, and each lane's time per operation is reported as the counter <lane>_ns. The lanes run in
// a new random order every slice. Noise then hits every lane alike, and the ratios between lanes
// hold even when the absolute figures move.

struct Lane {
  std::string name;
  std::function<bool(std::size_t)> timed;   // the operation measured, on key i
  std::function<bool(std::size_t)> before;  // untimed, before each slice (may be empty)
  std::function<bool(std::size_t)> after;   // untimed, after each slice (may be empty)
  double ns = 0;
  std::size_t ops = 0;
  std::size_t next = 0;
};

// A contender's operations on key i of the workload (disk fixtures: memory layer off).
struct KeyOps {
  std::function<bool(std::size_t)> set, erase, get, contains;
  std::function<void()> populate;
};

KeyOps key_ops(const std::string& who, std::size_t size) {
  const Workload& w = workload(size);
  if (who == "raw" || who == "raw_c") {
    RawFixture& f = raw_fixture(size, who == "raw" ? "cpp" : "c");
    return {[&f, &w](std::size_t i) { return raw_set(f, i, w.value); },
            [&f](std::size_t i) { return ::unlink(f.paths[i].c_str()) == 0; },
            [&f](std::size_t i) {
              const bool ok = raw_get(f, i);
              benchmark::DoNotOptimize(f.buffer.data());
              return ok;
            },
            [&f](std::size_t i) {
              // The library's header check as plain calls: open, pread 128 bytes, close.
              const int fd = ::open(f.paths[i].c_str(), O_RDONLY | O_CLOEXEC);
              if (fd < 0) return false;
              char header[128];
              const bool ok = ::pread(fd, header, sizeof header, 0) >= 0;
              benchmark::DoNotOptimize(header);
              ::close(fd);
              return ok;
            },
            [&f, &w] { populate(f, w); }};
  }
  if (who == "cpp") {
    CppFixture& f = cpp_fixture(size, false);
    return {[&f, &w](std::size_t i) {
              f.bucket.set(w.keys[i], w.value);
              return true;
            },
            [&f, &w](std::size_t i) { return f.bucket.erase(w.keys[i]); },
            [&f, &w](std::size_t i) {
              std::string v = f.bucket.get<std::string>(w.keys[i]);
              benchmark::DoNotOptimize(v.data());
              return v.size() == w.value.size();
            },
            [&f, &w](std::size_t i) { return f.bucket.contains(w.keys[i]); },
            [&f, &w] { populate(f, w); }};
  }
  if (who == "c") {
    CFixture& f = c_fixture(size, false);
    return {[&f, &w](std::size_t i) {
              const std::string& k = w.keys[i];
              return bc_set(f.b, k.data(), k.size(), w.value.data(), w.value.size()) == BC_OK;
            },
            [&f, &w](std::size_t i) {
              return bc_delete(f.b, w.keys[i].data(), w.keys[i].size()) == BC_OK;
            },
            [&f, &w](std::size_t i) {
              bc_buf out;
              const bool ok = bc_get(f.b, w.keys[i].data(), w.keys[i].size(), &out) == BC_OK;
              benchmark::DoNotOptimize(out.data);
              bc_buf_dispose(&out);
              return ok;
            },
            [&f, &w](std::size_t i) {
              return bc_contains(f.b, w.keys[i].data(), w.keys[i].size()) == 1;
            },
            [&f, &w] { populate(f, w); }};
  }
  SqliteFixture& f = sqlite_fixture(size);
  return {[&f, &w](std::size_t i) { return f.set(w.keys[i], w.value); },
          [&f, &w](std::size_t i) { return f.erase(w.keys[i]); },
          [&f, &w](std::size_t i) {
            std::string v;  // an owned copy, as the library's get returns
            const bool ok = f.fetch(w.keys[i], v);
            benchmark::DoNotOptimize(v.data());
            return ok;
          },
          [&f, &w](std::size_t i) { return f.contains(w.keys[i]); }, [&f, &w] { populate(f, w); }};
}

// Operations per slice: a slice takes roughly 0.05-0.5 ms.
std::size_t slice_ops(const std::string& op, std::size_t size) {
  const bool memory = op == "get_memory" || op == "memo_hit";
  if (memory) return size >= 65536 ? (size >= 1048576 ? 4 : 32) : 256;
  const bool write = op == "set" || op == "set_overwrite" || op == "erase";
  if (size >= 1048576) return write ? 2 : 4;
  if (size >= 65536) return write ? 4 : 16;
  return write ? 8 : 32;
}

void run_lanes(benchmark::State& st, std::vector<Lane>& lanes, std::size_t n_keys,
               std::size_t batch, double budget_s) {
  bool ok = true;
  if (!cfg.lanes.empty()) {
    lanes.erase(std::remove_if(lanes.begin(), lanes.end(),
                               [](const Lane& l) {
                                 return ("," + cfg.lanes + ",").find("," + l.name + ",") ==
                                        std::string::npos;
                               }),
                lanes.end());
    if (lanes.empty()) return;
  }
  const std::size_t m = lanes.size();
  std::vector<std::size_t> order(m);
  for (std::size_t j = 0; j < m; ++j) order[j] = j;
  std::mt19937 rng(static_cast<unsigned>(cfg.round) * 7919u + static_cast<unsigned>(m));
  for (auto _ : st) {
    const double t_start = now_s();
    for (std::size_t slice = 0; slice < 6 || now_s() - t_start < budget_s; ++slice) {
      std::shuffle(order.begin(), order.end(), rng);  // a new lane order every slice
      for (std::size_t j = 0; j < m; ++j) {
        Lane& l = lanes[order[j]];
        const std::size_t first = l.next;
        if (l.before) {
          for (std::size_t b = 0; b < batch; ++b) l.before((first + b) % n_keys);
        }
        const double t0 = now_s();
        for (std::size_t b = 0; b < batch; ++b) ok &= l.timed((first + b) % n_keys);
        l.ns += (now_s() - t0) * 1e9;
        if (l.after) {
          for (std::size_t b = 0; b < batch; ++b) ok &= l.after((first + b) % n_keys);
        }
        l.ops += batch;
        l.next = (first + batch) % n_keys;
      }
    }
    st.SetIterationTime(now_s() - t_start);
  }
  if (!ok) st.SkipWithError("an operation failed");
  for (const Lane& l : lanes) {
    st.counters[l.name + "_ns"] = l.ns / static_cast<double>(std::max<std::size_t>(l.ops, 1));
  }
  st.counters["ops"] = 1;
}

void register_interleaved(const std::string& name, std::function<std::vector<Lane>()> make,
                          std::size_t n_keys, std::size_t batch) {
  const double budget = cfg.quick ? 0.15 : 0.6;
  auto* b = benchmark::RegisterBenchmark(name.c_str(),
                                         [make, n_keys, batch, budget](benchmark::State& st) {
                                           std::vector<Lane> lanes = make();
                                           run_lanes(st, lanes, n_keys, batch, budget);
                                         });
  b->Unit(benchmark::kMillisecond)->UseManualTime()->Iterations(1);
}

void register_store_workloads() {
  // raw: the raw twin of cpp (same directories), raw_c: of c. See dir_for.
  const std::vector<std::string> disk_lanes = {"raw", "cpp", "raw_c", "c", "sqlite"};
  for (std::size_t size : kSizes) {
    const std::string sz = std::to_string(size);
    const std::size_t n = working_set(size);

    // set: a new entry - the slice's keys are removed first (not timed), so the rename
    // lands on a name that does not exist.
    register_interleaved(
        "set/" + sz + "/interleaved",
        [size, disk_lanes] {
          std::vector<Lane> lanes;
          for (const auto& who : disk_lanes) {
            KeyOps o = key_ops(who, size);
            o.populate();
            lanes.push_back({who, o.set, o.erase, nullptr});
          }
          return lanes;
        },
        n, slice_ops("set", size));

    // set_overwrite: replace an existing entry (rename over an existing file). raw_xchg
    // (100 B): the RENAME_EXCHANGE+unlink alternative on the raw files of raw_c.
    register_interleaved(
        "set_overwrite/" + sz + "/interleaved",
        [size, disk_lanes] {
          std::vector<Lane> lanes;
          for (const auto& who : disk_lanes) {
            KeyOps o = key_ops(who, size);
            o.populate();
            lanes.push_back({who, o.set, nullptr, nullptr});
          }
          if (size == 100) {
            RawFixture& f = raw_fixture(size, "c");
            const Workload& w = workload(size);
            lanes.push_back({"raw_xchg",
                             [&f, &w](std::size_t i) { return raw_set_exchange(f, i, w.value); },
                             nullptr, nullptr});
          }
          return lanes;
        },
        n, slice_ops("set_overwrite", size));

    // get from disk (memory layer off).
    register_interleaved(
        "get_disk/" + sz + "/interleaved",
        [size, disk_lanes] {
          std::vector<Lane> lanes;
          for (const auto& who : disk_lanes) {
            KeyOps o = key_ops(who, size);
            o.populate();
            lanes.push_back({who, o.get, nullptr, nullptr});
          }
          {  // C++ into a reused string (try_get_into), as raw reads into a reused buffer
            CppFixture& f = cpp_fixture(size, false);
            const Workload& w = workload(size);
            auto into = std::make_shared<std::string>();
            lanes.push_back({"cpp_into",
                             [&f, &w, into](std::size_t i) {
                               const bool ok = f.bucket.try_get_into(w.keys[i], *into);
                               benchmark::DoNotOptimize(into->data());
                               return ok && into->size() == w.value.size();
                             },
                             nullptr, nullptr});
          }
          if (size == 100) {  // the baseline of a small get, in both lanes' dirs
            for (const char* dirs : {"cpp", "c"}) {
              RawFixture& f = raw_fixture(size, dirs);
              lanes.push_back({std::string(dirs) == "cpp" ? "raw_fstat" : "raw_c_fstat",
                               [&f](std::size_t i) {
                                 const bool ok = raw_get(f, i, true);
                                 benchmark::DoNotOptimize(f.buffer.data());
                                 return ok;
                               },
                               nullptr, nullptr});
            }
          }
          return lanes;
        },
        n, slice_ops("get_disk", size));

    // contains (memory layer off: the entry's header is read).
    register_interleaved(
        "contains/" + sz + "/interleaved",
        [size, disk_lanes] {
          std::vector<Lane> lanes;
          for (const auto& who : disk_lanes) {
            KeyOps o = key_ops(who, size);
            o.populate();
            lanes.push_back({who, o.contains, nullptr, nullptr});
          }
          return lanes;
        },
        n, slice_ops("contains", size));

    // erase: the slice's keys are erased (timed), then set again (not timed).
    register_interleaved(
        "erase/" + sz + "/interleaved",
        [size, disk_lanes] {
          std::vector<Lane> lanes;
          for (const auto& who : disk_lanes) {
            KeyOps o = key_ops(who, size);
            o.populate();
            lanes.push_back({who, o.erase, nullptr, o.set});
          }
          return lanes;
        },
        n, slice_ops("erase", size));

    // get from memory: the memory layer on (256 MiB, holds the working set).
    register_interleaved(
        "get_memory/" + sz + "/interleaved",
        [size] {
          const Workload& w = workload(size);
          CppFixture& cf = cpp_fixture(size, true);
          populate(cf, w);
          CFixture& c = c_fixture(size, true);
          populate(c, w);
          std::vector<Lane> lanes;
          lanes.push_back({"cpp",
                           [&cf, &w](std::size_t i) {
                             std::string v = cf.bucket.get<std::string>(w.keys[i]);
                             benchmark::DoNotOptimize(v.data());
                             return v.size() == w.value.size();
                           },
                           nullptr, nullptr});
          lanes.push_back({"c",
                           [&c, &w](std::size_t i) {
                             bc_buf out;
                             const bool ok =
                                 bc_get(c.b, w.keys[i].data(), w.keys[i].size(), &out) == BC_OK;
                             benchmark::DoNotOptimize(out.data);
                             bc_buf_dispose(&out);
                             return ok;
                           },
                           nullptr, nullptr});
          // The value as kept in memory: the hit must at least copy it out.
          lanes.push_back({"copy",
                           [&w](std::size_t) {
                             std::string v = w.value;
                             benchmark::DoNotOptimize(v.data());
                             return true;
                           },
                           nullptr, nullptr});
          return lanes;
        },
        n, slice_ops("get_memory", size));

    // memoized hit: every key computed once beforehand; memory layer on.
    register_interleaved(
        "memo_hit/" + sz + "/interleaved",
        [size] {
          const Workload& w = workload(size);
          static std::map<std::size_t, std::unique_ptr<RawBucket>> buckets;
          static std::map<std::size_t, std::unique_ptr<CFixture>> cbuckets;
          auto& b = buckets[size];
          if (!b) b = std::make_unique<RawBucket>(dir_for("memocpp", size), bucket_options(true));
          auto& cb = cbuckets[size];
          if (!cb) cb = std::make_unique<CFixture>(dir_for("memoc", size), true);
          using Memo = decltype(bc::memoize(*b, "value_of",
                                            std::function<std::string(const std::string&)>()));
          auto f = std::make_shared<Memo>(
              bc::memoize(*b, "value_of",
                          std::function<std::string(const std::string&)>(
                              [&w](const std::string&) -> std::string { return w.value; })));
          static const bc_compute_fn compute = [](void* user, const void*, size_t, bc_buf* out) {
            const auto* v = static_cast<const std::string*>(user);
            out->data = const_cast<char*>(v->data());
            out->size = v->size();
            return 0;
          };
          void* user = const_cast<std::string*>(&w.value);
          bc_bucket* c = cb->b;
          for (const auto& k : w.keys) {
            benchmark::DoNotOptimize((*f)(k).data());
            bc_buf out;
            int hit = 0;
            if (bc_get_or_compute(c, k.data(), k.size(), compute, user, &out, &hit) != BC_OK) {
              die(bc_last_error_message());
            }
            bc_buf_dispose(&out);
          }
          std::vector<Lane> lanes;
          lanes.push_back({"cpp",
                           [f, &w](std::size_t i) {
                             std::string v = (*f)(w.keys[i]);
                             benchmark::DoNotOptimize(v.data());
                             return true;
                           },
                           nullptr, nullptr});
          lanes.push_back({"c",
                           [c, user, &w](std::size_t i) {
                             bc_buf out;
                             int hit = 0;
                             const bool ok =
                                 bc_get_or_compute(c, w.keys[i].data(), w.keys[i].size(), compute,
                                                   user, &out, &hit) == BC_OK &&
                                 hit == 1;
                             benchmark::DoNotOptimize(out.data);
                             bc_buf_dispose(&out);
                             return ok;
                           },
                           nullptr, nullptr});
          return lanes;
        },
        n, slice_ops("memo_hit", size));
  }
}

// ---- New keys: set into a fresh bucket, and into a warm one ----
//
// Every operation stores a key never stored before. set_fresh: each lane starts a new,
// empty bucket every kFreshEvery keys (untimed), so most of its writes land in shard
// directories that do not exist yet - the cost of a first fill, mkdir included. set_new:
// new keys into the populated "store" tree of set/get (its shard directories exist).
// Baselines: raw_flat - temp+write+rename in ONE flat directory (what a user writing their
// own cache would do; the file names are precomputed digests); raw - the same sharded paths
// as the library's (<root>/<2 hex>/<digest>), mkdir of a missing shard included.

constexpr std::size_t kFreshEvery = 256;
constexpr std::size_t kNewKeySpace = std::size_t{1} << 40;  // key indexes: never wrap
constexpr std::size_t kSlots = 1024;  // prepared keys kept (more than a slice's)

struct NewKeyLane {
  std::string who;
  bool fresh = false;
  std::size_t roots = 0;  // buckets started so far (fresh)
  std::string root;       // the current bucket directory
  std::unique_ptr<RawBucket> cpp;
  bc_bucket* c = nullptr;
  // By key index modulo kSlots, filled untimed (`before`).
  std::vector<std::string> keys{kSlots}, shard{kSlots}, path{kSlots};
  std::uint64_t counter = 0;
  ~NewKeyLane() {
    if (c != nullptr) bc_bucket_close(c);
  }
};

std::string new_key_base(const std::string& workload, const std::string& who) {
  return cfg.data_dir + "/newkeys/" + workload + "-" + who + "-r" + std::to_string(cfg.round);
}

void new_key_root(NewKeyLane& l, const std::string& root) {
  l.root = root;
  if (l.who == "cpp") {
    l.cpp = std::make_unique<RawBucket>(root, bucket_options(false));
  } else if (l.who == "c") {
    if (l.c != nullptr) bc_bucket_close(l.c);
    l.c = c_fixture_open(root);
  } else {
    stdfs::create_directories(root);
  }
}

// Untimed: the key's name, and for the raw lanes its directory and final path.
bool new_key_prepare(NewKeyLane& l, std::size_t i, const std::string& tag) {
  if (l.fresh && i % kFreshEvery == 0) {
    new_key_root(l, new_key_base(tag, l.who) + "/" + std::to_string(l.roots++));
  }
  const std::size_t s = i % kSlots;
  l.keys[s] = "new-" + tag + "-" + std::to_string(cfg.round) + "-" + std::to_string(i);
  if (l.who == "raw" || l.who == "raw_flat") {
    const std::string hex = bc::DefaultKeyMaker{}.make_digest(l.keys[s], "raw").hex();
    l.shard[s] = l.who == "raw" ? l.root + "/" + hex.substr(0, 2) : l.root;
    l.path[s] = l.shard[s] + "/" + hex + ".raw";
  }
  return true;
}

// temp+write+rename into dir; with `mkdir_missing`, a missing dir is created first.
bool raw_set_new(NewKeyLane& l, std::size_t i, const std::string& value, bool mkdir_missing) {
  i %= kSlots;
  char tmp[512];
  std::snprintf(tmp, sizeof tmp, "%s/.tmp-%d-%016llx", l.shard[i].c_str(),
                static_cast<int>(::getpid()), static_cast<unsigned long long>(l.counter++));
  int fd = ::open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 && errno == ENOENT && mkdir_missing) {
    if (::mkdir(l.shard[i].c_str(), 0700) != 0 && errno != EEXIST) return false;
    fd = ::open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  }
  if (fd < 0) return false;
  const bool ok = raw_write_all(fd, value.data(), value.size());
  ::close(fd);
  if (!ok || ::rename(tmp, l.path[i].c_str()) != 0) {
    ::unlink(tmp);
    return false;
  }
  return true;
}

void register_new_key_workloads() {
  const std::size_t size = 100;
  const std::string sz = std::to_string(size);
  for (const bool fresh : {true, false}) {
    const std::string tag = fresh ? "set_fresh" : "set_new";
    register_interleaved(
        tag + "/" + sz + "/interleaved",
        [size, fresh, tag] {
          const Workload& w = workload(size);
          std::vector<Lane> lanes;
          for (const std::string who : {"raw_flat", "raw", "cpp", "c"}) {
            auto l = std::make_shared<NewKeyLane>();
            l->who = who;
            l->fresh = fresh;
            if (!fresh) {
              if (who == "raw_flat") {
                // A warm flat directory: as many files as the sharded store tree holds.
                const std::string root = new_key_base("flat", "warm");
                new_key_root(*l, root);
                if (!stdfs::exists(root + "/.populated")) {
                  for (std::size_t i = 0; i < w.keys.size(); ++i) {
                    new_key_prepare(*l, kNewKeySpace - 1 - i, "warm");
                    raw_set_new(*l, kNewKeySpace - 1 - i, w.value, false);
                  }
                  std::ofstream(root + "/.populated") << "1\n";
                }
              } else {
                // The populated tree of set/get, so the shard directories exist.
                KeyOps o = key_ops(who, size);
                o.populate();
                new_key_root(*l, dir_for(who, size));
              }
            }
            const bool mk = who == "raw";
            lanes.push_back({who,
                             [l, &w, mk](std::size_t i) {
                               if (l->who == "cpp") {
                                 l->cpp->set(l->keys[i % kSlots], w.value);
                                 return true;
                               }
                               if (l->who == "c") {
                                 const std::string& k = l->keys[i % kSlots];
                                 return bc_set(l->c, k.data(), k.size(), w.value.data(),
                                               w.value.size()) == BC_OK;
                               }
                               return raw_set_new(*l, i, w.value, mk);
                             },
                             [l, tag](std::size_t i) { return new_key_prepare(*l, i, tag); },
                             nullptr});
          }
          return lanes;
        },
        kNewKeySpace, slice_ops("set", size));
  }
}

// ---- Key hashing ----

const std::string& ascii_key(std::size_t n) {
  static std::map<std::size_t, std::string> cache;
  auto& s = cache[n];
  if (s.size() != n) {
    s = random_bytes(n, 7 + n);
    for (char& c : s) c = static_cast<char>('a' + (static_cast<unsigned char>(c) % 26));
  }
  return s;
}

void register_hash_workloads() {
  const std::vector<std::size_t> sizes = {100, 4096, 65536, 1 << 20, 64 << 20};
  for (std::size_t n : sizes) {
    auto bench = [n](auto make) {
      return [n, make](benchmark::State& st) {
        const std::string& key = ascii_key(n);
        for (auto _ : st) {
          bc::Digest d = make(key);
          benchmark::DoNotOptimize(d.bytes.data());
        }
        st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * n));
        st.counters["ops"] = 1;
      };
    };
    register_workload(
        "hash/" + std::to_string(n),
        {{"sha256", bench([](const std::string& k) {
            // The limit: one SHA-256 over the key bytes alone (OpenSSL's SHA256_* on a
            // stack context; its SHA256() one-shot goes through EVP and costs more).
            bc::Digest d;
            SHA256_CTX ctx;
            SHA256_Init(&ctx);
            SHA256_Update(&ctx, k.data(), k.size());
            SHA256_Final(d.bytes.data(), &ctx);
            return d;
          })},
         {"raw_keymaker",
          bench([](const std::string& k) { return bc::RawKeyMaker{}.make_digest(k, "raw"); })},
         {"default_keymaker",
          bench([](const std::string& k) { return bc::DefaultKeyMaker{}.make_digest(k, "raw"); })},
         {"streaming_keymaker", bench([](const std::string& k) {
            return bc::StreamingDefaultKeyMaker{}.make_digest(k, "raw");
          })}});
  }
}

// ---- prune_directory over N entries, 10% expired ----

struct PruneData {
  std::string dir;
  std::unique_ptr<bc::Store> store;
  std::vector<bc::Digest> expired;  // the keys that are made expired before each prune
  std::string value;
};

PruneData& prune_data() {
  static std::unique_ptr<PruneData> p;
  if (p) return *p;
  p = std::make_unique<PruneData>();
  p->dir = cfg.data_dir + "/prune/" + std::to_string(cfg.prune_entries);
  bc::Options o;
  o.memory_limit_bytes = 0;
  p->value = random_bytes(100, 1);
  const std::string marker = p->dir + "/.bench-populated";
  const bool exists = stdfs::exists(marker);
  p->store = std::make_unique<bc::Store>(p->dir, "raw", "raw", o);
  for (std::size_t i = 0; i < cfg.prune_entries; ++i) {
    const bc::Digest d = p->store->digest(key_name(i));
    if (i % 10 == 0) {
      p->expired.push_back(d);
    } else if (!exists) {
      p->store->set(d, p->value);
    }
  }
  std::ofstream(marker) << cfg.prune_entries << "\n";
  return *p;
}

void make_expired(PruneData& p) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  for (const auto& d : p.expired) p.store->set_entry(d, p.value, now - 2000000, now - 1000000);
}

// The limit: walk the same tree with plain system calls, read each entry's 128-byte header
// (open, pread, close), unlink the expired ones. No checksums, no id checks.
std::size_t raw_prune(const std::string& root, std::int64_t now_us, std::size_t& removed) {
  std::size_t scanned = 0;
  auto is_hex2 = [](const char* n) {
    return std::strlen(n) == 2 && std::isxdigit(static_cast<unsigned char>(n[0])) &&
           std::isxdigit(static_cast<unsigned char>(n[1]));
  };
  DIR* d1 = ::opendir(root.c_str());
  if (d1 == nullptr) return 0;
  while (dirent* e1 = ::readdir(d1)) {
    if (!is_hex2(e1->d_name)) continue;
    const int fd2 = ::openat(::dirfd(d1), e1->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd2 < 0) continue;
    DIR* d3 = ::fdopendir(fd2);
    while (dirent* e3 = ::readdir(d3)) {
      const std::size_t len = std::strlen(e3->d_name);
      if (len != 68 || std::strcmp(e3->d_name + 64, ".bce") != 0) continue;
      const int fd = ::openat(fd2, e3->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) continue;
      unsigned char h[128];
      const ssize_t n = ::pread(fd, h, sizeof h, 0);
      ::close(fd);
      ++scanned;
      if (n != 128) continue;
      std::int64_t expires = 0;
      for (int i = 7; i >= 0; --i) expires = (expires << 8) | h[56 + i];
      if (expires != 0 && expires <= now_us && ::unlinkat(fd2, e3->d_name, 0) == 0) ++removed;
    }
    ::closedir(d3);
  }
  ::closedir(d1);
  return scanned;
}

void register_prune_workload() {
  const benchmark::IterationCount iterations = cfg.quick ? 1 : 2;
  auto ours = [](benchmark::State& st) {
    PruneData& p = prune_data();
    std::uint64_t removed = 0;
    for (auto _ : st) {
      make_expired(p);
      const double t0 = now_s();
      removed = p.store->prune_directory().files;
      st.SetIterationTime(now_s() - t0);
    }
    if (removed != p.expired.size()) st.SkipWithError("prune removed the wrong count");
    st.counters["ops"] = static_cast<double>(cfg.prune_entries);
    st.counters["removed"] = static_cast<double>(removed);
  };
  auto raw = [](benchmark::State& st) {
    PruneData& p = prune_data();
    std::size_t removed = 0;
    std::size_t scanned = 0;
    for (auto _ : st) {
      make_expired(p);
      removed = 0;
      const std::int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
      const double t0 = now_s();
      scanned = raw_prune(p.dir, now, removed);
      st.SetIterationTime(now_s() - t0);
    }
    if (removed != p.expired.size()) st.SkipWithError("raw prune removed the wrong count");
    st.counters["ops"] = static_cast<double>(scanned);
    st.counters["removed"] = static_cast<double>(removed);
  };
  register_workload("prune/" + std::to_string(cfg.prune_entries),
                    {{"cpp", ours, iterations, true}, {"raw", raw, iterations, true}});
}

// ---- Single-flight memoization: 4 threads / 4 processes call one memoized key ----

struct Shared {
  std::atomic<int> computes{0};
  std::atomic<std::int64_t> finish_ns[4];
};

std::int64_t mono_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

auto make_slow(Shared* shared) {
  return [shared](int x) -> std::string {
    shared->computes.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(cfg.compute_ms));
    return std::string(100, static_cast<char>('a' + x % 26));
  };
}

void register_memo_workloads() {
  const std::string dir = cfg.data_dir + "/memo-single-flight";
  auto* shared = static_cast<Shared*>(
      ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (shared == MAP_FAILED) die("mmap");
  new (shared) Shared();
  constexpr int kWorkers = 4;

  auto threads = [dir, shared](benchmark::State& st) {
    RawBucket bucket(dir + "-threads");
    auto f = bc::memoize(bucket, "slow", make_slow(shared));
    int computes = 0;
    for (auto _ : st) {
      f.erase(1);
      shared->computes = 0;
      std::atomic<bool> go{false};
      std::vector<std::thread> ts;
      for (int i = 0; i < kWorkers; ++i) {
        ts.emplace_back([&, i] {
          while (!go.load()) std::this_thread::yield();
          benchmark::DoNotOptimize(f(1).data());
          shared->finish_ns[i] = mono_ns();
        });
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // all threads waiting
      const std::int64_t t0 = mono_ns();
      go = true;
      for (auto& t : ts) t.join();
      std::int64_t end = t0;
      for (int i = 0; i < kWorkers; ++i) end = std::max(end, shared->finish_ns[i].load());
      st.SetIterationTime(static_cast<double>(end - t0) / 1e9);
      computes = shared->computes;
    }
    st.counters["ops"] = 1;
    st.counters["computes"] = computes;
    st.counters["compute_ms"] = cfg.compute_ms;
  };

  auto processes = [dir, shared](benchmark::State& st) {
    const std::string pdir = dir + "-processes";
    int computes = 0;
    for (auto _ : st) {
      {
        RawBucket bucket(pdir);
        bc::memoize(bucket, "slow", make_slow(shared)).erase(1);
      }
      shared->computes = 0;
      int go[2];
      if (::pipe(go) != 0) die("pipe");
      std::vector<pid_t> kids;
      for (int i = 0; i < kWorkers; ++i) {
        const pid_t pid = ::fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
          ::close(go[1]);
          int rc = 0;
          try {
            RawBucket bucket(pdir);
            auto f = bc::memoize(bucket, "slow", make_slow(shared));
            char c;
            if (::read(go[0], &c, 1) != 1) ::_exit(3);
            benchmark::DoNotOptimize(f(1).data());
            shared->finish_ns[i] = mono_ns();
          } catch (...) {
            rc = 4;
          }
          ::_exit(rc);
        }
        kids.push_back(pid);
      }
      ::close(go[0]);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // all children waiting
      const std::int64_t t0 = mono_ns();
      const char start[kWorkers] = {};
      if (::write(go[1], start, kWorkers) != kWorkers) die("write");
      ::close(go[1]);
      bool ok = true;
      for (pid_t pid : kids) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
      }
      std::int64_t end = t0;
      for (int i = 0; i < kWorkers; ++i) end = std::max(end, shared->finish_ns[i].load());
      st.SetIterationTime(static_cast<double>(end - t0) / 1e9);
      computes = shared->computes;
      if (!ok) st.SkipWithError("a child failed");
    }
    st.counters["ops"] = 1;
    st.counters["computes"] = computes;
    st.counters["compute_ms"] = cfg.compute_ms;
  };

  const benchmark::IterationCount iterations = cfg.quick ? 2 : 3;
  register_workload("memo_single_flight/threads", {{"cpp", threads, iterations, true}});
  register_workload("memo_single_flight/processes", {{"cpp", processes, iterations, true}});
}

// ---- Peak memory of hashing a generated 1 GiB key (its own process: --rss) ----

// A key whose canonical form is one JSON string of `bytes` letters, produced in 64 KiB
// pieces: nothing the size of the key ever exists in memory.
struct GeneratedKey {
  std::size_t bytes;
  const std::string* chunk;
  void write_key(bc::KeyWriter& w) const {
    w.begin_string();
    for (std::size_t left = bytes; left > 0;) {
      const std::size_t n = std::min(left, chunk->size());
      w.string_piece(std::string_view(chunk->data(), n));
      left -= n;
    }
    w.end_string();
  }
};

long status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') {
      return std::strtol(line.c_str() + n + 1, nullptr, 10);
    }
  }
  return -1;
}

void reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";  // resets VmHWM to the current RSS
}

int run_rss(const std::string& out_path, std::size_t key_bytes, bool with_default) {
  const std::string chunk = ascii_key(64 << 10);
  const GeneratedKey key{key_bytes, &chunk};
  std::string json = "{\"key_bytes\": " + std::to_string(key_bytes + 2);
  // Warm up (code pages of the hash, the writer's spare state) on a 1 MiB key first, so
  // the extra memory measured is what the key's size costs.
  const GeneratedKey warm{std::size_t{1} << 20, &chunk};
  benchmark::DoNotOptimize(bc::StreamingDefaultKeyMaker{}.make_digest(warm, "raw").bytes.data());
  benchmark::DoNotOptimize(bc::DefaultKeyMaker{}.make_digest(warm, "raw").bytes.data());
  auto measure = [&](const char* name, auto make) {
    reset_peak_rss();
    const long before = status_kib("VmRSS");
    const double t0 = now_s();
    const bc::Digest d = make();
    const double t = now_s() - t0;
    const long peak = status_kib("VmHWM");
    benchmark::DoNotOptimize(d.bytes.data());
    json += ", \"" + std::string(name) + "\": {\"seconds\": " + std::to_string(t) +
            ", \"rss_before_kib\": " + std::to_string(before) +
            ", \"peak_kib\": " + std::to_string(peak) +
            ", \"extra_kib\": " + std::to_string(peak - before) + "}";
    std::fprintf(stderr, "rss %s: %.3f s, extra %ld KiB\n", name, t, peak - before);
  };
  measure("streaming_keymaker",
          [&] { return bc::StreamingDefaultKeyMaker{}.make_digest(key, "raw"); });
  if (with_default) {
    measure("default_keymaker", [&] { return bc::DefaultKeyMaker{}.make_digest(key, "raw"); });
  }
  json += "}\n";
  std::ofstream(out_path) << json;
  return 0;
}

}  // namespace

// ---- Statistics overhead on the memory hit (issue 14: within 10%) ----
// Two buckets over the same data, one opened with BUCKETCACHE_NO_STATS=1 (counting off);
// each iteration times a batch of memory hits on each, alternating which goes first, and
// the row reports both and their ratio (with / without).
void register_stats_overhead() {
  benchmark::RegisterBenchmark("stats_overhead/get_memory/100", [](benchmark::State& state) {
    const Workload& w = workload(100);
    static std::unique_ptr<RawBucket> with_stats, without_stats;
    if (!with_stats) {
      with_stats = std::make_unique<RawBucket>(dir_for("stats-on", 100), bucket_options(true));
      ::setenv("BUCKETCACHE_NO_STATS", "1", 1);
      without_stats = std::make_unique<RawBucket>(dir_for("stats-off", 100), bucket_options(true));
      ::unsetenv("BUCKETCACHE_NO_STATS");
      for (const auto& k : w.keys) {
        with_stats->set(k, w.value);
        without_stats->set(k, w.value);
      }
    }
    constexpr std::size_t kBatch = 256;
    double on_ns = 0, off_ns = 0;
    std::size_t hits = 0, i = 0;
    bool on_first = true;
    auto batch = [&](RawBucket& b) {
      const auto t0 = std::chrono::steady_clock::now();
      for (std::size_t j = 0; j < kBatch; ++j) {
        std::string v = b.get<std::string>(w.keys[(i + j) % w.keys.size()]);
        benchmark::DoNotOptimize(v.data());
      }
      return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0)
          .count();
    };
    for (auto _ : state) {
      if (on_first) {
        on_ns += batch(*with_stats);
        off_ns += batch(*without_stats);
      } else {
        off_ns += batch(*without_stats);
        on_ns += batch(*with_stats);
      }
      on_first = !on_first;
      i += kBatch;
      hits += kBatch;
    }
    state.counters["ns_with_stats"] = on_ns / static_cast<double>(hits);
    state.counters["ns_without_stats"] = off_ns / static_cast<double>(hits);
    state.counters["ratio"] = off_ns > 0 ? on_ns / off_ns : 0;
    state.SetItemsProcessed(static_cast<std::int64_t>(2 * hits));
  })->MinTime(cfg.min_time);
}

int main(int argc, char** argv) {
  std::vector<char*> rest{argv[0]};
  bool rss = false;
  bool rss_default = false;
  std::string rss_out = "rss.json";
  std::size_t rss_bytes = std::size_t{1} << 30;
  double min_time_override = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      const std::size_t n = std::strlen(flag);
      return a.compare(0, n, flag) == 0 ? argv[i] + n : nullptr;
    };
    if (const char* v = value("--data-dir=")) {
      cfg.data_dir = v;
    } else if (const char* v2 = value("--round=")) {
      cfg.round = std::atoi(v2);
    } else if (a == "--quick") {
      cfg.quick = true;
    } else if (const char* v3 = value("--prune-entries=")) {
      cfg.prune_entries = std::strtoull(v3, nullptr, 10);
    } else if (const char* v6 = value("--min-time=")) {
      min_time_override = std::atof(v6);
    } else if (const char* v7 = value("--lanes=")) {
      cfg.lanes = v7;
    } else if (a == "--rss") {
      rss = true;
    } else if (a == "--rss-default") {
      rss_default = true;
    } else if (const char* v4 = value("--rss-out=")) {
      rss_out = v4;
    } else if (const char* v5 = value("--rss-key-bytes=")) {
      rss_bytes = std::strtoull(v5, nullptr, 10);
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (rss) return run_rss(rss_out, rss_bytes, rss_default);
  // Fixed allocator thresholds: buffers up to 32 MiB come from the heap and freed memory is
  // kept, as in a warmed-up long-running process. With glibc's adaptive defaults, whether a
  // 1 MiB buffer is a fresh mmap (~250 page faults, ~0.7 ms) depends on what ran before
  // in the process, which made the large-value figures depend on the benchmark order.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  if (cfg.data_dir.empty()) die("--data-dir=DIR is required");
  if (cfg.quick) {
    cfg.min_time = 0.05;
  }
  if (min_time_override > 0) cfg.min_time = min_time_override;
  stdfs::create_directories(cfg.data_dir);

  benchmark::AddCustomContext("bucketcache_version", bc_version_string());
  benchmark::AddCustomContext("sqlite_version", sqlite3_libversion());
  benchmark::AddCustomContext("openssl_version", OpenSSL_version(OPENSSL_VERSION));
  benchmark::AddCustomContext("zlib_version", zlibVersion());
#if defined(__clang__)
  benchmark::AddCustomContext("compiler", "clang " __VERSION__);
#else
  benchmark::AddCustomContext("compiler", "gcc " __VERSION__);
#endif
  benchmark::AddCustomContext("round", std::to_string(cfg.round));

  register_store_workloads();
  register_new_key_workloads();
  register_hash_workloads();
  register_prune_workload();
  register_memo_workloads();
  register_stats_overhead();

  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
