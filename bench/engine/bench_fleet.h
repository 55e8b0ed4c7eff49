// The fleet the engine benchmarks drive (engine_bench.cc, engine_ir_driver.cc): 1,000 devices in
// 20 clinics at 10 Hz, alternately on the cheek and the forehead, with these limits.
#ifndef NEEDLEWATCH_BENCH_ENGINE_BENCH_FLEET_H_
#define NEEDLEWATCH_BENCH_ENGINE_BENCH_FLEET_H_

#include <cstdio>
#include <string>

#include "needlewatch/engine/engine.h"

namespace needlewatch::engine::bench {

inline constexpr int kDevices = 1000;
inline constexpr int kRate = 10;  // samples per second per device
inline constexpr TimeNs kStart = 1'795'611'133LL * kNsPerSec;

class NullSink : public Sink {};

inline Limits BenchLimits() {
  Limits l;
  ZoneLimits cheek;
  cheek.depth_max_mm = 1.5;
  cheek.depth_warn_mm = 1.2;
  ZoneLimits forehead;
  forehead.depth_max_mm = 0.5;
  l.zones.emplace_back("cheek", cheek);
  l.zones.emplace_back("forehead", forehead);
  return l;
}

inline std::string TelemetryTopic(int d) {
  char topic[96];
  std::snprintf(topic, sizeof topic, "clinic/c%03d/device/d%05d/telemetry", d % 20, d);
  return topic;
}

// Sample k of device d (within limits unless `depth` says otherwise), with `seq`.
inline std::string TelemetryPayload(unsigned seq, long k, int d, double depth) {
  char payload[256];
  std::snprintf(payload, sizeof payload,
                "{\"v\":1,\"seq\":%u,\"ts\":%lld,\"session\":\"S-%05d\",\"zone\":\"%s\","
                "\"depth_mm\":%.2f,\"speed_hz\":%.1f}",
                seq, static_cast<long long>(1795611133000LL + k * 100), d,
                d % 2 ? "cheek" : "forehead", depth, 100.0 + static_cast<double>(k % 30));
  return payload;
}

// The within-limits depth of sample k.
inline double SteadyDepth(long k) { return 0.2 + 0.01 * static_cast<double>(k % 20); }

}  // namespace needlewatch::engine::bench

#endif  // NEEDLEWATCH_BENCH_ENGINE_BENCH_FLEET_H_
