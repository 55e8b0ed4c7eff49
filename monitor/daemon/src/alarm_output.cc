#include "alarm_output.h"

#include <algorithm>

#include "needlewatch/protocol/encode.h"
#include "needlewatch/protocol/json_writer.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::daemon {

Publication AlarmPublication(std::string_view root, const engine::AlarmEvent& e) {
  protocol::AlarmPayload p;
  p.alarm = engine::AlarmName(e.alarm);
  p.severity = engine::SeverityName(e.severity);
  p.state = engine::AlarmStateName(e.state);
  p.clinic = e.clinic;
  p.device = e.device;
  p.session = e.session;
  p.zone = e.zone;
  p.value = e.value;
  p.limit = e.limit;
  p.raised_at = engine::NsToSeconds(e.raised_at);
  p.ts = engine::NsToSeconds(e.at);
  p.acknowledged = e.acknowledged;
  p.late = e.late;
  if (e.cleared_at) p.cleared_at = engine::NsToSeconds(*e.cleared_at);
  Publication out;
  out.topic = protocol::AlarmTopic(root, e.clinic, e.device, p.alarm);
  out.payload = protocol::EncodeAlarm(p);
  out.qos = 1;
  out.retain = true;
  return out;
}

std::optional<Publication> HaltPublication(std::string_view root, const engine::AlarmEvent& e,
                                           const std::vector<engine::Severity>& severities,
                                           engine::TimeNs expiry) {
  if (e.transition != engine::Transition::kRaised) return std::nullopt;
  if (std::find(severities.begin(), severities.end(), e.severity) == severities.end()) {
    return std::nullopt;
  }
  Publication out;
  out.topic = protocol::CommandTopic(root, e.clinic, e.device);
  out.payload = protocol::EncodeHaltCommand(engine::AlarmName(e.alarm),
                                            engine::SeverityName(e.severity), e.session,
                                            engine::NsToSeconds(e.at));
  out.qos = 1;
  out.retain = false;
  if (expiry > 0) {
    out.expiry_seconds =
        static_cast<std::uint32_t>((expiry + engine::kNsPerSec - 1) / engine::kNsPerSec);
  }
  return out;
}

Publication MonitorAlarmPublication(std::string_view instance, std::string_view name,
                                    engine::Severity severity, bool active,
                                    engine::TimeNs raised_at, engine::TimeNs ts,
                                    std::optional<double> value, std::optional<double> limit) {
  Publication out;
  protocol::JsonWriter w(out.payload);
  w.BeginObject()
      .Field("v", 1)
      .Field("alarm", name)
      .Field("severity", engine::SeverityName(severity))
      .Field("state", active ? "active" : "cleared")
      .Field("value", value)
      .Field("limit", limit)
      .Field("raised_at", engine::NsToSeconds(raised_at));
  if (!active) w.Field("cleared_at", engine::NsToSeconds(ts));
  w.Field("ts", engine::NsToSeconds(ts)).EndObject();
  out.topic = protocol::MonitorAlarmTopic(instance, name);
  out.qos = 1;
  out.retain = true;
  return out;
}

Publication MonitorStatusPublication(std::string_view instance, bool online, engine::TimeNs ts,
                                     std::string_view version) {
  Publication out;
  out.topic = protocol::MonitorStatusTopic(instance);
  out.payload = protocol::EncodeMonitorStatus(online, engine::NsToSeconds(ts), version);
  out.qos = 1;
  out.retain = true;
  return out;
}

}  // namespace needlewatch::daemon
