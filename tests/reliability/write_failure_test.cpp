// Write failures: a file-size limit (RLIMIT_FSIZE) or a full file system makes set() fail
// with IoError naming the path and the errno text, keeps the previous value readable and
// leaves no temp file (docs/reliability.md, "Full disk"). Each case runs in a forked child:
// the limit and the private tmpfs mount die with it.
#include <errno.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "bucketcache/error.hpp"
#include "bucketcache/store.hpp"
#include "rel_util.hpp"

namespace bc = bucketcache;

namespace {

constexpr int kSkipped = 77;

// Runs fn in a child; fn reports problems through `fail` lines. Returns the child's lines.
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

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The checks shared by both cases, on a store whose writes of `too_big` bytes fail with
// errno `err`: the error, the old value, the memory layer, no temp file.
void check_failed_overwrite(bc::Store& s, const std::string& bucket, std::size_t too_big, int err,
                            const reltest::Report& r) {
  const bc::Digest d = s.digest("precious");
  const std::string old_value = reltest::make_value(1, 1, 1000);
  try {
    s.set(d, old_value);
  } catch (const std::exception& e) {
    r.line(std::string("FAIL: the small first set failed: ") + e.what());
    return;
  }
  try {
    s.set(d, reltest::make_value(1, 2, too_big));
    r.line("FAIL: set of " + std::to_string(too_big) + " bytes succeeded");
  } catch (const bc::IoError& e) {
    const std::string what = e.what();
    if (e.errno_value() != err) {
      r.line("FAIL: errno " + std::to_string(e.errno_value()) + ", expected " +
             std::to_string(err) + ": " + what);
    }
    if (e.code() != bc::ErrorCode::io) r.line("FAIL: error code is not io");
    if (!contains(what, std::strerror(err))) r.line("FAIL: message lacks errno text: " + what);
    if (!contains(what, bucket)) r.line("FAIL: message lacks the path: " + what);
    r.line("message: " + what);
  } catch (const std::exception& e) {
    r.line(std::string("FAIL: not an IoError: ") + e.what());
  }
  // The previous value: from this store (its memory layer keeps the old value) and from
  // the file, through a fresh store without a memory layer.
  bc::Entry e;
  if (s.get(d, e) != bc::ReadStatus::found || *e.value != old_value)
    r.line("FAIL: old value lost from this store");
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store fresh(bucket, "raw", "raw", o);
  if (fresh.get(d, e) != bc::ReadStatus::found || *e.value != old_value)
    r.line("FAIL: old value lost on disk");
  const std::vector<std::string> left = reltest::leftovers(bucket);
  if (!left.empty()) r.line("FAIL: temp file left behind: " + left.front());
}

}  // namespace

// RLIMIT_FSIZE with SIGXFSZ ignored: write() fails with EFBIG once the file would pass the
// limit. (With SIGXFSZ at its default action the kernel kills the process, as for any
// program writing past its limit: docs/reliability.md.)
TEST(WriteFailure, FileSizeLimitFailsTheSetAndKeepsThePreviousValue) {
  reltest::ScratchDir dir;
  const std::string bucket = dir.sub("bucket");
  int code = 0;
  const std::string text = run_child(
      [&](const reltest::Report& r) {
        ::signal(SIGXFSZ, SIG_IGN);
        bc::Store s(bucket, "raw", "raw");
        // Only the soft limit changes (the hard one stays), so it can be raised again.
        struct rlimit lim;
        ::getrlimit(RLIMIT_FSIZE, &lim);
        lim.rlim_cur = 64 * 1024;
        if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) {
          r.line(std::string("FAIL: setrlimit: ") + std::strerror(errno));
          return;
        }
        check_failed_overwrite(s, bucket, 200 * 1024, EFBIG, r);
        // A limit below the header size: even an empty value cannot be written.
        lim.rlim_cur = 100;
        ::setrlimit(RLIMIT_FSIZE, &lim);
        try {
          s.set(s.digest("tiny"), "");
          r.line("FAIL: set under a 100-byte limit succeeded");
        } catch (const bc::IoError& e) {
          if (e.errno_value() != EFBIG) r.line(std::string("FAIL: ") + e.what());
        }
        if (!reltest::leftovers(bucket).empty()) r.line("FAIL: temp file left (tiny)");
        // Values under the limit still work.
        lim.rlim_cur = 64 * 1024;
        ::setrlimit(RLIMIT_FSIZE, &lim);
        try {
          s.set(s.digest("small"), std::string(1000, 's'));
        } catch (const std::exception& e) {
          r.line(std::string("FAIL: a small set under the limit: ") + e.what());
        }
        bc::Entry got;
        if (s.get(s.digest("small"), got) != bc::ReadStatus::found)
          r.line("FAIL: small value not readable");
      },
      &code);
  std::printf("%s", text.c_str());
  EXPECT_EQ(code, 0) << text;
  EXPECT_FALSE(contains(text, "FAIL")) << text;
  EXPECT_TRUE(contains(text, "message: cannot write entry")) << text;
}

