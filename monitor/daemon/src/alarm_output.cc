#include "alarm_output.h"

#include <algorithm>

#include "json_util.h"
#include "needlewatch/protocol/encode.h"
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
  if (e.cleared_at) p.cleared_at = engine::NsToSeconds(*e.cleared_at);
  Publication out;
  out.topic = protocol::AlarmTopic(root, e.clinic, e.device, p.alarm);
  out.payload = protocol::EncodeAlarm(p);
  out.qos = 1;
  out.retain = true;
  return out;
}

std::optional<Publication> HaltPublication(std::string_view root, const engine::AlarmEvent& e,
                                           const std::vector<engine::Severity>& severities) {
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
  return out;
}

Publication MonitorAlarmPublication(std::string_view instance, std::string_view name,
                                    engine::Severity severity, bool active,
                                    engine::TimeNs raised_at, engine::TimeNs ts,
                                    std::optional<double> value, std::optional<double> limit) {
  std::string p = "{\"v\":1";
  AppendStringField(p, "alarm", name);
  AppendStringField(p, "severity", engine::SeverityName(severity));
  AppendStringField(p, "state", active ? "active" : "cleared");
  AppendOptionalNumberField(p, "value", value);
  AppendOptionalNumberField(p, "limit", limit);
  AppendOptionalNumberField(p, "raised_at", engine::NsToSeconds(raised_at));
  if (!active) AppendOptionalNumberField(p, "cleared_at", engine::NsToSeconds(ts));
  AppendOptionalNumberField(p, "ts", engine::NsToSeconds(ts));
  p += '}';
  Publication out;
  out.topic = "needlewatch/";
  out.topic += instance;
  out.topic += "/alarm/";
  out.topic += name;
  out.payload = std::move(p);
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
