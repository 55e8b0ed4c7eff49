// A /metrics scrape of N devices, each in an open session, one in ten with an active alarm:
// Metrics::Snapshot (on the daemon's loop thread: everything else waits meanwhile),
// Metrics::RenderSnapshot (on the HTTP worker thread) and GzipCompress of that body at zlib
// levels 1 (the default) and 6 (also off the loop), with the body sizes. Results: RESULTS.md.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include "gzip.h"
#include "metrics.h"
#include "needlewatch/engine/engine.h"

namespace {

using needlewatch::daemon::DaemonStats;
using needlewatch::daemon::Metrics;
using needlewatch::engine::Engine;
using needlewatch::engine::Limits;
using needlewatch::engine::Sink;

constexpr std::int64_t kT0 = 1'790'000'000'000'000'000;

// N devices in clinics of 100; device i%10==0 samples 2.5 mm on the cheek (depth_exceeded).
void Fill(Engine& eng, int n) {
  Sink sink;
  char topic[96], payload[200];
  for (int i = 0; i < n; ++i) {
    std::snprintf(topic, sizeof topic, "clinic/c%03d/device/d%05d/telemetry", i / 100, i);
    std::snprintf(payload, sizeof payload,
                  "{\"v\":1,\"seq\":1,\"ts\":1790000000000,\"session\":\"S-%05d\","
                  "\"zone\":\"cheek\",\"depth_mm\":%s,\"speed_hz\":100}",
                  i, i % 10 == 0 ? "2.5" : "0.5");
    eng.OnMessage(topic, payload, kT0 + i, sink);
  }
}

void BM_Snapshot(benchmark::State& state) {
  Engine eng{Limits{}};
  Fill(eng, static_cast<int>(state.range(0)));
  Metrics m;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.Snapshot(eng, DaemonStats{}));
  }
  state.counters["devices"] = static_cast<double>(state.range(0));
}

void BM_RenderSnapshot(benchmark::State& state) {
  Engine eng{Limits{}};
  Fill(eng, static_cast<int>(state.range(0)));
  Metrics m;
  const auto snap = m.Snapshot(eng, DaemonStats{});
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text = Metrics::RenderSnapshot(snap);
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
}

// The scrape body compressed as for `Accept-Encoding: gzip`: args {devices, zlib level}.
void BM_GzipBody(benchmark::State& state) {
  Engine eng{Limits{}};
  Fill(eng, static_cast<int>(state.range(0)));
  Metrics m;
  const std::string text = Metrics::RenderSnapshot(m.Snapshot(eng, DaemonStats{}));
  const int level = static_cast<int>(state.range(1));
  std::size_t gz = 0;
  for (auto _ : state) {
    std::string out = needlewatch::daemon::GzipCompress(text, level);
    gz = out.size();
    benchmark::DoNotOptimize(out);
  }
  state.counters["bytes"] = static_cast<double>(text.size());
  state.counters["gzip_bytes"] = static_cast<double>(gz);
  state.counters["ratio"] = static_cast<double>(text.size()) / static_cast<double>(gz);
  state.SetBytesProcessed(static_cast<std::int64_t>(text.size()) * state.iterations());
}

BENCHMARK(BM_Snapshot)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RenderSnapshot)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GzipBody)
    ->Args({1000, 1})
    ->Args({1000, 6})
    ->Args({10000, 1})
    ->Args({10000, 6})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
