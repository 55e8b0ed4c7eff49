// The replay report: what the engine did over a replayed input (monitor/replay/README.md), collected from
// the engine's Sink callbacks, and its formatters (json, text, csv, html).
// Plain data plus a Sink; not thread-safe (used by the replay thread only).
#ifndef NEEDLEWATCH_REPLAY_REPORT_H_
#define NEEDLEWATCH_REPLAY_REPORT_H_

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "needlewatch/engine/engine.h"
#include "needlewatch/engine/events.h"

namespace needlewatch::replay {

// One session's telemetry for the html charts, decimated as it arrives so that memory stays
// bounded (at most 2 * kChartBuckets buckets per session) and nothing that matters is lost:
// time is cut into buckets of equal width from the session start, which double in width (two
// neighbours merge) whenever there are more than 2 * kChartBuckets. Each bucket keeps, per
// quantity, its first, last, lowest and highest sample, the tightest limits that applied to its
// samples (each sample's zone and the limits in force then), whether any sample broke one, and
// its last zone. Buckets are never wider than a chart's pixel column, so every excursion beyond
// a limit stays visible however long the session.
inline constexpr std::size_t kChartBuckets = 1024;

// Values are kept as float: plenty for a drawing (depth 0-10 mm, speed 0-1000 Hz), half the
// memory.
struct ChartExtent {
  float first = 0, last = 0, min = 0, max = 0;
  bool min_first = true;  // the lowest sample came before the highest (drawing order)
};

struct ChartBucket {
  std::int64_t index = 0;  // starts at ChartSeries::origin + index * width
  ChartExtent depth, speed;
  // Tightest limits over the bucket's samples (lowest max, highest min); warn: NaN when unset.
  float depth_max = 0, depth_warn = 0, speed_min = 0, speed_max = 0;
  bool over_depth = false, over_warn = false, speed_low = false, speed_high = false;
  std::uint16_t zone = 0;  // into ChartSeries::zones: the last sample's
};

// Folds `later` (the bucket that follows `into` in time) into `into`.
void FoldBucket(ChartBucket& into, const ChartBucket& later);

struct ChartSeries {
  engine::TimeNs origin = 0;  // the session start
  engine::TimeNs width = 1'000'000;  // ns per bucket; starts at 1 ms
  std::vector<ChartBucket> buckets;  // in time order
  std::vector<std::string> zones;    // distinct zones, first-seen order (at most 65535)
  std::uint64_t samples = 0;
  engine::TimeNs last_at = 0;        // the latest sample's time

  // Adds one sample taken under `limits` (the zone's limits in force at `at`).
  // REQUIRES: `at` >= every earlier sample's `at` and >= origin.
  void Add(engine::TimeNs at, double depth_mm, double speed_hz, std::string_view zone,
           const engine::ZoneLimits& limits);
};

struct SessionRow {
  std::string clinic, device, session, zone, op;
  std::vector<std::string> zones;
  bool implicit = false;
  engine::TimeNs started_at = 0;
  std::optional<engine::TimeNs> ended_at;  // null: still open at the end of the input
  std::string end_reason;                  // "session_end", "switched", or "" while open
  std::uint64_t samples = 0;
  std::optional<double> max_depth_mm;
  std::optional<double> max_speed_hz;
  std::uint32_t alarms = 0;
  // Telemetry for the html charts (filled only when the report asks for it).
  ChartSeries chart;
};

struct AlarmRow {
  std::string clinic, device, session, zone;
  engine::AlarmKind alarm = engine::AlarmKind::kDepthExceeded;
  engine::Severity severity = engine::Severity::kLow;
  engine::AlarmState state = engine::AlarmState::kActive;  // at the end of the input
  engine::TimeNs raised_at = 0;
  std::optional<engine::TimeNs> cleared_at;  // when its condition ended; null: still active
  std::optional<engine::TimeNs> acknowledged_at;
  std::optional<double> value, limit;
};

struct AckRow {
  engine::TimeNs at = 0;
  std::string clinic, device, alarm;
  std::string result;  // "acknowledged", "cleared", "already_acknowledged", "not_found", "bad_ack"
};

// A `$needlewatch/limits` record of a daemon recording (limits applied at start or reload).
struct LimitsRow {
  engine::TimeNs at = 0;
  std::string reason;  // "start" or "reload", as recorded
  std::string source;  // the daemon's config file ("" = built-in defaults)
  std::string result;  // "applied", "ignored" (--config.file given), "bad_limits"
  std::string error;   // for bad_limits, and notes such as a different topic root
};

struct FileRow {
  std::string path;
  std::string format;
  std::uint64_t records = 0;
  std::uint64_t lines_skipped = 0;
};

struct Report {
  engine::Counters counters;
  std::uint64_t records = 0;        // records read (before filters)
  std::uint64_t records_kept = 0;   // after --clinic/--device/--from/--to
  std::uint64_t lines_skipped = 0;  // capture lines that were not capture lines
  std::optional<engine::TimeNs> first_record_at, last_record_at;  // of the kept records
  std::vector<FileRow> files;
  std::vector<SessionRow> sessions;  // in start order
  std::vector<AlarmRow> alarms;      // in raise order
  std::vector<AckRow> acks;
  std::vector<LimitsRow> limits;    // each distinct limits record, in order
  std::uint64_t limits_repeats = 0;  // limits records identical to the one before (segment starts)
  std::vector<std::pair<std::string, std::string>> filters;  // name, value as given
};

// Collects sessions and alarms from the engine's callbacks into a Report.
class ReportBuilder : public engine::Sink {
 public:
  // `engine` (with keep_series): the engine whose sink this is, asked for the limits in force
  // at each sample.
  explicit ReportBuilder(Report& report, bool keep_series = false,
                         const engine::Engine* engine = nullptr)
      : report_(report), keep_series_(keep_series), engine_(engine) {}
  void OnAlarm(const engine::AlarmEvent& e) override;
  void OnSession(const engine::SessionEvent& e) override;
  // Adds each accepted telemetry sample to its session's chart (only with keep_series).
  void OnAccepted(const engine::AcceptedInfo& m) override;
  bool keep_series() const { return keep_series_; }
  // Fills the still-open sessions' summaries and the counters from the engine at the end.
  void Finish(const engine::Engine& engine);

 private:
  static std::string Key(std::string_view clinic, std::string_view device);
  Report& report_;
  bool keep_series_;
  const engine::Engine* engine_;
  std::unordered_map<std::string, std::size_t> open_session_;  // clinic\0device → row
  std::unordered_map<std::string, std::size_t> live_alarm_;    // clinic\0device\0alarm → row
};

// monitor/replay/README.md object plus extensions; see monitor/replay/README.md for every field.
void WriteJson(const Report& r, std::ostream& out);
void WriteText(const Report& r, std::ostream& out);
void WriteCsv(const Report& r, std::ostream& out);  // alarms, one per row
// Self-contained page: alarms, and per session SVG charts of depth and speed on a local-time
// axis (the TZ environment variable's zone, named on the axis), with the limits each sample
// was held to drawn as step lines, the treatment zone as a band, breaches and alarm raises
// marked. Each pixel column shows its samples' first, lowest, highest and last value.
void WriteHtml(const Report& r, std::ostream& out);

}  // namespace needlewatch::replay

#endif  // NEEDLEWATCH_REPLAY_REPORT_H_
