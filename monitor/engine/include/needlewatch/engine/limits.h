// Safety limits, fully resolved per zone (CONTRACT §4). The YAML loader (monitor/config) merges
// zones over `default`; the engine only looks values up. Plain data; thread-compatible.
#ifndef NEEDLEWATCH_ENGINE_LIMITS_H_
#define NEEDLEWATCH_ENGINE_LIMITS_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "needlewatch/engine/types.h"

namespace needlewatch::engine {

// One alarm rule's presentation: how urgent it is and how long its condition must hold
// before the alarm is raised (the IEC 60601-1-8 "alarm condition delay").
struct RuleOptions {
  Severity severity = Severity::kLow;
  TimeNs for_ns = 0;  // 0: raised on the first offending sample
};

// Every limit that applies to one zone. Limits are inclusive: a value equal to a limit is
// within it.
struct ZoneLimits {
  // depth_mm.max: above it → depth_exceeded.
  double depth_max_mm = 1.0;
  RuleOptions depth_exceeded{Severity::kHigh, 0};
  // depth_mm.warn: above it → depth_warning. Unset: no warning rule for this zone.
  std::optional<double> depth_warn_mm;
  RuleOptions depth_warning{Severity::kLow, 0};

  // speed_hz.min / .max: outside [min, max] → speed_out_of_range.
  double speed_min_hz = 50;
  double speed_max_hz = 150;
  RuleOptions speed{Severity::kMedium, 1 * kNsPerSec};

  // session.warn_after / .max_duration, measured from the session's start. Taken from the zone
  // a session started in. Unset warn_after: no overtime warning. (`for_ns` is unused.)
  std::optional<TimeNs> session_warn_after = 50LL * 60 * kNsPerSec;
  RuleOptions session_overtime_warning{Severity::kLow, 0};
  TimeNs session_max_duration = 60LL * 60 * kNsPerSec;
  RuleOptions session_overtime{Severity::kHigh, 0};

  // telemetry.stale_after: an open session with no telemetry for strictly longer → stale.
  TimeNs stale_after = 3 * kNsPerSec;
  RuleOptions telemetry_stale{Severity::kMedium, 0};

  // device_offline while a session is open. (`for_ns` is unused.)
  RuleOptions device_offline{Severity::kHigh, 0};

  // The options of alarm `kind`'s rule in this zone.
  const RuleOptions& Rule(AlarmKind kind) const;
};

// The whole limits table: `default` plus named zones, each already merged over default.
struct Limits {
  ZoneLimits defaults;
  std::vector<std::pair<std::string, ZoneLimits>> zones;  // names unique

  // The zone's limits, or `defaults` for a zone not listed. The reference lives as long as
  // this Limits object is neither modified nor destroyed.
  const ZoneLimits& ForZone(std::string_view zone) const;
  // True when `zone` is listed (so an unknown zone can be counted).
  bool HasZone(std::string_view zone) const;
};

}  // namespace needlewatch::engine

#endif  // NEEDLEWATCH_ENGINE_LIMITS_H_
