// The daemon's Prometheus exposition (text format 0.0.4). Series that describe engine state
// (sessions, alarms, readings, counters) are translated from the engine at scrape time; the
// histograms and the daemon's own counters live here. Metric names: monitor/daemon/README.md.
//
// Not thread-safe: used only on the daemon's io_context thread (scrapes are served there too,
// so reading the engine needs no lock).
#ifndef NEEDLEWATCH_DAEMON_METRICS_H_
#define NEEDLEWATCH_DAEMON_METRICS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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
  std::string Render(const engine::Engine& engine, const DaemonStats& stats) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The severity `kind` has in `z` (for pre-creating alarms_raised series at 0).
engine::Severity DefaultSeverity(const engine::ZoneLimits& z, engine::AlarmKind kind);

// The Content-Type of Render's output.
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_METRICS_H_
