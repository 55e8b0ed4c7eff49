// Internal: the JSON Schema (draft-07, MCAP schema encoding "jsonschema") of each kind of
// channel a recording holds, so that Foxglove and other MCAP tools know the fields without
// hand work. Written from protocol/README.md (device and monitor payloads),
// monitor/control/include/needlewatch/control/records.h (control records) and rejected.h.
// A schema states what an accepted payload looks like; the strict decoder checks more
// (duplicate keys, byte limits), so every payload the monitor accepted validates, not the
// converse. Pure; thread-safe.
#ifndef NEEDLEWATCH_RECORD_SRC_JSON_SCHEMAS_H_
#define NEEDLEWATCH_RECORD_SRC_JSON_SCHEMAS_H_

#include <cstddef>
#include <string_view>

namespace needlewatch::record {

enum class SchemaKind : std::size_t {
  kNone,  // no schema (schema id 0): topics of no known shape
  kTelemetry,
  kEvent,
  kStatus,
  kAlarm,
  kCommand,
  kMonitorStatus,
  kMonitorAlarm,
  kAck,
  kLimits,
  kRejected,
  kCount,
};

struct JsonSchema {
  std::string_view name;  // MCAP schema name, e.g. "needlewatch.Telemetry"
  std::string_view text;  // the JSON Schema document
};

// The kind of a recorded topic, by its shape alone (any topic root):
//   …/{clinic}/device/{device}/telemetry|event|status|command, …/device/{device}/alarm/{alarm},
//   needlewatch/{instance}/status, needlewatch/{instance}/alarm/{name}, $needlewatch/ack,
//   $needlewatch/limits,
//   $needlewatch/rejected/….
SchemaKind SchemaKindOf(std::string_view topic);
// REQUIRES: kind != kNone and kind != kCount.
const JsonSchema& SchemaOf(SchemaKind kind);

}  // namespace needlewatch::record

#endif  // NEEDLEWATCH_RECORD_SRC_JSON_SCHEMAS_H_
