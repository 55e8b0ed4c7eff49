// The simulated fleet: clinics of microneedling pens that connect, treat sessions zone by zone
// and, at the configured rates, inject faults. Pure and deterministic: no I/O, no clock, no
// threads. The caller passes the time in and carries the resulting actions (connect, publish,
// drop connection) to MQTT. See README.md ("Model" and "Faults").
// Not thread-safe; one Fleet is driven by one thread.
#ifndef NEEDLEWATCH_TOOLS_SIM_FLEET_H_
#define NEEDLEWATCH_TOOLS_SIM_FLEET_H_

#include <cstddef>
#include <cstdint>
#include <queue>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "faults.h"
#include "needlewatch/engine/limits.h"

namespace needlewatch::sim {

using TimeNs = std::int64_t;  // nanoseconds on the run's monotonic clock; 0 = start of the run
inline constexpr TimeNs kMs = 1'000'000;
inline constexpr TimeNs kSec = 1'000'000'000;

struct FleetOptions {
  int clinics = 1;               // clinic IDs c001, c002, …
  int devices = 1;               // per clinic; device IDs d0001, d0002, … (unique per clinic)
  double sample_rate_hz = 10;    // telemetry samples per device per real second while treating
  double time_scale = 60;        // session clock / real clock (60: an hour lasts a minute)
  FaultRates faults;             // see faults.h
  std::uint64_t seed = 1;        // everything random derives from it, per device
  std::string root = "clinic";   // topic root
  int telemetry_qos = 0;         // 0 or 1; events and status always use 1
  // True when every device has its own connection (and so its own Last Will). False in shared
  // mode: the `offline` fault then publishes an explicit retained offline status.
  bool per_device_connections = true;
  // Faults are only injected when they finish (their alarm can be raised and cleared) at least
  // this long before the end of the run; 0 = unbounded run.
  TimeNs run_duration = 60 * kSec;
};

// What the caller must do for the fleet.
struct Action {
  enum class Kind : std::uint8_t {
    kConnect,  // open the device's connection with Last Will (will_topic, will_payload)
    kPublish,  // publish (topic, payload, qos, retain) for the device
    kDrop,     // end the device's connection without DISCONNECT: the broker fires its Will
  };
  Kind kind = Kind::kPublish;
  int device = 0;
  std::string topic;    // publish topic, or the Will topic for kConnect
  std::string payload;  // publish payload, or the Will payload for kConnect
  int qos = 0;
  bool retain = false;
};

struct FleetStats {
  std::uint64_t sessions_started = 0;
  std::uint64_t sessions_ended = 0;
  std::uint64_t telemetry = 0;  // valid telemetry messages
  std::uint64_t events = 0;
  std::uint64_t status = 0;
  std::uint64_t connects = 0;
};

class Fleet {
 public:
  // `limits` decides the zones, the safe ranges and how long each fault must last.
  Fleet(FleetOptions options, const engine::Limits& limits);

  // Runs every device step due at or before `now`, appending at most about `max_actions`
  // actions to `out` (a step is never split). `wall_ms` is the device clock (ms since the
  // epoch) written into payloads and the fault report. Returns the time of the next due step
  // (<= now when work is still pending, e.g. because max_actions was reached).
  TimeNs Step(TimeNs now, std::int64_t wall_ms, std::size_t max_actions, std::vector<Action>& out);

  // The connection of `device` is up (answer to kConnect). Its next step publishes `online`.
  void OnConnected(int device, TimeNs now);

  // Clean stop: ends every open session and publishes a retained offline status for each
  // device that is connected.
  void Finish(std::int64_t wall_ms, std::vector<Action>& out);

  // Every fault injected so far, in injection order.
  const std::vector<InjectedFault>& faults() const { return faults_; }
  const FleetStats& stats() const { return stats_; }
  int device_count() const { return static_cast<int>(devices_.size()); }
  const std::string& ClinicOf(int device) const { return devices_[device].clinic; }
  const std::string& IdOf(int device) const { return devices_[device].id; }

 private:
  struct Zone {
    std::string name;
    engine::ZoneLimits limits;
  };
  enum class State : std::uint8_t { kDisconnected, kConnecting, kOnline, kIdle, kTreating, kDown };
  struct Device {
    std::string clinic, id;
    std::string telemetry_topic, event_topic, status_topic;
    std::mt19937_64 rng;
    State state = State::kDisconnected;
    bool connected = false;
    std::uint32_t seq = 0;
    std::uint64_t sessions = 0;
    // The open session (state kTreating or kDown with session_open).
    bool session_open = false;
    std::string session;
    std::vector<int> zones;     // zone indices visited, in order
    std::size_t zone_pos = 0;
    TimeNs session_start = 0, session_end = 0, next_zone_at = 0;
    TimeNs zone_dwell = 0;
    double depth_base = 0, speed_target = 0;
    int samples = 0;
    // The session's fault (at most one per session).
    bool has_fault = false;
    FaultKind fault = FaultKind::kOverDepth;
    TimeNs fault_start = 0, fault_end = 0;
    bool fault_started = false;
    double fault_value = 0;
  };

  void Schedule(int device, TimeNs at);
  void StepDevice(int d, TimeNs now, std::int64_t wall_ms, std::vector<Action>& out);
  void StartSession(int d, TimeNs now, std::int64_t wall_ms, std::vector<Action>& out);
  void PlanFault(Device& dev, TimeNs now);
  void Sample(int d, TimeNs now, std::int64_t wall_ms, std::vector<Action>& out);
  void EndSession(int d, std::int64_t wall_ms, std::vector<Action>& out);
  void Report(Device& dev, FaultKind kind, std::int64_t wall_ms, std::string detail,
              std::string expected_reject = {});
  void Publish(int d, const std::string& topic, std::string payload, int qos, bool retain,
               std::vector<Action>& out);
  const Zone& CurrentZone(const Device& dev) const { return zones_[dev.zones[dev.zone_pos]]; }
  TimeNs SampleInterval() const;
  TimeNs LongestStale() const;
  bool FaultFits(TimeNs fault_end) const;

  FleetOptions options_;
  std::vector<Zone> zones_;
  std::vector<Device> devices_;
  // Min-heap of (due time, device). Each schedulable device has exactly one entry.
  std::priority_queue<std::pair<TimeNs, int>, std::vector<std::pair<TimeNs, int>>,
                      std::greater<>>
      due_;
  std::vector<InjectedFault> faults_;
  FleetStats stats_;
};

}  // namespace needlewatch::sim

#endif  // NEEDLEWATCH_TOOLS_SIM_FLEET_H_
