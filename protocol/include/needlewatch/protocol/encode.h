// Payload encoders: device messages (for the simulator and tests) and the monitor's own
// messages (alarm state, halt command, monitor status). See ../../../README.md.
// Pure functions; thread-safe. Output is compact JSON, numbers in shortest round-trip form.
#ifndef NEEDLEWATCH_PROTOCOL_ENCODE_H_
#define NEEDLEWATCH_PROTOCOL_ENCODE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "needlewatch/protocol/json_writer.h"  // AppendJsonString, AppendJsonNumber
#include "needlewatch/protocol/message.h"

namespace needlewatch::protocol {

std::string EncodeTelemetry(const Telemetry& t);
std::string EncodeEvent(const Event& e);  // "operator" only when e.op is not empty
std::string EncodeStatus(const Status& s);

// The retained payload on {root}/{clinic}/device/{device}/alarm/{alarm} (protocol/README.md, Alarms).
// Times are seconds since the Unix epoch (fractional). A missing value/limit is null.
struct AlarmPayload {
  std::string_view alarm;     // e.g. "depth_exceeded"
  std::string_view severity;  // "low" | "medium" | "high"
  std::string_view state;     // "active" | "cleared" | "latched"
  std::string_view clinic;
  std::string_view device;
  std::string_view session;
  std::string_view zone;
  std::optional<double> value;
  std::optional<double> limit;
  double raised_at = 0;
  double ts = 0;                      // time of this transition
  bool acknowledged = false;          // extension: true once acknowledged
  std::optional<double> cleared_at;   // extension: when the condition cleared
  // v1.1: judged after the fact (a backlog caught up after a restart or reconnect); written
  // as "late":true only when set.
  bool late = false;
};
std::string EncodeAlarm(const AlarmPayload& a);

// The `state` of a payload found on an alarm topic ("active", "cleared" or "latched"), read as
// strictly as device input (a JSON object at most 4096 bytes, valid UTF-8, no duplicate keys);
// nullopt for anything else. For a monitor checking what the broker holds on its topics.
std::optional<std::string_view> AlarmPayloadState(std::string_view payload);

// {"v":1,"command":"halt","alarm":…,"severity":…,"session":…,"ts":…} on …/command.
std::string EncodeHaltCommand(std::string_view alarm, std::string_view severity,
                              std::string_view session, double ts);

// {"v":1,"state":"online"|"offline","ts":…,"version":…} on needlewatch/{instance}/status.
std::string EncodeMonitorStatus(bool online, double ts, std::string_view version);

}  // namespace needlewatch::protocol

#endif  // NEEDLEWATCH_PROTOCOL_ENCODE_H_
