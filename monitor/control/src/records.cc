#include "needlewatch/control/records.h"

#include <nlohmann/json.hpp>

#include "needlewatch/protocol/json_writer.h"

namespace needlewatch::control {
namespace {

// Reads the string member `key` of `j` into `out`; false when absent or not a string.
bool GetString(const nlohmann::json& j, const char* key, std::string* out) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}

}  // namespace

std::string EncodeAck(const AckRecord& a) {
  std::string out;
  protocol::JsonWriter w(out);
  w.BeginObject()
      .Field("clinic", a.clinic)
      .Field("device", a.device)
      .Field("alarm", a.alarm)
      .StringOrNull("user", a.user)
      .EndObject();
  return out;
}

std::string EncodeLimits(const LimitsRecord& l) {
  std::string out;
  protocol::JsonWriter w(out);
  w.BeginObject()
      .Field("reason", l.reason)
      .Field("source", l.source)
      .Field("yaml", l.yaml)
      .EndObject();
  return out;
}

std::string EncodeCatchUp(const CatchUpRecord& c) {
  std::string out;
  protocol::JsonWriter w(out);
  w.BeginObject().Field("state", c.begin ? "begin" : "end").Field("reason", c.reason).EndObject();
  return out;
}

std::optional<AckRecord> DecodeAck(std::string_view payload, std::string* error) {
  const auto j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  AckRecord a;
  if (!j.is_object() || !GetString(j, "clinic", &a.clinic) ||
      !GetString(j, "device", &a.device) || !GetString(j, "alarm", &a.alarm)) {
    *error = "expected a JSON object with \"clinic\", \"device\" and \"alarm\" strings";
    return std::nullopt;
  }
  GetString(j, "user", &a.user);  // optional; null or absent = unknown
  return a;
}

std::optional<LimitsRecord> DecodeLimits(std::string_view payload, std::string* error) {
  const auto j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  LimitsRecord l;
  if (!j.is_object() || !GetString(j, "yaml", &l.yaml)) {
    *error = "expected a JSON object with a \"yaml\" string";
    return std::nullopt;
  }
  GetString(j, "reason", &l.reason);
  GetString(j, "source", &l.source);
  return l;
}

std::optional<CatchUpRecord> DecodeCatchUp(std::string_view payload, std::string* error) {
  const auto j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  CatchUpRecord c;
  std::string state;
  if (!j.is_object() || !GetString(j, "state", &state) || (state != "begin" && state != "end")) {
    *error = "expected a JSON object with \"state\": \"begin\" or \"end\"";
    return std::nullopt;
  }
  c.begin = state == "begin";
  GetString(j, "reason", &c.reason);
  return c;
}

namespace {

record::RawMessage ControlMessage(std::string_view topic, std::string payload,
                                  engine::TimeNs at) {
  record::RawMessage m;
  m.receive_ns = at;
  m.topic = topic;
  m.payload = std::move(payload);
  return m;
}

}  // namespace

record::RawMessage AckMessage(const AckRecord& a, engine::TimeNs at) {
  return ControlMessage(kAckTopic, EncodeAck(a), at);
}

record::RawMessage LimitsMessage(const LimitsRecord& l, engine::TimeNs at) {
  return ControlMessage(kLimitsTopic, EncodeLimits(l), at);
}

record::RawMessage CatchUpMessage(const CatchUpRecord& c, engine::TimeNs at) {
  return ControlMessage(kCatchUpTopic, EncodeCatchUp(c), at);
}

std::string_view AckResultName(engine::AckResult r) {
  switch (r) {
    case engine::AckResult::kAcknowledged:
      return "acknowledged";
    case engine::AckResult::kCleared:
      return "cleared";
    case engine::AckResult::kAlreadyAcknowledged:
      return "already_acknowledged";
    case engine::AckResult::kNotFound:
      return "not_found";
  }
  return "not_found";
}

}  // namespace needlewatch::control
