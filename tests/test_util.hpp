// Helpers shared by the unit tests.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace bctest {

// A fresh, empty directory under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Whole file as bytes; throws std::runtime_error if it cannot be read.
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);
// Names in a directory (without "." and ".."), sorted; empty if it cannot be read.
std::vector<std::string> list_dir(const std::string& path);

// Path of ../shared/testdata/<name>.
std::string shared_testdata(const std::string& name);

// The shared canonical key vectors (canonical-keys.json), parsed once; a missing or
// unreadable file throws, and so fails the test.
const nlohmann::json& key_vectors();

// Bytes from lowercase or uppercase hex ("22ff22" -> "\"\xff\"").
std::string from_hex(const std::string& hex);

}  // namespace bctest
