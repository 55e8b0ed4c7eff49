#include "live_monitor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <stdexcept>
#include <utility>

#include "audit_log.h"
#include "log.h"
#include "needlewatch/control/apply.h"
#include "needlewatch/control/records.h"
#include "needlewatch/protocol/encode.h"
#include "needlewatch/protocol/reject.h"
#include "needlewatch/protocol/topic.h"
#include "needlewatch/state/journal.h"

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
      floor_({.first_event_id = static_cast<std::uint64_t>(clock.Now() / 1000)}),
      limits_yaml_(cfg_.text),
      limits_source_(config_path_),
      sync_topic_("needlewatch/" + cfg_.mqtt.instance + "/sync") {}

TimeNs LiveMonitor::Stamp() {
  last_stamp_ = std::max(last_stamp_, clock_.Now());
  return last_stamp_;
}

void LiveMonitor::Start() {
  // Applied like any limits record (the engine has them already unless restored from a
  // snapshot saved with others), so a replay of the recording, and a restore, agree.
  limits_yaml_ = cfg_.text;
  limits_source_ = config_path_;
  ApplyOwn(control::LimitsMessage({"start", config_path_, cfg_.text}, Stamp()));
}

control::Applied LiveMonitor::ApplyOwn(record::RawMessage&& record) {
  const control::Applied applied =
      control::ApplyRecord({record.receive_ns, record.topic, record.payload}, engine_, *this);
  Journal(record.receive_ns, record.topic, record.payload);
  out_.Record(std::move(record));
  return applied;
}

void LiveMonitor::Journal(TimeNs at, std::string_view topic, std::string_view payload) {
  if (journal_on_) state::AppendFrame(journal_batch_, at, topic, payload);
}

LiveMonitor::RestoreOutcome LiveMonitor::RestoreState(state::Loaded loaded) {
  RestoreOutcome out;
  journal_on_ = true;
  out.lost = loaded.lost;
  if (!loaded.note.empty()) log::Info("state", {{"note", loaded.note}});
  if (loaded.snapshot) {
    state::Snapshot& s = *loaded.snapshot;
    replaying_ = true;
    try {
      if (s.limits_yaml != cfg_.text) {
        // Restore needs the limits the state was saved with; Start() then applies today's.
        config::LoadResult saved = config::LoadConfigString(
            s.limits_yaml, s.limits_source.empty() ? "saved limits" : s.limits_source);
        if (!saved.ok()) {
          throw std::invalid_argument(
              "its limits do not load: " +
              (saved.errors.empty() ? std::string("invalid") : saved.errors.front()));
        }
        engine_.SetLimits(std::move(saved.config->limits), 0, *this);
      }
      engine_.Restore(std::move(s.engine));
      out.restored = true;
    } catch (const std::exception& e) {
      out.lost = std::string("snapshot not restored: ") + e.what();
      engine_.SetLimits(cfg_.limits, 0, *this);  // the engine is still empty
    }
    if (out.restored) {
      held_topics_.clear();
      for (auto& [topic, payload] : s.alarm_topics) held_topics_[topic] = std::move(payload);
      state_lost_since_ = s.state_lost_since;
      limits_yaml_ = std::move(s.limits_yaml);
      limits_source_ = std::move(s.limits_source);
      last_stamp_ = std::max(last_stamp_, engine_.now());
      for (const state::JournalRecord& r : loaded.journal) ReplayRecord(r);
      out.journal_records = loaded.journal.size();
      last_stamp_ = std::max(last_stamp_, engine_.now());
    }
    replaying_ = false;
  }
  if (!out.lost.empty()) {
    log::Error("durable state lost: starting without it",
               {{"reason", out.lost}, {"restored", out.restored}});
    SetStateLost(Stamp());
  }
  if (out.restored) {
    std::size_t alarms = 0;
    engine_.ForEachAlarm([&](const engine::AlarmView&) { ++alarms; });
    log::Info("state restored",
              {{"devices", static_cast<unsigned long long>(engine_.device_count())},
               {"alarms", static_cast<unsigned long long>(alarms)},
               {"journal_records", static_cast<unsigned long long>(out.journal_records)},
               {"snapshot_bytes", static_cast<unsigned long long>(loaded.snapshot_bytes)},
               {"journal_bytes", static_cast<unsigned long long>(loaded.journal_bytes)}});
    BeginCatchUp("restore");
  }
  return out;
}

