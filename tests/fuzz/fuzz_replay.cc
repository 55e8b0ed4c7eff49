// Replays files through the fuzz harness without libFuzzer (g++ test builds, ctest label fuzz).
//   fuzz_replay CORPUS_DIR... [--payloads PAYLOAD_DIR...]
// Files in a corpus dir are whole harness inputs (topic line, then payload). Files in a payload
// dir are bare payloads: each is fed once per device channel behind a matching topic line.
// Exits 0 when every input ran (the harness aborts on a violated invariant).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

void Run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  bool payloads = false;
  std::size_t files = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--payloads") {
      payloads = true;
      continue;
    }
    std::error_code ec;
    std::vector<fs::path> paths;
    for (fs::directory_iterator it(arg, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file()) paths.push_back(it->path());
    }
    if (ec || paths.empty()) {
      std::fprintf(stderr, "fuzz_replay: no files in %s\n", argv[i]);
      return 2;
    }
    for (const fs::path& p : paths) {
      std::ifstream in(p, std::ios::binary);
      const std::string content((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
      if (payloads) {
        for (const char* channel : {"telemetry", "event", "status"}) {
          Run(std::string("clinic/c1/device/d1/") + channel + "\n" + content);
        }
      } else {
        Run(content);
      }
      ++files;
    }
  }
  std::printf("fuzz_replay: %zu files replayed\n", files);
  return files > 0 ? 0 : 2;
}
