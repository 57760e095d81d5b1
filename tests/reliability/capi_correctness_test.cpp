// Correctness through the C API, as users found it wrong: values current under threads
// (read-your-writes, no resurrection), no hang on non-regular files, bounded memory on junk
// files, saturated time arithmetic, error names for every code (docs/reliability.md).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bucketcache/bucketcache.h"
#include "capi_util.hpp"
#include "rel_util.hpp"

namespace {

using capitest::get;
using capitest::open_bucket;
using capitest::set;

// One thread sets then gets (and deletes then gets) a key while two others unload it and
// read it on the same handle: the writer's own reads must see its last write, always.
TEST(CapiCorrectness, ReadYourWritesWhileOtherThreadsUnloadAndRead) {
  reltest::ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"));
  const std::string k = "key";
  std::atomic<bool> stop{false};
  std::vector<std::thread> others;
  for (int t = 0; t < 2; ++t) {
    others.emplace_back([&] {
      std::string v;
      while (!stop.load()) {
        bc_unload_key(b, k.data(), k.size());
        get(b, k, &v);
      }
    });
  }
  long stale = 0, resurrected = 0;
  std::string v;
  for (int i = 0; i < 20000; ++i) {
    const std::string want = std::to_string(i);
    ASSERT_EQ(set(b, k, want), BC_OK);
    if (get(b, k, &v) != BC_OK || v != want) ++stale;
    if (i % 4 == 3) {
      ASSERT_EQ(bc_delete(b, k.data(), k.size()), BC_OK);
      if (get(b, k, &v) != BC_ENOTFOUND) ++resurrected;
    }
  }
  stop = true;
  for (auto& t : others) t.join();
  bc_bucket_close(b);
  EXPECT_EQ(stale, 0) << "gets that did not return the writer's own last set";
  EXPECT_EQ(resurrected, 0) << "gets that returned a value after the writer's delete";
}

// Same through bc_get_or_compute: after a set, the writer's get_or_compute is a hit on it.
TEST(CapiCorrectness, GetOrComputeSeesTheLatestSet) {
  reltest::ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"));
  const std::string k = "key";
  std::atomic<bool> stop{false};
  std::thread other([&] {
    std::string v;
    while (!stop.load()) {
      bc_unload_key(b, k.data(), k.size());
      get(b, k, &v);
    }
  });
  auto compute = [](void*, const void*, size_t, bc_buf* out) -> int {
    static const char kComputed[] = "computed";
    out->data = const_cast<char*>(kComputed);
    out->size = sizeof(kComputed) - 1;
    return 0;
  };
  long wrong = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::string want = std::to_string(i);
    ASSERT_EQ(set(b, k, want), BC_OK);
    bc_buf out{nullptr, 0};
    int hit = 0;
    ASSERT_EQ(bc_get_or_compute(b, k.data(), k.size(), compute, nullptr, &out, &hit), BC_OK);
    if (!hit || std::string(static_cast<const char*>(out.data), out.size) != want) ++wrong;
    bc_buf_dispose(&out);
  }
  stop = true;
  other.join();
  bc_bucket_close(b);
  EXPECT_EQ(wrong, 0);
}

// A child runs fn; it must finish within `seconds` (a hang is a failure, not a stuck test).
void expect_finishes(const std::function<int()>& fn, double seconds, const char* what) {
  const pid_t pid = reltest::spawn(fn, 120);
  const reltest::ChildStatus st = reltest::wait_child(pid, seconds);
  EXPECT_FALSE(st.timed_out) << what << " hung";
  EXPECT_TRUE(st.exited && st.code == 0) << what << ": " << st.describe();
}

std::string entry_path_of(const std::string& root, bc_bucket* b, const std::string& k) {
  // Set, find the one entry file, remove it: its path is the key's entry path.
  if (set(b, k, "x") != BC_OK) return "";
  for (const reltest::TreeItem& t : reltest::walk_tree(root)) {
    if (t.path.size() > 4 && t.path.compare(t.path.size() - 4, 4, ".bce") == 0) {
      return root + "/" + t.path;
    }
  }
  return "";
}

