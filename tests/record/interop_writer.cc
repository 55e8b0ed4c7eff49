// Test helper for the interop test: writes a deterministic MCAP file with McapWriter and a JSON
// list of what it wrote ([{"topic","qos","retain","log_time","data_hex"}], in write order).
#include <cstdio>
#include <fstream>
#include <string>

#include "needlewatch/record/mcap_writer.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OUT.mcap OUT.json\n", argv[0]);
    return 2;
  }
  needlewatch::record::McapWriterOptions o;
  o.chunk_max_bytes = 8 * 1024;
  std::string error;
  auto w = needlewatch::record::McapWriter::Create(argv[1], o, &error);
  if (!w) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::ofstream json(argv[2]);
  json << "[\n";
  std::uint64_t state = 0x9E3779B97F4A7C15ULL;
  auto next = [&state] {  // xorshift64: deterministic without <random> differences
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  std::int64_t t = 1'795'611'133'000'000'000LL;
  const int n = 3000;
  for (int i = 0; i < n; ++i) {
    needlewatch::record::RawMessage m;
    // Mostly increasing, some ties, some steps back (log-time order differs from file order).
    const std::uint64_t r = next();
    t += (r % 5 == 0) ? 0 : static_cast<std::int64_t>(r % 2'000'000);
    m.receive_ns = (r % 13 == 0) ? t - 5'000'000 : t;
    m.topic = "clinics/c" + std::to_string(i % 3) + "/devices/d" + std::to_string(i % 7) +
              "/telemetry";
    m.qos = static_cast<std::uint8_t>(i % 3);
    m.retain = i % 10 == 0;
    if (i % 17 == 0) {
      for (int k = 0; k < 24; ++k) m.payload.push_back(static_cast<char>(next() & 0xFF));
    } else if (i % 101 == 0) {
      m.payload.clear();
    } else {
      m.payload = "{\"session\":\"s" + std::to_string(i / 100) + "\",\"depth_mm\":" +
                  std::to_string(i % 20) + ".25,\"seq\":" + std::to_string(i) + "}";
    }
    if (!w->Write(m)) {
      std::fprintf(stderr, "%s\n", w->error().c_str());
      return 1;
    }
    static const char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned char c : m.payload) {
      hex.push_back(kHex[c >> 4]);
      hex.push_back(kHex[c & 15]);
    }
    json << "  {\"topic\":\"" << m.topic << "\",\"qos\":" << int(m.qos)
         << ",\"retain\":" << (m.retain ? "true" : "false") << ",\"log_time\":\"" << m.receive_ns
         << "\",\"data_hex\":\"" << hex << "\"}" << (i + 1 < n ? ",\n" : "\n");
  }
  json << "]\n";
  if (!w->Close()) {
    std::fprintf(stderr, "%s\n", w->error().c_str());
    return 1;
  }
  return json.good() ? 0 : 1;
}
