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
    return MonitorAlarmPublication(instance, name_, severity_, active, raised_at_, now, value,
                                   std::nullopt);
  }

  const std::string& name() const { return name_; }
  engine::Severity severity() const { return severity_; }
  bool active() const { return active_; }
  engine::TimeNs raised_at() const { return raised_at_; }

 private:
  std::string name_;
  engine::Severity severity_;
  bool active_ = false;
  engine::TimeNs raised_at_ = 0;
};

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_MONITOR_ALARM_H_
