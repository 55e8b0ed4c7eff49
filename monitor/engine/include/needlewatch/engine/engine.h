// The safety engine: a pure, deterministic state machine over device messages and time.
// It decodes raw MQTT messages (topic + payload), keeps per-device state (online/offline,
// open session, last sample, seq), evaluates every rule of CONTRACT §3, and reports alarm
// transitions, sessions, rejections and seq gaps to a Sink.
//
// No I/O, no threads, no clock: every call takes `now`. Live daemon and replay drive the same
// engine, so replay reproduces live alarms exactly. Time never goes backwards inside the
// engine: a `now` earlier than the latest seen is treated as the latest.
//
// Time-based alarms (overtime, stale, `for` delays, eviction) sit in a deadline queue. Every
// call first fires each deadline at or before `now` (in time order; ties in a fixed order),
// then handles its own work. Nothing fires unless a call is made.
//
// Catch-up (BeginCatchUp … EndCatchUp, issue 12): while a backlog the broker kept is delivered,
// a device's messages that are older than its learned clock offset says are judged at their
// own (device-corrected) time, and its deadlines wait for its messages; outside catch-up the
// clock is the receive time, exactly as the contract says. Save/Restore (state.h) carry all of
// it across a restart.
//
// Not thread-safe; owned and used by one thread (the daemon's io_context thread).
#ifndef NEEDLEWATCH_ENGINE_ENGINE_H_
#define NEEDLEWATCH_ENGINE_ENGINE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "needlewatch/engine/events.h"
#include "needlewatch/engine/limits.h"
#include "needlewatch/engine/types.h"
#include "needlewatch/protocol/reject.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::engine {

struct EngineOptions {
  // Topic root: device topics are {root}/{clinic}/device/{device}/… .
  std::string topic_root = "clinic";
  // A device with no open session and no active or latched alarm is forgotten after this long
  // without any accepted message (bounds memory with a changing fleet). <= 0: never.
  TimeNs evict_idle_after = 3600LL * kNsPerSec;
  // During catch-up only: a device message whose clock offset (receive time − ts) exceeds the
  // device's learned baseline by more than this is late (judged at ts + baseline); and a
  // transition determined more than this after its own time is reported `late`.
  TimeNs late_after = 1 * kNsPerSec;
  // At most this many devices are known at once: a message from a new device beyond it is
  // rejected as too_many_devices (known devices keep working; eviction makes room).
  std::size_t max_devices = 100000;
  // Optional registry. When set, a message from a clinic not in `known_clinics`, or from a
  // device whose "clinic/device" is not in `known_devices`, is rejected as unknown_device.
  // Checked for devices not yet known; fixed for the engine's life.
  std::optional<std::unordered_set<std::string>> known_clinics;
  std::optional<std::unordered_set<std::string>> known_devices;
  // Optional shard filter: messages of a clinic it returns false for are rejected as
  // not_assigned. Called for every device message; must be cheap and must not call the engine.
  std::function<bool(std::string_view clinic)> assigned;
};

// Totals since construction (never reset by SetLimits).
struct Counters {
  // Every message taken in (accepted or rejected), by channel. Own topics are not counted.
  std::array<std::uint64_t, protocol::kChannelCount> received{};
  std::uint64_t accepted = 0;
  std::array<std::uint64_t, protocol::kRejectCount> rejected{};  // indexed by Reject
  std::uint64_t ignored_own = 0;     // messages on the monitor's own topics
  std::uint64_t unknown_zone = 0;    // accepted telemetry/start whose zone is not listed
  std::uint64_t seq_gaps = 0;        // total over all clinics
  std::uint64_t sessions_started = 0;
  std::uint64_t sessions_ended = 0;
  std::uint64_t devices_evicted = 0;
  std::uint64_t late_messages = 0;   // accepted during catch-up and judged late
  std::uint64_t reordered = 0;       // accepted after newer seqs of their session (not gaps)
};

// A per-clinic view for metrics. A clinic is forgotten (and its stats with it) when its last
// device is evicted.
struct ClinicStats {
  std::string clinic;
  std::uint64_t sessions_active = 0;
  std::uint64_t seq_gaps = 0;
  std::uint64_t sessions_started = 0;
  std::uint64_t sessions_ended = 0;
  // Sessions that raised at least one high-severity alarm (counted once, when the first is raised).
  std::uint64_t unsafe_sessions = 0;
  std::uint64_t devices_online = 0;   // known devices whose last status was not offline
  std::uint64_t devices_offline = 0;  // known devices whose last status was offline
  // alarms raised since start, indexed [alarm][severity]
  std::array<std::array<std::uint64_t, kSeverityCount>, kAlarmKindCount> alarms_raised{};
};

