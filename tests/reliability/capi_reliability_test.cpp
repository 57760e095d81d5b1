// The reliability guarantees through the C API (libbucketcache.so only, as bindings use it):
// damaged entries are BC_ECORRUPT, write failures BC_EIO with path and errno text and the
// previous value kept, hostile keys never become paths (docs/reliability.md).
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "bucketcache/bucketcache.h"
#include "capi_util.hpp"
#include "rel_util.hpp"

namespace {

using capitest::get;
using capitest::set;

constexpr int kSkipped = 77;

struct Bucket {
  bc_bucket* b = nullptr;
  Bucket(const std::string& path, std::vector<std::pair<int, std::int64_t>> ints = {},
         std::vector<std::pair<int, const char*>> strs = {}) {
    bc_options* o = nullptr;
    if (bc_options_new(&o) != BC_OK) return;
    for (const auto& [opt, v] : ints) bc_options_set_int(o, opt, v);
    for (const auto& [opt, v] : strs) bc_options_set_str(o, opt, v);
    bc_bucket_open(&b, path.c_str(), o);
    bc_options_free(o);
  }
  ~Bucket() { bc_bucket_close(b); }
  Bucket(const Bucket&) = delete;
  Bucket& operator=(const Bucket&) = delete;
};

std::vector<std::string> entry_files(const std::string& root) {
  std::vector<std::string> out;
  for (const reltest::TreeItem& t : reltest::walk_tree(root)) {
    if (t.path.size() > 4 && t.path.compare(t.path.size() - 4, 4, ".bce") == 0) {
      out.push_back(root + "/" + t.path);
    }
  }
  return out;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  std::fclose(f);
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

int computed_calls = 0;
int compute_fixed(void* user, const void*, size_t, bc_buf* out) {
  ++computed_calls;
  const std::string* v = static_cast<const std::string*>(user);
  out->data = const_cast<char*>(v->data());
  out->size = v->size();
  return 0;
}

}  // namespace

TEST(CApiCorruption, EveryBitFlipAndTruncationIsBcECorrupt) {
  reltest::ScratchDir dir;
  Bucket bk(dir.sub("bucket"), {{BC_OPT_MEMORY_LIMIT_BYTES, 0}});
  ASSERT_NE(bk.b, nullptr) << bc_last_error_message();
  const std::string key = "corrupt-me";
  const std::string value = reltest::make_value(3, 9, 2 * 1024 + 500);
  ASSERT_EQ(set(bk.b, key, value), BC_OK);
  const std::vector<std::string> files = entry_files(dir.sub("bucket"));
  ASSERT_EQ(files.size(), 1u);
  const std::string path = files[0];
  const std::string good = reltest::slurp(path);
  ASSERT_EQ(good.size(), 128 + key.size() + value.size());  // header, key, value

  const std::string recomputed = reltest::make_value(3, 10, 700);
  std::string got;
  // Damage in place (pwrite one byte, read, restore), so ~20,000 reads stay fast.
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  for (std::size_t byte = 0; byte < good.size(); ++byte) {
    const auto off = static_cast<off_t>(byte);
    for (int bit = 0; bit < 8; ++bit) {
      const char bad = static_cast<char>(good[byte] ^ (1 << bit));
      ASSERT_EQ(::pwrite(fd, &bad, 1, off), 1);
      ASSERT_EQ(get(bk.b, key, &got), BC_ECORRUPT) << "byte " << byte << " bit " << bit;
      ASSERT_EQ(got, "") << "byte " << byte << " bit " << bit;
      if ((byte * 8 + static_cast<std::size_t>(bit)) % 97 == 0) {
        ASSERT_TRUE(has(bc_last_error_message(), "corrupt")) << bc_last_error_message();
        std::int64_t expires = -1;
        EXPECT_EQ(bc_get_expiry(bk.b, key.data(), key.size(), &expires), BC_ECORRUPT);
        // A read-through call treats the damaged entry as a miss and replaces it...
        bc_buf out{nullptr, 0};
        int hit = -1;
        computed_calls = 0;
        ASSERT_EQ(bc_get_or_compute(bk.b, key.data(), key.size(), compute_fixed,
                                    const_cast<std::string*>(&recomputed), &out, &hit),
                  BC_OK)
            << bc_last_error_message();
        EXPECT_EQ(hit, 0);
        EXPECT_EQ(computed_calls, 1);
        EXPECT_EQ(std::string(static_cast<const char*>(out.data), out.size), recomputed);
        bc_buf_dispose(&out);
        // ...by a new file: put the original one back for the next flips.
        ::close(fd);
        write_bytes(path, good);
        fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        continue;
      }
      ASSERT_EQ(::pwrite(fd, &good[byte], 1, off), 1);
    }
  }
  for (std::size_t len = good.size(); len-- > 0;) {
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(len)), 0);
    ASSERT_EQ(get(bk.b, key, &got), BC_ECORRUPT) << "truncated to " << len;
    ASSERT_EQ(bc_contains(bk.b, key.data(), key.size()), 0) << "truncated to " << len;
  }
  ::close(fd);
  write_bytes(path, good);
  ASSERT_EQ(get(bk.b, key, &got), BC_OK);
  EXPECT_EQ(got, value);
}