void LiveMonitor::ReplayRecord(const state::JournalRecord& r) {
  if (r.topic == control::kAckTopic) {
    std::string error;
    if (auto ack = control::DecodeAck(r.payload, &error)) acknowledging_user_ = ack->user;
  }
  const control::Applied applied = control::ApplyRecord({r.at, r.topic, r.payload}, engine_, *this);
  acknowledging_user_.clear();
  if (applied.kind == control::RecordKind::kLimits && applied.limits_result == "applied") {
    limits_yaml_ = applied.limits->yaml;
    limits_source_ = applied.limits->source;
  }
}

state::Snapshot LiveMonitor::SaveState() {
  state::Snapshot s;
  s.saved_at = Stamp();
  s.limits_source = limits_source_;
  s.limits_yaml = limits_yaml_;
  s.engine = engine_.Save();
  s.alarm_topics.assign(held_topics_.begin(), held_topics_.end());
  std::sort(s.alarm_topics.begin(), s.alarm_topics.end());
  s.state_lost_since = state_lost_since_;
  journal_batch_.clear();
  return s;
}

void LiveMonitor::BeginCatchUp(std::string_view reason) {
  ApplyOwn(control::CatchUpMessage({true, std::string(reason)}, Stamp()));
  sync_nonce_.clear();
  catch_up_deadline_ = 0;
  log::Info("catch-up begins", {{"reason", reason},
                                {"devices", static_cast<unsigned long long>(
                                                engine_.device_count())}});
}

void LiveMonitor::EndCatchUp(std::string_view reason) {
  if (!engine_.catching_up()) return;
  sync_nonce_.clear();
  catch_up_deadline_ = 0;
  ApplyOwn(control::CatchUpMessage({false, std::string(reason)}, Stamp()));
  Flush();
  log::Info("catch-up ended", {{"reason", reason},
                               {"late_messages", engine_.counters().late_messages}});
}

Publication LiveMonitor::SyncPublication() {
  const TimeNs now = Stamp();
  sync_nonce_ = std::to_string(now);
  catch_up_deadline_ = now + kCatchUpTimeout;
  Publication p;
  p.topic = sync_topic_;
  p.payload = sync_nonce_;
  p.qos = 1;
  p.retain = false;
  return p;
}

void LiveMonitor::SetStateLost(std::optional<TimeNs> since) {
  if (since == state_lost_since_) return;
  const bool was = state_lost_since_.has_value();
  state_lost_since_ = since;
  if (since || was) PublishStateLost();
}

void LiveMonitor::PublishStateLost() {
  const TimeNs now = Stamp();
  const bool active = state_lost_since_.has_value();
  log::Write(active ? log::Level::kError : log::Level::kInfo, "monitor alarm",
             {{"alarm", "state_lost"}, {"state", active ? "active" : "cleared"}});
  out_.Publish(MonitorAlarmPublication(cfg_.mqtt.instance, "state_lost", engine::Severity::kHigh,
                                       active, state_lost_since_.value_or(now), now,
                                       std::nullopt, std::nullopt));
}

void LiveMonitor::HandleMessage(std::string_view topic, std::string_view payload, int qos,
                                bool retain) {
  if (protocol::ParseAlarmTopic(topic, cfg_.mqtt.topic_root)) {
    CheckAlarmTopic(topic, payload);
    return;
  }
  if (topic == sync_topic_) {
    // Our own sync message back: what the broker held for us before it has been delivered.
    if (!sync_nonce_.empty() && payload == sync_nonce_) EndCatchUp("synced");
    return;
  }
  const TimeNs now = Stamp();
  if (!writer_) NoteCommand(topic, now);
  const auto t0 = std::chrono::steady_clock::now();
  last_reject_ = protocol::Reject::kNone;
  control::ApplyRecord({now, topic, payload}, engine_, *this);
  const auto t1 = std::chrono::steady_clock::now();
  metrics_.ObserveProcessing(std::chrono::duration<double>(t1 - t0).count());
  Journal(now, topic, payload);
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
  if (outcome.result != engine::AckResult::kNotFound) {
    Journal(record.receive_ns, record.topic, record.payload);
  }
  Flush();
  if (outcome.result == engine::AckResult::kNotFound) return outcome;
  const std::string_view name = control::AckResultName(outcome.result);
  Audit(FormatAckAudit(outcome.at, req.clinic, req.device, alarm, name, user, remote));
  log::Info("alarm acknowledged", {{"clinic", req.clinic}, {"device", req.device},
                                   {"alarm", alarm}, {"result", name},
                                   {"user", user}, {"remote", remote}});
  out_.Record(std::move(record));
  SyncAudit();  // the acknowledgement is on disk before it is answered
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
  limits_yaml_ = loaded.config->text;
  limits_source_ = config_path_;
  Journal(record.receive_ns, record.topic, record.payload);
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
  const TimeNs now = Stamp();
  engine_.AdvanceTo(now, *this);
  if (catch_up_deadline_ != 0 && now >= catch_up_deadline_) EndCatchUp("timeout");
  if (state_lost_since_ && now - *state_lost_since_ >= kStateLostHold) SetStateLost(std::nullopt);
  Flush();
}

