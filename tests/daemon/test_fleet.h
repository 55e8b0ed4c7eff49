// Helpers for daemon unit tests: device messages fed straight into an engine.
#ifndef NEEDLEWATCH_TESTS_DAEMON_TEST_FLEET_H_
#define NEEDLEWATCH_TESTS_DAEMON_TEST_FLEET_H_

#include <string>

#include "needlewatch/engine/engine.h"
#include "needlewatch/engine/events.h"

namespace needlewatch::daemon::testing {

inline constexpr engine::TimeNs kT0 = 1'795'611'133'000'000'000;

inline std::string TelemetryTopic(const std::string& clinic, const std::string& device) {
  return "clinic/" + clinic + "/device/" + device + "/telemetry";
}

inline std::string Telemetry(int seq, const std::string& session, const std::string& zone,
                             double depth_mm, double speed_hz) {
  return "{\"v\":1,\"seq\":" + std::to_string(seq) + ",\"ts\":1795611133000,\"session\":\"" +
         session + "\",\"zone\":\"" + zone + "\",\"depth_mm\":" + std::to_string(depth_mm) +
         ",\"speed_hz\":" + std::to_string(speed_hz) + "}";
}

// A raised alarm of the contract's example (c017/d00042, session S-7f3a91, forehead,
// value 0.8, limit 0.5, raised at 1795611133.125).
inline engine::AlarmEvent SampleAlarm(engine::AlarmKind kind, engine::Severity severity) {
  engine::AlarmEvent e;
  e.transition = engine::Transition::kRaised;
  e.alarm = kind;
  e.severity = severity;
  e.state = engine::AlarmState::kActive;
  e.clinic = "c017";
  e.device = "d00042";
  e.session = "S-7f3a91";
  e.zone = "forehead";
  e.raised_at = 1795611133125000000;
  e.at = 1795611133125000000;
  e.value = 0.8;
  e.limit = 0.5;
  return e;
}

}  // namespace needlewatch::daemon::testing

#endif  // NEEDLEWATCH_TESTS_DAEMON_TEST_FLEET_H_
