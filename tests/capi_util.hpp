// Helpers shared by the C API test programs (tests/reliability, tests/redis): opening a
// bucket from lists of options, and set/get/stat on std::string. Header-only; uses the C API
// and GoogleTest only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bucketcache/bucketcache.h"

namespace capitest {

// Options for bc_bucket_open: integer and string options, set in this order.
struct Options {
  Options() = default;
  Options(std::vector<std::pair<int, std::int64_t>> i,
          std::vector<std::pair<int, std::string>> s = {})
      : ints(std::move(i)), strs(std::move(s)) {}
  std::vector<std::pair<int, std::int64_t>> ints;
  std::vector<std::pair<int, std::string>> strs;
};

struct Closer {
  void operator()(bc_bucket* b) const { bc_bucket_close(b); }
};
// Closes the bucket when it goes out of scope.
using Handle = std::unique_ptr<bc_bucket, Closer>;

// bc_bucket_open's code for `path` (a directory, or a bucket name when BC_OPT_STORE names a
// server); *out is the bucket on BC_OK. An option the library refuses fails the test.
inline int try_open(const std::string& path, const Options& opts, bc_bucket** out) {
  bc_options* o = nullptr;
  EXPECT_EQ(bc_options_new(&o), BC_OK);
  for (const auto& [opt, v] : opts.ints) {
    EXPECT_EQ(bc_options_set_int(o, opt, v), BC_OK)
        << "option " << opt << ": " << bc_last_error_message();
  }
  for (const auto& [opt, v] : opts.strs) {
    EXPECT_EQ(bc_options_set_str(o, opt, v.c_str()), BC_OK)
        << "option " << opt << ": " << bc_last_error_message();
  }
  *out = nullptr;
  const int rc = bc_bucket_open(out, path.c_str(), o);
  bc_options_free(o);
  return rc;
}

// The opened bucket; a failure to open fails the test (and returns nullptr).
inline bc_bucket* open_bucket(const std::string& path, const Options& opts = {}) {
  bc_bucket* b = nullptr;
  EXPECT_EQ(try_open(path, opts, &b), BC_OK) << path << ": " << bc_last_error_message();
  return b;
}

inline int set(bc_bucket* b, const std::string& k, const std::string& v) {
  return bc_set(b, k.data(), k.size(), v.data(), v.size());
}

// bc_get's code; *value is the value on BC_OK, else "" (or "OUT NOT CLEARED" if a failed
// get left bytes in its output, which the C API promises not to do).
inline int get(bc_bucket* b, const std::string& k, std::string* value) {
  bc_buf out{nullptr, 0};
  const int rc = bc_get(b, k.data(), k.size(), &out);
  value->clear();
  if (rc == BC_OK) value->assign(static_cast<const char*>(out.data), out.size);
  if (rc != BC_OK && (out.data != nullptr || out.size != 0)) value->assign("OUT NOT CLEARED");
  bc_buf_dispose(&out);
  return rc;
}

// The value, "<miss>" for BC_ENOTFOUND, or "<code>" for another error (*code: bc_get's code).
inline std::string value_of(bc_bucket* b, const std::string& k, int* code = nullptr) {
  std::string v;
  const int rc = get(b, k, &v);
  if (code != nullptr) *code = rc;
  if (rc == BC_OK) return v;
  return rc == BC_ENOTFOUND ? "<miss>" : "<" + std::to_string(rc) + ">";
}

// The counter `which` (BC_STAT_*); a failing bc_stat fails the test.
inline std::uint64_t stat_of(bc_bucket* b, int which) {
  std::uint64_t v = ~std::uint64_t{0};
  EXPECT_EQ(bc_stat(b, which, &v), BC_OK) << bc_last_error_message();
  return v;
}

// The same on a Handle.
inline int set(const Handle& b, const std::string& k, const std::string& v) {
  return set(b.get(), k, v);
}
inline std::string value_of(const Handle& b, const std::string& k, int* code = nullptr) {
  return value_of(b.get(), k, code);
}
inline std::uint64_t stat_of(const Handle& b, int which) { return stat_of(b.get(), which); }

}  // namespace capitest