namespace {

// Runs fn in a forked child; returns its report lines, *code its exit code.
std::string run_child(const std::function<void(const reltest::Report&)>& fn, int* code) {
  reltest::Report report;
  const pid_t pid = reltest::spawn([&] {
    report.child_side();
    fn(report);
    return 0;
  });
  if (pid <= 0) {
    *code = -1;
    return "fork failed";
  }
  const reltest::ChildStatus st = reltest::wait_child(pid, 300);
  std::string text = report.collect();
  *code = st.exited ? st.code : 1000 + st.signal;
  if (!st.exited) text += st.describe() + "\n";
  return text;
}

// A set of `big` bytes fails with BC_EIO naming the path and errno text; the old value stays
// (this handle, a fresh handle, a deferred handle's sync), no temp file is left.
void check_failed_set(const std::string& bucket, std::size_t big, int err,
                      const reltest::Report& r) {
  Bucket bk(bucket);
  if (bk.b == nullptr) {
    r.line(std::string("FAIL: open: ") + bc_last_error_message());
    return;
  }
  const std::string old_value = reltest::make_value(5, 1, 900);
  if (set(bk.b, "precious", old_value) != BC_OK) {
    r.line(std::string("FAIL: first set: ") + bc_last_error_message());
    return;
  }
  const int rc = set(bk.b, "precious", reltest::make_value(5, 2, big));
  const std::string msg = bc_last_error_message();
  if (rc != BC_EIO) r.line("FAIL: bc_set returned " + std::to_string(rc) + ": " + msg);
  if (!has(msg, bucket)) r.line("FAIL: message lacks the path: " + msg);
  if (!has(msg, std::strerror(err))) r.line("FAIL: message lacks the errno text: " + msg);
  r.line("bc_set: " + std::string(bc_strerror(rc)) + ": " + msg);
  std::string got;
  if (get(bk.b, "precious", &got) != BC_OK || got != old_value) r.line("FAIL: old value lost");
  {
    Bucket fresh(bucket, {{BC_OPT_MEMORY_LIMIT_BYTES, 0}});
    if (get(fresh.b, "precious", &got) != BC_OK || got != old_value) {
      r.line("FAIL: old value lost on disk");
    }
  }
  {
    Bucket deferred(bucket, {{BC_OPT_DEFERRED, 1}});
    if (set(deferred.b, "precious", reltest::make_value(5, 3, big)) != BC_OK) {
      r.line("FAIL: deferred set (in memory) failed");
    }
    const int src = bc_sync(deferred.b);
    if (src != BC_EIO) r.line("FAIL: bc_sync returned " + std::to_string(src));
    if (!has(bc_last_error_message(), std::strerror(err))) {
      r.line(std::string("FAIL: sync message: ") + bc_last_error_message());
    }
    bc_set_log_level(BC_LOG_OFF);  // closing retries the pending write and logs the loss
  }
  {
    Bucket fresh(bucket, {{BC_OPT_MEMORY_LIMIT_BYTES, 0}});
    if (get(fresh.b, "precious", &got) != BC_OK || got != old_value) {
      r.line("FAIL: old value lost after the failed sync");
    }
  }
  const std::vector<std::string> left = reltest::leftovers(bucket);
  if (!left.empty()) r.line("FAIL: temp file left: " + left.front());
}

}  // namespace

TEST(CApiWriteFailure, FileSizeLimitIsBcEIOAndKeepsThePreviousValue) {
  reltest::ScratchDir dir;
  const std::string bucket = dir.sub("bucket");
  int code = 0;
  const std::string text = run_child(
      [&](const reltest::Report& r) {
        ::signal(SIGXFSZ, SIG_IGN);
        { Bucket create(bucket); }
        struct rlimit lim;
        ::getrlimit(RLIMIT_FSIZE, &lim);
        lim.rlim_cur = 48 * 1024;
        ::setrlimit(RLIMIT_FSIZE, &lim);
        check_failed_set(bucket, 100 * 1024, EFBIG, r);
      },
      &code);
  std::printf("%s", text.c_str());
  EXPECT_EQ(code, 0) << text;
  EXPECT_FALSE(has(text, "FAIL")) << text;
  EXPECT_TRUE(has(text, "bc_set: I/O error")) << text;
}