TEST(CapiCorrectness, AFifoAtAnEntryOrLockPathIsAMissAtOnce) {
  reltest::ScratchDir dir;
  const std::string root = dir.sub("b");
  bc_bucket* b = open_bucket(root, {{{BC_OPT_MEMORY_LIMIT_BYTES, 0}}});
  const std::string k = "fifo";
  const std::string path = entry_path_of(root, b, k);
  ASSERT_FALSE(path.empty());
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  std::string lock = path;
  lock.replace(lock.size() - 4, 4, ".lock");
  ASSERT_EQ(::mkfifo(lock.c_str(), 0600), 0);
  expect_finishes(
      [&] {
        std::string v;
        if (get(b, k, &v) != BC_ENOTFOUND) return 1;
        if (bc_contains(b, k.data(), k.size()) != 0) return 2;
        std::int64_t expires = 0;
        if (bc_get_expiry(b, k.data(), k.size(), &expires) != BC_ENOTFOUND) return 3;
        bc_prune_info info{};
        if (bc_prune_directory(b, &info) != BC_OK) return 4;
        auto compute = [](void*, const void*, size_t, bc_buf* out) -> int {
          out->data = const_cast<char*>("v");
          out->size = 1;
          return 0;
        };
        bc_buf out{nullptr, 0};
        // The entry path is a FIFO: computed, and the write replaces the FIFO.
        if (bc_get_or_compute(b, k.data(), k.size(), compute, nullptr, &out, nullptr) != BC_OK)
          return 5;
        bc_buf_dispose(&out);
        return 0;
      },
      30, "operations on a FIFO entry and lock path");
  struct stat st;
  ASSERT_EQ(::lstat(lock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "prune removes only regular lock files";
  bc_bucket_close(b);
}

// An entry with bytes appended (sparse, 64 GiB) is corrupt: no huge allocation, no
// BC_ENOMEM, and get_or_compute replaces it.
TEST(CapiCorrectness, AnEntryWithAppendedBytesIsCorruptAndReplaced) {
  reltest::ScratchDir dir;
  const std::string root = dir.sub("b");
  bc_bucket* b = open_bucket(root, {{{BC_OPT_MEMORY_LIMIT_BYTES, 0}}});
  const std::string k = "big";
  const std::string path = entry_path_of(root, b, k);
  ASSERT_FALSE(path.empty());
  ASSERT_EQ(::truncate(path.c_str(), std::int64_t{64} << 30), 0);
  std::string v;
  EXPECT_EQ(get(b, k, &v), BC_ECORRUPT);
  auto compute = [](void*, const void*, size_t, bc_buf* out) -> int {
    out->data = const_cast<char*>("fresh");
    out->size = 5;
    return 0;
  };
  bc_buf out{nullptr, 0};
  int hit = 1;
  ASSERT_EQ(bc_get_or_compute(b, k.data(), k.size(), compute, nullptr, &out, &hit), BC_OK)
      << bc_last_error_message();
  EXPECT_EQ(hit, 0);
  bc_buf_dispose(&out);
  EXPECT_EQ(get(b, k, &v), BC_OK);
  EXPECT_EQ(v, "fresh");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_LT(st.st_size, 4096);
  bc_bucket_close(b);
}

// A 1 GiB junk file costs no more memory than its header (measured in a child's peak RSS).
TEST(CapiCorrectness, AJunkGigabyteFileCostsNoMemory) {
  reltest::ScratchDir dir;
  const std::string root = dir.sub("b");
  bc_bucket* b = open_bucket(root, {{{BC_OPT_MEMORY_LIMIT_BYTES, 0}}});
  const std::string k = "junk";
  const std::string path = entry_path_of(root, b, k);
  ASSERT_FALSE(path.empty());
  ASSERT_EQ(::truncate(path.c_str(), std::int64_t{1} << 30), 0);
  const pid_t pid = reltest::spawn([&] {
    struct rusage before, after;
    ::getrusage(RUSAGE_SELF, &before);
    std::string v;
    for (int i = 0; i < 3; ++i) {
      if (get(b, k, &v) != BC_ECORRUPT) return 1;
    }
    ::getrusage(RUSAGE_SELF, &after);
    // ru_maxrss is in KiB: the peak may grow by a few pages, never by the file.
    return after.ru_maxrss - before.ru_maxrss < 16 * 1024 ? 0 : 2;
  });
  const reltest::ChildStatus st = reltest::wait_child(pid, 60);
  EXPECT_TRUE(st.exited && st.code == 0) << st.describe();
  bc_bucket_close(b);
}

// bc_get and bc_get_ex hand out exact bytes at every size, whether the value is read into
// the caller's buffer directly (memory layer off, entries larger than one read) or copied
// (memory layer, deferred writes); a large entry whose value bytes were damaged on disk is
// a miss, its buffer freed (LeakSanitizer), and the next set replaces it.
TEST(CapiCorrectness, ValuesOfEverySizeReadExactlyIntoTheCallersBuffer) {
  const std::vector<std::size_t> sizes = {0, 1, 100, 65535, 65536, 70000, std::size_t{1} << 20};
  for (std::int64_t memory : {std::int64_t{0}, std::int64_t{64} << 20}) {
    for (std::int64_t deferred : {0, 1}) {
      SCOPED_TRACE("memory " + std::to_string(memory) + " deferred " + std::to_string(deferred));
      reltest::ScratchDir dir;
      bc_bucket* b = open_bucket(
          dir.sub("b"), {{{BC_OPT_MEMORY_LIMIT_BYTES, memory}, {BC_OPT_DEFERRED, deferred}}});
      for (std::size_t size : sizes) {
        std::string value(size, '\0');
        for (std::size_t i = 0; i < size; ++i) value[i] = static_cast<char>(i * 131 + size);
        const std::string k = "k" + std::to_string(size);
        ASSERT_EQ(set(b, k, value), BC_OK);
        ASSERT_EQ(bc_sync(b), BC_OK);
        ASSERT_EQ(bc_unload_key(b, k.data(), k.size()), BC_OK);
        std::string got;
        ASSERT_EQ(get(b, k, &got), BC_OK) << size;
        EXPECT_TRUE(got == value) << size;
        bc_buf out{nullptr, 0};
        std::int64_t expires = -1;
        ASSERT_EQ(bc_get_ex(b, k.data(), k.size(), 0, &out, &expires), BC_OK) << size;
        ASSERT_NE(out.data, nullptr);
        EXPECT_EQ(std::string(static_cast<const char*>(out.data), out.size), value) << size;
        EXPECT_EQ(expires, 0);
        bc_buf_dispose(&out);
        // Too old for a max age of 1 us: a miss, the entry kept.
        ::usleep(2000);
        EXPECT_EQ(bc_get_ex(b, k.data(), k.size(), 1, &out, nullptr), BC_ENOTFOUND);
        EXPECT_EQ(out.data, nullptr);
      }
      bc_bucket_close(b);
    }
  }
  // The last value byte of a 1 MiB entry flipped on disk: the payload checksum fails.
  reltest::ScratchDir dir;
  const std::string root = dir.sub("b");
  bc_bucket* b = open_bucket(root, {{{BC_OPT_MEMORY_LIMIT_BYTES, 0}}});
  const std::string k = "damaged";
  const std::string path = entry_path_of(root, b, k);
  ASSERT_FALSE(path.empty());
  const std::string big(std::size_t{1} << 20, 'v');
  ASSERT_EQ(set(b, k, big), BC_OK);
  {
    FILE* f = std::fopen(path.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fseek(f, -1, SEEK_END), 0);
    ASSERT_EQ(std::fputc('w', f), 'w');
    std::fclose(f);
  }
  std::string got;
  EXPECT_EQ(get(b, k, &got), BC_ECORRUPT);
  EXPECT_TRUE(got.empty());
  ASSERT_EQ(set(b, k, big), BC_OK);
  EXPECT_EQ(get(b, k, &got), BC_OK);
  EXPECT_TRUE(got == big);
  bc_bucket_close(b);
}

TEST(CapiCorrectness, HugeLifetimeAndLockWaitSaturate) {
  reltest::ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"), {{{BC_OPT_LIFETIME_US, INT64_MAX},
                                             {BC_OPT_LOCK_WAIT_MS, INT64_MAX},
                                             {BC_OPT_MEMORY_LIMIT_BYTES, 0}}});
  ASSERT_EQ(set(b, "k", "v"), BC_OK);
  std::string v;
  EXPECT_EQ(get(b, "k", &v), BC_OK) << bc_last_error_message();
  std::int64_t expires = 0;
  ASSERT_EQ(bc_get_expiry(b, "k", 1, &expires), BC_OK);
  EXPECT_EQ(expires, INT64_MAX);
  // Two concurrent computations of one key compute once (the wait did not overflow).
  static std::atomic<int> computed{0};
  computed = 0;
  auto compute = [](void*, const void*, size_t, bc_buf* out) -> int {
    ++computed;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    out->data = const_cast<char*>("c");
    out->size = 1;
    return 0;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      bc_buf out{nullptr, 0};
      EXPECT_EQ(bc_get_or_compute(b, "c", 1, compute, nullptr, &out, nullptr), BC_OK);
      bc_buf_dispose(&out);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(computed.load(), 1);
  bc_bucket_close(b);
}

