// Cross-language check, C++ side: writes the shared data set with the typed API
// (JsonBackend and MsgpackBackend), or reads a set another language wrote.
//   crosslang_cpp write <dir> | crosslang_cpp read <dir>
// The data set (keys, values) is the same in crosslang.py and crosslang.mjs.
#include <bucketcache/backends/json.hpp>
#include <bucketcache/backends/msgpack.hpp>
#include <bucketcache/bucketcache.hpp>
#include <cstdint>
#include <iostream>
#include <map>
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

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: crosslang_cpp write|read <dir>\n";
    return 2;
  }
  const std::string mode = argv[1], dir = argv[2];
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