TEST(CApiWriteFailure, FullFileSystemIsBcEIOAndKeepsThePreviousValue) {
  reltest::ScratchDir dir;
  const std::string mnt = dir.sub("mnt");
  ASSERT_EQ(::mkdir(mnt.c_str(), 0700), 0);
  int code = 0;
  const std::string text = run_child(
      [&](const reltest::Report& r) {
        const std::string why = reltest::mount_private_tmpfs(mnt, "size=128k");
        if (!why.empty()) {
          r.line("SKIP: could not mount a tmpfs (" + why + ")");
          ::_exit(kSkipped);
        }
        check_failed_set(mnt + "/bucket", 200 * 1024, ENOSPC, r);
      },
      &code);
  std::printf("%s", text.c_str());
  if (code == kSkipped) GTEST_SKIP() << text;
  EXPECT_EQ(code, 0) << text;
  EXPECT_FALSE(has(text, "FAIL")) << text;
}

TEST(CApiHostile, KeysNeverBecomePaths) {
  reltest::ScratchDir dir;
  std::string big_raw;
  while (big_raw.size() < (1u << 20)) big_raw += "/../";
  const std::vector<std::string> raw_keys = {"..",
                                             "/",
                                             "../../../../tmp/bucketcache-capi-escaped",
                                             std::string("\0", 1),
                                             std::string("x\0/../..", 8),
                                             big_raw,
                                             ""};
  std::string big_json = "\"";
  while (big_json.size() < (1u << 20)) big_json += "../\\u0000/";
  big_json += "\"";
  const std::vector<std::string> json_keys = {"\"..\"",
                                              "\"/\"",
                                              "\"../../../../tmp/bucketcache-capi-escaped\"",
                                              "\"\\u0000\"",
                                              "{\"/\":\"..\",\"..\":[\"/\"]}",
                                              big_json};
  std::size_t expected = 0;
  {
    Bucket raw(dir.sub("bucket"));
    ASSERT_NE(raw.b, nullptr);
    for (const std::string& k : raw_keys) {
      ASSERT_EQ(set(raw.b, k, "v:" + std::to_string(k.size())), BC_OK) << bc_last_error_message();
      std::string got;
      ASSERT_EQ(get(raw.b, k, &got), BC_OK);
      EXPECT_EQ(got, "v:" + std::to_string(k.size()));
      ++expected;
    }
    // A NULL key with a length is rejected, not dereferenced.
    EXPECT_EQ(bc_set(raw.b, nullptr, 5, "v", 1), BC_EINVAL);
  }
  {
    Bucket json(dir.sub("bucket"), {}, {{BC_OPT_KEY_FORMAT, "json"}, {BC_OPT_BACKEND, "json"}});
    ASSERT_NE(json.b, nullptr);
    for (const std::string& k : json_keys) {
      ASSERT_EQ(set(json.b, k, "[1]"), BC_OK) << bc_last_error_message();
      std::string got;
      ASSERT_EQ(get(json.b, k, &got), BC_OK);
      EXPECT_EQ(got, "[1]");
      ++expected;
    }
    // Not JSON: rejected before anything touches the disk.
    for (const std::string& k :
         {std::string("../x"), std::string("/"), std::string("\"a\0\"", 4)}) {
      EXPECT_EQ(set(json.b, k, "1"), BC_EINVAL) << k;
    }
    bc_prune_info info;
    EXPECT_EQ(bc_prune_directory(json.b, &info), BC_OK);
  }
  std::size_t entries = 0;
  for (const reltest::TreeItem& t : reltest::walk_tree(dir.path())) {
    SCOPED_TRACE(t.path);
    ASSERT_EQ(t.path.rfind("bucket", 0), 0u) << "a file outside the bucket directory";
    EXPECT_FALSE(t.is_symlink);
    const std::string name = t.path.substr(t.path.rfind('/') + 1);
    if (t.is_dir) {
      EXPECT_TRUE(name == "bucket" || name.size() == 2);
      EXPECT_EQ(t.mode, 0700u);
    } else if (name.rfind(".stats-", 0) == 0 || name.rfind(".size-", 0) == 0) {
      // The library's per-bucket statistics and size files, in the bucket directory only.
      EXPECT_EQ(t.path.find('/'), t.path.rfind('/'));
      EXPECT_EQ(t.mode, 0600u);
    } else if (name != ".prune.lock") {
      EXPECT_EQ(name.size(), 68u);
      EXPECT_EQ(name.substr(64), ".bce");
      EXPECT_EQ(name.find_first_not_of("0123456789abcdef"), 64u);
      EXPECT_EQ(t.mode, 0600u);
      ++entries;
    }
  }
  EXPECT_EQ(entries, expected);
  EXPECT_FALSE(reltest::file_exists("/tmp/bucketcache-capi-escaped"));
}