// A device's current readings, for the depth/speed gauges.
struct DeviceView {
  std::string_view clinic;
  std::string_view device;
  bool online = true;
  bool session_open = false;
  std::string_view session;
  std::string_view zone;           // zone of the last sample of the open session, else empty
  std::optional<double> depth_mm;  // last sample of the open session, else none
  std::optional<double> speed_hz;
  TimeNs last_message_at = 0;
};

// An alarm that is active (acknowledged or not) or latched.
struct AlarmView {
  AlarmKind alarm = AlarmKind::kDepthExceeded;
  Severity severity = Severity::kLow;
  AlarmState state = AlarmState::kActive;
  bool acknowledged = false;
  std::string_view clinic;
  std::string_view device;
  std::string_view session;
  std::string_view zone;
  TimeNs raised_at = 0;
  std::optional<TimeNs> cleared_at;
  std::optional<double> value;
  std::optional<double> limit;
  bool late = false;  // its latest raise/clear/latch was late (events.h AlarmEvent::late)
};

enum class AckResult : std::uint8_t {
  kAcknowledged,         // active alarm now acknowledged (ends when it clears)
  kCleared,              // latched alarm acknowledged: it ended
  kAlreadyAcknowledged,  // active and already acknowledged: nothing changed
  kNotFound,             // no active or latched alarm of that name on that device
};

struct EngineState;  // state.h

class Engine {
 public:
  explicit Engine(Limits limits, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Takes one raw MQTT message received at `now`. Fires due deadlines first, then parses the
  // topic, decodes the payload and applies it, reporting everything to `sink`. Never throws on
  // any input.
  void OnMessage(std::string_view topic, std::string_view payload, TimeNs now, Sink& sink);

  // Fires every deadline at or before `now` (the daemon's tick).
  void AdvanceTo(TimeNs now, Sink& sink);

  // The earliest pending deadline, if any (so the daemon can arm a timer for it). It may be
  // earlier than the next real transition (stale and eviction timers are extended lazily);
  // AdvanceTo at that time is then harmless and moves the deadline on. Never later. During
  // catch-up, a lagging device's deadline is included until it is due; AdvanceTo then holds it
  // for the device's messages (or EndCatchUp).
  std::optional<TimeNs> NextDeadline() const;

  // Acknowledges alarm `alarm` of device (clinic, device) at `now` (CONTRACT §3). Fires due
  // deadlines first, like every call. Semantics: ../../../README.md ("Engine semantics").
  AckResult Acknowledge(std::string_view clinic, std::string_view device, AlarmKind alarm,
                        TimeNs now, Sink& sink);

  // Replaces the limits (SIGHUP). Open sessions, alarms and counters are kept; pending
  // deadlines are recomputed against the new limits at `now`, firing any already due.
  void SetLimits(Limits limits, TimeNs now, Sink& sink);
  const Limits& limits() const;

  // Catch-up (README "Catch-up"): the daemon calls BeginCatchUp when it starts from saved state
  // (right after Restore, before any other call: what is due then must wait for the devices'
  // messages) or loses/regains a broker that kept its session, and EndCatchUp when the backlog
  // is delivered or a timeout passes; both are recorded so that replay does the same. Between
  // them, late device messages run on their device-corrected time and a lagging device's
  // deadlines wait for its messages; EndCatchUp fires everything due. Begin while catching up
  // marks every device lagging again; End outside catch-up only fires what is due.
  void BeginCatchUp(TimeNs now, Sink& sink);
  void EndCatchUp(TimeNs now, Sink& sink);
  bool catching_up() const;

  // Everything needed to continue exactly (state.h). Restore replaces this engine's state with
  // `state`, which must come from Save() of an engine with the same limits and options (then
  // both continue identically). Deadlines are recomputed from the state. Throws
  // std::invalid_argument, leaving this engine unchanged, when `state` is inconsistent.
  EngineState Save() const;
  void Restore(EngineState state);

  const Counters& counters() const;
  // Visits every clinic seen (sorted by name).
  void ForEachClinic(const std::function<void(const ClinicStats&)>& fn) const;
  // Visits every known device (any order). Views are valid only during the callback.
  void ForEachDevice(const std::function<void(const DeviceView&)>& fn) const;
  // Visits every active or latched alarm (any order). Views are valid only during the callback.
  void ForEachAlarm(const std::function<void(const AlarmView&)>& fn) const;
  // Visits every open session's summary so far (for the replay report's still-open sessions).
  void ForEachOpenSession(const std::function<void(const SessionEvent&)>& fn) const;

  std::size_t device_count() const;
  // How many names the engine holds, for memory bounds: known devices, clinics with a known
  // device, and interned zone and operator names (swept of unused ones as they grow).
  struct TableSizes {
    std::size_t devices = 0;
    std::size_t clinics = 0;
    std::size_t zones = 0;
    std::size_t operators = 0;
  };
  TableSizes table_sizes() const;
  // The latest time the engine has seen (0 before any call).
  TimeNs now() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace needlewatch::engine

#endif  // NEEDLEWATCH_ENGINE_ENGINE_H_
