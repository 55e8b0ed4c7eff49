// Names of the engine's vocabulary types (types.h, events.h).
#include "needlewatch/engine/types.h"

#include <cstddef>

#include "needlewatch/engine/events.h"

namespace needlewatch::engine {
namespace {

constexpr std::array<std::string_view, kAlarmKindCount> kAlarmNames = {
    "depth_exceeded",  "depth_warning",   "speed_out_of_range", "session_overtime_warning",
    "session_overtime", "telemetry_stale", "device_offline"};
constexpr std::array<std::string_view, kSeverityCount> kSeverityNames = {"low", "medium", "high"};

}  // namespace

std::string_view AlarmName(AlarmKind k) {
  const auto i = static_cast<std::size_t>(k);
  return i < kAlarmNames.size() ? kAlarmNames[i] : std::string_view("unknown");
}

std::optional<AlarmKind> ParseAlarmName(std::string_view name) {
  for (AlarmKind k : kAllAlarmKinds) {
    if (AlarmName(k) == name) return k;
  }
  return std::nullopt;
}

std::string_view SeverityName(Severity s) {
  const auto i = static_cast<std::size_t>(s);
  return i < kSeverityNames.size() ? kSeverityNames[i] : std::string_view("unknown");
}

std::optional<Severity> ParseSeverity(std::string_view name) {
  for (std::size_t i = 0; i < kSeverityNames.size(); ++i) {
    if (kSeverityNames[i] == name) return static_cast<Severity>(i);
  }
  return std::nullopt;
}

std::string_view AlarmStateName(AlarmState s) {
  switch (s) {
    case AlarmState::kActive:
      return "active";
    case AlarmState::kCleared:
      return "cleared";
    case AlarmState::kLatched:
      return "latched";
  }
  return "unknown";
}

std::string_view TransitionName(Transition t) {
  switch (t) {
    case Transition::kRaised:
      return "raised";
    case Transition::kCleared:
      return "cleared";
    case Transition::kLatched:
      return "latched";
    case Transition::kAcknowledged:
      return "acknowledged";
    case Transition::kAckCleared:
      return "ack_cleared";
  }
  return "unknown";
}

}  // namespace needlewatch::engine
