#include "live_monitor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <utility>

#include "audit_log.h"
#include "log.h"
#include "needlewatch/control/apply.h"
#include "needlewatch/control/records.h"
#include "needlewatch/protocol/encode.h"
#include "needlewatch/protocol/reject.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::daemon {
namespace {

using engine::TimeNs;

constexpr TimeNs kRejectWarnInterval = 10 * engine::kNsPerSec;

engine::EngineOptions EngineOptionsOf(const config::Config& cfg) {
  engine::EngineOptions o = cfg.engine;
  o.topic_root = cfg.mqtt.topic_root;
  return o;
}

}  // namespace

LiveMonitor::LiveMonitor(const config::Config& cfg, std::string config_path, Clock& clock,
                         Outputs& out)
    : cfg_(cfg),
      config_path_(std::move(config_path)),
      clock_(clock),
      out_(out),
      engine_(cfg.limits, EngineOptionsOf(cfg)),
      // Event ids grow across restarts: a page's Last-Event-ID from an earlier process is older
      // than anything this one kept, so the page refetches instead of resuming wrongly.
      floor_({.first_event_id = static_cast<std::uint64_t>(clock.Now() / 1000)}) {}

TimeNs LiveMonitor::Stamp() {
  last_stamp_ = std::max(last_stamp_, clock_.Now());
  return last_stamp_;
}

void LiveMonitor::Start() {
  // The engine starts with these limits already; the record lets a replay start with them too.
  out_.Record(control::LimitsMessage({"start", config_path_, cfg_.text}, Stamp()));
}

void LiveMonitor::HandleMessage(std::string_view topic, std::string_view payload, int qos,
                                bool retain) {
  if (protocol::ParseAlarmTopic(topic, cfg_.mqtt.topic_root)) {
    CheckAlarmTopic(topic, payload);
    return;
  }
  const TimeNs now = Stamp();
  if (!writer_) NoteCommand(topic, now);
  const auto t0 = std::chrono::steady_clock::now();
  last_reject_ = protocol::Reject::kNone;
  control::ApplyRecord({now, topic, payload}, engine_, *this);
  const auto t1 = std::chrono::steady_clock::now();
  metrics_.ObserveProcessing(std::chrono::duration<double>(t1 - t0).count());
  // A rejected message is recorded truncated on its own channel (record/rejected.h): junk
  // cannot fill the recording, and replay rejects it again for the same reason.
  record::RawMessage raw;
  record::FillRawMessage(raw, now, topic, payload, qos, retain,
                         last_reject_ == protocol::Reject::kNone
                             ? std::string_view()
                             : protocol::RejectName(last_reject_));
  out_.Record(std::move(raw));
}

AckOutcome LiveMonitor::Acknowledge(const AckRequest& req, std::string_view user,
                                    std::string_view remote) {
  AckOutcome outcome;
  outcome.at = Stamp();
  const std::string_view alarm = engine::AlarmName(req.alarm);
  record::RawMessage record = control::AckMessage(
      {req.clinic, req.device, std::string(alarm), std::string(user)}, outcome.at);
  acknowledging_user_ = user;
  const control::Applied applied =
      control::ApplyRecord({record.receive_ns, record.topic, record.payload}, engine_, *this);
  acknowledging_user_.clear();
  outcome.result = applied.ack_result.value_or(engine::AckResult::kNotFound);
  Flush();
  if (outcome.result == engine::AckResult::kNotFound) return outcome;
  const std::string_view name = control::AckResultName(outcome.result);
  Audit(FormatAckAudit(outcome.at, req.clinic, req.device, alarm, name, user, remote));
  log::Info("alarm acknowledged", {{"clinic", req.clinic}, {"device", req.device},
                                   {"alarm", alarm}, {"result", name},
                                   {"user", user}, {"remote", remote}});
  out_.Record(std::move(record));
  return outcome;
}

