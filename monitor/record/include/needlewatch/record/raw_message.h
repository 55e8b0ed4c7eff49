// One MQTT message as received: the unit of recording and replay. Plain data.
#ifndef NEEDLEWATCH_RECORD_RAW_MESSAGE_H_
#define NEEDLEWATCH_RECORD_RAW_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace needlewatch::record {

// How much of a rejected payload a recording keeps: the protocol's largest valid payload, so
// that only a payload rejected as too_large (or on a bad topic) is ever cut.
inline constexpr std::size_t kRejectedKeepBytes = 4096;

struct RawMessage {
  std::int64_t receive_ns = 0;  // monitor clock: ns since the Unix epoch
  std::string topic;
  std::string payload;          // raw bytes, exactly as received (for a rejected message:
                                // at most its first kRejectedKeepBytes, see original_size)
  std::uint8_t qos = 0;
  bool retain = false;
  // Why the monitor rejected it: the reason name ("bad_json", "too_large", … as in
  // protocol::RejectName), empty when it was accepted or ignored. The daemon sets it; the
  // Recorder then keeps the message on a rejected channel under its own retention budget
  // (recorder.h), and McapReader gives it back.
  std::string reject;
  // The payload's size as received when `payload` holds only its first bytes; 0 when the
  // payload is whole.
  std::uint64_t original_size = 0;

  bool truncated() const { return original_size > payload.size(); }
};

// Fills `out` with a received message without copying more than a recording keeps: a rejected
// message (`reject` non-empty) gets only its first kRejectedKeepBytes bytes and its size. For
// the daemon, which must not copy a 100 MB junk payload into the recorder's queue.
void FillRawMessage(RawMessage& out, std::int64_t receive_ns, std::string_view topic,
                    std::string_view payload, int qos, bool retain, std::string_view reject);

// Topic under which the daemon records operator acknowledgements, so a replay of its own
// recording reproduces them. Payload: {"clinic":…,"device":…,"alarm":…}. Never a broker topic.
inline constexpr char kAckTopic[] = "$needlewatch/ack";

// Topic under which the daemon records the limits it applies: at start and after each
// successful SIGHUP reload. The Recorder also repeats the latest one at the start of every new
// segment, so each segment replays on its own. Payload:
// {"reason":"start"|"reload","source":<config file or "">,"yaml":<the configuration document>}.
// Never a broker topic.
inline constexpr char kLimitsTopic[] = "$needlewatch/limits";

// Channels of rejected messages in a recording: "$needlewatch/rejected/{clinic}/{device}/{reason}"
// (one per device and reason) or "$needlewatch/rejected/{reason}" for topics that name no device.
// Each message is an envelope (monitor/record/README.md) that McapReader unwraps back into the
// RawMessage that was recorded. Never a broker topic.
inline constexpr char kRejectedTopicPrefix[] = "$needlewatch/rejected/";

}  // namespace needlewatch::record

#endif  // NEEDLEWATCH_RECORD_RAW_MESSAGE_H_