TEST(CapiCorrectness, EveryErrorCodeHasAName) {
  for (int code = BC_OK; code >= BC_EEXISTS; --code) {
    EXPECT_STRNE(bc_strerror(code), "unknown error code") << code;
  }
  EXPECT_STREQ(bc_strerror(BC_EEXISTS), "entry exists");
  EXPECT_STREQ(bc_strerror(-1000), "unknown error code");
  EXPECT_STREQ(bc_strerror(5), "unknown error code");
}

TEST(CapiCorrectness, AComputeAskingForItsOwnKeyFailsAtOnce) {
  reltest::ScratchDir dir;
  bc_bucket* b = open_bucket(dir.sub("b"), {{{BC_OPT_LOCK_WAIT_MS, 60000}}});
  struct Ctx {
    bc_bucket* b;
    int inner_rc = 0;
  } ctx{b};
  auto compute = [](void* user, const void* key, size_t klen, bc_buf* out) -> int {
    auto* c = static_cast<Ctx*>(user);
    bc_buf inner{nullptr, 0};
    auto never = [](void*, const void*, size_t, bc_buf*) -> int { return 1; };
    c->inner_rc = bc_get_or_compute(c->b, key, klen, never, nullptr, &inner, nullptr);
    bc_buf_dispose(&inner);
    out->data = const_cast<char*>("outer");
    out->size = 5;
    return 0;
  };
  bc_buf out{nullptr, 0};
  ASSERT_EQ(bc_get_or_compute(b, "k", 1, compute, &ctx, &out, nullptr), BC_OK);
  bc_buf_dispose(&out);
  EXPECT_EQ(ctx.inner_rc, BC_EINVAL);  // not a wait of lock_wait, then a computation
  bc_bucket_close(b);
}

}  // namespace

