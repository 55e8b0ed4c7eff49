// One of the monitor's own alarms — faults of needlewatch itself rather than of a pen
// (audit_log_failing, recorder_dropping): retained on needlewatch/{instance}/alarm/{name},
// raised and cleared by the live monitor. Pure; not thread-safe.
#ifndef NEEDLEWATCH_DAEMON_MONITOR_ALARM_H_
#define NEEDLEWATCH_DAEMON_MONITOR_ALARM_H_

#include <optional>
#include <string>
#include <string_view>

#include "alarm_output.h"
#include "needlewatch/engine/types.h"

namespace needlewatch::daemon {

class MonitorAlarm {
 public:
  MonitorAlarm(std::string name, engine::Severity severity)
      : name_(std::move(name)), severity_(severity) {}

  // Sets the state at `now`. When it changes, returns the retained message that says so
  // (`value`: the figure behind it, e.g. messages dropped so far).
  std::optional<Publication> Set(bool active, engine::TimeNs now, std::string_view instance,
                                 std::optional<double> value) {
    if (active == active_) return std::nullopt;
    active_ = active;
    if (active) raised_at_ = now;
    value_ = value;
    return Message(now, instance);
  }

  // The retained message of the active alarm as it was raised, to send again on a reconnect
  // (the broker may have lost it); nothing while it is cleared.
  std::optional<Publication> Active(engine::TimeNs now, std::string_view instance) const {
    if (!active_) return std::nullopt;
    return Message(now, instance);
  }

  const std::string& name() const { return name_; }
  engine::Severity severity() const { return severity_; }
  bool active() const { return active_; }
  engine::TimeNs raised_at() const { return raised_at_; }

 private:
  Publication Message(engine::TimeNs now, std::string_view instance) const {
    return MonitorAlarmPublication(instance, name_, severity_, active_, raised_at_, now, value_,
                                   std::nullopt);
  }

  std::string name_;
  engine::Severity severity_;
  bool active_ = false;
  engine::TimeNs raised_at_ = 0;
  std::optional<double> value_;  // the figure of the last change
};

// A monitor alarm driven by a running count of bad events (messages dropped, reads held back):
// active while the count grows, cleared after `quiet` without growth.
class CountAlarm {
 public:
  CountAlarm(std::string name, engine::Severity severity, engine::TimeNs quiet)
      : alarm_(std::move(name), severity), quiet_(quiet) {}

  // The count at `now`; the retained message to send when the alarm changes.
  std::optional<Publication> Note(std::uint64_t total, engine::TimeNs now,
                                  std::string_view instance) {
    if (total > seen_) {
      seen_ = total;
      last_growth_ = now;
      return alarm_.Set(true, now, instance, static_cast<double>(total));
    }
    if (alarm_.active() && now - last_growth_ >= quiet_) {
      return alarm_.Set(false, now, instance, static_cast<double>(total));
    }
    return std::nullopt;
  }
  const MonitorAlarm& alarm() const { return alarm_; }

 private:
  MonitorAlarm alarm_;
  engine::TimeNs quiet_;
  std::uint64_t seen_ = 0;
  engine::TimeNs last_growth_ = 0;
};

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_MONITOR_ALARM_H_
