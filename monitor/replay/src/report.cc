// ReportBuilder: turns the engine's session and alarm callbacks into report rows.
#include <utility>

#include "needlewatch/replay/report.h"

namespace needlewatch::replay {

std::string ReportBuilder::Key(std::string_view clinic, std::string_view device) {
  std::string k;
  k.reserve(clinic.size() + device.size() + 1);
  k.append(clinic).push_back('\0');
  k.append(device);
  return k;
}

namespace {
void Summarise(const engine::SessionEvent& e, SessionRow& row) {
  row.zone = e.zone;
  row.op = e.op;
  row.implicit = e.implicit;
  row.started_at = e.started_at;
  row.ended_at = e.ended_at;
  row.samples = e.samples;
  row.max_depth_mm = e.max_depth_mm;
  row.max_speed_hz = e.max_speed_hz;
  row.zones = e.zones;
  row.alarms = e.alarms_raised;
  if (e.zones.empty() && !e.zone.empty()) row.zones = {e.zone};
}
}  // namespace

void ReportBuilder::OnSession(const engine::SessionEvent& e) {
  const std::string key = Key(e.clinic, e.device);
  if (e.started) {
    SessionRow row;
    row.clinic = e.clinic;
    row.device = e.device;
    row.session = e.session;
    Summarise(e, row);
    open_session_[key] = report_.sessions.size();
    report_.sessions.push_back(std::move(row));
    return;
  }
  auto it = open_session_.find(key);
  if (it == open_session_.end() || report_.sessions[it->second].session != e.session) {
    return;  // an end we never saw start (cannot happen with one engine from the beginning)
  }
  SessionRow& row = report_.sessions[it->second];
  Summarise(e, row);
  row.end_reason = e.reason == engine::SessionEndReason::kSwitched ? "switched" : "session_end";
  open_session_.erase(it);
}

void ReportBuilder::OnAlarm(const engine::AlarmEvent& e) {
  std::string key = Key(e.clinic, e.device);
  key.push_back('\0');
  key.push_back(static_cast<char>(e.alarm));
  if (e.transition == engine::Transition::kRaised) {
    AlarmRow row;
    row.clinic = e.clinic;
    row.device = e.device;
    row.session = e.session;
    row.zone = e.zone;
    row.alarm = e.alarm;
    row.severity = e.severity;
    row.state = e.state;
    row.raised_at = e.raised_at;
    row.value = e.value;
    row.limit = e.limit;
    live_alarm_[key] = report_.alarms.size();
    report_.alarms.push_back(std::move(row));
    return;
  }
  auto it = live_alarm_.find(key);
  if (it == live_alarm_.end()) return;
  AlarmRow& row = report_.alarms[it->second];
  row.state = e.state;
  if (e.cleared_at) row.cleared_at = e.cleared_at;
  switch (e.transition) {
    case engine::Transition::kCleared:
      live_alarm_.erase(it);
      break;
    case engine::Transition::kAcknowledged:
      row.acknowledged_at = e.at;
      break;
    case engine::Transition::kAckCleared:
      row.acknowledged_at = e.at;
      live_alarm_.erase(it);
      break;
    case engine::Transition::kLatched:
    case engine::Transition::kRaised:
      break;
  }
}

void ReportBuilder::OnAccepted(const engine::AcceptedInfo& m) {
  if (!keep_series_ || m.channel != protocol::Channel::kTelemetry) return;
  auto it = open_session_.find(Key(m.clinic, m.device));
  if (it == open_session_.end()) return;
  report_.sessions[it->second].series.push_back({m.at, {m.depth_mm, m.speed_hz}});
}

void ReportBuilder::Finish(const engine::Engine& engine) {
  engine.ForEachOpenSession([this](const engine::SessionEvent& e) {
    auto it = open_session_.find(Key(e.clinic, e.device));
    if (it == open_session_.end()) return;
    SessionRow& row = report_.sessions[it->second];
    if (row.session != e.session) return;
    Summarise(e, row);
    row.ended_at.reset();
  });
  report_.counters = engine.counters();
}

}  // namespace needlewatch::replay
