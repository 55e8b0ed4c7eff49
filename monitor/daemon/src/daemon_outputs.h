// The live monitor's real clock and outputs in the daemon: the system clock, and the broker, the
// audit log, the recorder and the state journal. Tests use their own (tests/daemon).
#ifndef NEEDLEWATCH_DAEMON_DAEMON_OUTPUTS_H_
#define NEEDLEWATCH_DAEMON_DAEMON_OUTPUTS_H_

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "audit_log.h"
#include "live_monitor.h"
#include "log.h"
#include "mqtt_client.h"
#include "needlewatch/record/recorder.h"
#include "needlewatch/state/state_dir.h"

namespace needlewatch::daemon {

class SystemClock : public Clock {
 public:
  engine::TimeNs Now() override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// Each output is wired when its part starts; until then (or when it is off) it does nothing.
class DaemonOutputs : public Outputs {
 public:
  bool Publish(const Publication& p) override { return mqtt != nullptr && mqtt->Publish(p); }
  bool Audit(std::string_view line) override { return audit.Append(line); }
  bool SyncAudit() override { return audit.Sync(); }
  void Record(record::RawMessage&& m) override {
    if (recorder != nullptr) recorder->Submit(std::move(m));
  }
  bool Journal(std::string_view frames) override {
    std::string error;
    if (state == nullptr || state->Append(frames, &error)) return true;
    log::Error("state journal write failed", {{"error", error}});
    return false;
  }

  MqttClient* mqtt = nullptr;
  state::StateDir* state = nullptr;
  AuditLog audit;
  record::Recorder* recorder = nullptr;
};

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_DAEMON_OUTPUTS_H_
