// The replay report: what the engine did over a replayed input (monitor/replay/README.md), collected from
// the engine's Sink callbacks, and its formatters (json, text, csv, html).
// Plain data plus a Sink; not thread-safe (used by the replay thread only).
#ifndef NEEDLEWATCH_REPLAY_REPORT_H_
#define NEEDLEWATCH_REPLAY_REPORT_H_

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "needlewatch/engine/engine.h"
#include "needlewatch/engine/events.h"

namespace needlewatch::replay {

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
  // Time series for the html chart (filled only when the report asks for it).
  std::vector<std::pair<engine::TimeNs, std::pair<double, double>>> series;
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
  explicit ReportBuilder(Report& report, bool keep_series = false)
      : report_(report), keep_series_(keep_series) {}
  void OnAlarm(const engine::AlarmEvent& e) override;
  void OnSession(const engine::SessionEvent& e) override;
  // Keeps each accepted telemetry sample for the html chart (only with keep_series).
  void OnAccepted(const engine::AcceptedInfo& m) override;
  bool keep_series() const { return keep_series_; }
  // Fills the still-open sessions' summaries and the counters from the engine at the end.
  void Finish(const engine::Engine& engine);

 private:
  static std::string Key(std::string_view clinic, std::string_view device);
  Report& report_;
  bool keep_series_;
  std::unordered_map<std::string, std::size_t> open_session_;  // clinic\0device → row
  std::unordered_map<std::string, std::size_t> live_alarm_;    // clinic\0device\0alarm → row
};

// monitor/replay/README.md object plus extensions; see monitor/replay/README.md for every field.
void WriteJson(const Report& r, std::ostream& out);
void WriteText(const Report& r, std::ostream& out);
void WriteCsv(const Report& r, std::ostream& out);  // alarms, one per row
void WriteHtml(const Report& r, const engine::Limits& limits, std::ostream& out);

}  // namespace needlewatch::replay

#endif  // NEEDLEWATCH_REPLAY_REPORT_H_
