#include "api.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "json_fields.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::daemon {

std::string AlarmsJson(const engine::Engine& engine) {
  std::vector<engine::AlarmView> views;
  engine.ForEachAlarm([&](const engine::AlarmView& a) { views.push_back(a); });
  std::sort(views.begin(), views.end(), [](const engine::AlarmView& x, const engine::AlarmView& y) {
    return std::tie(x.clinic, x.device, x.alarm) < std::tie(y.clinic, y.device, y.alarm);
  });
  std::string out;
  protocol::JsonWriter w(out);
  w.BeginObject().Key("alarms").BeginArray();
  for (const engine::AlarmView& a : views) {
    w.BeginObject().Field("v", 1);
    WriteAlarmFields(w, a);
    w.EndObject();
  }
  w.EndArray().EndObject();
  return out;
}

std::optional<AckRequest> ParseAckBody(std::string_view body, std::string* error) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "body: expected a JSON object {\"clinic\":…,\"device\":…,\"alarm\":…}";
    return std::nullopt;
  }
  auto get_id = [&](const char* key, std::string& out) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) {
      *error = std::string(key) + ": expected a string";
      return false;
    }
    out = it->get<std::string>();
    if (!protocol::IsValidId(out)) {
      *error = std::string(key) + ": expected an ID matching [A-Za-z0-9_.-]{1,64}";
      return false;
    }
    return true;
  };
  AckRequest r;
  if (!get_id("clinic", r.clinic) || !get_id("device", r.device)) return std::nullopt;
  auto it = j.find("alarm");
  std::optional<engine::AlarmKind> kind;
  if (it != j.end() && it->is_string()) kind = engine::ParseAlarmName(it->get<std::string>());
  if (!kind) {
    std::string names;
    for (engine::AlarmKind k : engine::kAllAlarmKinds) {
      if (!names.empty()) names += ", ";
      names += engine::AlarmName(k);
    }
    *error = "alarm: expected one of " + names;
    return std::nullopt;
  }
  r.alarm = *kind;
  return r;
}

std::string ErrorJson(std::string_view message) {
  std::string out;
  protocol::JsonWriter(out).BeginObject().Field("error", message).EndObject();
  return out;
}

}  // namespace needlewatch::daemon