// A full file system (a small private tmpfs): ENOSPC for the data, and for the inodes.
TEST(WriteFailure, FullFileSystemFailsTheSetAndKeepsThePreviousValue) {
  reltest::ScratchDir dir;
  const std::string mnt = dir.sub("mnt");
  ASSERT_EQ(::mkdir(mnt.c_str(), 0700), 0);
  int code = 0;
  const std::string text = run_child(
      [&](const reltest::Report& r) {
        const std::string why = reltest::mount_private_tmpfs(mnt, "size=256k,mode=0700");
        if (!why.empty()) {
          r.line("SKIP: could not mount a tmpfs (" + why + ")");
          ::_exit(kSkipped);
        }
        const std::string bucket = mnt + "/bucket";
        bc::Store s(bucket, "raw", "raw");
        // A value larger than the file system fails; the previous one stays.
        check_failed_overwrite(s, bucket, 300 * 1024, ENOSPC, r);
        // Fill the disk with entries of other keys until a set fails.
        const bc::Digest d = s.digest("precious");
        int written = 0;
        try {
          for (; written < 1000; ++written) {
            s.set(s.digest("filler-" + std::to_string(written)), std::string(16 * 1024, 'f'));
          }
          r.line("FAIL: 1000 sets of 16 KiB fit in a 256 KiB tmpfs");
        } catch (const bc::IoError& e) {
          if (e.errno_value() != ENOSPC) r.line(std::string("FAIL: filling: ") + e.what());
          r.line("filled after " + std::to_string(written) + " entries: " + e.what());
        }
        if (!reltest::leftovers(bucket).empty()) r.line("FAIL: temp file left while filling");
        bc::Options o;
        o.memory_limit_bytes = 0;
        bc::Store fresh(bucket, "raw", "raw", o);
        bc::Entry got;
        if (fresh.get(d, got) != bc::ReadStatus::found ||
            *got.value != reltest::make_value(1, 1, 1000)) {
          r.line("FAIL: old value lost after filling the disk");
        }
        // Freeing space makes writes work again.
        for (int i = 0; i < written; ++i) s.erase(s.digest("filler-" + std::to_string(i)));
        try {
          s.set(d, reltest::make_value(1, 3, 100 * 1024));
        } catch (const std::exception& e) {
          r.line(std::string("FAIL: set after freeing space: ") + e.what());
        }
      },
      &code);
  std::printf("%s", text.c_str());
  if (code == kSkipped) GTEST_SKIP() << text;
  EXPECT_EQ(code, 0) << text;
  EXPECT_FALSE(contains(text, "FAIL")) << text;
}

TEST(WriteFailure, NoInodesLeftFailsTheSetCleanly) {
  reltest::ScratchDir dir;
  const std::string mnt = dir.sub("mnt");
  ASSERT_EQ(::mkdir(mnt.c_str(), 0700), 0);
  int code = 0;
  const std::string text = run_child(
      [&](const reltest::Report& r) {
        const std::string why = reltest::mount_private_tmpfs(mnt, "size=1m,nr_inodes=12");
        if (!why.empty()) {
          r.line("SKIP: could not mount a tmpfs (" + why + ")");
          ::_exit(kSkipped);
        }
        const std::string bucket = mnt + "/bucket";
        bc::Store s(bucket, "raw", "raw");
        const bc::Digest d = s.digest("precious");
        const std::string old_value = reltest::make_value(1, 1, 500);
        s.set(d, old_value);
        int failures = 0;
        for (int i = 0; i < 40; ++i) {
          try {
            s.set(s.digest("k" + std::to_string(i)), "v");
          } catch (const bc::IoError& e) {
            ++failures;
            const std::string what = e.what();
            if (e.errno_value() != ENOSPC || !contains(what, std::strerror(ENOSPC)) ||
                !contains(what, bucket)) {
              r.line("FAIL: unexpected error: " + what);
            }
            if (failures == 1) r.line("first failure: " + what);
          }
        }
        if (failures == 0) r.line("FAIL: 40 new entries fit in 12 inodes");
        if (!reltest::leftovers(bucket).empty()) r.line("FAIL: temp file left behind");
        bc::Options o;
        o.memory_limit_bytes = 0;
        bc::Store fresh(bucket, "raw", "raw", o);
        bc::Entry got;
        if (fresh.get(d, got) != bc::ReadStatus::found || *got.value != old_value)
          r.line("FAIL: old value lost");
      },
      &code);
  std::printf("%s", text.c_str());
  if (code == kSkipped) GTEST_SKIP() << text;
  EXPECT_EQ(code, 0) << text;
  EXPECT_FALSE(contains(text, "FAIL")) << text;
}
