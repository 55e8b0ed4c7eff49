// Engine throughput: 1,000 devices × 10 Hz telemetry with open sessions (the steady state),
// payloads pre-built in memory, on one core. Also reports heap bytes per device and heap
// allocations per message in the steady state (which must be zero: the run fails otherwise).
//
// Operator new/delete are replaced in this binary to count allocations; run it without
// sanitizers. Results and the command: RESULTS.md.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "needlewatch/engine/engine.h"

namespace {

std::atomic<std::uint64_t> g_allocs{0};
std::atomic<std::int64_t> g_live_bytes{0};

// Each block carries its size in a header so that delete can subtract it.
constexpr std::size_t kHeader = alignof(std::max_align_t);

void* CountedAlloc(std::size_t n) {
  void* p = std::malloc(n + kHeader);
  if (p == nullptr) throw std::bad_alloc();
  *static_cast<std::size_t*>(p) = n;
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  g_live_bytes.fetch_add(static_cast<std::int64_t>(n), std::memory_order_relaxed);
  return static_cast<char*>(p) + kHeader;
}

void CountedFree(void* p) noexcept {
  if (p == nullptr) return;
  char* base = static_cast<char*>(p) - kHeader;
  g_live_bytes.fetch_sub(static_cast<std::int64_t>(*reinterpret_cast<std::size_t*>(base)),
                         std::memory_order_relaxed);
  std::free(base);
}

}  // namespace

void* operator new(std::size_t n) { return CountedAlloc(n); }
void* operator new[](std::size_t n) { return CountedAlloc(n); }
void operator delete(void* p) noexcept { CountedFree(p); }
void operator delete[](void* p) noexcept { CountedFree(p); }
void operator delete(void* p, std::size_t) noexcept { CountedFree(p); }
void operator delete[](void* p, std::size_t) noexcept { CountedFree(p); }

