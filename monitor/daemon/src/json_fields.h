// The daemon's recurring JSON members, written through protocol::JsonWriter: times as both
// fractional seconds and integer nanoseconds (so a replay can be compared to the ns), and the
// members every alarm carries in the audit log, the API and the floor page. Pure; thread-safe.
#ifndef NEEDLEWATCH_DAEMON_JSON_FIELDS_H_
#define NEEDLEWATCH_DAEMON_JSON_FIELDS_H_

#include <optional>
#include <string>
#include <string_view>

#include "needlewatch/engine/types.h"
#include "needlewatch/protocol/json_writer.h"

namespace needlewatch::daemon {

// "<key>":<seconds>,"<key>_ns":<integer ns>.
inline void WriteTime(protocol::JsonWriter& w, std::string_view key, engine::TimeNs t) {
  w.Field(key, engine::NsToSeconds(t));
  w.Field(std::string(key) + "_ns", std::int64_t{t});
}

// As WriteTime, or both null when `t` is unset.
inline void WriteOptionalTime(protocol::JsonWriter& w, std::string_view key,
                              const std::optional<engine::TimeNs>& t) {
  if (t) {
    WriteTime(w, key, *t);
    return;
  }
  w.Key(key).Null().Key(std::string(key) + "_ns").Null();
}

// The members shared by engine::AlarmEvent and engine::AlarmView: alarm, severity, state,
// acknowledged, clinic, device, session, zone, value, limit, raised_at(_ns), cleared_at(_ns),
// late (v1.1: judged after the fact, on a backlog caught up after a restart or reconnect).
template <typename Alarm>
void WriteAlarmFields(protocol::JsonWriter& w, const Alarm& a) {
  w.Field("alarm", engine::AlarmName(a.alarm))
      .Field("severity", engine::SeverityName(a.severity))
      .Field("state", engine::AlarmStateName(a.state))
      .Field("acknowledged", a.acknowledged)
      .Field("clinic", a.clinic)
      .Field("device", a.device)
      .Field("session", a.session)
      .Field("zone", a.zone)
      .Field("value", a.value)
      .Field("limit", a.limit);
  WriteTime(w, "raised_at", a.raised_at);
  WriteOptionalTime(w, "cleared_at", a.cleared_at);
  w.Field("late", a.late);
}

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_JSON_FIELDS_H_
