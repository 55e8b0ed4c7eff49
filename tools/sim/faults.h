// Fault kinds the simulator can inject, their rates (the --faults flag) and the record of an
// injected fault (the --report file). See README.md ("Faults"). Plain values; thread-safe.
#ifndef NEEDLEWATCH_TOOLS_SIM_FAULTS_H_
#define NEEDLEWATCH_TOOLS_SIM_FAULTS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace needlewatch::sim {

enum class FaultKind : std::uint8_t {
  // Per session (at most one fault per session; the rates are exclusive probabilities).
  kOverDepth = 0,  // depth above the zone's depth_mm.max for a few samples
  kSpeed,          // speed outside [min, max] for longer than the rule's `for`
  kOvertime,       // the session runs past session.max_duration (real time)
  kDropout,        // no telemetry for longer than telemetry.stale_after, connection kept
  kOffline,        // the connection drops without DISCONNECT mid-session, then comes back
  kSeqGap,         // seq skips ahead once
  // Per telemetry message (independent probabilities, each an extra message).
  kMalformed,      // an extra invalid payload on the telemetry topic
  kSpoofedTopic,   // an extra telemetry message on a topic with an invalid device ID
};
inline constexpr std::size_t kFaultKindCount = 8;
inline constexpr std::size_t kPerSessionFaultCount = 6;  // kOverDepth … kSeqGap

std::string_view FaultName(FaultKind k);  // "over_depth", "speed", …
std::optional<FaultKind> ParseFaultName(std::string_view name);

struct FaultRates {
  std::array<double, kFaultKindCount> rate{};  // indexed by FaultKind
  double operator[](FaultKind k) const { return rate[static_cast<std::size_t>(k)]; }
};

// Parses "over_depth=0.1,speed=0.05,…" (any subset; "" or "none" = no faults). Each rate is in
// [0, 1]; the per-session rates together at most 1. On error returns nullopt and sets *error
// to a message naming the item and what was expected.
std::optional<FaultRates> ParseFaultRates(std::string_view spec, std::string* error);

// One injected fault, as written to the report.
struct InjectedFault {
  FaultKind kind = FaultKind::kOverDepth;
  std::string clinic, device, session, zone;
  double time = 0;  // wall clock, seconds since the Unix epoch, when the fault began
  // Alarms the monitor must raise for this (clinic, device, session); empty for faults that
  // only show in counters (seq_gap, malformed, spoofed_topic).
  std::vector<std::string> expected_alarms;
  // Alarms the monitor may also raise, correctly, for this fault: a device whose connection
  // drops stops sending telemetry before the broker publishes its Will, so telemetry_stale can
  // precede device_offline (as it would for a real pen).
  std::vector<std::string> possible_alarms;
  std::string expected_reject;  // rejection reason for malformed/spoofed_topic, else ""
  std::string detail;           // human-readable: the values injected
};

}  // namespace needlewatch::sim

#endif  // NEEDLEWATCH_TOOLS_SIM_FAULTS_H_
