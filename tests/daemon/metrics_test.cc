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
  // The pen names its zone; the limits are per zone, not repeated on the pen's series.
  EXPECT_EQ(Sample(text, "needlewatch_device_zone_info{clinic=\"c1\",device=\"d1\","
                         "zone=\"default\"}"),
            1.0);
  EXPECT_EQ(text.find("limit_meters{clinic="), std::string::npos);
  EXPECT_NEAR(*Sample(text, "needlewatch_zone_depth_limit_meters{kind=\"max\",zone=\"default\"}"),
              0.001, 1e-12);
  EXPECT_EQ(Sample(text, "needlewatch_zone_speed_limit_hertz{kind=\"min\",zone=\"default\"}"),
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
  EXPECT_FALSE(Sample(text, "needlewatch_alarms_unacknowledged" + labels).has_value());

  engine::Engine eng2(engine::Limits{});
  eng2.OnMessage(testing::TelemetryTopic("c1", "d1"),
                 testing::Telemetry(1, "S1", "cheek", 2.5, 120), kT0, sink);
  eng2.OnMessage(testing::TelemetryTopic("c1", "d1"),
                 testing::Telemetry(2, "S1", "cheek", 0.5, 120), kT0 + 1, sink);
  text = m.Render(eng2, DaemonStats{});
  EXPECT_EQ(Sample(text, "needlewatch_alarms_latched" + labels), 1.0);
  EXPECT_FALSE(Sample(text, "needlewatch_alarms_active" + labels).has_value());
  EXPECT_EQ(Sample(text, "needlewatch_alarms_unacknowledged" + labels), 1.0);
}

// The paging rules' series: 1 from the raise, through the clear (latched), until the
// acknowledgement; a 200 ms excursion between two scrapes is still there at the next one.
TEST(Metrics, UnacknowledgedSpansActiveAndLatchedUntilTheAck) {
  engine::Engine eng(engine::Limits{});
  engine::Sink sink;
  Metrics m;
  const std::string series =
      "needlewatch_alarms_unacknowledged{alarm=\"depth_exceeded\",clinic=\"c1\",device=\"d1\","
      "severity=\"high\"}";
  eng.OnMessage(testing::TelemetryTopic("c1", "d1"),
                testing::Telemetry(1, "S1", "cheek", 0.5, 100), kT0, sink);
  EXPECT_FALSE(Sample(m.Render(eng, DaemonStats{}), series).has_value());
  eng.OnMessage(testing::TelemetryTopic("c1", "d1"),
                testing::Telemetry(2, "S1", "cheek", 2.5, 100), kT0 + 100'000'000, sink);
  EXPECT_EQ(Sample(m.Render(eng, DaemonStats{}), series), 1.0);  // active
  eng.OnMessage(testing::TelemetryTopic("c1", "d1"),
                testing::Telemetry(3, "S1", "cheek", 0.5, 100), kT0 + 300'000'000, sink);
  EXPECT_EQ(Sample(m.Render(eng, DaemonStats{}), series), 1.0);  // latched
  eng.Acknowledge("c1", "d1", engine::AlarmKind::kDepthExceeded, kT0 + 400'000'000, sink);
  const std::string text = m.Render(eng, DaemonStats{});
  EXPECT_FALSE(Sample(text, series).has_value());
  EXPECT_EQ(Sample(text, "needlewatch_alarms_raised_total{alarm=\"depth_exceeded\",clinic=\"c1\","
                         "severity=\"high\"}"),
            1.0);
}

// A low or medium alarm does not latch: its unacknowledged series ends when it clears.
TEST(Metrics, UnacknowledgedOfANonLatchingAlarmEndsWhenItClears) {
  engine::Limits limits;
  limits.defaults.depth_warn_mm = 0.8;
  engine::Engine eng(limits);
  engine::Sink sink;
  Metrics m;
  const std::string series =
      "needlewatch_alarms_unacknowledged{alarm=\"depth_warning\",clinic=\"c1\",device=\"d1\","
      "severity=\"low\"}";
  eng.OnMessage(testing::TelemetryTopic("c1", "d1"),
                testing::Telemetry(1, "S1", "cheek", 0.9, 100), kT0, sink);
  EXPECT_EQ(Sample(m.Render(eng, DaemonStats{}), series), 1.0);
  eng.OnMessage(testing::TelemetryTopic("c1", "d1"),
                testing::Telemetry(2, "S1", "cheek", 0.5, 100), kT0 + 1, sink);
  EXPECT_FALSE(Sample(m.Render(eng, DaemonStats{}), series).has_value());
}

