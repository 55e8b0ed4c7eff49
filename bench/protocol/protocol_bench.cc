// Throughput of the device-message hot path (ParseTopic + Decode) and of the encoders.
// Target: >= 2 million telemetry decodes per second on one core.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "needlewatch/protocol/encode.h"
#include "needlewatch/protocol/message.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::protocol {
namespace {

constexpr std::string_view kTopic = "clinic/c017/device/d00042/telemetry";
constexpr std::string_view kTelemetry =
    R"({"v":1,"seq":1042,"ts":1795611133125,"session":"S-7f3a91","zone":"cheek",)"
    R"("depth_mm":1.25,"speed_hz":120.0})";

void BM_ParseTopicAndDecodeTelemetry(benchmark::State& state) {
  Decoded d;
  for (auto _ : state) {
    const Topic t = ParseTopic(kTopic);
    const Reject r = Decode(t.channel, kTelemetry, d);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(d.telemetry.depth_mm);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kTelemetry.size()));
}
BENCHMARK(BM_ParseTopicAndDecodeTelemetry);

void BM_DecodeTelemetryWithEscapesAndUnknownFields(benchmark::State& state) {
  constexpr std::string_view payload =
      R"({"v":1,"seq":1042,"ts":1795611133125,"session":"S\u002d7f3a91","zone":"upper lip",)"
      R"("depth_mm":1.25,"speed_hz":120.0,"battery":{"pct":81,"temp_c":[31.5,31.7]},"fw":"2.3.1"})";
  Decoded d;
  for (auto _ : state) {
    benchmark::DoNotOptimize(Decode(Channel::kTelemetry, payload, d));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeTelemetryWithEscapesAndUnknownFields);

void BM_DecodeRejectBadField(benchmark::State& state) {
  constexpr std::string_view payload =
      R"({"v":1,"seq":1042,"ts":1795611133125,"session":"S-7f3a91","zone":"cheek",)"
      R"("depth_mm":12.5,"speed_hz":120.0})";
  Decoded d;
  for (auto _ : state) {
    benchmark::DoNotOptimize(Decode(Channel::kTelemetry, payload, d));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeRejectBadField);

void BM_EncodeTelemetry(benchmark::State& state) {
  Telemetry t;
  t.seq = 1042;
  t.ts_ms = 1795611133125;
  t.session = "S-7f3a91";
  t.zone = "cheek";
  t.depth_mm = 1.25;
  t.speed_hz = 120.0;
  for (auto _ : state) {
    std::string s = EncodeTelemetry(t);
    benchmark::DoNotOptimize(s.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeTelemetry);

void BM_EncodeAlarm(benchmark::State& state) {
  AlarmPayload a;
  a.alarm = "depth_exceeded";
  a.severity = "high";
  a.state = "active";
  a.clinic = "c017";
  a.device = "d00042";
  a.session = "S-7f3a91";
  a.zone = "forehead";
  a.value = 0.8;
  a.limit = 0.5;
  a.raised_at = 1795611133.125;
  a.ts = 1795611133.125;
  for (auto _ : state) {
    std::string s = EncodeAlarm(a);
    benchmark::DoNotOptimize(s.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeAlarm);

}  // namespace
}  // namespace needlewatch::protocol
