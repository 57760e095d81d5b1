// Cross-language check, C++ side: writes the shared data set with the typed API
// (JsonBackend and MsgpackBackend), or reads a set another language wrote.
//   crosslang_cpp write <dir> | crosslang_cpp read <dir>
// With BUCKETCACHE_CROSSLANG_STORE set (a redis:// URL), <dir> names buckets on that server
// instead, written and read through the C API (the typed API is file-only) with the same
// backends, key format and bytes.
// The data set (keys, values) is the same in crosslang.py and crosslang.mjs.
#include <bucketcache/bucketcache.h>

#include <bucketcache/backends/json.hpp>
#include <bucketcache/backends/msgpack.hpp>
#include <bucketcache/bucketcache.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

namespace bc = bucketcache;
using nlohmann::json;

namespace {

// The key {"id": 7, "user": "ada"}, through the key customization point.
struct UserKey {
  std::string user;
  int id;
  void write_key(bc::KeyWriter& w) const {
    w.begin_object();
    w.key("id");
    w.integer(id);
    w.key("user");
    w.string(user);
    w.end_object();
  }
};

const std::tuple<int, std::string, double> kListKey{1, "two", 3.5};
const UserKey kMapKey{"ada", 7};

int failures = 0;

template <class T>
void expect(const char* what, const std::optional<T>& got, const T& want) {
  if (!got) {
    std::cerr << "C++ reader: " << what << ": missing\n";
    ++failures;
  } else if (!(*got == want)) {
    std::cerr << "C++ reader: " << what << ": wrong value\n";
    ++failures;
  }
}

json json_value(int i) {
  switch (i) {
    case 0:
      return json{{"a", 1}, {"b", {1, 2, 3}}};
    case 1:
      return "forty-two";
    case 2:
      return json::array({true, nullptr, "x", 0.25});
    case 3:
      return json{{"name", "Ada Lovelace"}, {"langs", {"en", "fr"}}};
    default:
      return 2.25;
  }
}

using IntLists = std::map<std::string, std::vector<int>>;
using Strings = std::map<std::string, std::string>;
const IntLists kMsgpackA{{"a", {1}}, {"b", {1, 2, 3}}};
const std::vector<double> kMsgpackC{0.5, 1.5};
const Strings kMsgpackD{{"lang", "en"}, {"name", "Ada Lovelace"}};
const std::int64_t kMsgpackE = -7;

// ---- the same data set on a remote store, through the C API ----

// The keys as JSON text (BC_OPT_KEY_FORMAT "json" canonicalizes them as the typed API does).
const char* const kJsonKeys[] = {"\"spam\"", "42", "[1, \"two\", 3.5]",
                                 "{\"user\": \"ada\", \"id\": 7}", "1.5"};

bc_bucket* open_remote(const std::string& store, const std::string& name, const char* backend) {
  bc_options* o = nullptr;
  bc_options_new(&o);
  bc_options_set_str(o, BC_OPT_STORE, store.c_str());
  bc_options_set_str(o, BC_OPT_BACKEND, backend);
  bc_options_set_str(o, BC_OPT_KEY_FORMAT, "json");
  bc_bucket* b = nullptr;
  const int rc = bc_bucket_open(&b, name.c_str(), o);
  bc_options_free(o);
  if (rc != BC_OK) {
    std::cerr << "C++: cannot open " << name << ": " << bc_last_error_message() << "\n";
    std::exit(1);
  }
  return b;
}

template <class T>
std::string packed(const T& v) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, v);
  return std::string(buf.data(), buf.size());
}

void put(bc_bucket* b, int i, const std::string& value) {
  if (bc_set(b, kJsonKeys[i], std::strlen(kJsonKeys[i]), value.data(), value.size()) != BC_OK) {
    std::cerr << "C++: set failed: " << bc_last_error_message() << "\n";
    std::exit(1);
  }
}

std::optional<std::string> fetch(bc_bucket* b, int i) {
  bc_buf out{nullptr, 0};
  if (bc_get(b, kJsonKeys[i], std::strlen(kJsonKeys[i]), &out) != BC_OK) return std::nullopt;
  std::string v(static_cast<const char*>(out.data), out.size);
  bc_buf_dispose(&out);
  return v;
}