bool LiveMonitor::Reload(const config::LoadResult& loaded) {
  const TimeNs now = Stamp();
  if (!loaded.ok()) {
    ++reloads_failed_;
    for (const std::string& e : loaded.errors) {
      log::Error("reload failed", {{"source", config_path_}, {"error", e}});
    }
    log::Error("limits kept", {{"source", config_path_},
                               {"errors", static_cast<unsigned long long>(loaded.errors.size())}});
    Audit(FormatReloadAudit(now, false, config_path_, loaded.errors));
    return false;
  }
  record::RawMessage record =
      control::LimitsMessage({"reload", config_path_, loaded.config->text}, now);
  const control::Applied applied =
      control::ApplyRecord({record.receive_ns, record.topic, record.payload}, engine_, *this);
  if (applied.limits_result != "applied") {
    // The file loaded a moment ago; its own text failing to load again is a bug, not input.
    ++reloads_failed_;
    log::Error("reload failed", {{"source", config_path_}, {"error", applied.error}});
    Audit(FormatReloadAudit(now, false, config_path_, {applied.error}));
    return false;
  }
  ++reloads_ok_;
  floor_.OnLimitsChanged();
  Flush();
  out_.Record(std::move(record));
  log::Info("limits reloaded",
            {{"source", config_path_},
             {"zones", static_cast<unsigned long long>(engine_.limits().zones.size())}});
  Audit(FormatReloadAudit(now, true, config_path_, {}));
  return true;
}

void LiveMonitor::Tick() {
  engine_.AdvanceTo(Stamp(), *this);
  Flush();
}

void LiveMonitor::OnAccepted(const engine::AcceptedInfo& m) {
  floor_.OnAccepted(m);
  if (m.ts_ms > 0) {
    metrics_.ObserveIngestLatency(engine::NsToSeconds(m.at) - static_cast<double>(m.ts_ms) / 1e3);
  }
}

void LiveMonitor::OnAlarm(const engine::AlarmEvent& e) {
  floor_.OnAlarm(e, acknowledging_user_);
  const std::string& root = cfg_.mqtt.topic_root;
  if (cfg_.outputs.alarm_topics) {
    Publication p = AlarmPublication(root, e);
    if (e.state == engine::AlarmState::kCleared) {
      held_topics_.erase(p.topic);
    } else {
      held_topics_[p.topic] = p.payload;
    }
    to_publish_[std::move(p.topic)] = std::move(p.payload);
  }
  if (cfg_.outputs.halt.enabled) {
    if (auto halt = HaltPublication(root, e, cfg_.outputs.halt.severities,
                                    cfg_.outputs.halt.expiry)) {
      SendHalt({std::move(*halt), e.clinic, e.device, e.session,
                std::string(engine::AlarmName(e.alarm)),
                std::string(engine::SeverityName(e.severity)), Stamp(),
                cfg_.outputs.halt.expiry});
    }
  }
  Audit(FormatAlarmAudit(e));
  const log::Level level =
      e.transition == engine::Transition::kRaised ? log::Level::kWarn : log::Level::kInfo;
  log::Write(level, "alarm",
             {{"transition", engine::TransitionName(e.transition)},
              {"alarm", engine::AlarmName(e.alarm)},
              {"severity", engine::SeverityName(e.severity)},
              {"state", engine::AlarmStateName(e.state)},
              {"clinic", e.clinic},
              {"device", e.device},
              {"session", e.session},
              {"zone", e.zone},
              {"value", e.value ? *e.value : std::nan("")},
              {"limit", e.limit ? *e.limit : std::nan("")}});
}

void LiveMonitor::SendHalt(HeldHalt h) {
  if (!writer_) {
    // The writer sends it; kept for a takeover unless the writer was already seen to halt the pen.
    PruneStandby(h.made_at);
    if (halts_seen_.count(h.publication.topic) == 0) standby_halts_.push_back(std::move(h));
    return;
  }
  if (out_.Publish(h.publication)) {
    Audit(FormatHaltAudit(Stamp(), h.clinic, h.device, h.session, h.alarm, h.severity, "sent",
                          h.publication.expiry_seconds));
    log::Warn("halt sent", {{"clinic", h.clinic}, {"device", h.device}, {"alarm", h.alarm}});
    return;
  }
  // Not connected: held until the connection is back, for at most its expiry.
  if (held_halts_.size() >= kMaxHeldHalts) held_halts_.pop_front();
  held_halts_.push_back(std::move(h));
}

