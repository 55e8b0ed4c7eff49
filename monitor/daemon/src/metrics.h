// The daemon's Prometheus exposition (text format 0.0.4). Series that describe engine state
// (sessions, alarms, readings, counters) are translated from the engine at scrape time; the
// histograms and the daemon's own counters live here. Metric names: monitor/daemon/README.md.
//
// A scrape is two steps. Snapshot() runs on the daemon's io_context thread (the engine's own):
// it renders the small families and copies the per-device and per-alarm figures, about 1 ms
// for 10,000 devices. RenderSnapshot() turns that copy into text on any thread, so the
// expensive part of a large fleet's scrape never holds up message handling. The Metrics object
// itself is used only on the io_context thread.
#ifndef NEEDLEWATCH_DAEMON_METRICS_H_
#define NEEDLEWATCH_DAEMON_METRICS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "needlewatch/engine/engine.h"

namespace needlewatch::daemon {

// The daemon's own figures, gathered by the daemon at scrape time.
struct DaemonStats {
  bool mqtt_connected = false;
  std::int64_t queue_depth = 0;           // received from MQTT, not yet processed
  std::uint64_t mqtt_reconnects = 0;
  std::uint64_t mqtt_connection_lost = 0;
  std::uint64_t config_reloads_success = 0;
  std::uint64_t config_reloads_failure = 0;
  std::uint64_t audit_write_errors = 0;
  std::uint64_t recorder_messages = 0;
  std::uint64_t recorder_bytes = 0;
  std::uint64_t recorder_dropped = 0;
  double start_time_seconds = 0;          // process start, Unix seconds
  std::string version;
};

// Everything a scrape shows, detached from the engine (owns its strings; safe to move to another
// thread).
struct MetricsSnapshot {
  // The exposition of every family except the per-device and per-alarm ones.
  std::string head;
  // Devices with an open session: readings and the limits of their current zone.
  struct Device {
    std::string clinic;
    std::string device;
    std::optional<double> depth_mm;
    std::optional<double> speed_hz;
    std::optional<double> depth_warn_mm;
    double depth_max_mm = 0;
    double speed_min_hz = 0;
    double speed_max_hz = 0;
  };
  struct Alarm {
    engine::AlarmKind alarm = engine::AlarmKind::kDepthExceeded;
    engine::Severity severity = engine::Severity::kLow;
    engine::AlarmState state = engine::AlarmState::kActive;
    bool acknowledged = false;
    std::string clinic;
    std::string device;
  };
  std::vector<Device> devices;
  std::vector<Alarm> alarms;
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // needlewatch_session_duration_seconds{clinic}, at session end.
  void ObserveSessionDuration(std::string_view clinic, double seconds);
  // needlewatch_ingest_latency_seconds: device ts → processed. Negative (skewed device clock)
  // values are observed as 0.
  void ObserveIngestLatency(double seconds);
  // needlewatch_processing_seconds: engine time for one message.
  void ObserveProcessing(double seconds);

  // The full exposition: engine-derived families, the daemon's, and the histograms.
  // Equivalent to RenderSnapshot(Snapshot(engine, stats)).
  std::string Render(const engine::Engine& engine, const DaemonStats& stats) const;

  // Step 1 of a scrape, on the engine's thread.
  MetricsSnapshot Snapshot(const engine::Engine& engine, const DaemonStats& stats) const;
  // Step 2, on any thread: the text format 0.0.4 exposition of `snapshot`.
  static std::string RenderSnapshot(const MetricsSnapshot& snapshot);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The Content-Type of Render's output.
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_METRICS_H_