template <class T>
std::optional<T> unpacked(const std::optional<std::string>& bytes) {
  if (!bytes) return std::nullopt;
  const msgpack::object_handle h = msgpack::unpack(bytes->data(), bytes->size());
  return h.get().as<T>();
}

int remote_main(const std::string& mode, const std::string& name, const std::string& store) {
  bc_bucket* j = open_remote(store, name + "/json", "json");
  bc_bucket* m = open_remote(store, name + "/msgpack", "msgpack");
  if (mode == "write") {
    for (int i = 0; i < 5; ++i) put(j, i, json_value(i).dump());
    put(m, 0, packed(kMsgpackA));
    put(m, 1, packed(std::string("forty-two")));
    put(m, 2, packed(kMsgpackC));
    put(m, 3, packed(kMsgpackD));
    put(m, 4, packed(kMsgpackE));
    std::cout << "C++ wrote 10 entries to " << store << "\n";
  } else {
    for (int i = 0; i < 5; ++i) {
      const std::optional<std::string> v = fetch(j, i);
      expect(kJsonKeys[i], v ? std::optional<json>(json::parse(*v)) : std::nullopt, json_value(i));
    }
    expect("msgpack spam", unpacked<IntLists>(fetch(m, 0)), kMsgpackA);
    expect("msgpack 42", unpacked<std::string>(fetch(m, 1)), std::string("forty-two"));
    expect("msgpack list", unpacked<std::vector<double>>(fetch(m, 2)), kMsgpackC);
    expect("msgpack map", unpacked<Strings>(fetch(m, 3)), kMsgpackD);
    expect("msgpack 1.5", unpacked<std::int64_t>(fetch(m, 4)), kMsgpackE);
    std::cout << "C++ read 10 entries from " << store << ", " << failures << " wrong or missing\n";
  }
  bc_bucket_close(j);
  bc_bucket_close(m);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: crosslang_cpp write|read <dir>\n";
    return 2;
  }
  const std::string mode = argv[1], dir = argv[2];
  if (const char* store = std::getenv("BUCKETCACHE_CROSSLANG_STORE")) {
    return remote_main(mode, dir, store);
  }
  bc::Bucket<bc::JsonBackend> j(dir + "/json");
  bc::Bucket<bc::MsgpackBackend> m(dir + "/msgpack");
  if (mode == "write") {
    j.set(std::string("spam"), json_value(0));
    j.set(42, json_value(1));
    j.set(kListKey, json_value(2));
    j.set(kMapKey, json_value(3));
    j.set(1.5, json_value(4));
    m.set(std::string("spam"), kMsgpackA);
    m.set(42, std::string("forty-two"));
    m.set(kListKey, kMsgpackC);
    m.set(kMapKey, kMsgpackD);
    m.set(1.5, kMsgpackE);
    std::cout << "C++ wrote 10 entries\n";
    return 0;
  }
  expect("json spam", j.try_get<json>(std::string("spam")), json_value(0));
  expect("json 42", j.try_get<json>(42), json_value(1));
  expect("json [1,\"two\",3.5]", j.try_get<json>(kListKey), json_value(2));
  expect("json {id,user}", j.try_get<json>(kMapKey), json_value(3));
  expect("json 1.5", j.try_get<json>(1.5), json_value(4));
  expect("msgpack spam", m.try_get<IntLists>(std::string("spam")), kMsgpackA);
  expect("msgpack 42", m.try_get<std::string>(42), std::string("forty-two"));
  expect("msgpack list", m.try_get<std::vector<double>>(kListKey), kMsgpackC);
  expect("msgpack map", m.try_get<Strings>(kMapKey), kMsgpackD);
  expect("msgpack 1.5", m.try_get<std::int64_t>(1.5), kMsgpackE);
  std::cout << "C++ read 10 entries, " << failures << " wrong or missing\n";
  return failures == 0 ? 0 : 1;
}
