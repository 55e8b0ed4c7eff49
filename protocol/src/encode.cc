// Encoders; see ../README.md ("Payloads"). Output is compact JSON in a fixed key order.
#include "needlewatch/protocol/encode.h"

#include <array>

#include "json_scan.h"
#include "needlewatch/protocol/json_writer.h"

namespace needlewatch::protocol {
namespace {

// Opens the object with `"v":1`.
JsonWriter Begin(std::string& out, std::size_t reserve) {
  out.reserve(reserve);
  JsonWriter w(out);
  w.BeginObject().Field("v", 1);
  return w;
}

// Keeps the `state` member of an alarm payload.
class StateSink final : public internal::JsonMemberSink {
 public:
  void OnMember(std::string_view key, const internal::JsonValue& value) override {
    if (key == "state" && value.type == internal::JsonType::kString) state = value.text;
  }
  std::string_view state;
};

}  // namespace

std::optional<std::string_view> AlarmPayloadState(std::string_view payload) {
  constexpr std::size_t kMax = 4096;
  if (payload.empty() || payload.size() > kMax) return std::nullopt;
  std::array<char, kMax> scratch;
  internal::JsonScanner scanner(payload, scratch.data(), scratch.size());
  StateSink sink;
  if (scanner.ScanObject(sink) != nullptr) return std::nullopt;
  for (std::string_view known : {"active", "cleared", "latched"}) {
    if (sink.state == known) return known;  // a static string: the scratch dies here
  }
  return std::nullopt;
}

std::string EncodeTelemetry(const Telemetry& t) {
  std::string out;
  Begin(out, 128 + t.session.size() + t.zone.size())
      .Field("seq", std::uint64_t{t.seq})
      .Field("ts", std::int64_t{t.ts_ms})
      .Field("session", t.session)
      .Field("zone", t.zone)
      .Field("depth_mm", t.depth_mm)
      .Field("speed_hz", t.speed_hz)
      .EndObject();
  return out;
}

std::string EncodeEvent(const Event& e) {
  std::string out;
  JsonWriter w = Begin(out, 128 + e.session.size() + e.zone.size() + e.op.size());
  const bool start = e.kind == EventKind::kSessionStart;
  w.Field("seq", std::uint64_t{e.seq})
      .Field("ts", std::int64_t{e.ts_ms})
      .Field("event", start ? "session_start" : "session_end")
      .Field("session", e.session);
  if (start) w.Field("zone", e.zone);
  if (start && !e.op.empty()) w.Field("operator", e.op);
  w.EndObject();
  return out;
}

std::string EncodeStatus(const Status& s) {
  std::string out;
  JsonWriter w = Begin(out, 96 + s.model.size() + s.fw.size());
  if (s.has_seq) w.Field("seq", std::uint64_t{s.seq});
  w.Field("ts", std::int64_t{s.ts_ms}).Field("state", s.online ? "online" : "offline");
  if (!s.model.empty()) w.Field("model", s.model);
  if (!s.fw.empty()) w.Field("fw", s.fw);
  w.EndObject();
  return out;
}

std::string EncodeAlarm(const AlarmPayload& a) {
  std::string out;
  JsonWriter w =
      Begin(out, 256 + a.clinic.size() + a.device.size() + a.session.size() + a.zone.size());
  w.Field("alarm", a.alarm)
      .Field("severity", a.severity)
      .Field("state", a.state)
      .Field("clinic", a.clinic)
      .Field("device", a.device)
      .StringOrNull("session", a.session)
      .StringOrNull("zone", a.zone)
      .Field("value", a.value)
      .Field("limit", a.limit)
      .Field("raised_at", a.raised_at)
      .Field("ts", a.ts)
      .Field("acknowledged", a.acknowledged)
      .Field("cleared_at", a.cleared_at);
  if (a.late) w.Field("late", true);
  w.EndObject();
  return out;
}

std::string EncodeHaltCommand(std::string_view alarm, std::string_view severity,
                              std::string_view session, double ts) {
  std::string out;
  Begin(out, 128 + alarm.size() + session.size())
      .Field("command", "halt")
      .Field("alarm", alarm)
      .Field("severity", severity)
      .StringOrNull("session", session)
      .Field("ts", ts)
      .EndObject();
  return out;
}

std::string EncodeMonitorStatus(bool online, double ts, std::string_view version) {
  std::string out;
  Begin(out, 64 + version.size())
      .Field("state", online ? "online" : "offline")
      .Field("ts", ts)
      .Field("version", version)
      .EndObject();
  return out;
}

}  // namespace needlewatch::protocol
