#include "json_schemas.h"

#include <array>
#include <vector>

#include "needlewatch/record/raw_message.h"

namespace needlewatch::record {
namespace {

// Each document is one raw string; shared fragments are spelled out rather than assembled, so
// that what is written into a file can be read here as it is.
constexpr std::string_view kTelemetry = R"json({
"$schema":"http://json-schema.org/draft-07/schema#",
"title":"needlewatch telemetry","description":"One needle sample (protocol/README.md, Telemetry).",
"type":"object",
"required":["v","seq","ts","session","zone","depth_mm","speed_hz"],
"properties":{
"v":{"type":"integer","const":1,"description":"protocol version"},
"seq":{"type":"integer","minimum":0,"maximum":4294967295},
"ts":{"type":"integer","minimum":0,"description":"device clock, ms since the Unix epoch"},
"session":{"type":"string","pattern":"^[A-Za-z0-9_.-]{1,64}$"},
"zone":{"type":"string","minLength":1,"maxLength":64,"pattern":"^[^\\u0000-\\u001f\\u007f-\\u009f]*$"},
"depth_mm":{"type":"number","minimum":0,"maximum":10,"description":"needle depth, mm"},
"speed_hz":{"type":"number","minimum":0,"maximum":1000,"description":"needle strokes per second"}
}})json";

constexpr std::string_view kEvent = R"json({
"$schema":"http://json-schema.org/draft-07/schema#",
"title":"needlewatch event","description":"Session start or end (protocol/README.md, Event).",
"type":"object",
"required":["v","seq","ts","event","session"],
"properties":{
"v":{"type":"integer","const":1},
"seq":{"type":"integer","minimum":0,"maximum":4294967295},
"ts":{"type":"integer","minimum":0},
"event":{"type":"string","enum":["session_start","session_end"]},
"session":{"type":"string","pattern":"^[A-Za-z0-9_.-]{1,64}$"},
"zone":{"description":"required with session_start; ignored with session_end"},
"operator":{"type":["string","null"],"pattern":"^[A-Za-z0-9_.-]{1,64}$"}
},
"if":{"properties":{"event":{"const":"session_start"}}},
"then":{"required":["zone"],"properties":{"zone":{"type":"string","minLength":1,"maxLength":64,"pattern":"^[^\\u0000-\\u001f\\u007f-\\u009f]*$"}}}
})json";

constexpr std::string_view kStatus = R"json({
"$schema":"http://json-schema.org/draft-07/schema#",
"title":"needlewatch device status","description":"online / offline; the offline message is the device's Last Will (protocol/README.md, Status).",
"type":"object",
"required":["v","ts","state"],
"properties":{
"v":{"type":"integer","const":1},
"ts":{"type":"integer","minimum":0},
"state":{"type":"string","enum":["online","offline"]},
"seq":{"type":["integer","null"],"minimum":0,"maximum":4294967295},
"model":{"type":["string","null"],"maxLength":64,"pattern":"^[^\\u0000-\\u001f\\u007f-\\u009f]*$"},
"fw":{"type":["string","null"],"maxLength":64,"pattern":"^[^\\u0000-\\u001f\\u007f-\\u009f]*$"}
}})json";

constexpr std::string_view kAlarm = R"json({
"$schema":"http://json-schema.org/draft-07/schema#",
"title":"needlewatch alarm","description":"Current state of one alarm of one device, published retained by the monitor (protocol/README.md, Alarm). Times in seconds since the Unix epoch.",
"type":"object",
"required":["v","alarm","severity","state","clinic","device","raised_at","ts"],
"properties":{
"v":{"type":"integer","const":1},
"alarm":{"type":"string"},
"severity":{"type":"string","enum":["low","medium","high"]},
"state":{"type":"string","enum":["active","cleared","latched"]},
"clinic":{"type":"string"},
"device":{"type":"string"},
"session":{"type":["string","null"]},
"zone":{"type":["string","null"]},
"value":{"type":["number","null"]},
"limit":{"type":["number","null"]},
"raised_at":{"type":"number"},
"ts":{"type":"number"},
"acknowledged":{"type":"boolean"},
"cleared_at":{"type":["number","null"]},
"late":{"type":"boolean"}
}})json";

constexpr std::string_view kCommand = R"json({
"$schema":"http://json-schema.org/draft-07/schema#",
"title":"needlewatch command","description":"The halt interlock the monitor sends to a device (protocol/README.md, Command).",
"type":"object",
"required":["v","command"],
"properties":{
"v":{"type":"integer","const":1},
"command":{"type":"string","enum":["halt"]},
"alarm":{"type":"string"},
"severity":{"type":"string","enum":["low","medium","high"]},
"session":{"type":["string","null"]},
"ts":{"type":"number"}
}})json";

constexpr std::string_view kMonitorStatus = R"json({
"$schema":"http://json-schema.org/draft-07/schema#",
"title":"needlewatch monitor status","description":"The monitor's own online / offline (its Last Will).",
"type":"object",
"required":["v","state","ts"],
"properties":{
"v":{"type":"integer","const":1},
"state":{"type":"string","enum":["online","offline"]},
"ts":{"type":"number"},
"version":{"type":"string"}
}})json";

