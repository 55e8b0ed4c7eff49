// libFuzzer harness for the capture-line parsers of `needlewatch replay`
// (ParseCaptureTextLine for `mosquitto_sub -F '%U %t %p'`, ParseCaptureJsonLine for -F %j/%J).
// Each input is tried as one line of each format. Invariants: no crash; a parsed text line has
// a non-empty topic without spaces and round-trips through its own "%U %t %p" form; a parsed
// JSON line has a non-empty topic and a QoS of 0-2.
// Built as a real fuzzer with clang (NEEDLEWATCH_FUZZ) and replayed over corpus_capture/.
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "needlewatch/replay/source.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_capture invariant violated: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  needlewatch::record::RawMessage m;
  if (needlewatch::replay::ParseCaptureTextLine(line, m)) {
    Check(!m.topic.empty(), "text: empty topic");
    Check(m.topic.find(' ') == std::string::npos, "text: space in topic");
    Check(m.receive_ns >= 0, "text: negative time");
    char stamp[48];
    std::snprintf(stamp, sizeof stamp, "%" PRId64 ".%09" PRId64, m.receive_ns / 1'000'000'000,
                  m.receive_ns % 1'000'000'000);
    const std::string again = std::string(stamp) + " " + m.topic + " " + m.payload;
    needlewatch::record::RawMessage n;
    Check(needlewatch::replay::ParseCaptureTextLine(again, n), "text: own form does not parse");
    Check(n.receive_ns == m.receive_ns && n.topic == m.topic && n.payload == m.payload,
          "text: round trip differs");
  }
  if (needlewatch::replay::ParseCaptureJsonLine(line, m)) {
    Check(!m.topic.empty(), "json: empty topic");
    Check(m.qos <= 2, "json: qos out of range");
  }
  return 0;
}
