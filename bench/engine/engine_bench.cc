// Engine throughput: 1,000 devices × 10 Hz telemetry with open sessions (the steady state),
// payloads pre-built in memory, on one core. Also reports heap bytes per device and heap
// allocations per message in the steady state (which must be zero: the run fails otherwise),
// and the time to Save and Restore the state of 10,000 devices with open sessions.
//
// Operator new/delete are replaced in this binary to count allocations; run it without
// sanitizers. Results and the command: RESULTS.md.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "bench_fleet.h"
#include "needlewatch/engine/engine.h"
#include "needlewatch/engine/state.h"

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
using needlewatch::engine::TimeNs;
using namespace needlewatch::engine::bench;  // the fleet: kDevices, BenchLimits(), …

constexpr int kSamplesPerDevice = 200;  // 20 s of telemetry pre-built, replayed in a loop

struct Message {
  const std::string* topic;
  std::string payload;
};

// Every payload starts {"v":1,"seq":NNNNNNNNNN, with a 10-digit seq at this offset.
constexpr std::size_t kSeqAt = 13;
constexpr std::uint32_t kSeqBase = 1'000'000'000;

// The seq of sample k of pass `pass` over the pre-built payloads: it keeps rising across
// passes, as a real device's does (a repeated seq in the open session is a duplicate, which the
// engine rejects without looking further).
void WriteSeq(std::string& payload, std::uint64_t pass, int k) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%010u",
                static_cast<unsigned>(kSeqBase + pass * kSamplesPerDevice + static_cast<unsigned>(k)));
  payload.replace(kSeqAt, 10, digits);
}

// Telemetry within limits (the steady state), device-interleaved in time order.
struct Fleet {
  std::vector<std::string> topics;
  std::vector<Message> messages;

  Fleet() {
    for (int d = 0; d < kDevices; ++d) topics.push_back(TelemetryTopic(d));
    messages.reserve(static_cast<std::size_t>(kDevices) * kSamplesPerDevice);
    for (int k = 0; k < kSamplesPerDevice; ++k) {
      for (int d = 0; d < kDevices; ++d) {
        messages.push_back(Message{&topics[static_cast<std::size_t>(d)],
                                   TelemetryPayload(kSeqBase + static_cast<unsigned>(k), k, d,
                                                    SteadyDepth(k))});
      }
    }
  }
};

// Rewrites the seqs of `payloads` (fleet order) for pass `pass`.
void RenumberAll(std::vector<std::string*>& payloads, std::uint64_t pass) {
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    WriteSeq(*payloads[i], pass, static_cast<int>(i / kDevices));
  }
}

// The same inside the timed loop, outside the timing.
void Renumber(std::vector<std::string*>& payloads, std::uint64_t pass, benchmark::State& state) {
  state.PauseTiming();
  RenumberAll(payloads, pass);
  state.ResumeTiming();
}

// Feeds message i of the endless replay of the fleet: times keep increasing across loops.
TimeNs TimeOf(std::uint64_t i) {
  return kStart + static_cast<TimeNs>(i) * (kNsPerSec / kRate / kDevices);
}

void BM_Telemetry1000Devices10Hz(benchmark::State& state) {
  static Fleet fleet;  // built once, outside the timing and outside the counts
  std::vector<std::string*> payloads;
  for (Message& m : fleet.messages) payloads.push_back(&m.payload);
  RenumberAll(payloads, 0);  // the warm-up pass (an earlier repetition left later seqs)
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
    const std::size_t k = i % fleet.messages.size();
    if (k == 0) Renumber(payloads, i / fleet.messages.size(), state);
    const Message& m = fleet.messages[k];
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
  if (rejected > 0 || engine.counters().seq_gaps > 0) {
    state.SkipWithError("fleet messages were rejected or counted as gaps");
  }
  // The loop wraps once per 200k messages (seqs rewritten untimed); no allocation is allowed.
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
  std::vector<std::string*> payloads;
  for (std::string& p : deep) payloads.push_back(&p);
  std::uint64_t i = 0;
  for (auto _ : state) {
    const std::size_t k = i % fleet.messages.size();
    if (k == 0) Renumber(payloads, i / fleet.messages.size(), state);
    engine.OnMessage(*fleet.messages[k].topic, deep[k], TimeOf(i), sink);
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(i));
  std::size_t alarms = 0;
  engine.ForEachAlarm([&](const needlewatch::engine::AlarmView&) { ++alarms; });
  state.counters["alarms_now"] = static_cast<double>(alarms);
}
BENCHMARK(BM_TelemetryWithAlarms)->Unit(benchmark::kNanosecond);

