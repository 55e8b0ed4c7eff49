// One MQTT message as received: the unit of recording and replay. Plain data.
#ifndef NEEDLEWATCH_RECORD_RAW_MESSAGE_H_
#define NEEDLEWATCH_RECORD_RAW_MESSAGE_H_

#include <cstdint>
#include <string>

namespace needlewatch::record {

struct RawMessage {
  std::int64_t receive_ns = 0;  // monitor clock: ns since the Unix epoch
  std::string topic;
  std::string payload;          // raw bytes, exactly as received
  std::uint8_t qos = 0;
  bool retain = false;
};

// Topic under which the daemon records operator acknowledgements, so a replay of its own
// recording reproduces them. Payload: {"clinic":…,"device":…,"alarm":…}. Never a broker topic.
inline constexpr char kAckTopic[] = "$needlewatch/ack";

// Topic under which the daemon records the limits it applies: at start and after each
// successful SIGHUP reload. The Recorder also repeats the latest one at the start of every new
// segment, so each segment replays on its own. Payload:
// {"reason":"start"|"reload","source":<config file or "">,"yaml":<the configuration document>}.
// Never a broker topic.
inline constexpr char kLimitsTopic[] = "$needlewatch/limits";

}  // namespace needlewatch::record

#endif  // NEEDLEWATCH_RECORD_RAW_MESSAGE_H_
