#include "metrics.h"

#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "test_fleet.h"

namespace needlewatch::daemon {
namespace {

using testing::kT0;

// The value of the sample whose name+labels are exactly `series`, or nullopt.
std::optional<double> Sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

bool HasFamily(const std::string& text, const std::string& name, const std::string& type) {
  return text.find("# TYPE " + name + " " + type + "\n") != std::string::npos;
}

TEST(Metrics, EmptyEnginePreCreatesChannelAndReasonCountersAtZero) {
  engine::Engine eng(engine::Limits{});
  Metrics m;
  const std::string text = m.Render(eng, DaemonStats{});
  for (const char* ch : {"telemetry", "event", "status", "unknown"}) {
    EXPECT_EQ(Sample(text, std::string("needlewatch_messages_received_total{channel=\"") + ch +
                               "\"}"),
              0.0)
        << ch;
  }
  for (const char* r : {"bad_topic", "too_large", "bad_json", "bad_version", "missing_field",
                        "bad_field", "unknown_session_end"}) {
    EXPECT_EQ(Sample(text, std::string("needlewatch_messages_rejected_total{reason=\"") + r +
                               "\"}"),
              0.0)
        << r;
  }
  EXPECT_EQ(Sample(text, "needlewatch_mqtt_connected"), 0.0);
  EXPECT_EQ(Sample(text, "needlewatch_config_reloads_total{result=\"failure\"}"), 0.0);
  // No alarm: the family is declared but has no series.
  EXPECT_TRUE(HasFamily(text, "needlewatch_alarms_active", "gauge"));
  EXPECT_EQ(text.find("needlewatch_alarms_active{"), std::string::npos);
  EXPECT_TRUE(HasFamily(text, "needlewatch_ingest_latency_seconds", "histogram"));
  EXPECT_TRUE(HasFamily(text, "needlewatch_processing_seconds", "histogram"));
}

TEST(Metrics, SnapshotRendersOnAnotherThreadAsTheEngineWasWhenTaken) {
  engine::Engine eng(engine::Limits{});
  engine::Sink sink;
  eng.OnMessage(testing::TelemetryTopic("c1", "d1"),
                testing::Telemetry(1, "S1", "cheek", 2.5, 120), kT0, sink);
  Metrics m;
  const MetricsSnapshot snap = m.Snapshot(eng, DaemonStats{});
  // The engine moves on (and loses the device's alarm) before the snapshot is rendered.
  eng.OnMessage(testing::TelemetryTopic("c1", "d1"),
                testing::Telemetry(2, "S1", "cheek", 0.4, 100), kT0 + 1, sink);
  std::string then;
  std::thread([&] { then = Metrics::RenderSnapshot(snap); }).join();
  const std::string now = m.Render(eng, DaemonStats{});
  const std::string depth = "needlewatch_needle_depth_meters{clinic=\"c1\",device=\"d1\"}";
  EXPECT_DOUBLE_EQ(Sample(then, depth).value_or(-1), 0.0025);
  EXPECT_DOUBLE_EQ(Sample(now, depth).value_or(-1), 0.0004);
  const std::string active =
      "needlewatch_alarms_active{alarm=\"depth_exceeded\",clinic=\"c1\",device=\"d1\","
      "severity=\"high\"}";
  EXPECT_EQ(Sample(then, active), 1.0);
  EXPECT_EQ(Sample(now, active), std::nullopt);
  EXPECT_EQ(Sample(then, "needlewatch_messages_received_total{channel=\"telemetry\"}"), 1.0);
  EXPECT_EQ(Sample(now, "needlewatch_messages_received_total{channel=\"telemetry\"}"), 2.0);
}

TEST(Metrics, UnsafeSampleShowsReadingsLimitsAndTheActiveAlarm) {
  engine::Engine eng(engine::Limits{});
  engine::Sink sink;
  eng.OnMessage(testing::TelemetryTopic("c1", "d1"),
                testing::Telemetry(1, "S1", "cheek", 2.5, 120), kT0, sink);
  eng.OnMessage("clinic/c1/device/d1/telemetry", "{not json", kT0 + 1, sink);
  Metrics m;
  const std::string text = m.Render(eng, DaemonStats{});
  EXPECT_EQ(Sample(text, "needlewatch_messages_received_total{channel=\"telemetry\"}"), 2.0);
  EXPECT_EQ(Sample(text, "needlewatch_messages_rejected_total{reason=\"bad_json\"}"), 1.0);
  EXPECT_EQ(Sample(text, "needlewatch_messages_accepted_total"), 1.0);
  EXPECT_EQ(Sample(text, "needlewatch_sessions_active{clinic=\"c1\"}"), 1.0);
  EXPECT_EQ(Sample(text, "needlewatch_sessions_started_total{clinic=\"c1\"}"), 1.0);
  EXPECT_NEAR(*Sample(text, "needlewatch_needle_depth_meters{clinic=\"c1\",device=\"d1\"}"),
              0.0025, 1e-12);
  EXPECT_EQ(Sample(text, "needlewatch_needle_frequency_hertz{clinic=\"c1\",device=\"d1\"}"),
            120.0);
  EXPECT_NEAR(*Sample(text, "needlewatch_depth_limit_meters{clinic=\"c1\",device=\"d1\","
                            "limit=\"max\"}"),
              0.001, 1e-12);
  EXPECT_EQ(Sample(text, "needlewatch_frequency_limit_hertz{clinic=\"c1\",device=\"d1\","
                         "limit=\"min\"}"),
            50.0);
  EXPECT_EQ(Sample(text, "needlewatch_alarms_active{alarm=\"depth_exceeded\",clinic=\"c1\","
                         "device=\"d1\",severity=\"high\"}"),
            1.0);
  EXPECT_EQ(Sample(text, "needlewatch_alarms_raised_total{alarm=\"depth_exceeded\","
                         "clinic=\"c1\",severity=\"high\"}"),
            1.0);
  // Other alarms are pre-created at 0 with their default severity.
  EXPECT_EQ(Sample(text, "needlewatch_alarms_raised_total{alarm=\"telemetry_stale\","
                         "clinic=\"c1\",severity=\"medium\"}"),
            0.0);
  EXPECT_EQ(Sample(text, "needlewatch_unsafe_sessions_total{clinic=\"c1\"}"), 1.0);
  EXPECT_EQ(Sample(text, "needlewatch_devices{clinic=\"c1\",state=\"online\"}"), 1.0);
}

TEST(Metrics, LatchedAndAcknowledgedAlarmsHaveTheirOwnGauges) {
  engine::Engine eng(engine::Limits{});
  engine::Sink sink;
  eng.OnMessage(testing::TelemetryTopic("c1", "d1"),
                testing::Telemetry(1, "S1", "cheek", 2.5, 120), kT0, sink);
  eng.Acknowledge("c1", "d1", engine::AlarmKind::kDepthExceeded, kT0 + 1, sink);
  Metrics m;
  std::string text = m.Render(eng, DaemonStats{});
  const std::string labels =
      "{alarm=\"depth_exceeded\",clinic=\"c1\",device=\"d1\",severity=\"high\"}";
  EXPECT_EQ(Sample(text, "needlewatch_alarms_acknowledged" + labels), 1.0);
  EXPECT_EQ(Sample(text, "needlewatch_alarms_active" + labels), 1.0);

  engine::Engine eng2(engine::Limits{});
  eng2.OnMessage(testing::TelemetryTopic("c1", "d1"),
                 testing::Telemetry(1, "S1", "cheek", 2.5, 120), kT0, sink);
  eng2.OnMessage(testing::TelemetryTopic("c1", "d1"),
                 testing::Telemetry(2, "S1", "cheek", 0.5, 120), kT0 + 1, sink);
  text = m.Render(eng2, DaemonStats{});
  EXPECT_EQ(Sample(text, "needlewatch_alarms_latched" + labels), 1.0);
  EXPECT_FALSE(Sample(text, "needlewatch_alarms_active" + labels).has_value());
}

TEST(Metrics, DaemonStatsAndHistogramsAreExported) {
  engine::Engine eng(engine::Limits{});
  Metrics m;
  m.ObserveSessionDuration("c1", 400);
  m.ObserveIngestLatency(-3);  // device clock ahead: counted as 0
  m.ObserveProcessing(2e-6);
  DaemonStats s;
  s.mqtt_connected = true;
  s.queue_depth = 4;
  s.config_reloads_success = 2;
  s.version = "1.2.3";
  s.start_time_seconds = 1795611133;
  const std::string text = m.Render(eng, s);
  EXPECT_EQ(Sample(text, "needlewatch_mqtt_connected"), 1.0);
  EXPECT_EQ(Sample(text, "needlewatch_queue_depth"), 4.0);
  EXPECT_EQ(Sample(text, "needlewatch_config_reloads_total{result=\"success\"}"), 2.0);
  EXPECT_EQ(Sample(text, "needlewatch_build_info{version=\"1.2.3\"}"), 1.0);
  EXPECT_EQ(Sample(text, "needlewatch_start_time_seconds"), 1795611133.0);
  EXPECT_EQ(Sample(text, "needlewatch_session_duration_seconds_bucket{clinic=\"c1\",le=\"300\"}"),
            0.0);
  EXPECT_EQ(Sample(text, "needlewatch_session_duration_seconds_bucket{clinic=\"c1\",le=\"600\"}"),
            1.0);
  EXPECT_EQ(Sample(text, "needlewatch_session_duration_seconds_count{clinic=\"c1\"}"), 1.0);
  EXPECT_EQ(Sample(text, "needlewatch_ingest_latency_seconds_bucket{le=\"0.001\"}"), 1.0);
  EXPECT_EQ(Sample(text, "needlewatch_processing_seconds_count"), 1.0);
}

// Not a speed assertion: prints the scrape cost for 10,000 devices with open sessions and
// checks that every device is in it.
TEST(Metrics, ScrapeOfTenThousandDevicesContainsEveryDevice) {
  engine::Engine eng(engine::Limits{});
  engine::Sink sink;
  constexpr int kDevices = 10000;
  for (int i = 0; i < kDevices; ++i) {
    const std::string clinic = "c" + std::to_string(i % 50);
    eng.OnMessage(testing::TelemetryTopic(clinic, "d" + std::to_string(i)),
                  testing::Telemetry(1, "S" + std::to_string(i), "cheek", 0.5, 100), kT0, sink);
  }
  Metrics m;
  const std::string text = m.Render(eng, DaemonStats{});
  std::size_t depth_series = 0;
  for (std::size_t pos = 0;
       (pos = text.find("\nneedlewatch_needle_depth_meters{", pos)) != std::string::npos; ++pos) {
    ++depth_series;
  }
  EXPECT_EQ(depth_series, static_cast<std::size_t>(kDevices));  // speed: bench/daemon
}

}  // namespace
}  // namespace needlewatch::daemon
