// Basic vocabulary of the safety engine: time, alarm kinds, severities, alarm states.
// Plain values; thread-safe.
#ifndef NEEDLEWATCH_ENGINE_TYPES_H_
#define NEEDLEWATCH_ENGINE_TYPES_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace needlewatch::engine {

// The engine's clock: nanoseconds since the Unix epoch. Live, the receive time of a message
// (or the tick time); in replay, the recorded receive time. The engine never reads a clock.
using TimeNs = std::int64_t;
inline constexpr TimeNs kNsPerMs = 1'000'000;
inline constexpr TimeNs kNsPerSec = 1'000'000'000;
inline constexpr double NsToSeconds(TimeNs t) { return static_cast<double>(t) / 1e9; }

// The alarms of CONTRACT §3. The numeric order is the order of the contract's table and is
// used for deterministic output when several alarms change at the same instant.
enum class AlarmKind : std::uint8_t {
  kDepthExceeded = 0,
  kDepthWarning,
  kSpeedOutOfRange,
  kSessionOvertimeWarning,
  kSessionOvertime,
  kTelemetryStale,
  kDeviceOffline,
};
inline constexpr std::size_t kAlarmKindCount = 7;
inline constexpr std::array<AlarmKind, kAlarmKindCount> kAllAlarmKinds = {
    AlarmKind::kDepthExceeded,   AlarmKind::kDepthWarning,   AlarmKind::kSpeedOutOfRange,
    AlarmKind::kSessionOvertimeWarning, AlarmKind::kSessionOvertime,
    AlarmKind::kTelemetryStale,  AlarmKind::kDeviceOffline};

std::string_view AlarmName(AlarmKind k);                       // "depth_exceeded", ...
std::optional<AlarmKind> ParseAlarmName(std::string_view name);

// IEC 60601-1-8 priorities. High-severity alarms latch (CONTRACT §3).
enum class Severity : std::uint8_t { kLow = 0, kMedium, kHigh };
inline constexpr std::size_t kSeverityCount = 3;
std::string_view SeverityName(Severity s);                     // "low", "medium", "high"
std::optional<Severity> ParseSeverity(std::string_view name);

// The state shown on an alarm's retained topic.
enum class AlarmState : std::uint8_t { kActive, kCleared, kLatched };
std::string_view AlarmStateName(AlarmState s);                 // "active", "cleared", "latched"

}  // namespace needlewatch::engine

#endif  // NEEDLEWATCH_ENGINE_TYPES_H_
