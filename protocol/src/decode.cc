// Decode: scan the JSON (too_large, bad_json), then check fields in a fixed order:
// bad_version (v), then every missing_field check, then every bad_field check, each walking the
// channel's field list in wire order. See ../README.md ("Rejections").
#include <charconv>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "json_scan.h"
#include "needlewatch/protocol/message.h"

namespace needlewatch::protocol {
namespace {

using internal::JsonType;
using internal::JsonValue;

enum Field : std::uint8_t {
  kV,
  kSeq,
  kTs,
  kSession,
  kZone,
  kDepthMm,
  kSpeedHz,
  kEventName,
  kOperator,
  kState,
  kModel,
  kFw,
  kFieldCount,
};

constexpr std::string_view kMissingDetail[kFieldCount] = {
    "v: required field missing (expected the integer 1)",
    "seq: required field missing (expected an unsigned 32-bit integer)",
    "ts: required field missing (expected an integer, ms since the Unix epoch)",
    "session: required field missing (expected an ID)",
    "zone: required field missing (expected a string)",
    "depth_mm: required field missing (expected a number from 0 to 10)",
    "speed_hz: required field missing (expected a number from 0 to 1000)",
    "event: required field missing (expected \"session_start\" or \"session_end\")",
    "operator: required field missing",
    "state: required field missing (expected \"online\" or \"offline\")",
    "model: required field missing",
    "fw: required field missing",
};

constexpr std::string_view kBadDetail[kFieldCount] = {
    "v: expected the integer 1",
    "seq: expected an integer from 0 to 4294967295 (no fraction or exponent)",
    "ts: expected an integer from 0 to 2^63-1 (ms since the Unix epoch, no fraction or exponent)",
    "session: expected an ID matching [A-Za-z0-9_.-]{1,64}",
    "zone: expected a string of 1 to 64 bytes without control characters",
    "depth_mm: expected a number from 0 to 10",
    "speed_hz: expected a number from 0 to 1000",
    "event: expected \"session_start\" or \"session_end\"",
    "operator: expected an ID matching [A-Za-z0-9_.-]{1,64}",
    "state: expected \"online\" or \"offline\"",
    "model: expected a string of at most 64 bytes without control characters",
    "fw: expected a string of at most 64 bytes without control characters",
};

Field FieldFromKey(std::string_view key) {
  // Dispatch on length first: keys are short and this runs once per top-level member.
  switch (key.size()) {
    case 1:
      if (key == "v") return kV;
      break;
    case 2:
      if (key == "ts") return kTs;
      if (key == "fw") return kFw;
      break;
    case 3:
      if (key == "seq") return kSeq;
      break;
    case 4:
      if (key == "zone") return kZone;
      break;
    case 5:
      if (key == "event") return kEventName;
      if (key == "state") return kState;
      if (key == "model") return kModel;
      break;
    case 7:
      if (key == "session") return kSession;
      break;
    case 8:
      if (key == "depth_mm") return kDepthMm;
      if (key == "speed_hz") return kSpeedHz;
      if (key == "operator") return kOperator;
      break;
    default:
      break;
  }
  return kFieldCount;
}

// Collects the top-level members this decoder knows; everything else is ignored.
class FieldSink final : public internal::JsonMemberSink {
 public:
  void OnMember(std::string_view key, const JsonValue& value) override {
    const Field f = FieldFromKey(key);
    if (f == kFieldCount) return;
    values_[f] = value;
    present_ |= 1u << f;
  }
  bool Has(Field f) const { return (present_ & (1u << f)) != 0; }
  const JsonValue& Get(Field f) const { return values_[f]; }

