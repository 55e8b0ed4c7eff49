// The daemon's Prometheus exposition (text format 0.0.4). Series that describe engine state
// (sessions, alarms, readings, counters, the limits of each zone) are translated from the engine
// at scrape time; the histograms and the daemon's own counters live here; the process_* series
// are read from /proc/self at render time. Metric names: monitor/daemon/README.md.
//
// Series per pen with an open session: needle depth, needle frequency and the zone it is in
// (needlewatch_device_zone_info), so 3; the limits are per zone (needlewatch_zone_*), joined in
// PromQL on `zone`. Each active or latched alarm adds its own series.
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
  std::uint64_t ingest_dropped = 0;       // QoS 0 messages dropped with the inbox full
  std::uint64_t ingest_blocked = 0;       // times the inbox was full and Paho was held back
  std::uint64_t alarm_topic_corrections = 0;  // retained alarm topics set right again
  std::uint64_t halts_expired = 0;        // halts dropped unsent after their expiry
  bool state_lost = false;                // the monitor alarm state_lost is active
  std::uint64_t state_journal_write_errors = 0;  // journal batches not made durable
  // The floor page's event streams (GET /api/v1/events).
  std::uint64_t event_streams_open = 0;
  std::uint64_t event_streams_opened = 0;
  std::uint64_t event_streams_dropped_slow = 0;  // closed: the client fell too far behind
  std::uint64_t event_streams_refused = 0;       // over http's stream bounds
  double start_time_seconds = 0;          // process start, Unix seconds
  std::string version;
};

// Everything a scrape shows, detached from the engine (owns its strings; safe to move to another
// thread).
struct MetricsSnapshot {
  // The exposition of every family except the per-device and per-alarm ones.
  std::string head;
  // Devices with an open session: readings and the zone whose limits apply to them.
  struct Device {
    std::string clinic;
    std::string device;
    std::optional<double> depth_mm;
    std::optional<double> speed_hz;
    // The `zone` label of needlewatch_zone_*: the last sample's zone when the limits list it,
    // else "default" (its limits are the defaults'). Empty before the session's first sample.
    std::string limits_zone;
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
  // Step 2, on any thread: the text format 0.0.4 exposition of `snapshot`, followed by the
  // process_* families read from /proc at this moment (ReadProcessStats).
  static std::string RenderSnapshot(const MetricsSnapshot& snapshot);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The figures of the process_* metrics (the Prometheus client libraries' conventions).
struct ProcessStats {
  double cpu_seconds = 0;          // user + system, all threads
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;              // the soft RLIMIT_NOFILE
  double start_time_seconds = 0;   // Unix seconds
};

// The fields of /proc/self/stat (proc(5)) the process_* metrics use.
struct ProcSelfStat {
  std::uint64_t utime_ticks = 0;
  std::uint64_t stime_ticks = 0;
  std::uint64_t start_ticks = 0;  // since boot
  std::uint64_t vsize_bytes = 0;
  std::int64_t rss_pages = 0;
};
// Parses /proc/self/stat's single line (the command name in parentheses may hold spaces and
// parentheses). nullopt when it does not have the expected fields.
std::optional<ProcSelfStat> ParseProcSelfStat(std::string_view text);
// The `btime` line of /proc/stat: boot time, Unix seconds.
std::optional<std::uint64_t> ParseBootTime(std::string_view proc_stat);
// This process's figures from /proc; nullopt where /proc is not mounted or unreadable (the
// process_* families are then left out of the exposition).
std::optional<ProcessStats> ReadProcessStats();
// Appends the six process_* families in text format 0.0.4.
void AppendProcessMetrics(const ProcessStats& stats, std::string& out);

// The Content-Type of Render's output.
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_METRICS_H_
