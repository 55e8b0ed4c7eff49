// libFuzzer harness for the MCAP reader: the input is a whole file. It is opened (from a memfd:
// no disk), read to the end, sought to its middle and asked for the latest limits record, under
// a small memory budget. Invariants: no crash, no unbounded allocation (ASan's allocator limit
// catches one), messages come in log-time order after a seek, and a stopped reader says why.
// Built as a real fuzzer with clang (NEEDLEWATCH_FUZZ) and replayed over corpus_mcap/ by
// fuzz_replay.cc in ordinary test builds.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "needlewatch/record/mcap_reader.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_mcap invariant violated: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = ::memfd_create("fuzz.mcap", 0);
  if (fd < 0) return 0;
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  needlewatch::record::McapReaderOptions o;
  o.max_chunk_bytes = 4 << 20;
  o.max_memory_bytes = 16 << 20;
  std::string error;
  auto reader = needlewatch::record::McapReader::Open(path, o, &error);
  if (!reader) {
    Check(!error.empty(), "Open failed without saying why");
  } else {
    needlewatch::record::RawMessage m;
    std::uint64_t n = 0;
    while (n < 100'000 && reader->Next(m)) {
      Check(!m.truncated() || !m.reject.empty(), "a truncated message that was not rejected");
      ++n;
    }
    const std::int64_t mid = reader->start_ns() / 2 + reader->end_ns() / 2;
    reader->SeekTo(mid);
    std::int64_t last = mid;
    for (std::uint64_t k = 0; k < 100'000 && reader->Next(m); ++k) {
      Check(m.receive_ns >= last || !reader->error().empty(), "seek result out of order");
      last = m.receive_ns;
    }
    reader->LatestBefore("$needlewatch/limits", mid, m);
  }
  ::close(fd);
  return 0;
}
