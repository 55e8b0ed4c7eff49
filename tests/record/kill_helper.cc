// Test helper for kill_test.cc: records NumberedMessage(0), (1), … into DIR through a Recorder
// until it is killed, printing "written N" (messages in closed chunks) as that grows.
#include <cstdio>
#include <string>
#include <thread>

#include "needlewatch/record/recorder.h"
#include "test_util.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  needlewatch::record::RecorderOptions o;
  o.dir = argv[1];
  o.chunk_max_bytes = 4 * 1024;
  o.chunk_max_age = 2'000'000;  // 2 ms
  std::string error;
  auto rec = needlewatch::record::Recorder::Start(o, &error);
  if (!rec) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::uint64_t reported = 0;
  for (std::uint64_t i = 0;; ++i) {
    // Never skip a message: the test checks that what it finds is an unbroken prefix.
    while (!rec->Submit(needlewatch::record::testing::NumberedMessage(i))) {
      std::this_thread::yield();
    }
    const std::uint64_t written = rec->written();
    if (written != reported) {
      reported = written;
      std::printf("written %llu\n", static_cast<unsigned long long>(written));
      std::fflush(stdout);
    }
  }
}