void LiveMonitor::NoteCommand(std::string_view topic, TimeNs now) {
  if (!topic.ends_with("/command") ||
      protocol::ParseTopic(topic, cfg_.mqtt.topic_root).kind != protocol::TopicKind::kOwn) {
    return;
  }
  PruneStandby(now);
  const std::string key(topic);
  halts_seen_[key] = now;
  // One halt stops the pen: whatever this follower would have sent to it is done.
  std::erase_if(standby_halts_, [&](const HeldHalt& h) { return h.publication.topic == key; });
}

void LiveMonitor::PruneStandby(TimeNs now) {
  while (!standby_halts_.empty() &&
         now - standby_halts_.front().made_at >= standby_halts_.front().expiry) {
    // Nobody was seen to halt the pen in time: the writer is gone or cut off.
    const HeldHalt& h = standby_halts_.front();
    Audit(FormatHaltAudit(now, h.clinic, h.device, h.session, h.alarm, h.severity, "expired",
                          h.publication.expiry_seconds));
    log::Error("halt not seen from the writer within its expiry",
               {{"clinic", h.clinic}, {"device", h.device}, {"alarm", h.alarm}});
    ++halts_expired_;
    standby_halts_.pop_front();
  }
  if (standby_halts_.size() > kMaxHeldHalts) standby_halts_.pop_front();
  std::erase_if(halts_seen_,
                [&](const auto& kv) { return now - kv.second >= cfg_.outputs.halt.expiry; });
}

void LiveMonitor::SetWriter(bool writer) {
  if (writer == writer_) return;
  writer_ = writer;
  if (!writer) return;
  // Takeover: every alarm held, then the halts the old writer was not seen to send in time.
  const TimeNs now = Stamp();
  PruneStandby(now);
  std::deque<HeldHalt> standby;
  standby.swap(standby_halts_);
  halts_seen_.clear();
  SetConnected(true);
  for (HeldHalt& h : standby) SendHalt(std::move(h));
}

void LiveMonitor::Flush() {
  if (!writer_) {
    to_publish_.clear();  // held_topics_ keeps the state for a takeover
    return;
  }
  for (auto& [topic, payload] : to_publish_) {
    Publication p;
    p.topic = topic;
    p.payload = std::move(payload);
    p.qos = 1;
    p.retain = true;
    out_.Publish(p);
  }
  to_publish_.clear();
}

void LiveMonitor::CheckAlarmTopic(std::string_view topic, std::string_view payload) {
  if (!cfg_.outputs.alarm_topics || !writer_) return;
  const std::string key(topic);
  if (to_publish_.count(key) != 0) return;  // the monitor's own state is on its way
  if (auto held = held_topics_.find(key); held != held_topics_.end()) {
    if (payload == held->second) return;  // what the monitor published (an echo, or retained)
    to_publish_[key] = held->second;
  } else {
    if (payload.empty() || protocol::AlarmPayloadState(payload) == "cleared") return;
    // An alarm the monitor does not hold shows as cleared (an unknown alarm name: removed).
    const auto parts = protocol::ParseAlarmTopic(topic, cfg_.mqtt.topic_root);
    const std::optional<engine::AlarmKind> kind = engine::ParseAlarmName(parts->alarm);
    std::string cleared;
    if (kind) {
      const double now = engine::NsToSeconds(Stamp());
      protocol::AlarmPayload a;
      a.alarm = parts->alarm;
      a.severity = engine::SeverityName(engine_.limits().defaults.Rule(*kind).severity);
      a.state = "cleared";
      a.clinic = parts->clinic;
      a.device = parts->device;
      a.raised_at = now;
      a.ts = now;
      a.cleared_at = now;
      cleared = protocol::EncodeAlarm(a);
    }
    to_publish_[key] = std::move(cleared);
  }
  ++alarm_topic_corrections_;
  log::Warn("retained alarm topic corrected", {{"topic", topic}});
  Flush();
}

