#include "engine_test_util.h"

#include <cstdio>
#include <cstdlib>

namespace needlewatch::engine::testing {
namespace {

// Shortest of %.15g..%.17g that reads back as the same double.
std::string Num(double d) {
  char buf[32];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  return buf;
}

std::string Fixed(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", d);
  return buf;
}

// Times in lines are seconds after kEpoch.
std::string At(TimeNs t) { return Fixed(NsToSeconds(t - kEpoch)); }

}  // namespace

std::string TelemetryPayload(std::uint32_t seq, std::string_view session, std::string_view zone,
                             double depth_mm, double speed_hz, std::int64_t ts_ms) {
  return "{\"v\":1,\"seq\":" + std::to_string(seq) + ",\"ts\":" + std::to_string(ts_ms) +
         ",\"session\":\"" +
         std::string(session) + "\",\"zone\":\"" + std::string(zone) +
         "\",\"depth_mm\":" + Num(depth_mm) + ",\"speed_hz\":" + Num(speed_hz) + "}";
}

std::string StartPayload(std::uint32_t seq, std::string_view session, std::string_view zone,
                         std::string_view op, std::int64_t ts_ms) {
  std::string s = "{\"v\":1,\"seq\":" + std::to_string(seq) + ",\"ts\":" +
                  std::to_string(ts_ms) + ",\"event\":\"session_start\",\"session\":\"" +
                  std::string(session) + "\",\"zone\":\"" + std::string(zone) + "\"";
  if (!op.empty()) s += ",\"operator\":\"" + std::string(op) + "\"";
  return s + "}";
}

std::string EndPayload(std::uint32_t seq, std::string_view session) {
  return "{\"v\":1,\"seq\":" + std::to_string(seq) +
         ",\"ts\":1795611133125,\"event\":\"session_end\",\"session\":\"" + std::string(session) +
         "\"}";
}

std::string StatusPayload(bool online, std::optional<std::uint32_t> seq) {
  std::string s = std::string("{\"v\":1,\"ts\":1795611133125,\"state\":\"") +
                  (online ? "online" : "offline") + "\"";
  if (seq) s += ",\"seq\":" + std::to_string(*seq);
  return s + "}";
}

std::string DeviceTopic(std::string_view clinic, std::string_view device,
                        std::string_view channel) {
  return "clinic/" + std::string(clinic) + "/device/" + std::string(device) + "/" +
         std::string(channel);
}

Limits TestLimits() {
  Limits l;
  ZoneLimits forehead;
  forehead.depth_max_mm = 0.5;
  ZoneLimits cheek;
  cheek.depth_max_mm = 1.5;
  cheek.depth_warn_mm = 1.0;
  l.zones.emplace_back("forehead", forehead);
  l.zones.emplace_back("cheek", cheek);
  return l;
}

void RecordingSink::OnAccepted(const AcceptedInfo& m) {
  accepted_ts_ms.push_back(m.ts_ms);
  accepted.push_back(m);
  accepted.back().clinic = {};
  accepted.back().device = {};
}

void RecordingSink::OnAlarm(const AlarmEvent& e) {
  alarms.push_back(e);
  std::string s = std::string(TransitionName(e.transition)) + " " + std::string(AlarmName(e.alarm)) +
                  " " + std::string(SeverityName(e.severity)) + " " +
                  std::string(AlarmStateName(e.state)) + " " + e.device + " " + e.session;
  if (e.value) s += " v=" + Num(*e.value);
  if (e.limit) s += " l=" + Num(*e.limit);
  s += " raised=" + At(e.raised_at);
  if (e.cleared_at) s += " cleared=" + At(*e.cleared_at);
  s += " at=" + At(e.at);
  if (e.late) s += " late";
  lines.push_back(s);
}

void RecordingSink::OnSession(const SessionEvent& e) {
  sessions.push_back(e);
  std::string s = std::string(e.started ? "session_start " : "session_end ") + e.device + " " +
                  e.session + " " + e.zone;
  if (e.implicit) s += " implicit";
  if (!e.started) {
    s += e.reason == SessionEndReason::kSwitched ? " switched" : " end_event";
    s += " ended=" + At(e.ended_at.value_or(0));
  }
  lines.push_back(s + " started=" + At(e.started_at));
}

void RecordingSink::OnReject(const RejectInfo& r) {
  const std::string s =
      std::string(protocol::RejectName(r.reason)) + "/" + std::string(protocol::ChannelName(r.channel));
  rejects.push_back(s);
  lines.push_back("reject " + s);
}

void RecordingSink::OnSeqGap(const SeqGapInfo& g) {
  SeqGapInfo copy = g;
  copy.clinic = {};
  copy.device = {};
  gaps.push_back(copy);
  lines.push_back("seq_gap " + std::string(g.device) + " expected=" + std::to_string(g.expected) +
                  " got=" + std::to_string(g.got));
}

void RecordingSink::Clear() {
  lines.clear();
  alarms.clear();
  sessions.clear();
  rejects.clear();
  gaps.clear();
  accepted_ts_ms.clear();
  accepted.clear();
}

std::vector<std::string> RecordingSink::AlarmLines() const {
  std::vector<std::string> out;
  for (const std::string& l : lines) {
    if (!l.starts_with("session_") && !l.starts_with("reject") && !l.starts_with("seq_gap")) {
      out.push_back(l);
    }
  }
  return out;
}

Harness::Harness(Limits limits, EngineOptions options)
    : engine(std::move(limits), std::move(options)) {}

std::uint32_t Harness::NextSeq(std::string_view clinic, std::string_view device) {
  return seq[std::string(clinic) + "/" + std::string(device)]++;
}

void Harness::Tel(TimeNs t, double depth, double speed, std::string_view session,
                  std::string_view zone, std::string_view device, std::string_view clinic) {
  engine.OnMessage(DeviceTopic(clinic, device, "telemetry"),
                   TelemetryPayload(NextSeq(clinic, device), session, zone, depth, speed), t, sink);
}

void Harness::Start(TimeNs t, std::string_view session, std::string_view zone,
                    std::string_view device, std::string_view clinic) {
  engine.OnMessage(DeviceTopic(clinic, device, "event"),
                   StartPayload(NextSeq(clinic, device), session, zone), t, sink);
}

void Harness::End(TimeNs t, std::string_view session, std::string_view device,
                  std::string_view clinic) {
  engine.OnMessage(DeviceTopic(clinic, device, "event"),
                   EndPayload(NextSeq(clinic, device), session), t, sink);
}

void Harness::Online(TimeNs t, std::string_view device, std::string_view clinic) {
  seq[std::string(clinic) + "/" + std::string(device)] = 0;  // the device restarts its counter
  engine.OnMessage(DeviceTopic(clinic, device, "status"), StatusPayload(true), t, sink);
}

void Harness::Offline(TimeNs t, std::string_view device, std::string_view clinic) {
  engine.OnMessage(DeviceTopic(clinic, device, "status"), StatusPayload(false), t, sink);
}

void Harness::Raw(TimeNs t, std::string_view topic, std::string_view payload) {
  engine.OnMessage(topic, payload, t, sink);
}

std::size_t Harness::AlarmCount() const {
  std::size_t n = 0;
  engine.ForEachAlarm([&](const AlarmView&) { ++n; });
  return n;
}

std::optional<AlarmState> Harness::StateOf(AlarmKind kind, std::string_view device) const {
  std::optional<AlarmState> state;
  engine.ForEachAlarm([&](const AlarmView& v) {
    if (v.alarm == kind && v.device == device) state = v.state;
  });
  return state;
}

}  // namespace needlewatch::engine::testing
