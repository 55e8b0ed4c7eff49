// Topic scheme (protocol/README.md, Topics).
#include "needlewatch/protocol/topic.h"

#include <array>
#include <cstddef>

namespace needlewatch::protocol {
namespace {

constexpr std::string_view kMonitorRoot = "needlewatch";

// Splits `s` on '/' into at most N levels; returns the number of levels, or N + 1 when there
// are more than N.
template <std::size_t N>
std::size_t SplitLevels(std::string_view s, std::array<std::string_view, N>& levels) {
  std::size_t n = 0;
  for (;;) {
    const std::size_t slash = s.find('/');
    if (n == N) return N + 1;
    levels[n++] = s.substr(0, slash);
    if (slash == std::string_view::npos) return n;
    s.remove_prefix(slash + 1);
  }
}

Channel ChannelFromLevel(std::string_view level) {
  if (level == "telemetry") return Channel::kTelemetry;
  if (level == "event") return Channel::kEvent;
  if (level == "status") return Channel::kStatus;
  return Channel::kUnknown;
}

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

}  // namespace

std::string_view ChannelName(Channel c) {
  switch (c) {
    case Channel::kTelemetry:
      return "telemetry";
    case Channel::kEvent:
      return "event";
    case Channel::kStatus:
      return "status";
    case Channel::kUnknown:
      return "unknown";
  }
  return "unknown";
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  for (char c : id) {
    if (!IsIdChar(c)) return false;
  }
  return true;
}

Topic ParseTopic(std::string_view topic, std::string_view root) {
  Topic t;
  const std::size_t last_slash = topic.rfind('/');
  const std::string_view last =
      last_slash == std::string_view::npos ? topic : topic.substr(last_slash + 1);
  t.channel = ChannelFromLevel(last);

  // {root}/{clinic}/device/{device}/{channel}, or the monitor's own alarm/… and command.
  if (!root.empty() && topic.size() > root.size() && topic.starts_with(root) &&
      topic[root.size()] == '/') {
    std::array<std::string_view, 5> lv;
    const std::size_t n = SplitLevels(topic.substr(root.size() + 1), lv);
    if ((n == 4 || n == 5) && lv[1] == "device") {
      bool non_empty = true;
      for (std::size_t i = 0; i < n; ++i) non_empty = non_empty && !lv[i].empty();
      if (non_empty && ((n == 4 && lv[3] == "command") || (n == 5 && lv[3] == "alarm"))) {
        t.kind = TopicKind::kOwn;
        t.channel = Channel::kUnknown;
        return t;
      }
      if (n == 4 && t.channel != Channel::kUnknown && IsValidId(lv[0]) && IsValidId(lv[2])) {
        t.kind = TopicKind::kDevice;
        t.clinic = lv[0];
        t.device = lv[2];
        return t;
      }
    }
  }
  // Everything under needlewatch/ is the monitors' own namespace (their status topics).
  if (root != kMonitorRoot && topic.size() > kMonitorRoot.size() &&
      topic.starts_with(kMonitorRoot) && topic[kMonitorRoot.size()] == '/') {
    t.kind = TopicKind::kOwn;
    t.channel = Channel::kUnknown;
    return t;
  }
  t.kind = TopicKind::kBad;
  return t;
}

std::optional<AlarmTopicParts> ParseAlarmTopic(std::string_view topic, std::string_view root) {
  if (root.empty() || topic.size() <= root.size() || !topic.starts_with(root) ||
      topic[root.size()] != '/') {
    return std::nullopt;
  }
  std::array<std::string_view, 5> lv;
  if (SplitLevels(topic.substr(root.size() + 1), lv) != 5 || lv[1] != "device" ||
      lv[3] != "alarm" || !IsValidId(lv[0]) || !IsValidId(lv[2]) || !IsValidId(lv[4])) {
    return std::nullopt;
  }
  return AlarmTopicParts{lv[0], lv[2], lv[4]};
}

std::string DeviceTopic(std::string_view root, std::string_view clinic, std::string_view device,
                        Channel channel) {
  std::string s;
  const std::string_view name = ChannelName(channel);
  s.reserve(root.size() + clinic.size() + device.size() + name.size() + 10);
  s.append(root).append("/").append(clinic).append("/device/").append(device).append("/");
  s.append(name);
  return s;
}

std::string AlarmTopic(std::string_view root, std::string_view clinic, std::string_view device,
                       std::string_view alarm) {
  std::string s;
  s.reserve(root.size() + clinic.size() + device.size() + alarm.size() + 16);
  s.append(root).append("/").append(clinic).append("/device/").append(device).append("/alarm/");
  s.append(alarm);
  return s;
}

std::string CommandTopic(std::string_view root, std::string_view clinic, std::string_view device) {
  std::string s;
  s.reserve(root.size() + clinic.size() + device.size() + 18);
  s.append(root).append("/").append(clinic).append("/device/").append(device).append("/command");
  return s;
}

std::string MonitorStatusTopic(std::string_view instance) {
  std::string s;
  s.reserve(kMonitorRoot.size() + instance.size() + 8);
  s.append(kMonitorRoot).append("/").append(instance).append("/status");
  return s;
}

std::string MonitorAlarmTopic(std::string_view instance, std::string_view alarm) {
  std::string s;
  s.reserve(kMonitorRoot.size() + instance.size() + alarm.size() + 8);
  s.append(kMonitorRoot).append("/").append(instance).append("/alarm/").append(alarm);
  return s;
}

}  // namespace needlewatch::protocol