// Limits are per zone: one set per listed zone plus "default"; a pen in an unlisted zone points
// at "default", a pen in a listed zone at that zone; raise counters exist at 0 for every severity
// a zone override can raise.
TEST(Metrics, ZoneLimitsAreSeriesPerZoneAndPensNameTheirZone) {
  engine::Limits limits;
  limits.defaults.depth_warn_mm = 0.8;
  engine::ZoneLimits forehead = limits.defaults;
  forehead.depth_max_mm = 0.5;
  forehead.depth_warn_mm.reset();
  forehead.session_warn_after.reset();
  forehead.session_max_duration = 30LL * 60 * engine::kNsPerSec;
  forehead.speed = {engine::Severity::kHigh, 0};
  limits.zones.emplace_back("forehead", forehead);
  engine::Engine eng(limits);
  engine::Sink sink;
  eng.OnMessage(testing::TelemetryTopic("c1", "d1"),
                testing::Telemetry(1, "S1", "forehead", 0.3, 100), kT0, sink);
  eng.OnMessage(testing::TelemetryTopic("c1", "d2"),
                testing::Telemetry(1, "S2", "scalp", 0.3, 100), kT0, sink);
  Metrics m;
  const std::string text = m.Render(eng, DaemonStats{});
  EXPECT_EQ(Sample(text, "needlewatch_device_zone_info{clinic=\"c1\",device=\"d1\",zone=\"forehead\"}"),
            1.0);
  EXPECT_EQ(Sample(text, "needlewatch_device_zone_info{clinic=\"c1\",device=\"d2\",zone=\"default\"}"),
            1.0);
  EXPECT_NEAR(*Sample(text, "needlewatch_zone_depth_limit_meters{kind=\"max\",zone=\"forehead\"}"),
              0.0005, 1e-12);
  EXPECT_NEAR(*Sample(text, "needlewatch_zone_depth_limit_meters{kind=\"warn\",zone=\"default\"}"),
              0.0008, 1e-12);
  EXPECT_FALSE(
      Sample(text, "needlewatch_zone_depth_limit_meters{kind=\"warn\",zone=\"forehead\"}"));
  EXPECT_EQ(Sample(text, "needlewatch_zone_speed_limit_hertz{kind=\"max\",zone=\"forehead\"}"),
            150.0);
  EXPECT_EQ(Sample(text, "needlewatch_zone_session_limit_seconds{kind=\"max\",zone=\"forehead\"}"),
            1800.0);
  EXPECT_EQ(Sample(text, "needlewatch_zone_session_limit_seconds{kind=\"warn\",zone=\"default\"}"),
            3000.0);
  EXPECT_FALSE(
      Sample(text, "needlewatch_zone_session_limit_seconds{kind=\"warn\",zone=\"forehead\"}"));
  EXPECT_EQ(Sample(text, "needlewatch_zone_telemetry_stale_after_seconds{zone=\"default\"}"), 3.0);
  // speed_out_of_range is medium by default and high on the forehead: both at 0.
  for (const char* sev : {"medium", "high"}) {
    EXPECT_EQ(Sample(text, std::string("needlewatch_alarms_raised_total{alarm=\"speed_out_of_range\","
                                       "clinic=\"c1\",severity=\"") + sev + "\"}"),
              0.0)
        << sev;
  }
  EXPECT_FALSE(Sample(text, "needlewatch_alarms_raised_total{alarm=\"speed_out_of_range\","
                            "clinic=\"c1\",severity=\"low\"}"));
  // Three series per pen: depth, frequency, zone.
  std::size_t d1 = 0;
  for (std::size_t pos = 0; (pos = text.find("device=\"d1\"", pos)) != std::string::npos; ++pos) ++d1;
  EXPECT_EQ(d1, 3u);
}

// A zone called "default" in the limits file must not repeat the defaults' series.
TEST(Metrics, AZoneNamedDefaultDoesNotDuplicateSeries) {
  engine::Limits limits;
  engine::ZoneLimits z = limits.defaults;
  z.depth_max_mm = 0.2;
  limits.zones.emplace_back("default", z);
  engine::Engine eng(limits);
  Metrics m;
  const std::string text = m.Render(eng, DaemonStats{});
  const std::string series = "needlewatch_zone_depth_limit_meters{kind=\"max\",zone=\"default\"} ";
  const std::size_t first = text.find(series);
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(text.find(series, first + 1), std::string::npos);
}

TEST(ProcessMetrics, ParsesProcSelfStatWithAnAwkwardCommandName) {
  // proc(5) fields; comm holds spaces and a ')'.
  const std::string line =
      "4242 (needle watch) x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 75 0 0 20 0 9 0 "
      "123456 987654321 3000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
  const auto st = ParseProcSelfStat(line);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->utime_ticks, 250u);
  EXPECT_EQ(st->stime_ticks, 75u);
  EXPECT_EQ(st->start_ticks, 123456u);
  EXPECT_EQ(st->vsize_bytes, 987654321u);
  EXPECT_EQ(st->rss_pages, 3000);
  EXPECT_FALSE(ParseProcSelfStat("4242 (cut) S 1 2 3").has_value());
  EXPECT_FALSE(ParseProcSelfStat("no parenthesis at all").has_value());
  EXPECT_EQ(ParseBootTime("cpu  1 2 3\nintr 5\nbtime 1795600000\nprocesses 9\n"), 1795600000u);
  EXPECT_FALSE(ParseBootTime("cpu 1\n").has_value());
}

TEST(ProcessMetrics, ThisProcessFiguresAreExported) {
  const auto p = ReadProcessStats();
  ASSERT_TRUE(p.has_value()) << "/proc is needed on Linux";
  EXPECT_GT(p->resident_bytes, 1e6);
  EXPECT_GE(p->virtual_bytes, p->resident_bytes);
  EXPECT_GE(p->open_fds, 3);  // stdin, stdout, stderr at least
  EXPECT_GE(p->max_fds, p->open_fds);
  EXPECT_GT(p->start_time_seconds, 1.6e9);
  EXPECT_GE(p->cpu_seconds, 0);
  engine::Engine eng(engine::Limits{});
  Metrics m;
  const std::string text = m.Render(eng, DaemonStats{});
  EXPECT_TRUE(HasFamily(text, "process_cpu_seconds_total", "counter"));
  for (const char* g : {"process_open_fds", "process_max_fds", "process_virtual_memory_bytes",
                        "process_resident_memory_bytes", "process_start_time_seconds"}) {
    EXPECT_TRUE(HasFamily(text, g, "gauge")) << g;
    EXPECT_TRUE(Sample(text, g).has_value()) << g;
  }
  EXPECT_NEAR(*Sample(text, "process_start_time_seconds"), p->start_time_seconds, 1.0);
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