 private:
  std::uint32_t present_ = 0;
  JsonValue values_[kFieldCount];
};

// A field's role for one channel.
enum class Need : std::uint8_t { kRequired, kOptional };
struct FieldRule {
  Field field;
  Need need;
};

// Wire order per channel; missing_field and bad_field checks both walk these lists in order.
constexpr FieldRule kTelemetryRules[] = {{kSeq, Need::kRequired},     {kTs, Need::kRequired},
                                         {kSession, Need::kRequired}, {kZone, Need::kRequired},
                                         {kDepthMm, Need::kRequired}, {kSpeedHz, Need::kRequired}};
// zone is required only for session_start; that is handled in CheckMissing.
constexpr FieldRule kEventRules[] = {{kSeq, Need::kRequired},       {kTs, Need::kRequired},
                                     {kEventName, Need::kRequired}, {kSession, Need::kRequired},
                                     {kZone, Need::kOptional},      {kOperator, Need::kOptional}};
constexpr FieldRule kStatusRules[] = {{kTs, Need::kRequired},
                                      {kState, Need::kRequired},
                                      {kSeq, Need::kOptional},
                                      {kModel, Need::kOptional},
                                      {kFw, Need::kOptional}};

bool IsString(const JsonValue& v) { return v.type == JsonType::kString; }

bool IsSessionStart(const JsonValue& v) { return IsString(v) && v.text == "session_start"; }

// A free-text field (zone, model, fw): at most kMaxZoneLength bytes, and no C0 control, DEL
// or C1 control (U+0080..U+009F, encoded C2 80..C2 9F). The scanner already checked UTF-8.
bool IsCleanText(std::string_view s) {
  if (s.size() > kMaxZoneLength) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return false;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      return false;
    }
  }
  return true;
}

bool ParseU32(const JsonValue& v, std::uint32_t& out) {
  if (v.type != JsonType::kNumber || !v.is_integer) return false;
  std::uint64_t x = 0;
  const char* last = v.text.data() + v.text.size();
  const auto [ptr, ec] = std::from_chars(v.text.data(), last, x);  // rejects '-'
  if (ec != std::errc() || ptr != last || x > UINT32_MAX) return false;
  out = static_cast<std::uint32_t>(x);
  return true;
}

bool ParseTs(const JsonValue& v, std::int64_t& out) {
  if (v.type != JsonType::kNumber || !v.is_integer) return false;
  std::int64_t x = 0;
  const char* last = v.text.data() + v.text.size();
  const auto [ptr, ec] = std::from_chars(v.text.data(), last, x);
  if (ec != std::errc() || ptr != last || x < 0) return false;
  out = x;
  return true;
}

bool ParseRange(const JsonValue& v, double max, double& out) {
  if (v.type != JsonType::kNumber) return false;
  double d = 0;
  if (!internal::JsonNumberToDouble(v.text, d)) return false;
  if (!(d >= 0.0 && d <= max)) return false;
  out = d + 0.0;  // -0 becomes +0
  return true;
}

// Converts and stores one present field; false when it is of the wrong type or out of range.
// Null is accepted as "absent" for optional fields.
bool CheckAndStore(Field f, Need need, const JsonValue& v, Decoded& out) {
  if (need == Need::kOptional && v.type == JsonType::kNull) return true;
  switch (out.channel) {
    case Channel::kTelemetry: {
      Telemetry& t = out.telemetry;
      switch (f) {
        case kSeq:
          return ParseU32(v, t.seq);
        case kTs:
          return ParseTs(v, t.ts_ms);
        case kSession:
          t.session = v.text;
          return IsString(v) && IsValidId(v.text);
        case kZone:
          t.zone = v.text;
          return IsString(v) && !v.text.empty() && IsCleanText(v.text);
        case kDepthMm:
          return ParseRange(v, kMaxDepthMm, t.depth_mm);
        case kSpeedHz:
          return ParseRange(v, kMaxSpeedHz, t.speed_hz);
        default:
          return true;
      }
    }
    case Channel::kEvent: {
      Event& e = out.event;
      switch (f) {
        case kSeq:
          return ParseU32(v, e.seq);
        case kTs:
          return ParseTs(v, e.ts_ms);
        case kEventName:
          if (!IsString(v)) return false;
          if (v.text == "session_start") {
            e.kind = EventKind::kSessionStart;
            return true;
          }
          if (v.text == "session_end") {
            e.kind = EventKind::kSessionEnd;
            return true;
          }
          return false;
        case kSession:
          e.session = v.text;
          return IsString(v) && IsValidId(v.text);
        case kZone:
          // Only meaningful for session_start; ignored (like any unknown field) on session_end.
          if (e.kind != EventKind::kSessionStart) return true;
          e.zone = v.text;
          return IsString(v) && !v.text.empty() && IsCleanText(v.text);
        case kOperator:
          e.op = v.text;
          return IsString(v) && IsValidId(v.text);
        default:
          return true;
      }
    }
    case Channel::kStatus: {
      Status& s = out.status;
      switch (f) {
        case kSeq:
          s.has_seq = true;
          return ParseU32(v, s.seq);
        case kTs:
          return ParseTs(v, s.ts_ms);
        case kState:
          if (!IsString(v)) return false;
          if (v.text == "online" || v.text == "offline") {
            s.online = v.text == "online";
            return true;
          }
          return false;
        case kModel:
          s.model = v.text;
          return IsString(v) && IsCleanText(v.text);
        case kFw:
          s.fw = v.text;
          return IsString(v) && IsCleanText(v.text);
        default:
          return true;
      }
    }
    case Channel::kUnknown:
      break;
  }
  return false;
}