// A log callback may call the library, the same buckets included: the C API delivers a
// call's lines after the call has released its locks, lines of the callback's own calls
// are dropped (no recursion), and the call's error message survives the callback's calls.
// Without that, the first line deadlocks (the callback waited for the logging call's lock).
TEST(CapiCorrectness, ALogCallbackMayCallTheLibrary) {
  reltest::ScratchDir dir;
  expect_finishes(
      [&] {
        struct Ctx {
          bc_bucket* b = nullptr;
          bc_bucket* d = nullptr;
          int lines = 0;
          int wrong = 0;
        };
        static Ctx ctx;
        ctx.b = open_bucket(dir.sub("b"), {{{BC_OPT_MEMORY_LIMIT_BYTES, 0}}});
        ctx.d = open_bucket(dir.sub("d"), {{{BC_OPT_DEFERRED, 1}}});
        if (set(ctx.b, "x", "1") != BC_OK) return 1;
        auto cb = [](void* user, int, const char*, size_t) {
          auto* c = static_cast<Ctx*>(user);
          ++c->lines;
          std::string v;
          if (get(c->b, "x", &v) != BC_OK || v != "1") ++c->wrong;  // the same bucket
          if (set(c->b, "from callback", "2") != BC_OK) ++c->wrong;
          if (bc_sync(c->d) != BC_OK) ++c->wrong;  // the deferred bucket being synced
          std::string none;
          if (get(c->b, "absent", &none) != BC_ENOTFOUND) ++c->wrong;
        };
        if (bc_set_log_callback(cb, &ctx) != BC_OK) return 2;
        if (bc_set_log_level(BC_LOG_DEBUG) != BC_OK) return 3;
        std::string v;
        if (get(ctx.b, "x", &v) != BC_OK || v != "1") return 4;  // logs a file hit
        if (set(ctx.d, "p", "3") != BC_OK || bc_sync(ctx.d) != BC_OK) return 5;
        const int lines_before = ctx.lines;
        // A failing call's message is its own, whatever the callback's calls failed with.
        std::string bad;
        if (get(ctx.b, "missing", &bad) != BC_ENOTFOUND) return 6;
        if (std::strstr(bc_last_error_message(), "no entry for key") == nullptr) return 7;
        bc_set_log_level(BC_LOG_OFF);
        bc_set_log_callback(nullptr, nullptr);
        if (ctx.lines == 0 || ctx.lines == lines_before) return 8;  // lines were delivered
        if (ctx.wrong != 0) return 9;
        std::string from;
        if (get(ctx.b, "from callback", &from) != BC_OK || from != "2") return 10;
        bc_bucket_close(ctx.d);
        bc_bucket_close(ctx.b);
        return 0;
      },
      30, "a log callback calling the library");
}
