#include "api.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "json_util.h"
#include "needlewatch/protocol/encode.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::daemon {

std::string AlarmsJson(const engine::Engine& engine) {
  struct Entry {
    std::string clinic;
    std::string device;
    engine::AlarmKind alarm;
    std::string json;
  };
  std::vector<Entry> entries;
  engine.ForEachAlarm([&](const engine::AlarmView& a) {
    std::string o = "{\"v\":1";
    AppendAlarmFields(o, a);
    o += '}';
    entries.push_back({std::string(a.clinic), std::string(a.device), a.alarm, std::move(o)});
  });
  std::sort(entries.begin(), entries.end(), [](const Entry& x, const Entry& y) {
    return std::tie(x.clinic, x.device, x.alarm) < std::tie(y.clinic, y.device, y.alarm);
  });
  std::string out = "{\"alarms\":[";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += ',';
    out += entries[i].json;
  }
  out += "]}";
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

std::string_view AckResultName(engine::AckResult r) {
  switch (r) {
    case engine::AckResult::kAcknowledged: return "acknowledged";
    case engine::AckResult::kCleared: return "cleared";
    case engine::AckResult::kAlreadyAcknowledged: return "already_acknowledged";
    case engine::AckResult::kNotFound: return "not_found";
  }
  return "not_found";
}

std::string ErrorJson(std::string_view message) {
  std::string out = "{\"error\":";
  protocol::AppendJsonString(out, message);
  out += '}';
  return out;
}

}  // namespace needlewatch::daemon