// Save and Restore of 10,000 devices with open sessions (issue 12: a restarted daemon restores
// its engine): every device has an operator, three zones and a last reading; every 10th a latched
// depth_exceeded, every 7th a pending speed condition, every 13th an active depth_warning.
constexpr int kRestoreDevices = 10000;

void BuildRestoreFleet(Engine& engine) {
  NullSink sink;
  TimeNs t = kStart;
  for (int d = 0; d < kRestoreDevices; ++d) {
    char base[96];
    std::snprintf(base, sizeof base, "clinic/c%03d/device/d%05d/", d % 100, d);
    const std::string telemetry = std::string(base) + "telemetry";
    char p[256];
    std::snprintf(p, sizeof p,
                  "{\"v\":1,\"seq\":1,\"ts\":1795611133000,\"event\":\"session_start\","
                  "\"session\":\"S-%05d\",\"zone\":\"cheek\",\"operator\":\"op-%d\"}",
                  d, d % 50);
    engine.OnMessage(std::string(base) + "event", p, t, sink);
    const char* zones[] = {"cheek", "forehead", "cheek"};
    for (int k = 0; k < 3; ++k) {
      double depth = 0.3;
      double speed = 100;
      if (d % 10 == 0 && k == 1) depth = 0.9;  // forehead max 0.5: raised, then latched
      if (d % 13 == 0 && k == 2) depth = 1.3;  // cheek warn 1.2: active warning
      if (d % 7 == 0 && k == 2) speed = 200;   // pending speed (for 1 s)
      std::snprintf(p, sizeof p,
                    "{\"v\":1,\"seq\":%d,\"ts\":1795611133000,\"session\":\"S-%05d\","
                    "\"zone\":\"%s\",\"depth_mm\":%.2f,\"speed_hz\":%.1f}",
                    k + 2, d, zones[k], depth, speed);
      engine.OnMessage(telemetry, p, t, sink);
    }
    t += 10'000;  // 10 µs apart: the whole fleet within 0.1 s
  }
}

void BM_Save10000Devices(benchmark::State& state) {
  Engine engine(BenchLimits());
  BuildRestoreFleet(engine);
  std::size_t alarms = 0;
  for (auto _ : state) {
    needlewatch::engine::EngineState s = engine.Save();
    alarms = s.alarms.size();
    benchmark::DoNotOptimize(s);
  }
  state.counters["devices"] = static_cast<double>(engine.device_count());
  state.counters["alarms"] = static_cast<double>(alarms);
}
BENCHMARK(BM_Save10000Devices)->Unit(benchmark::kMillisecond);

void BM_Restore10000Devices(benchmark::State& state) {
  Engine source(BenchLimits());
  BuildRestoreFleet(source);
  const needlewatch::engine::EngineState saved = source.Save();
  std::size_t devices = 0;
  for (auto _ : state) {
    state.PauseTiming();
    needlewatch::engine::EngineState copy = saved;
    auto engine = std::make_unique<Engine>(BenchLimits());
    state.ResumeTiming();
    engine->Restore(std::move(copy));
    state.PauseTiming();
    devices = engine->device_count();
    engine.reset();
    state.ResumeTiming();
  }
  state.counters["devices"] = static_cast<double>(devices);
  std::size_t pendings = 0;
  for (const auto& d : saved.devices) pendings += d.session ? d.session->pendings.size() : 0;
  state.counters["pendings"] = static_cast<double>(pendings);
  state.counters["alarms"] = static_cast<double>(saved.alarms.size());
}
BENCHMARK(BM_Restore10000Devices)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
