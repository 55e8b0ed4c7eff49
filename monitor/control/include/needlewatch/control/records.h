// Control records: what the daemon does besides receiving device messages, written into its
// recording in order with the messages so that a replay does the same at the same instant.
// One codec, used by the daemon to build them and by replay to read them back.
//
//   $needlewatch/ack     {"clinic":…,"device":…,"alarm":…,"user":…|null}
//                        an operator acknowledged an alarm (user: who, when known)
//   $needlewatch/limits  {"reason":"start"|"reload","source":<config file or "">,"yaml":<doc>}
//                        the limits in force from this instant (at start and after each reload)
//   $needlewatch/catchup {"state":"begin"|"end","reason":…}
//                        the engine's catch-up on a backlog the broker kept (restore, reconnect)
//                        begins or ends (engine.h BeginCatchUp/EndCatchUp); reason: "restore",
//                        "reconnect", "synced", "timeout"
//
// `$needlewatch/…` topics exist only in recordings; they are never broker topics. Pure;
// thread-safe.
#ifndef NEEDLEWATCH_CONTROL_RECORDS_H_
#define NEEDLEWATCH_CONTROL_RECORDS_H_

#include <optional>
#include <string>
#include <string_view>

#include "needlewatch/engine/engine.h"
#include "needlewatch/record/raw_message.h"

namespace needlewatch::control {

inline constexpr std::string_view kAckTopic = record::kAckTopic;
inline constexpr std::string_view kLimitsTopic = record::kLimitsTopic;
inline constexpr std::string_view kCatchUpTopic = "$needlewatch/catchup";

struct AckRecord {
  std::string clinic;
  std::string device;
  std::string alarm;  // as written; may name no known alarm in a damaged recording
  std::string user;   // "" when not known (recordings made before users were recorded)
};

struct LimitsRecord {
  std::string reason;  // "start" or "reload"
  std::string source;  // the daemon's config file ("" = built-in defaults)
  std::string yaml;    // the configuration document the limits were loaded from
};

struct CatchUpRecord {
  bool begin = true;   // "begin" or "end"
  std::string reason;
};

std::string EncodeAck(const AckRecord& a);
std::string EncodeCatchUp(const CatchUpRecord& c);
std::string EncodeLimits(const LimitsRecord& l);

// nullopt with `error` saying what was expected when the payload is not such a record.
std::optional<AckRecord> DecodeAck(std::string_view payload, std::string* error);
std::optional<LimitsRecord> DecodeLimits(std::string_view payload, std::string* error);
std::optional<CatchUpRecord> DecodeCatchUp(std::string_view payload, std::string* error);

// The record as the recorder stores it, at `at`.
record::RawMessage AckMessage(const AckRecord& a, engine::TimeNs at);
record::RawMessage LimitsMessage(const LimitsRecord& l, engine::TimeNs at);
record::RawMessage CatchUpMessage(const CatchUpRecord& c, engine::TimeNs at);

// "acknowledged", "cleared", "already_acknowledged", "not_found".
std::string_view AckResultName(engine::AckResult r);

}  // namespace needlewatch::control

#endif  // NEEDLEWATCH_CONTROL_RECORDS_H_
