#include "needlewatch/control/apply.h"

#include <utility>

#include "needlewatch/config/config.h"

namespace needlewatch::control {
namespace {

void ApplyAck(const RecordView& r, engine::Engine& engine, engine::Sink& sink, Applied& out) {
  out.kind = RecordKind::kAck;
  std::optional<AckRecord> ack = DecodeAck(r.payload, &out.error);
  const std::optional<engine::AlarmKind> kind =
      ack ? engine::ParseAlarmName(ack->alarm) : std::nullopt;
  if (ack && !kind) out.error = "alarm: unknown alarm \"" + ack->alarm + "\"";
  out.ack = std::move(ack);
  if (!kind) {
    engine.AdvanceTo(r.at, sink);  // every record moves the clock
    return;
  }
  out.ack_result = engine.Acknowledge(out.ack->clinic, out.ack->device, *kind, r.at, sink);
}

void ApplyLimits(const RecordView& r, engine::Engine& engine, engine::Sink& sink,
                 const ApplyOptions& options, Applied& out) {
  out.kind = RecordKind::kLimits;
  out.limits = DecodeLimits(r.payload, &out.error);
  if (!out.limits) {
    out.limits_result = "bad_limits";
    engine.AdvanceTo(r.at, sink);
    return;
  }
  if (options.ignore_recorded_limits) {
    out.limits_result = "ignored";
    engine.AdvanceTo(r.at, sink);
    return;
  }
  const std::string& source = out.limits->source;
  config::LoadResult loaded =
      config::LoadConfigString(out.limits->yaml, source.empty() ? "recorded limits" : source);
  if (!loaded.ok()) {
    out.limits_result = "bad_limits";
    out.error = loaded.errors.empty() ? std::string("invalid") : loaded.errors.front();
    engine.AdvanceTo(r.at, sink);
    return;
  }
  out.limits_topic_root = loaded.config->engine.topic_root;
  engine.SetLimits(std::move(loaded.config->limits), r.at, sink);
  out.limits_result = "applied";
}

void ApplyCatchUp(const RecordView& r, engine::Engine& engine, engine::Sink& sink, Applied& out) {
  out.kind = RecordKind::kCatchUp;
  out.catch_up = DecodeCatchUp(r.payload, &out.error);
  if (!out.catch_up) {
    engine.AdvanceTo(r.at, sink);
  } else if (out.catch_up->begin) {
    engine.BeginCatchUp(r.at, sink);
  } else {
    engine.EndCatchUp(r.at, sink);
  }
}

}  // namespace

bool IsControlTopic(std::string_view topic) { return topic.starts_with("$needlewatch/"); }

Applied ApplyRecord(const RecordView& r, engine::Engine& engine, engine::Sink& sink,
                    const ApplyOptions& options) {
  Applied out;
  if (!IsControlTopic(r.topic)) {
    engine.OnMessage(r.topic, r.payload, r.at, sink);
    return out;
  }
  if (r.topic == kAckTopic) {
    ApplyAck(r, engine, sink, out);
  } else if (r.topic == kLimitsTopic) {
    ApplyLimits(r, engine, sink, options, out);
  } else if (r.topic == kCatchUpTopic) {
    ApplyCatchUp(r, engine, sink, out);
  } else {
    out.kind = RecordKind::kUnknownControl;
    out.error = "unknown control record";
    engine.AdvanceTo(r.at, sink);
  }
  return out;
}

}  // namespace needlewatch::control
