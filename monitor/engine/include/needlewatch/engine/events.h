// What the engine reports: alarm transitions, session starts and ends, rejections and sequence
// gaps, delivered synchronously to a Sink the caller owns. The daemon's sink publishes,
// audits and counts; replay's sink builds the report. Plain data; thread-compatible.
#ifndef NEEDLEWATCH_ENGINE_EVENTS_H_
#define NEEDLEWATCH_ENGINE_EVENTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "needlewatch/engine/types.h"
#include "needlewatch/protocol/reject.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::engine {

// What happened to an alarm.
enum class Transition : std::uint8_t {
  kRaised,        // condition held for its `for`: state becomes active
  kCleared,       // condition ended; not latching (or already acknowledged): state cleared
  kLatched,       // condition ended on a latching (high) alarm not yet acknowledged
  kAcknowledged,  // an active alarm was acknowledged: state stays active, acknowledged=true
  kAckCleared,    // a latched alarm was acknowledged: state becomes cleared, the alarm ends
};
std::string_view TransitionName(Transition t);  // "raised","cleared","latched","acknowledged","ack_cleared"

// One alarm's state after a transition, with everything the alarm payload, the audit log and
// the replay report need.
struct AlarmEvent {
  Transition transition = Transition::kRaised;
  AlarmKind alarm = AlarmKind::kDepthExceeded;
  Severity severity = Severity::kLow;
  AlarmState state = AlarmState::kActive;  // the state after this transition
  bool acknowledged = false;
  std::string clinic;
  std::string device;
  std::string session;
  std::string zone;                 // zone of the offending sample, or the session's zone
  TimeNs raised_at = 0;             // when this alarm instance was raised
  std::optional<TimeNs> cleared_at; // when its condition ended (set from kCleared/kLatched on)
  TimeNs at = 0;                    // when this transition happened
  std::optional<double> value;      // offending value (mm, Hz, or seconds); null for offline
  std::optional<double> limit;      // the limit it broke (same unit); null for offline
  // Determined more than EngineOptions::late_after after `at` (engine now − at): only during
  // catch-up, for a late message or a deadline that waited for its device's messages.
  bool late = false;
};

enum class SessionEndReason : std::uint8_t {
  kNone,       // still open (kStarted events)
  kEndEvent,   // session_end received
  kSwitched,   // a start or telemetry for another session on the same device
};

// A session opening or closing, with its summary so far.
struct SessionEvent {
  bool started = true;  // true: opened now; false: ended now
  SessionEndReason reason = SessionEndReason::kNone;
  std::string clinic;
  std::string device;
  std::string session;
  std::string zone;       // the zone it started in (its session limits come from there)
  std::string op;         // operator ID from session_start, or empty
  bool implicit = false;  // opened by telemetry rather than session_start
  TimeNs started_at = 0;
  std::optional<TimeNs> ended_at;
  std::uint64_t samples = 0;
  std::optional<double> max_depth_mm;  // null while no telemetry
  std::optional<double> max_speed_hz;
  std::vector<std::string> zones;      // distinct zones seen, in order of first appearance
  std::uint32_t alarms_raised = 0;
};

// A message that failed a check. Views are valid only during the callback.
struct RejectInfo {
  protocol::Reject reason = protocol::Reject::kNone;
  protocol::Channel channel = protocol::Channel::kUnknown;
  std::string_view topic;
  std::string_view detail;  // what was expected, e.g. "depth_mm: expected a number from 0 to 10"
  TimeNs at = 0;
};

// A telemetry/event seq that was not the previous one + 1 (not after an `online`).
struct SeqGapInfo {
  std::string_view clinic;
  std::string_view device;
  std::uint32_t expected = 0;
  std::uint32_t got = 0;
  TimeNs at = 0;
};

// A message the engine accepted, reported once it has been applied (after the session and
// alarm changes it caused). Views are valid only during the callback.
struct AcceptedInfo {
  protocol::Channel channel = protocol::Channel::kUnknown;
  std::string_view clinic;
  std::string_view device;
  TimeNs at = 0;           // the engine's time for it (receive time)
  TimeNs effective_at = 0; // the time its rules ran on: `at`, or earlier for a late message
  bool late = false;       // judged late during catch-up (effective_at is device-corrected)
  std::int64_t ts_ms = 0;  // the device's clock (`ts`), for latency and skew figures
  double depth_mm = 0;     // telemetry only
  double speed_hz = 0;     // telemetry only
  std::string_view zone;   // telemetry only: the sample's zone (its limits applied to it)
};

// Receives the engine's output. Called synchronously from Engine methods, on the caller's
// thread; implementations must not call back into the engine.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void OnAccepted(const AcceptedInfo& m) { (void)m; }
  virtual void OnAlarm(const AlarmEvent& e) { (void)e; }
  virtual void OnSession(const SessionEvent& e) { (void)e; }
  virtual void OnReject(const RejectInfo& r) { (void)r; }
  virtual void OnSeqGap(const SeqGapInfo& g) { (void)g; }
};

}  // namespace needlewatch::engine

#endif  // NEEDLEWATCH_ENGINE_EVENTS_H_
