// Fuzz target: sequences of C API calls on a temp bucket, checked against a model.
//
// The input is a small program: each instruction is an opcode byte and operands read from
// the input (keys and values from small pools, chosen so that different JSON texts with one
// canonical form meet, or raw bytes from the input). Each input runs on a fresh bucket
// directory, with one handle at a time, reopened with other options (backend, key format,
// deferred writes, memory limit, check_file, lifetime) by the "reopen" instruction.
//
// The model knows, per (backend, key format, key), the value last stored and the lifetime it
// was written under, so it predicts every result exactly: bc_get returns that value or
// BC_ENOTFOUND (the lifetime rule of docs/on-disk-format.md decides expiry), bc_delete and
// bc_contains agree, bc_get_or_compute computes only on a miss, prune removes only expired
// entries. Any other result, a crash or a sanitizer report is a finding.
#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "bucketcache/bucketcache.h"

namespace {

[[noreturn]] void violation(const char* what, int rc, const std::string& detail = "") {
  std::fprintf(stderr, "capi_program_fuzz: %s (rc %d: %s; last error: %s) %s\n", what, rc,
               bc_strerror(rc), bc_last_error_message(), detail.c_str());
  std::abort();
}

class Reader {
 public:
  Reader(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  bool done() const { return i_ >= n_; }
  std::uint8_t byte() { return i_ < n_ ? p_[i_++] : 0; }
  std::string bytes(std::size_t max) {
    const std::size_t len = byte() % (max + 1);
    std::string s;
    for (std::size_t k = 0; k < len && i_ < n_; ++k) s += static_cast<char>(p_[i_++]);
    return s;
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
  std::size_t i_ = 0;
};

const char* const kBackends[] = {"raw", "json", "msgpack", "pickle"};
const char* const kKeyFormats[] = {"raw", "json"};
constexpr std::int64_t kHour = 3600LL * 1000000;
const std::int64_t kLifetimes[] = {0, kHour, 2 * kHour};
const std::int64_t kMemoryLimits[] = {0, 1024, 64LL << 20};

const std::vector<std::string>& raw_keys() {
  static const std::vector<std::string> k = {
      "", "a", "..", "/", std::string("\0", 1), "k1", "k2", std::string(300, 'x'), "../../etc"};
  return k;
}

const std::vector<std::string>& json_keys() {
  static const std::vector<std::string> k = {"1",
                                             "1.0",
                                             "10e-1",
                                             "\"a\"",
                                             "\"\\u0061\"",
                                             "[1,2]",
                                             "[ 1 , 2 ]",
                                             "{\"b\":1,\"a\":2}",
                                             "{\"a\":2,\"b\":1}",
                                             "null",
                                             "{\"a\":[{}]}",
                                             "\"..\\/..\"",
                                             "{",
                                             "[1,]",
                                             "\"\\ud800\"",
                                             "NaN",
                                             "-0",
                                             "0",
                                             "1e400",
                                             "{\"a\":1,\"a\":2}"};
  return k;
}

const std::vector<std::string>& values_for(const std::string& backend) {
  static const std::vector<std::string> raw = {"", "v", std::string(200, 'r'),
                                               std::string("\0\0", 2), "{"};
  static const std::vector<std::string> json = {"null",  "1", "[1,2]", "{\"x\":\"y\"}",
                                                "\"s\"", "{", "",      "1 2"};
  static const std::vector<std::string> msgpack = {
      "\xc0", "\x01", "\x92\x01\x02", "\xa1x", "\x92\x01", "\xc1", ""};
  if (backend == "json") return json;
  if (backend == "msgpack") return msgpack;
  return raw;
}

struct Config {
  int backend = 0;
  int key_format = 0;
  bool deferred = false;
  int memory = 2;
  bool check_file = false;
  int lifetime = 0;
};

struct Item {
  std::string value;
  std::int64_t written_lifetime = 0;
};

using ModelKey = std::tuple<int, int, std::string>;

struct Machine {
  std::string dir;
  bc_bucket* b = nullptr;
  Config cfg;
  std::map<ModelKey, Item> model;
  std::string computed;  // what the compute callback hands out
  int compute_calls = 0;
  bool compute_fails = false;

  std::int64_t lifetime() const { return kLifetimes[cfg.lifetime]; }
  bool readable(const Item& it) const {
    const std::int64_t l = lifetime();
    return !(l > 0 && (it.written_lifetime == 0 || it.written_lifetime > l));
  }

  void open() {
    bc_options* o = nullptr;
    if (bc_options_new(&o) != BC_OK) violation("bc_options_new", -1);
    int rc = bc_options_set_str(o, BC_OPT_BACKEND, kBackends[cfg.backend]);
    rc |= bc_options_set_str(o, BC_OPT_KEY_FORMAT, kKeyFormats[cfg.key_format]);
    rc |= bc_options_set_int(o, BC_OPT_DEFERRED, cfg.deferred ? 1 : 0);
    rc |= bc_options_set_int(o, BC_OPT_MEMORY_LIMIT_BYTES, kMemoryLimits[cfg.memory]);
    rc |= bc_options_set_int(o, BC_OPT_CHECK_FILE, cfg.check_file ? 1 : 0);
    rc |= bc_options_set_int(o, BC_OPT_LIFETIME_US, lifetime());
    rc |= bc_options_set_int(o, BC_OPT_LOCK_WAIT_MS, 1000);
    if (rc != BC_OK) violation("setting valid options failed", rc);
    rc = bc_bucket_open(&b, dir.c_str(), o);
    bc_options_free(o);
    if (rc != BC_OK) violation("bc_bucket_open", rc);
  }

  void close() {
    if (b != nullptr && bc_sync(b) != BC_OK) violation("bc_sync before close", -1);
    bc_bucket_close(b);
    b = nullptr;
  }

  // The key's model identity, or false if the key is not valid in the current key format.
  bool model_key(const std::string& key, ModelKey& out) {
    if (cfg.key_format == 0) {
      out = ModelKey(cfg.backend, 0, key);
      return true;
    }
    bc_buf canon{nullptr, 0};
    const int rc = bc_canonical_key(&canon, key.data(), key.size());
    if (rc != BC_OK) {
      if (rc != BC_EINVAL) violation("bc_canonical_key: unexpected code", rc);
      return false;
    }
    out = ModelKey(cfg.backend, 1, std::string(static_cast<const char*>(canon.data), canon.size));
    bc_buf_dispose(&canon);
    return true;
  }

  bool value_may_be_rejected() const { return cfg.backend == 1 || cfg.backend == 2; }

  std::string pick_key(Reader& in) {
    const std::uint8_t c = in.byte();
    const auto& pool = cfg.key_format == 0 ? raw_keys() : json_keys();
    if (c < 0xe0) return pool[c % pool.size()];
    return in.bytes(16);
  }

  std::string pick_value(Reader& in) {
    const std::uint8_t c = in.byte();
    const auto& pool = values_for(kBackends[cfg.backend]);
    if (c < 0xe0) return pool[c % pool.size()];
    return in.bytes(64);
  }

  static int compute_cb(void* user, const void*, size_t, bc_buf* out) {
    auto* m = static_cast<Machine*>(user);
    ++m->compute_calls;
    if (m->compute_fails) return 7;
    out->data = const_cast<char*>(m->computed.data());
    out->size = m->computed.size();
    return 0;
  }

  void step(Reader& in) {
    const int op = in.byte() % 12;
    switch (op) {
      case 0: {  // set
        const std::string key = pick_key(in);
        const std::string value = pick_value(in);
        ModelKey mk;
        const bool valid = model_key(key, mk);
        const int rc = bc_set(b, key.data(), key.size(), value.data(), value.size());
        if (!valid) {
          if (rc != BC_EINVAL) violation("bc_set with an invalid key", rc);
        } else if (rc == BC_OK) {
          model[mk] = Item{value, lifetime()};
        } else if (!(rc == BC_EINVAL && value_may_be_rejected())) {
          violation("bc_set failed", rc);
        }
        break;
      }
      case 1:    // get
      case 9: {  // get_expiry
        const std::string key = pick_key(in);
        ModelKey mk;
        const bool valid = model_key(key, mk);
        bc_buf out{nullptr, 0};
        std::int64_t expires = -1;
        const int rc = op == 1 ? bc_get(b, key.data(), key.size(), &out)
                               : bc_get_expiry(b, key.data(), key.size(), &expires);
        if (!valid) {
          if (rc != BC_EINVAL) violation("get with an invalid key", rc);
          break;
        }
        auto it = model.find(mk);
        if (it != model.end() && readable(it->second)) {
          if (rc != BC_OK) violation("get: a stored value is missing", rc);
          if (op == 1) {
            const std::string got(static_cast<const char*>(out.data), out.size);
            if (got != it->second.value) violation("get: WRONG VALUE", rc, got);
          } else if ((expires == 0) != (it->second.written_lifetime == 0)) {
            violation("get_expiry: wrong expiry", rc, std::to_string(expires));
          }
        } else {
          if (rc != BC_ENOTFOUND) violation("get: expected not found", rc);
          if (out.data != nullptr || out.size != 0) violation("get: out not cleared", rc);
          // A longer-lifetime entry is a miss here but stays stored (the lifetime rule).
        }
        bc_buf_dispose(&out);
        break;
      }
      case 2: {  // delete
        const std::string key = pick_key(in);
        ModelKey mk;
        const bool valid = model_key(key, mk);
        const int rc = bc_delete(b, key.data(), key.size());
        if (!valid) {
          if (rc != BC_EINVAL) violation("delete with an invalid key", rc);
          break;
        }
        const bool present = model.erase(mk) > 0;
        if (rc != (present ? BC_OK : BC_ENOTFOUND)) violation("delete: wrong result", rc);
        break;
      }
      case 3: {  // contains
        const std::string key = pick_key(in);
        ModelKey mk;
        const bool valid = model_key(key, mk);
        const int rc = bc_contains(b, key.data(), key.size());
        if (!valid) {
          if (rc != BC_EINVAL) violation("contains with an invalid key", rc);
          break;
        }
        auto it = model.find(mk);
        const int want = it != model.end() && readable(it->second) ? 1 : 0;
        if (rc != want) violation("contains: wrong answer", rc);
        break;
      }
      case 4: {  // unload
        const std::string key = pick_key(in);
        ModelKey mk;
        const bool valid = model_key(key, mk);
        const int rc = bc_unload_key(b, key.data(), key.size());
        if (rc != (valid ? BC_OK : BC_EINVAL)) violation("unload", rc);
        break;
      }
      case 5: {
        const int rc = bc_sync(b);
        if (rc != BC_OK) violation("sync", rc);
        break;
      }
      case 6: {  // prune: removes entries past their own expiry only; lifetimes here are
                 // hours, so nothing (entries of a longer lifetime stay: the lifetime rule)
        bc_prune_info info{0, 0};
        const int rc = bc_prune_directory(b, &info);
        if (rc != BC_OK) violation("prune", rc);
        if (info.files != 0) {
          violation("prune removed live entries", rc, std::to_string(info.files));
        }
        break;
      }
      case 7: {  // get_or_compute
        const std::string key = pick_key(in);
        const std::uint8_t c = in.byte();
        compute_fails = (c & 0x80) != 0;
        const auto& pool = values_for(kBackends[cfg.backend]);
        computed = pool[c % pool.size()];
        ModelKey mk;
        const bool valid = model_key(key, mk);
        bc_buf out{nullptr, 0};
        int hit = -1;
        compute_calls = 0;
        const int rc =
            bc_get_or_compute(b, key.data(), key.size(), &Machine::compute_cb, this, &out, &hit);
        if (!valid) {
          if (rc != BC_EINVAL || compute_calls != 0) violation("get_or_compute: invalid key", rc);
          break;
        }
        auto it = model.find(mk);
        if (it != model.end() && readable(it->second)) {
          if (rc != BC_OK || hit != 1 || compute_calls != 0) {
            violation("get_or_compute: should have hit", rc);
          }
          const std::string got(static_cast<const char*>(out.data), out.size);
          if (got != it->second.value) violation("get_or_compute: WRONG VALUE", rc, got);
        } else {
          // A longer-lifetime entry stays stored unless the computed value replaces it.
          if (compute_calls != 1) violation("get_or_compute: should have computed once", rc);
          if (compute_fails) {
            if (rc != BC_EUSER) violation("get_or_compute: callback failure not BC_EUSER", rc);
          } else if (rc == BC_OK) {
            if (hit != 0) violation("get_or_compute: computed but hit", rc);
            const std::string got(static_cast<const char*>(out.data), out.size);
            if (got != computed) violation("get_or_compute: not the computed value", rc, got);
            model[mk] = Item{computed, lifetime()};
          } else if (!(rc == BC_EINVAL && value_may_be_rejected())) {
            violation("get_or_compute failed", rc);
          }
        }
        bc_buf_dispose(&out);
        break;
      }
      case 8: {  // reopen with other options
        close();
        const std::uint8_t c = in.byte();
        const std::uint8_t d = in.byte();
        cfg.backend = c % 4;
        cfg.key_format = (c >> 2) % 2;
        cfg.deferred = ((c >> 3) & 1) != 0;
        cfg.memory = (c >> 4) % 3;
        cfg.check_file = ((c >> 6) & 1) != 0;
        cfg.lifetime = d % 3;
        open();
        break;
      }
      case 10: {  // canonical form: valid or BC_EINVAL; canonical forms are fixed points
        const std::string text = in.bytes(32);
        bc_buf out{nullptr, 0};
        const int rc = bc_canonical_key(&out, text.data(), text.size());
        if (rc == BC_OK) {
          bc_buf again{nullptr, 0};
          if (bc_canonical_key(&again, out.data, out.size) != BC_OK || again.size != out.size ||
              std::memcmp(again.data, out.data, out.size) != 0) {
            violation("canonical form is not canonical", rc);
          }
          bc_buf_dispose(&again);
        } else if (rc != BC_EINVAL) {
          violation("bc_canonical_key: unexpected code", rc);
        }
        bc_buf_dispose(&out);
        break;
      }
      default: {  // NULL arguments are rejected, never dereferenced
        bc_buf out{nullptr, 0};
        if (bc_set(b, nullptr, 3, "v", 1) != BC_EINVAL) violation("bc_set NULL key", -1);
        if (bc_set(b, "k", 1, nullptr, 2) != BC_EINVAL) violation("bc_set NULL value", -1);
        if (bc_get(b, "k", 1, nullptr) != BC_EINVAL) violation("bc_get NULL out", -1);
        if (bc_get(nullptr, "k", 1, &out) != BC_EINVAL) violation("bc_get NULL bucket", -1);
        if (bc_get_or_compute(b, "k", 1, nullptr, nullptr, &out, nullptr) != BC_EINVAL) {
          violation("bc_get_or_compute NULL fn", -1);
        }
        break;
      }
    }
  }
};

struct BaseDir {
  std::string path;
  ~BaseDir() { ::rmdir(path.c_str()); }
};

const std::string& base_dir() {
  static const BaseDir dir{[] {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/bc-capi-fuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    return tmpl;
  }()};
  return dir.path;
}

int remove_one(const char* path, const struct stat*, int, struct FTW*) {
  ::remove(path);
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  bc_set_log_level(BC_LOG_OFF);
  static unsigned long run = 0;
  Machine m;
  m.dir = base_dir() + "/b" + std::to_string(run++);
  m.open();
  Reader in(data, size);
  for (int steps = 0; steps < 64 && !in.done(); ++steps) m.step(in);
  m.close();
  ::nftw(m.dir.c_str(), remove_one, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}
