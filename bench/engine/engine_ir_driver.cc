// A deterministic driver for counting instructions (callgrind) where wall-clock figures are too
// noisy to compare two versions of the engine: the fleet of engine_bench.cc (1,000 devices,
// 10 Hz, sessions open, seqs rising), a warm-up pass of 200,000 messages, then N more; with a
// second argument, the forehead devices toggle depth_exceeded as in BM_TelemetryWithAlarms.
// Instructions per message = (Ir(N2) - Ir(N1)) / (N2 - N1). Command: RESULTS.md.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_fleet.h"
#include "needlewatch/engine/engine.h"

int main(int argc, char** argv) {
  using namespace needlewatch::engine::bench;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MESSAGES [alarms]\n", argv[0]);
    return 2;
  }
  const long n = std::atol(argv[1]);
  const bool alarms = argc > 2;
  std::vector<std::string> topics;
  for (int d = 0; d < kDevices; ++d) topics.push_back(TelemetryTopic(d));
  needlewatch::engine::Engine engine(BenchLimits());
  NullSink sink;
  for (long i = 0; i < 200000 + n; ++i) {
    const int d = static_cast<int>(i % kDevices);
    const long k = i / kDevices;
    const bool deep = alarms && d % 2 == 0 && (k % 200) % 10 < 5;  // forehead max 0.5
    engine.OnMessage(topics[static_cast<std::size_t>(d)],
                     TelemetryPayload(static_cast<unsigned>(1000000000L + k), k, d,
                                      deep ? 0.8 : SteadyDepth(k)),
                     kStart + i * 100000, sink);
  }
  std::printf("devices %zu accepted %llu\n", engine.device_count(),
              static_cast<unsigned long long>(engine.counters().accepted));
  return 0;
}