constexpr std::string_view kMonitorAlarm = R"json({
"$schema":"http://json-schema.org/draft-07/schema#",
"title":"needlewatch monitor alarm","description":"One of the monitor's own fault alarms (recorder_dropping, audit_log_failing), retained; the device alarm's shape without clinic, device and session.",
"type":"object",
"required":["v","alarm","severity","state","raised_at","ts"],
"properties":{
"v":{"type":"integer","const":1},
"alarm":{"type":"string"},
"severity":{"type":"string","enum":["low","medium","high"]},
"state":{"type":"string","enum":["active","cleared","latched"]},
"value":{"type":["number","null"]},
"limit":{"type":["number","null"]},
"raised_at":{"type":"number"},
"ts":{"type":"number"},
"cleared_at":{"type":["number","null"]}
}})json";

constexpr std::string_view kAck = R"json({
"$schema":"http://json-schema.org/draft-07/schema#",
"title":"needlewatch acknowledgement record","description":"An operator acknowledged an alarm at this record's log time (recordings only; monitor/control records.h).",
"type":"object",
"required":["clinic","device","alarm"],
"properties":{
"clinic":{"type":"string"},
"device":{"type":"string"},
"alarm":{"type":"string"},
"user":{"type":["string","null"],"description":"who acknowledged, when known"}
}})json";

constexpr std::string_view kLimits = R"json({
"$schema":"http://json-schema.org/draft-07/schema#",
"title":"needlewatch limits record","description":"The limits in force from this record's log time: at start and after each reload (recordings only; monitor/control records.h).",
"type":"object",
"required":["reason","source","yaml"],
"properties":{
"reason":{"type":"string","enum":["start","reload"]},
"source":{"type":"string","description":"the daemon's config file; empty for the built-in defaults"},
"yaml":{"type":"string","description":"the configuration document the limits were loaded from"}
}})json";

constexpr std::string_view kRejected = R"json({
"$schema":"http://json-schema.org/draft-07/schema#",
"title":"needlewatch rejected message","description":"A message the monitor rejected, kept under the recorder's own retention budget: its topic, reason, size and first 4096 bytes (monitor/record/README.md).",
"type":"object",
"required":["topic","reason","qos","retain","size","truncated"],
"properties":{
"topic":{"type":"string","description":"the MQTT topic it arrived on"},
"reason":{"type":"string","description":"the rejection reason (protocol/README.md, Rejections)"},
"qos":{"type":"integer","minimum":0,"maximum":2},
"retain":{"type":"boolean"},
"size":{"type":"integer","minimum":0,"description":"payload size as received, bytes"},
"truncated":{"type":"boolean","description":"true when only the first 4096 bytes are kept"},
"payload":{"type":"string","maxLength":4096,"description":"the kept bytes, when they are UTF-8"},
"payload_base64":{"type":"string","description":"the kept bytes, base64, when they are not UTF-8"}
},
"oneOf":[{"required":["payload"]},{"required":["payload_base64"]}]
})json";

constexpr std::array<JsonSchema, static_cast<std::size_t>(SchemaKind::kCount)> kSchemas = {{
    {"", ""},
    {"needlewatch.Telemetry", kTelemetry},
    {"needlewatch.Event", kEvent},
    {"needlewatch.Status", kStatus},
    {"needlewatch.Alarm", kAlarm},
    {"needlewatch.Command", kCommand},
    {"needlewatch.MonitorStatus", kMonitorStatus},
    {"needlewatch.MonitorAlarm", kMonitorAlarm},
    {"needlewatch.Ack", kAck},
    {"needlewatch.Limits", kLimits},
    {"needlewatch.Rejected", kRejected},
}};

}  // namespace

SchemaKind SchemaKindOf(std::string_view topic) {
  if (topic == kAckTopic) return SchemaKind::kAck;
  if (topic == kLimitsTopic) return SchemaKind::kLimits;
  if (topic.starts_with(kRejectedTopicPrefix)) return SchemaKind::kRejected;
  std::vector<std::string_view> levels;
  for (std::size_t start = 0;;) {
    const std::size_t slash = topic.find('/', start);
    levels.push_back(topic.substr(start, slash - start));
    if (slash == std::string_view::npos || levels.size() > 16) break;
    start = slash + 1;
  }
  const std::size_t n = levels.size();
  if (n == 3 && levels[0] == "needlewatch" && levels[2] == "status") {
    return SchemaKind::kMonitorStatus;
  }
  if (n == 4 && levels[0] == "needlewatch" && levels[2] == "alarm") return SchemaKind::kMonitorAlarm;
  if (n >= 5 && levels[n - 3] == "device") {
    const std::string_view last = levels[n - 1];
    if (last == "telemetry") return SchemaKind::kTelemetry;
    if (last == "event") return SchemaKind::kEvent;
    if (last == "status") return SchemaKind::kStatus;
    if (last == "command") return SchemaKind::kCommand;
  }
  if (n >= 6 && levels[n - 4] == "device" && levels[n - 2] == "alarm") return SchemaKind::kAlarm;
  return SchemaKind::kNone;
}

const JsonSchema& SchemaOf(SchemaKind kind) { return kSchemas[static_cast<std::size_t>(kind)]; }

}  // namespace needlewatch::record
