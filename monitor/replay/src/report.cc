// ReportBuilder: turns the engine's session and alarm callbacks into report rows, and keeps
// each session's decimated chart series.
#include <algorithm>
#include <cmath>
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
  row.chart.buckets.shrink_to_fit();  // complete: give back the vector's growth slack
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
  static const engine::Limits kDefaults;
  const engine::Limits& limits = engine_ != nullptr ? engine_->limits() : kDefaults;
  SessionRow& row = report_.sessions[it->second];
  if (row.chart.samples == 0) row.chart.origin = row.started_at;
  row.chart.Add(m.at, m.depth_mm, m.speed_hz, m.zone, limits.ForZone(m.zone));
}

namespace {

// Folds `b` (the later bucket) into `a`.
void Merge(ChartExtent& a, const ChartExtent& b) {
  const bool min_from_b = b.min < a.min;
  const bool max_from_b = b.max > a.max;
  if (min_from_b == max_from_b) {
    if (min_from_b) a.min_first = b.min_first;  // both from b; else both stay a's
  } else {
    a.min_first = max_from_b;  // the one from a (the earlier bucket) comes first
  }
  a.last = b.last;
  if (min_from_b) a.min = b.min;
  if (max_from_b) a.max = b.max;
}

// The lower of two warn limits; NaN (no warn rule) gives way to a set one.
float LowerWarn(float a, float b) {
  if (std::isnan(a)) return b;
  if (std::isnan(b)) return a;
  return std::min(a, b);
}

}  // namespace

void FoldBucket(ChartBucket& a, const ChartBucket& b) {
  Merge(a.depth, b.depth);
  Merge(a.speed, b.speed);
  a.depth_max = std::min(a.depth_max, b.depth_max);
  a.depth_warn = LowerWarn(a.depth_warn, b.depth_warn);
  a.speed_min = std::max(a.speed_min, b.speed_min);
  a.speed_max = std::min(a.speed_max, b.speed_max);
  a.over_depth |= b.over_depth;
  a.over_warn |= b.over_warn;
  a.speed_low |= b.speed_low;
  a.speed_high |= b.speed_high;
  a.zone = b.zone;
}

void ChartSeries::Add(engine::TimeNs at, double depth_mm, double speed_hz, std::string_view zone,
                      const engine::ZoneLimits& limits) {
  ++samples;
  std::uint16_t zone_id = 0;
  if (auto z = std::find(zones.begin(), zones.end(), zone); z != zones.end()) {
    zone_id = static_cast<std::uint16_t>(z - zones.begin());
  } else if (zones.size() < 65535) {
    zone_id = static_cast<std::uint16_t>(zones.size());
    zones.emplace_back(zone);
  } else {
    zone_id = static_cast<std::uint16_t>(zones.size() - 1);
  }
  const std::int64_t index = std::max<engine::TimeNs>(0, at - origin) / width;
  last_at = at;
  ChartBucket b;
  b.index = index;
  const auto d = static_cast<float>(depth_mm);
  const auto v = static_cast<float>(speed_hz);
  b.depth = {d, d, d, d, true};
  b.speed = {v, v, v, v, true};
  b.depth_max = static_cast<float>(limits.depth_max_mm);
  b.depth_warn = limits.depth_warn_mm ? static_cast<float>(*limits.depth_warn_mm) : std::nanf("");
  b.speed_min = static_cast<float>(limits.speed_min_hz);
  b.speed_max = static_cast<float>(limits.speed_max_hz);
  // Decided on the exact values. Limits are inclusive: a value equal to a limit is within it.
  b.over_depth = depth_mm > limits.depth_max_mm;
  b.over_warn = limits.depth_warn_mm && depth_mm > *limits.depth_warn_mm;
  b.speed_low = speed_hz < limits.speed_min_hz;
  b.speed_high = speed_hz > limits.speed_max_hz;
  b.zone = zone_id;
  if (buckets.empty() || buckets.back().index != index) {
    buckets.push_back(b);
  } else {
    FoldBucket(buckets.back(), b);
  }
  if (buckets.size() <= 2 * kChartBuckets) return;
  // Too many: double the width, merging each pair of neighbours that now share an index.
  width *= 2;
  std::size_t out = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    ChartBucket next = buckets[i];
    next.index /= 2;
    if (out > 0 && buckets[out - 1].index == next.index) {
      FoldBucket(buckets[out - 1], next);
    } else {
      buckets[out++] = next;
    }
  }
  buckets.resize(out);
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
