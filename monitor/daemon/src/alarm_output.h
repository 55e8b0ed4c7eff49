// What the daemon publishes for engine alarm transitions (protocol/README.md): the retained
// alarm state, the optional `halt` interlock command, and the monitor's own alarms and
// status. Pure functions; thread-safe.
#ifndef NEEDLEWATCH_DAEMON_ALARM_OUTPUT_H_
#define NEEDLEWATCH_DAEMON_ALARM_OUTPUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "needlewatch/engine/events.h"
#include "needlewatch/engine/types.h"

namespace needlewatch::daemon {

// One MQTT message to send.
struct Publication {
  std::string topic;
  std::string payload;
  int qos = 1;
  bool retain = false;
  // Seconds after which it must not be delivered any more (0: never expires). MQTT 5 sends it
  // as the message expiry interval; the MQTT client also drops it unsent after this long.
  std::uint32_t expiry_seconds = 0;
};

// The retained QoS 1 message on {root}/{clinic}/device/{device}/alarm/{alarm} with the
// protocol/README.md, Alarms payload; `ts` is the transition time.
Publication AlarmPublication(std::string_view root, const engine::AlarmEvent& e);

// The `halt` command on {root}/{clinic}/device/{device}/command (QoS 1, not retained) when
// `e` is a raise whose severity is in `severities`; nullopt otherwise (a latch, a clear, an
// acknowledgement or a re-publication never halts). Expires after `expiry` (rounded up to
// whole seconds).
std::optional<Publication> HaltPublication(std::string_view root, const engine::AlarmEvent& e,
                                           const std::vector<engine::Severity>& severities,
                                           engine::TimeNs expiry);

// The monitor's own fault alarms (recorder_dropping, audit_log_failing) on
// needlewatch/{instance}/alarm/{name}: the device alarm shape minus clinic/device/session,
// retained QoS 1. `active` false publishes state "cleared" with cleared_at = ts.
Publication MonitorAlarmPublication(std::string_view instance, std::string_view name,
                                    engine::Severity severity, bool active,
                                    engine::TimeNs raised_at, engine::TimeNs ts,
                                    std::optional<double> value, std::optional<double> limit);

// needlewatch/{instance}/status, retained QoS 1: online or offline (the Last Will).
Publication MonitorStatusPublication(std::string_view instance, bool online, engine::TimeNs ts,
                                     std::string_view version);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_ALARM_OUTPUT_H_
