// Throughput of the MCAP reader (zstd chunks) and of writing through McapWriter and Recorder.
// Workload: 1,000 topics, JSON telemetry payloads of about 120 bytes, 1 ms apart.
//   build/record-bench/bench/record/record_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "needlewatch/record/mcap_reader.h"
#include "needlewatch/record/mcap_writer.h"
#include "needlewatch/record/recorder.h"

namespace {

namespace fs = std::filesystem;
using needlewatch::record::McapReader;
using needlewatch::record::McapWriter;
using needlewatch::record::McapWriterOptions;
using needlewatch::record::RawMessage;
using needlewatch::record::Recorder;
using needlewatch::record::RecorderOptions;

constexpr int kTopics = 1000;
constexpr int kFileMessages = 1'000'000;

std::vector<RawMessage> MakeMessages(int n) {
  std::mt19937 rng(1);
  std::vector<RawMessage> out;
  out.reserve(static_cast<std::size_t>(n));
  std::int64_t t = 1'795'611'133'000'000'000LL;
  for (int i = 0; i < n; ++i) {
    RawMessage m;
    const int topic = static_cast<int>(rng() % kTopics);
    m.receive_ns = t += 1'000'000;
    m.topic = "clinics/c" + std::to_string(topic / 50) + "/devices/d" + std::to_string(topic) +
              "/telemetry";
    char payload[160];
    std::snprintf(payload, sizeof payload,
                  "{\"v\":1,\"session\":\"s-%06u\",\"ts\":%lld,\"depth_mm\":%.3f,"
                  "\"speed_hz\":%u,\"temp_c\":%.2f,\"zone\":\"cheek\"}",
                  static_cast<unsigned>(rng() % 1000000), static_cast<long long>(t / 1'000'000),
                  (rng() % 2000) / 1000.0, static_cast<unsigned>(80 + rng() % 40),
                  30 + (rng() % 1000) / 100.0);
    m.payload = payload;
    m.qos = 1;
    out.push_back(std::move(m));
  }
  return out;
}

const std::vector<RawMessage>& Messages() {
  static const std::vector<RawMessage> messages = MakeMessages(kFileMessages);
  return messages;
}

fs::path BenchDir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("nw-record-bench-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

const std::string& BenchFile() {
  static const std::string path = [] {
    std::string p = (BenchDir() / "read.mcap").string();
    std::string error;
    auto w = McapWriter::Create(p, McapWriterOptions{}, &error);
    for (const auto& m : Messages()) w->Write(m);
    w->Close();
    return p;
  }();
  return path;
}

void BM_ReadAll(benchmark::State& state) {
  const std::string& path = BenchFile();
  std::uint64_t n = 0;
  for (auto _ : state) {
    std::string error;
    auto reader = McapReader::Open(path, &error);
    RawMessage m;
    while (reader->Next(m)) {
      benchmark::DoNotOptimize(m.payload.data());
      ++n;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
  state.counters["file_MB"] = static_cast<double>(fs::file_size(path)) / 1e6;
}
BENCHMARK(BM_ReadAll)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_McapWriter(benchmark::State& state) {
  const auto& messages = Messages();
  McapWriterOptions o;
  o.zstd_level = static_cast<int>(state.range(0));
  std::uint64_t n = 0;
  for (auto _ : state) {
    std::string error;
    auto w = McapWriter::Create((BenchDir() / "write.mcap").string(), o, &error);
    for (const auto& m : messages) w->Write(m);
    w->Close();
    n += messages.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
}
BENCHMARK(BM_McapWriter)->Arg(3)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Submit from one thread (retrying when the queue is full) until the writer thread has
// closed the segment: sustained end-to-end rate.
void BM_Recorder(benchmark::State& state) {
  const auto& messages = Messages();
  std::uint64_t n = 0;
  std::uint64_t retries = 0;
  for (auto _ : state) {
    state.PauseTiming();
    fs::path dir = BenchDir() / "rec";
    fs::remove_all(dir);
    RecorderOptions o;
    o.dir = dir.string();
    std::string error;
    auto rec = Recorder::Start(o, &error);
    state.ResumeTiming();
    for (const auto& m : messages) {
      while (!rec->Submit(RawMessage(m))) {
        ++retries;
        std::this_thread::yield();
      }
    }
    rec->Stop();
    n += rec->written();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
  state.counters["full_queue_retries"] = static_cast<double>(retries);
}
BENCHMARK(BM_Recorder)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::error_code ec;
  fs::remove_all(BenchDir(), ec);
  return 0;
}
