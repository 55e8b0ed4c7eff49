// Decoded device messages (protocol/README.md, Payloads) and their decoder.
// See ../../../README.md ("Payloads"). Decode is a pure function; thread-safe.
#ifndef NEEDLEWATCH_PROTOCOL_MESSAGE_H_
#define NEEDLEWATCH_PROTOCOL_MESSAGE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "needlewatch/protocol/reject.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::protocol {

inline constexpr std::size_t kMaxPayloadBytes = 4096;
inline constexpr std::int64_t kProtocolVersion = 1;
inline constexpr double kMaxDepthMm = 10.0;    // depth_mm accepted range: [0, 10]
inline constexpr double kMaxSpeedHz = 1000.0;  // speed_hz accepted range: [0, 1000]
inline constexpr std::size_t kMaxZoneLength = 64;

// Telemetry sample: {"v":1,"seq":…,"ts":…,"session":…,"zone":…,"depth_mm":…,"speed_hz":…}
struct Telemetry {
  std::uint32_t seq = 0;
  std::int64_t ts_ms = 0;  // device clock, ms since Unix epoch
  std::string_view session;
  std::string_view zone;
  double depth_mm = 0;
  double speed_hz = 0;
};

enum class EventKind : std::uint8_t { kSessionStart, kSessionEnd };

// Session event: session_start (session, zone, optional operator) or session_end (session).
struct Event {
  EventKind kind = EventKind::kSessionStart;
  std::uint32_t seq = 0;
  std::int64_t ts_ms = 0;
  std::string_view session;
  std::string_view zone;      // session_start only; empty for session_end
  std::string_view op;        // "operator", optional; empty when absent
};

// Device status: online (optional model, fw) or offline. seq is optional here.
struct Status {
  bool online = false;
  bool has_seq = false;
  std::uint32_t seq = 0;
  std::int64_t ts_ms = 0;
  std::string_view model;  // optional; empty when absent
  std::string_view fw;     // optional; empty when absent
};

// The result of decoding one payload. The string_views point either into the payload passed
// to Decode or, when a JSON string held escapes, into `scratch`; so a Decoded must not be
// copied or moved while its views are in use (copying is deleted for that reason).
struct Decoded {
  Decoded() = default;
  Decoded(const Decoded&) = delete;
  Decoded& operator=(const Decoded&) = delete;

  Channel channel = Channel::kUnknown;
  Telemetry telemetry;  // valid when channel == kTelemetry
  Event event;          // valid when channel == kEvent
  Status status;        // valid when channel == kStatus
  // On rejection: a short human-readable reason naming the field and what was expected,
  // e.g. "depth_mm: expected a number from 0 to 10". Static storage; empty on success.
  std::string_view detail;
  // Storage for unescaped JSON strings. Never needs to grow: unescaping never lengthens.
  std::array<char, kMaxPayloadBytes> scratch{};
};

// Decodes `payload` that arrived on a kDevice topic of the given channel.
// Returns Reject::kNone and fills `out` on success; otherwise the first failing check in
// contract order (kTooLarge, kBadJson, kBadVersion, kMissingField, kBadField) with
// out.detail set and the message structs reset. Never throws and never allocates. Unknown
// fields are ignored; duplicate keys, invalid UTF-8, NaN/Infinity tokens, leading zeros and
// nesting deeper than 32 are bad_json. All missing_field checks precede all bad_field checks,
// each in the channel's wire order (README "Rejections"). Integer fields (v, seq, ts) must be
// written without fraction or exponent. Optional fields may be null (= absent).
// REQUIRES: channel != Channel::kUnknown (if violated: kBadTopic, no crash).
Reject Decode(Channel channel, std::string_view payload, Decoded& out);

}  // namespace needlewatch::protocol

#endif  // NEEDLEWATCH_PROTOCOL_MESSAGE_H_
