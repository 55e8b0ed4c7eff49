// MQTT topic scheme of protocol/README.md, Topics: parse device topics, format every topic.
// See ../../../README.md ("Topics"). Pure functions; thread-safe.
#ifndef NEEDLEWATCH_PROTOCOL_TOPIC_H_
#define NEEDLEWATCH_PROTOCOL_TOPIC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace needlewatch::protocol {

// The channel a device message arrived on. kUnknown: anything not recognised.
enum class Channel : std::uint8_t { kTelemetry = 0, kEvent, kStatus, kUnknown };
inline constexpr std::size_t kChannelCount = 4;
std::string_view ChannelName(Channel c);  // "telemetry", "event", "status", "unknown"

enum class TopicKind : std::uint8_t {
  kDevice,  // {root}/{clinic}/device/{device}/{telemetry|event|status}, valid IDs
  kOwn,     // the monitor's own topics (alarm/…, command, needlewatch/…): ignored, not counted
  kBad,     // anything else: rejected as bad_topic
};

// Result of ParseTopic. `clinic` and `device` view into the parsed topic string and are
// only meaningful for kDevice. `channel` is taken from the last level even for kBad when that
// level names a channel (so metrics can count by channel), else kUnknown.
struct Topic {
  TopicKind kind = TopicKind::kBad;
  Channel channel = Channel::kUnknown;
  std::string_view clinic;
  std::string_view device;
};

// Maximum length of any ID (clinic, device, session, operator).
inline constexpr std::size_t kMaxIdLength = 64;

// True when `id` matches [A-Za-z0-9_.-]{1,64}.
bool IsValidId(std::string_view id);

// Parses `topic` under root `root` (default "clinic"). Never throws, never allocates.
// The returned views live as long as `topic`'s storage.
Topic ParseTopic(std::string_view topic, std::string_view root = "clinic");

// Topic formatters. REQUIRES: the IDs are valid (IsValidId).
std::string DeviceTopic(std::string_view root, std::string_view clinic, std::string_view device,
                        Channel channel);  // channel != kUnknown
std::string AlarmTopic(std::string_view root, std::string_view clinic, std::string_view device,
                       std::string_view alarm);
std::string CommandTopic(std::string_view root, std::string_view clinic, std::string_view device);
std::string MonitorStatusTopic(std::string_view instance);  // needlewatch/{instance}/status
// {root}/{clinic}/device/{device}/alarm/{alarm} with valid IDs (and a non-empty alarm name):
// its parts as views into `topic`; nullopt for any other topic.
struct AlarmTopicParts {
  std::string_view clinic;
  std::string_view device;
  std::string_view alarm;
};
std::optional<AlarmTopicParts> ParseAlarmTopic(std::string_view topic, std::string_view root);

// needlewatch/{instance}/alarm/{alarm}: the monitor's own alarms (recorder_dropping, …).
std::string MonitorAlarmTopic(std::string_view instance, std::string_view alarm);

}  // namespace needlewatch::protocol

#endif  // NEEDLEWATCH_PROTOCOL_TOPIC_H_