template <std::size_t N>
Reject CheckFields(const FieldRule (&rules)[N], const FieldSink& fields, Decoded& out) {
  // 1. missing_field, in list order. event's zone is required when event is "session_start"
  //    (as written; an invalid event value makes no field conditionally required).
  for (const FieldRule& r : rules) {
    bool required = r.need == Need::kRequired;
    if (r.field == kZone && out.channel == Channel::kEvent) {
      required = fields.Has(kEventName) && IsSessionStart(fields.Get(kEventName));
    }
    if (required && !fields.Has(r.field)) {
      out.detail = kMissingDetail[r.field];
      return Reject::kMissingField;
    }
  }
  // 2. bad_field, in list order.
  for (const FieldRule& r : rules) {
    if (!fields.Has(r.field)) continue;
    if (!CheckAndStore(r.field, r.need, fields.Get(r.field), out)) {
      out.detail = kBadDetail[r.field];
      return Reject::kBadField;
    }
  }
  return Reject::kNone;
}

}  // namespace

Reject Decode(Channel channel, std::string_view payload, Decoded& out) {
  out.channel = channel;
  out.telemetry = Telemetry{};
  out.event = Event{};
  out.status = Status{};
  out.detail = {};
  if (channel == Channel::kUnknown) {
    out.detail = "topic: not a device channel";
    return Reject::kBadTopic;
  }
  if (payload.size() > kMaxPayloadBytes) {
    out.detail = "payload: larger than 4096 bytes";
    return Reject::kTooLarge;
  }
  static_assert(sizeof(out.scratch) >= kMaxPayloadBytes, "unescaping needs the payload's size");
  FieldSink fields;
  internal::JsonScanner scanner(payload, out.scratch.data(), out.scratch.size());
  if (const char* err = scanner.ScanObject(fields)) {
    out.detail = err;
    return Reject::kBadJson;
  }
  if (fields.Has(kV)) {
    const JsonValue& v = fields.Get(kV);
    if (v.type != JsonType::kNumber || v.text != "1") {
      out.detail = kBadDetail[kV];
      return Reject::kBadVersion;
    }
  } else {
    out.detail = kMissingDetail[kV];
    // v is checked first among missing fields; nothing else can come earlier.
    return Reject::kMissingField;
  }
  Reject r = Reject::kNone;
  switch (channel) {
    case Channel::kTelemetry:
      r = CheckFields(kTelemetryRules, fields, out);
      break;
    case Channel::kEvent:
      r = CheckFields(kEventRules, fields, out);
      break;
    case Channel::kStatus:
      r = CheckFields(kStatusRules, fields, out);
      break;
    case Channel::kUnknown:
      break;
  }
  if (r != Reject::kNone) {
    out.telemetry = Telemetry{};
    out.event = Event{};
    out.status = Status{};
  }
  return r;
}

}  // namespace needlewatch::protocol
