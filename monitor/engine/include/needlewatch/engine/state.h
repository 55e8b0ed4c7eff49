// Engine::Save()/Restore(): everything an Engine needs to continue exactly where another left
// off (issue 12: alarm state outlives the process). Plain data (strings, vectors, optionals,
// integers, doubles, enums) for the daemon to serialise as it likes.
//
// Deadlines are not stored: Restore recomputes each armed timer's deadline from the state (a
// pending condition's first offending sample + the `for` of its latest sample's zone, session
// start + the session zone's thresholds, stale base + stale_after, last message + the eviction
// delay), so the limits and options at Restore must be those at Save. Only each armed timer's
// tie-break rank is kept, so that deadlines at the very same nanosecond fire in the same order.
// Slot numbers keep the views' order. Thread-compatible.
#ifndef NEEDLEWATCH_ENGINE_STATE_H_
#define NEEDLEWATCH_ENGINE_STATE_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "needlewatch/engine/engine.h"
#include "needlewatch/engine/types.h"

namespace needlewatch::engine {

// Bumped whenever a field changes meaning; Restore refuses another version.
inline constexpr std::uint32_t kEngineStateVersion = 1;

// A device's timers. The first three are the pending sample rules (their AlarmKind's order).
enum class TimerKind : std::uint8_t {
  kPendingDepth = 0,
  kPendingWarning,
  kPendingSpeed,
  kOvertimeWarning,
  kOvertime,
  kStale,
  kEvict,
};
inline constexpr std::size_t kTimerKindCount = 7;

// An armed timer: which, and its rank among all deadlines (ties fire in rank order).
struct TimerState {
  TimerKind kind = TimerKind::kStale;
  std::uint64_t order = 0;
};

// A sample rule whose condition holds but whose `for` has not elapsed (depth_exceeded,
// depth_warning or speed_out_of_range), with its first offending sample.
struct PendingState {
  AlarmKind alarm = AlarmKind::kSpeedOutOfRange;
  TimeNs t0 = 0;
  double value = 0;
  double limit = 0;
  std::string zone;
};

struct SessionState {
  std::string session;
  std::string zone;  // the zone it started in
  std::string op;    // operator, or empty
  bool implicit = false;
  bool unsafe_counted = false;  // a high-severity alarm was raised in it
  TimeNs started_at = 0;
  TimeNs stale_base = 0;        // latest of start, last telemetry, back online
  std::uint64_t samples = 0;
  double max_depth_mm = 0;
  double max_speed_hz = 0;
  std::vector<std::string> zones;  // distinct zones in order of first appearance
  std::uint32_t alarms_raised = 0;
  bool has_sample = false;         // the last reading below is set
  std::string last_zone;
  double last_depth_mm = 0;
  double last_speed_hz = 0;
  std::vector<PendingState> pendings;
};

struct DeviceState {
  std::uint32_t slot = 0;  // position in the engine's device table (< EngineState::device_slots)
  std::string clinic;
  std::string device;
  bool online = true;
  bool seq_valid = false;  // false after `online` until the next seq
  std::uint32_t last_seq = 0;
  // Which of the 256 seqs before last_seq were handled: bit i of word i / 64 is seq
  // last_seq − 1 − i (a reordered delivery of an unhandled one is still accepted).
  std::array<std::uint64_t, 4> seq_seen{};
  TimeNs last_message_at = 0;
  // Clock-offset baseline (receive time − ts), learned outside catch-up.
  bool has_offset = false;
  std::int64_t offset_ns = 0;
  TimeNs offset_at = 0;          // when the baseline was last updated
  TimeNs last_effective_at = 0;  // the device's own clock: latest message or raise
  bool lagging = false;          // during catch-up: its deadlines wait for its messages
  std::optional<SessionState> session;
  std::vector<TimerState> timers;
};

// An active (acknowledged or not) or latched alarm.
struct SavedAlarm {
  std::uint32_t slot = 0;  // position in the engine's alarm table (< EngineState::alarm_slots)
  std::string clinic;
  std::string device;
  AlarmKind alarm = AlarmKind::kDepthExceeded;
  Severity severity = Severity::kLow;
  AlarmState state = AlarmState::kActive;  // kActive or kLatched
  bool acknowledged = false;
  std::string session;
  std::string zone;
  TimeNs raised_at = 0;
  std::optional<TimeNs> cleared_at;
  std::optional<double> value;
  std::optional<double> limit;
  bool late = false;
};

struct EngineState {
  std::uint32_t version = kEngineStateVersion;
  TimeNs now = 0;
  bool catching_up = false;
  std::uint64_t next_order = 0;  // the next timer rank
  Counters counters;
  std::vector<ClinicStats> clinics;  // clinics with at least one known device
  std::uint32_t device_slots = 0;
  std::vector<DeviceState> devices;
  std::vector<std::uint32_t> free_device_slots;  // reused last first
  std::uint32_t alarm_slots = 0;
  std::vector<SavedAlarm> alarms;
  std::vector<std::uint32_t> free_alarm_slots;   // reused last first
};

}  // namespace needlewatch::engine

#endif  // NEEDLEWATCH_ENGINE_STATE_H_