void LiveMonitor::OnAccepted(const engine::AcceptedInfo& m) {
  floor_.OnAccepted(m);
  if (m.ts_ms > 0 && !replaying_) {
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
    if (!replaying_) to_publish_[std::move(p.topic)] = std::move(p.payload);
  }
  if (replaying_) return;  // published, audited and logged in the life that journaled it
  if (cfg_.outputs.halt.enabled) {
    if (auto halt = HaltPublication(root, e, cfg_.outputs.halt.severities,
                                    cfg_.outputs.halt.expiry)) {
      // A late raise (caught up after the fact) makes a halt as old as what it is about: one
      // older than its expiry is dropped, never sent late.
      SendHalt({std::move(*halt), e.clinic, e.device, e.session,
                std::string(engine::AlarmName(e.alarm)),
                std::string(engine::SeverityName(e.severity)), e.late ? e.at : Stamp(),
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
  const TimeNs now = Stamp();
  if (now - h.made_at >= h.expiry) {
    Audit(FormatHaltAudit(now, h.clinic, h.device, h.session, h.alarm, h.severity, "expired",
                          h.publication.expiry_seconds));
    log::Error("halt dropped: older than its expiry",
               {{"clinic", h.clinic}, {"device", h.device}, {"alarm", h.alarm},
                {"expiry_seconds", h.publication.expiry_seconds}});
    ++halts_expired_;
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
  // The journal first: nothing goes out that a restart would not know about.
  if (!journal_batch_.empty()) {
    if (!out_.Journal(journal_batch_)) {
      ++journal_write_errors_;
      const TimeNs now = Stamp();
      if (last_journal_error_log_ == 0 || now - last_journal_error_log_ >= kRejectWarnInterval) {
        last_journal_error_log_ = now;
        log::Error("state journal write failed: a restart now would lose recent changes",
                   {{"errors", journal_write_errors_}});
      }
    }
    journal_batch_.clear();
  }
  // The batch's audit lines are durable before its alarm topics go out (group commit).
  SyncAudit();
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
  if (!connected) {
    // What the broker keeps for us meanwhile arrives late: the devices' deadlines wait for it
    // (no false stale or overtime for telemetry that keeps flowing into the broker).
    if (engine_.catching_up()) {
      sync_nonce_.clear();  // a sync in flight may be lost with the connection
      catch_up_deadline_ = 0;
    } else {
      BeginCatchUp("disconnect");
    }
    Flush();
    return;
  }
  for (const auto& [topic, payload] : held_topics_) to_publish_[topic] = payload;
  Flush();
  if (state_lost_since_) PublishStateLost();  // retained, but the broker may have lost it
  const MonitorAlarm* monitor_alarms[] = {&audit_failing_, &recorder_dropping_.alarm(),
                                          &ingest_overload_.alarm()};
  for (const MonitorAlarm* a : monitor_alarms) {
    if (auto p = a->Active(Stamp(), cfg_.mqtt.instance)) out_.Publish(*p);
  }
  std::deque<HeldHalt> held;  // sent now, or dropped as expired (SendHalt)
  held.swap(held_halts_);
  for (HeldHalt& h : held) SendHalt(std::move(h));
}

void LiveMonitor::OnSession(const engine::SessionEvent& e) {
  floor_.OnSession(e);
  if (replaying_) return;
  if (!e.started && e.ended_at) {
    metrics_.ObserveSessionDuration(e.clinic, engine::NsToSeconds(*e.ended_at - e.started_at));
  }
  log::Debug(e.started ? "session started" : "session ended",
             {{"clinic", e.clinic}, {"device", e.device}, {"session", e.session},
              {"zone", e.zone}, {"samples", static_cast<unsigned long long>(e.samples)}});
}

void LiveMonitor::OnReject(const engine::RejectInfo& r) {
  last_reject_ = r.reason;
  if (replaying_) return;
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
  if (replaying_) return;
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

void LiveMonitor::SyncAudit() {
  const bool ok = out_.SyncAudit();
  if (!ok) ++audit_write_errors_;
  if (!ok && !audit_failing_.active()) {
    log::Error("audit log sync failed", {{"path", cfg_.outputs.audit_log},
                                         {"errors", audit_write_errors_}});
  }
  if (!ok) SetMonitorAlarm(audit_failing_, true, static_cast<double>(audit_write_errors_));
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
