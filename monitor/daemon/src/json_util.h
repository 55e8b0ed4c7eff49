// Small helpers for the daemon's hand-built JSON objects (audit lines, API bodies, monitor
// alarms). Each appends `,"key":value` to a string that already holds an open object with at
// least one member. Pure; thread-safe.
#ifndef NEEDLEWATCH_DAEMON_JSON_UTIL_H_
#define NEEDLEWATCH_DAEMON_JSON_UTIL_H_

#include <optional>
#include <string>
#include <string_view>

#include "needlewatch/engine/types.h"
#include "needlewatch/protocol/encode.h"

namespace needlewatch::daemon {

inline void AppendKey(std::string& out, std::string_view key) {
  out += ',';
  protocol::AppendJsonString(out, key);
  out += ':';
}

inline void AppendStringField(std::string& out, std::string_view key, std::string_view value) {
  AppendKey(out, key);
  protocol::AppendJsonString(out, value);
}

inline void AppendOptionalNumberField(std::string& out, std::string_view key,
                                      const std::optional<double>& value) {
  AppendKey(out, key);
  if (value) {
    protocol::AppendJsonNumber(out, *value);
  } else {
    out += "null";
  }
}

// `,"key":<seconds>,"key_ns":<integer ns>`.
inline void AppendTimeFields(std::string& out, std::string_view key, engine::TimeNs t) {
  AppendKey(out, key);
  protocol::AppendJsonNumber(out, engine::NsToSeconds(t));
  out += ',';
  protocol::AppendJsonString(out, std::string(key) + "_ns");
  out += ':';
  out += std::to_string(t);
}

// As AppendTimeFields, or both null when `t` is unset.
inline void AppendOptionalTimeFields(std::string& out, std::string_view key,
                                     const std::optional<engine::TimeNs>& t) {
  if (t) {
    AppendTimeFields(out, key, *t);
    return;
  }
  AppendKey(out, key);
  out += "null,";
  protocol::AppendJsonString(out, std::string(key) + "_ns");
  out += ":null";
}

// The alarm members shared by engine::AlarmEvent and engine::AlarmView: alarm, severity,
// state, acknowledged, clinic, device, session, zone, value, limit, raised_at(_ns),
// cleared_at(_ns).
template <typename Alarm>
void AppendAlarmFields(std::string& out, const Alarm& a) {
  AppendStringField(out, "alarm", engine::AlarmName(a.alarm));
  AppendStringField(out, "severity", engine::SeverityName(a.severity));
  AppendStringField(out, "state", engine::AlarmStateName(a.state));
  out += a.acknowledged ? ",\"acknowledged\":true" : ",\"acknowledged\":false";
  AppendStringField(out, "clinic", a.clinic);
  AppendStringField(out, "device", a.device);
  AppendStringField(out, "session", a.session);
  AppendStringField(out, "zone", a.zone);
  AppendOptionalNumberField(out, "value", a.value);
  AppendOptionalNumberField(out, "limit", a.limit);
  AppendTimeFields(out, "raised_at", a.raised_at);
  AppendOptionalTimeFields(out, "cleared_at", a.cleared_at);
}

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_JSON_UTIL_H_
