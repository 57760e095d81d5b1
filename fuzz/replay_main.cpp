// Runs fuzz inputs through a target without libFuzzer: each argument is a file or a
// directory of files (not recursive). Built with any compiler, so every CI configuration
// (gcc, ASan+UBSan, TSan) replays the committed corpus and crash inputs as a ctest test.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (!is_dir(arg)) {
      files.push_back(arg);
      continue;
    }
    DIR* d = ::opendir(arg.c_str());
    if (d == nullptr) {
      std::fprintf(stderr, "cannot open %s\n", arg.c_str());
      return 2;
    }
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n[0] != '.') names.push_back(arg + "/" + n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    files.insert(files.end(), names.begin(), names.end());
  }
  for (const std::string& f : files) {
    std::string bytes;
    FILE* in = std::fopen(f.c_str(), "rb");
    if (in == nullptr) {
      std::fprintf(stderr, "cannot read %s\n", f.c_str());
      return 2;
    }
    char buf[65536];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof(buf), in)) > 0;) bytes.append(buf, n);
    std::fclose(in);
    std::fprintf(stderr, "replaying %s (%zu bytes)\n", f.c_str(), bytes.size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("replayed %zu inputs\n", files.size());
  return 0;
}
