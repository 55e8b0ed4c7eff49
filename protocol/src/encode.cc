// Encoders; see ../README.md ("Payloads"). Output is compact JSON in a fixed key order.
#include "needlewatch/protocol/encode.h"

#include <charconv>
#include <cmath>
#include <cstddef>

#include "utf8.h"

namespace needlewatch::protocol {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void AppendUnsigned(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

void AppendSigned(std::string& out, std::int64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

// Appends `"key":` (REQUIRES: key needs no escaping) preceded by a comma unless first.
void AppendKey(std::string& out, std::string_view key) {
  if (out.back() != '{') out.push_back(',');
  out.push_back('"');
  out.append(key);
  out.append("\":");
}

void AppendStringField(std::string& out, std::string_view key, std::string_view value) {
  AppendKey(out, key);
  AppendJsonString(out, value);
}

// An empty string is written as null (no session / no zone).
void AppendStringOrNull(std::string& out, std::string_view key, std::string_view value) {
  AppendKey(out, key);
  if (value.empty()) {
    out.append("null");
  } else {
    AppendJsonString(out, value);
  }
}

void AppendNumberField(std::string& out, std::string_view key, double value) {
  AppendKey(out, key);
  AppendJsonNumber(out, value);
}

void AppendOptionalNumber(std::string& out, std::string_view key, const std::optional<double>& v) {
  AppendKey(out, key);
  if (v.has_value()) {
    AppendJsonNumber(out, *v);
  } else {
    out.append("null");
  }
}

// Opens the object with `{"v":1`.
std::string Begin(std::size_t reserve) {
  std::string out;
  out.reserve(reserve);
  out.append("{\"v\":1");
  return out;
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c >= 0x80) {
      // Valid UTF-8 is copied through; each ill-formed byte becomes U+FFFD so the output is
      // always valid JSON.
      const std::size_t n = internal::Utf8SequenceLength(p, end);
      if (n == 0) {
        out.append("\\ufffd");
        ++p;
      } else {
        out.append(reinterpret_cast<const char*>(p), n);
        p += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++p;
  }
  out.push_back('"');
}

void AppendJsonNumber(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out.append("null");
    return;
  }
  char buf[32];  // the shortest round-trip form of a double fits in 24 characters
  const auto res = std::to_chars(buf, buf + sizeof(buf), d + 0.0);  // -0 prints as 0
  out.append(buf, res.ptr);
}

std::string EncodeTelemetry(const Telemetry& t) {
  std::string out = Begin(128 + t.session.size() + t.zone.size());
  AppendKey(out, "seq");
  AppendUnsigned(out, t.seq);
  AppendKey(out, "ts");
  AppendSigned(out, t.ts_ms);
  AppendStringField(out, "session", t.session);
  AppendStringField(out, "zone", t.zone);
  AppendNumberField(out, "depth_mm", t.depth_mm);
  AppendNumberField(out, "speed_hz", t.speed_hz);
  out.push_back('}');
  return out;
}

std::string EncodeEvent(const Event& e) {
  std::string out = Begin(128 + e.session.size() + e.zone.size() + e.op.size());
  AppendKey(out, "seq");
  AppendUnsigned(out, e.seq);
  AppendKey(out, "ts");
  AppendSigned(out, e.ts_ms);
  const bool start = e.kind == EventKind::kSessionStart;
  AppendStringField(out, "event", start ? "session_start" : "session_end");
  AppendStringField(out, "session", e.session);
  if (start) AppendStringField(out, "zone", e.zone);
  if (start && !e.op.empty()) AppendStringField(out, "operator", e.op);
  out.push_back('}');
  return out;
}

std::string EncodeStatus(const Status& s) {
  std::string out = Begin(96 + s.model.size() + s.fw.size());
  if (s.has_seq) {
    AppendKey(out, "seq");
    AppendUnsigned(out, s.seq);
  }
  AppendKey(out, "ts");
  AppendSigned(out, s.ts_ms);
  AppendStringField(out, "state", s.online ? "online" : "offline");
  if (!s.model.empty()) AppendStringField(out, "model", s.model);
  if (!s.fw.empty()) AppendStringField(out, "fw", s.fw);
  out.push_back('}');
  return out;
}

std::string EncodeAlarm(const AlarmPayload& a) {
  std::string out =
      Begin(256 + a.clinic.size() + a.device.size() + a.session.size() + a.zone.size());
  AppendStringField(out, "alarm", a.alarm);
  AppendStringField(out, "severity", a.severity);
  AppendStringField(out, "state", a.state);
  AppendStringField(out, "clinic", a.clinic);
  AppendStringField(out, "device", a.device);
  AppendStringOrNull(out, "session", a.session);
  AppendStringOrNull(out, "zone", a.zone);
  AppendOptionalNumber(out, "value", a.value);
  AppendOptionalNumber(out, "limit", a.limit);
  AppendNumberField(out, "raised_at", a.raised_at);
  AppendNumberField(out, "ts", a.ts);
  AppendKey(out, "acknowledged");
  out.append(a.acknowledged ? "true" : "false");
  AppendOptionalNumber(out, "cleared_at", a.cleared_at);
  out.push_back('}');
  return out;
}

std::string EncodeHaltCommand(std::string_view alarm, std::string_view severity,
                              std::string_view session, double ts) {
  std::string out = Begin(128 + alarm.size() + session.size());
  AppendStringField(out, "command", "halt");
  AppendStringField(out, "alarm", alarm);
  AppendStringField(out, "severity", severity);
  AppendStringOrNull(out, "session", session);
  AppendNumberField(out, "ts", ts);
  out.push_back('}');
  return out;
}

std::string EncodeMonitorStatus(bool online, double ts, std::string_view version) {
  std::string out = Begin(64 + version.size());
  AppendStringField(out, "state", online ? "online" : "offline");
  AppendNumberField(out, "ts", ts);
  AppendStringField(out, "version", version);
  out.push_back('}');
  return out;
}

}  // namespace needlewatch::protocol
