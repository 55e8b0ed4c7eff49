// Zone lookup in a resolved limits table (limits.h). Linear in the number of zones: the engine
// caches the result per interned zone, so this runs once per distinct zone string.
#include "needlewatch/engine/limits.h"

namespace needlewatch::engine {

const ZoneLimits& Limits::ForZone(std::string_view zone) const {
  for (const auto& [name, limits] : zones) {
    if (name == zone) return limits;
  }
  return defaults;
}

const RuleOptions& ZoneLimits::Rule(AlarmKind kind) const {
  switch (kind) {
    case AlarmKind::kDepthExceeded:
      return depth_exceeded;
    case AlarmKind::kDepthWarning:
      return depth_warning;
    case AlarmKind::kSpeedOutOfRange:
      return speed;
    case AlarmKind::kSessionOvertimeWarning:
      return session_overtime_warning;
    case AlarmKind::kSessionOvertime:
      return session_overtime;
    case AlarmKind::kTelemetryStale:
      return telemetry_stale;
    case AlarmKind::kDeviceOffline:
      return device_offline;
  }
  return device_offline;
}

bool Limits::HasZone(std::string_view zone) const {
  for (const auto& entry : zones) {
    if (entry.first == zone) return true;
  }
  return false;
}

}  // namespace needlewatch::engine
