// ApplyRecord: feeds one record — a device message or a control record (records.h) — to the
// engine at its time. The live daemon builds each record, records it and applies that same
// record through this function; replay applies the recorded ones through it too. So the two
// cannot drift apart: what a record does is written once, here.
//
// Not thread-safe (it drives the caller's engine).
#ifndef NEEDLEWATCH_CONTROL_APPLY_H_
#define NEEDLEWATCH_CONTROL_APPLY_H_

#include <optional>
#include <string>
#include <string_view>

#include "needlewatch/control/records.h"
#include "needlewatch/engine/engine.h"

namespace needlewatch::control {

// One record, viewed: it may point into an MQTT library's message or a RawMessage.
struct RecordView {
  engine::TimeNs at = 0;  // the monitor's clock for it (receive time)
  std::string_view topic;
  std::string_view payload;
};

struct ApplyOptions {
  // Recorded limits are not applied (replay with --config.file: the user's limits hold).
  bool ignore_recorded_limits = false;
};

enum class RecordKind : std::uint8_t { kMessage, kAck, kLimits, kCatchUp, kUnknownControl };

struct Applied {
  RecordKind kind = RecordKind::kMessage;
  // kAck: what it did; nullopt when the record names no known alarm (nothing applied, but the
  // record still moved the clock).
  std::optional<AckRecord> ack;
  std::optional<engine::AckResult> ack_result;
  // kLimits: "applied", "ignored" or "bad_limits", with the record and why.
  std::optional<LimitsRecord> limits;
  std::string limits_result;
  // kCatchUp: what it did (nullopt when malformed: only the clock moved).
  std::optional<CatchUpRecord> catch_up;
  // Why a control record could not be applied.
  std::string error;
  // kLimits, applied: the topic root of the recorded configuration (replay compares it with
  // its own: engine options are not taken from a recording).
  std::string limits_topic_root;
};

bool IsControlTopic(std::string_view topic);

// Applies `r` at r.at. Every record moves the engine's clock (deadlines due by then fire first),
// whether or not it is applied. Never throws on any input.
Applied ApplyRecord(const RecordView& r, engine::Engine& engine, engine::Sink& sink,
                    const ApplyOptions& options = {});

}  // namespace needlewatch::control

#endif  // NEEDLEWATCH_CONTROL_APPLY_H_