void LiveMonitor::SetConnected(bool connected) {
  if (!connected) return;
  for (const auto& [topic, payload] : held_topics_) to_publish_[topic] = payload;
  Flush();
  const TimeNs now = Stamp();
  std::deque<HeldHalt> held;
  held.swap(held_halts_);
  for (HeldHalt& h : held) {
    if (now - h.made_at >= h.expiry) {
      Audit(FormatHaltAudit(now, h.clinic, h.device, h.session, h.alarm, h.severity, "expired",
                            h.publication.expiry_seconds));
      log::Error("halt dropped: the broker was unreachable for longer than its expiry",
                 {{"clinic", h.clinic}, {"device", h.device}, {"alarm", h.alarm},
                  {"expiry_seconds", h.publication.expiry_seconds}});
      ++halts_expired_;
      continue;
    }
    SendHalt(std::move(h));
  }
}

void LiveMonitor::OnSession(const engine::SessionEvent& e) {
  floor_.OnSession(e);
  if (!e.started && e.ended_at) {
    metrics_.ObserveSessionDuration(e.clinic, engine::NsToSeconds(*e.ended_at - e.started_at));
  }
  log::Debug(e.started ? "session started" : "session ended",
             {{"clinic", e.clinic}, {"device", e.device}, {"session", e.session},
              {"zone", e.zone}, {"samples", static_cast<unsigned long long>(e.samples)}});
}

void LiveMonitor::OnReject(const engine::RejectInfo& r) {
  last_reject_ = r.reason;
  const std::string_view reason = protocol::RejectName(r.reason);
  log::Debug("message rejected", {{"topic", r.topic}, {"reason", reason}, {"detail", r.detail}});
  // Warn at most once per interval, with how many were rejected since the last warning.
  ++rejects_since_warn_;
  if (last_reject_warn_ == 0 || r.at - last_reject_warn_ >= kRejectWarnInterval) {
    log::Warn("messages rejected",
              {{"count", rejects_since_warn_}, {"last_topic", r.topic},
               {"last_reason", reason}, {"last_detail", r.detail}});
    rejects_since_warn_ = 0;
    last_reject_warn_ = r.at;
  }
}

void LiveMonitor::OnSeqGap(const engine::SeqGapInfo& g) {
  log::Debug("sequence gap", {{"clinic", g.clinic}, {"device", g.device},
                              {"expected", g.expected}, {"got", g.got}});
}

void LiveMonitor::Audit(const std::string& line) {
  const bool ok = out_.Audit(line);
  if (!ok) ++audit_write_errors_;
  if (!ok && !audit_failing_.active()) {
    log::Error("audit log write failed", {{"path", cfg_.outputs.audit_log},
                                          {"errors", audit_write_errors_}});
  }
  SetMonitorAlarm(audit_failing_, !ok, static_cast<double>(audit_write_errors_));
}

void LiveMonitor::SetMonitorAlarm(MonitorAlarm& alarm, bool active,
                                  std::optional<double> value) {
  PublishMonitorAlarm(alarm, alarm.Set(active, Stamp(), cfg_.mqtt.instance, value));
}

void LiveMonitor::PublishMonitorAlarm(const MonitorAlarm& alarm,
                                      std::optional<Publication> change) {
  if (!change) return;
  log::Write(alarm.active() ? log::Level::kError : log::Level::kInfo, "monitor alarm",
             {{"alarm", alarm.name()}, {"state", alarm.active() ? "active" : "cleared"}});
  out_.Publish(*change);
}

void LiveMonitor::NoteRecorderDropped(std::uint64_t dropped) {
  PublishMonitorAlarm(recorder_dropping_.alarm(),
                      recorder_dropping_.Note(dropped, Stamp(), cfg_.mqtt.instance));
}

void LiveMonitor::NoteIngest(std::uint64_t dropped, std::uint64_t throttled) {
  PublishMonitorAlarm(ingest_overload_.alarm(),
                      ingest_overload_.Note(dropped + throttled, Stamp(), cfg_.mqtt.instance));
}

}  // namespace needlewatch::daemon
