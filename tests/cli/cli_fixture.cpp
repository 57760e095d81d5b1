// Writes a bucket for the command-line tool's tests (tests/cli/cli_test.py), through the
// core's FileStorage, with controlled headers: json, msgpack and raw entries, an expired
// one and one whose key is omitted.
//   cli_fixture <dir>
#include <iostream>
#include <msgpack.hpp>
#include <sstream>
#include <string>

#include "bucketcache/canonical.hpp"
#include "bucketcache/digest.hpp"
#include "storage/file/file_storage.hpp"
#include "support/clock.hpp"

namespace bc = bucketcache;
namespace st = bucketcache::storage;

namespace {

void put(st::FileStorage& s, const std::string& backend, const std::string& keymaker,
         const std::string& key, const std::string& value, std::int64_t expires_us,
         bool omit_key = false) {
  st::EntryToWrite e;
  e.header.backend_id = backend;
  e.header.keymaker_id = keymaker;
  e.header.created_us = bc::now_us();
  e.header.expires_us = expires_us;
  e.header.key = bc::digest_key(backend, keymaker, key);
  if (omit_key) {
    e.header.flags = bc::format::kKeyOmitted;
  } else {
    e.key_bytes = key;
  }
  e.value = value;
  s.write(e.header.key, e, st::Overwrite::yes, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: cli_fixture <dir>\n";
    return 2;
  }
  st::FileStorage s(argv[1], st::FileStorageOptions{});
  const std::int64_t now = bc::now_us();
  const std::int64_t hour = 3600LL * 1000000;
  put(s, "json", "json", bc::canonicalize_json(R"({"user": "ada", "id": 7})"), R"({"a":1})", 0);
  put(s, "json", "json", "\"spam\"", "[1,2,3]", now + hour);
  put(s, "json", "json", "\"old\"", "\"stale\"", now - hour);
  std::stringstream packed;
  msgpack::pack(packed, std::map<std::string, std::vector<int>>{{"x", {1, 2}}});
  put(s, "msgpack", "json", "42", packed.str(), 0);
  put(s, "raw", "raw", std::string("raw\0key", 7),
      std::string("\x01\x02"
                  "abc",
                  5),
      0);
  put(s, "json", "json", "\"secret\"", "\"hidden\"", 0, true);
  // Statistics counters of the json/json bucket, as the library persists them
  // (".stats-<hex backend>-<hex key format>").
  st::Counters counters;
  counters.hits = 3;
  counters.misses = 2;
  counters.writes = 6;
  counters.evictions = 0;
  counters.expired = 1;
  s.merge_counters("6a736f6e-6a736f6e", counters, false);
  std::cout << "cli_fixture wrote 6 entries\n";
  return 0;
}
