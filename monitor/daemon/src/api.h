// The alarm API's bodies (protocol/README.md, Alarms): GET /api/v1/alarms and POST /api/v1/alarms/ack.
// Pure functions over the engine; call on the thread that owns the engine.
#ifndef NEEDLEWATCH_DAEMON_API_H_
#define NEEDLEWATCH_DAEMON_API_H_

#include <optional>
#include <string>
#include <string_view>

#include "needlewatch/engine/engine.h"

namespace needlewatch::daemon {

// {"alarms":[{"v":1,"clinic","device","session","zone","alarm","severity","state","acknowledged",
//  "raised_at","raised_at_ns","cleared_at","cleared_at_ns","value","limit"},…]}, sorted by
// clinic, device, alarm. Times in seconds since the Unix epoch (and integer ns).
std::string AlarmsJson(const engine::Engine& engine);

struct AckRequest {
  std::string clinic;
  std::string device;
  engine::AlarmKind alarm = engine::AlarmKind::kDepthExceeded;
};

// Parses {"clinic":"…","device":"…","alarm":"…"}. nullopt with `error` ("alarm: expected one
// of depth_exceeded, …") on bad JSON, a missing or non-string field, an invalid ID or an
// unknown alarm name.
std::optional<AckRequest> ParseAckBody(std::string_view body, std::string* error);

// {"error":"…"}.
std::string ErrorJson(std::string_view message);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_API_H_