namespace {

using needlewatch::engine::Engine;
using needlewatch::engine::kNsPerMs;
using needlewatch::engine::kNsPerSec;
using needlewatch::engine::Limits;
using needlewatch::engine::Sink;
using needlewatch::engine::TimeNs;
using needlewatch::engine::ZoneLimits;

constexpr int kDevices = 1000;
constexpr int kRate = 10;               // samples per second per device
constexpr int kSamplesPerDevice = 200;  // 20 s of telemetry pre-built, replayed in a loop
constexpr TimeNs kStart = 1'795'611'133LL * kNsPerSec;

class NullSink : public Sink {};

Limits BenchLimits() {
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

struct Message {
  const std::string* topic;
  std::string payload;
};

// Telemetry within limits (the steady state), device-interleaved in time order.
struct Fleet {
  std::vector<std::string> topics;
  std::vector<Message> messages;

  Fleet() {
    for (int d = 0; d < kDevices; ++d) {
      char topic[96];
      std::snprintf(topic, sizeof topic, "clinic/c%03d/device/d%05d/telemetry", d % 20, d);
      topics.emplace_back(topic);
    }
    messages.reserve(static_cast<std::size_t>(kDevices) * kSamplesPerDevice);
    for (int k = 0; k < kSamplesPerDevice; ++k) {
      for (int d = 0; d < kDevices; ++d) {
        char payload[256];
        std::snprintf(payload, sizeof payload,
                      "{\"v\":1,\"seq\":%d,\"ts\":%lld,\"session\":\"S-%05d\",\"zone\":\"%s\","
                      "\"depth_mm\":%.2f,\"speed_hz\":%.1f}",
                      k, static_cast<long long>(1795611133000LL + k * 100), d,
                      d % 2 ? "cheek" : "forehead", 0.2 + 0.01 * (k % 20), 100.0 + (k % 30));
        messages.push_back(Message{&topics[static_cast<std::size_t>(d)], payload});
      }
    }
  }
};

// Feeds message i of the endless replay of the fleet: times keep increasing across loops.
TimeNs TimeOf(std::uint64_t i) {
  return kStart + static_cast<TimeNs>(i) * (kNsPerSec / kRate / kDevices);
}

void BM_Telemetry1000Devices10Hz(benchmark::State& state) {
  static const Fleet fleet;  // built once, outside the timing and outside the counts
  NullSink sink;
  const std::int64_t bytes_before = g_live_bytes.load();
  Engine engine(BenchLimits());
  // Warm-up: one full pass opens every session and grows every container to its steady size.
  std::uint64_t i = 0;
  for (; i < fleet.messages.size(); ++i) {
    const Message& m = fleet.messages[i];
    engine.OnMessage(*m.topic, m.payload, TimeOf(i), sink);
  }
  const std::int64_t bytes_per_device = (g_live_bytes.load() - bytes_before) / kDevices;

  const std::uint64_t allocs_before = g_allocs.load();
  std::uint64_t handled = 0;
  for (auto _ : state) {
    const Message& m = fleet.messages[i % fleet.messages.size()];
    engine.OnMessage(*m.topic, m.payload, TimeOf(i), sink);
    ++i;
    ++handled;
  }
  const std::uint64_t allocs = g_allocs.load() - allocs_before;

  state.SetItemsProcessed(static_cast<std::int64_t>(handled));
  state.counters["heap_bytes_per_device"] = static_cast<double>(bytes_per_device);
  state.counters["allocs_per_msg"] =
      handled ? static_cast<double>(allocs) / static_cast<double>(handled) : 0;
  state.counters["devices"] = static_cast<double>(engine.device_count());
  std::uint64_t rejected = 0;
  for (std::uint64_t r : engine.counters().rejected) rejected += r;
  state.counters["rejected"] = static_cast<double>(rejected);
  if (engine.device_count() != kDevices || engine.counters().accepted < fleet.messages.size()) {
    state.SkipWithError("fleet messages were not accepted");
  }
  // The loop wraps once per 200k messages (a seq restart → gap); no other allocation is allowed.
  const std::uint64_t wraps = (i / fleet.messages.size());
  if (allocs > 0) {
    std::fprintf(stderr, "steady state allocated %llu times over %llu messages (%llu wraps)\n",
                 static_cast<unsigned long long>(allocs),
                 static_cast<unsigned long long>(handled), static_cast<unsigned long long>(wraps));
    state.SkipWithError("heap allocation in the steady state");
  }
}
BENCHMARK(BM_Telemetry1000Devices10Hz)->Unit(benchmark::kNanosecond);

// The same fleet with one alarm condition per device toggling every second (depth above the
// forehead limit for 0.5 s): raise/latch events and the deadline heap in use.
void BM_TelemetryWithAlarms(benchmark::State& state) {
  static const Fleet fleet;
  NullSink sink;
  Engine engine(BenchLimits());
  std::vector<std::string> deep;  // offending payloads for the forehead devices
  deep.reserve(fleet.messages.size());
  for (std::size_t k = 0; k < fleet.messages.size(); ++k) {
    std::string p = fleet.messages[k].payload;
    const std::size_t pos = p.find("\"depth_mm\":");
    if ((k / kDevices) % 10 < 5 && pos != std::string::npos) p.replace(pos + 11, 4, "0.80");
    deep.push_back(std::move(p));
  }
  std::uint64_t i = 0;
  for (auto _ : state) {
    const std::size_t k = i % fleet.messages.size();
    engine.OnMessage(*fleet.messages[k].topic, deep[k], TimeOf(i), sink);
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(i));
  std::size_t alarms = 0;
  engine.ForEachAlarm([&](const needlewatch::engine::AlarmView&) { ++alarms; });
  state.counters["alarms_now"] = static_cast<double>(alarms);
}
BENCHMARK(BM_TelemetryWithAlarms)->Unit(benchmark::kNanosecond);

}  // namespace

BENCHMARK_MAIN();
