#include "fleet.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>

#include "needlewatch/engine/types.h"
#include "needlewatch/protocol/encode.h"
#include "needlewatch/protocol/message.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::sim {
namespace {

namespace protocol = needlewatch::protocol;

// Zone names used when the limits list no zones (every zone then uses `default`).
constexpr const char* kFallbackZones[] = {"forehead", "cheek", "nose", "perioral", "jawline"};

// Real-time margin added to every time-based fault beyond the daemon's threshold: covers the
// daemon's tick (<= 100 ms), broker latency and scheduling jitter on a busy machine.
constexpr TimeNs kFaultMargin = 1500 * kMs;
// A normal session ends within this fraction of its zone's first overtime threshold (real
// time), so no time scale can turn a healthy session into an overtime alarm.
constexpr double kSessionCapFraction = 0.8;
constexpr int kSpinUpSamples = 5;
constexpr TimeNs kReconnectSlack = 3 * kSec;
constexpr double kSpinUpStartHz = 50;

TimeNs Seconds(double s) { return static_cast<TimeNs>(s * 1e9); }

double Uniform(std::mt19937_64& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

double Round(double v, double step) { return std::round(v / step) * step; }

std::string Hex(std::mt19937_64& rng, int digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  std::uint64_t bits = rng();
  for (int i = 0; i < digits; ++i, bits >>= 4) s += kDigits[bits & 15];
  return s;
}

std::string ZeroPadded(char prefix, int n, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%c%0*d", prefix, width, n);
  return buf;
}

// The upper end of the safe depth band: the warn limit where one is set, else the max.
double SafeDepth(const engine::ZoneLimits& z) {
  return z.depth_warn_mm ? std::min(*z.depth_warn_mm, z.depth_max_mm) : z.depth_max_mm;
}

// The real time after which a session in this zone gets its first overtime alarm.
TimeNs FirstOvertime(const engine::ZoneLimits& z) {
  return z.session_warn_after ? std::min(*z.session_warn_after, z.session_max_duration)
                              : z.session_max_duration;
}

std::string AlarmNameOf(engine::AlarmKind k) { return std::string(engine::AlarmName(k)); }

// A telemetry payload written by hand, for the malformed variants the encoder cannot produce.
std::string TelemetryJson(int version, bool with_ts, std::uint32_t seq, std::int64_t ts_ms,
                          const std::string& session, const std::string& zone, double depth,
                          double speed) {
  std::string out = "{\"v\":" + std::to_string(version) + ",\"seq\":" + std::to_string(seq);
  if (with_ts) out += ",\"ts\":" + std::to_string(ts_ms);
  out += ",\"session\":";
  protocol::AppendJsonString(out, session);
  out += ",\"zone\":";
  protocol::AppendJsonString(out, zone);
  out += ",\"depth_mm\":";
  protocol::AppendJsonNumber(out, depth);
  out += ",\"speed_hz\":";
  protocol::AppendJsonNumber(out, speed);
  out += '}';
  return out;
}

}  // namespace

Fleet::Fleet(FleetOptions options, const engine::Limits& limits) : options_(std::move(options)) {
  assert(options_.clinics > 0 && options_.devices > 0 && options_.sample_rate_hz > 0 &&
         options_.time_scale > 0);
  for (const auto& [name, z] : limits.zones) zones_.push_back({name, z});
  if (zones_.empty()) {
    for (const char* name : kFallbackZones) zones_.push_back({name, limits.defaults});
  }
  const int total = options_.clinics * options_.devices;
  devices_.resize(static_cast<std::size_t>(total));
  // Connections are spread over max(1 s, total / 2000 s) so a large fleet does not storm the
  // broker with CONNECTs.
  const TimeNs spread = std::max<TimeNs>(kSec, static_cast<TimeNs>(total) * kSec / 2000);
  for (int c = 0; c < options_.clinics; ++c) {
    for (int k = 0; k < options_.devices; ++k) {
      const int d = c * options_.devices + k;
      Device& dev = devices_[static_cast<std::size_t>(d)];
      dev.clinic = ZeroPadded('c', c + 1, 3);
      dev.id = ZeroPadded('d', k + 1, 4);
      dev.telemetry_topic =
          protocol::DeviceTopic(options_.root, dev.clinic, dev.id, protocol::Channel::kTelemetry);
      dev.event_topic =
          protocol::DeviceTopic(options_.root, dev.clinic, dev.id, protocol::Channel::kEvent);
      dev.status_topic =
          protocol::DeviceTopic(options_.root, dev.clinic, dev.id, protocol::Channel::kStatus);
      // One generator per device, seeded from (seed, device): a device's story does not
      // depend on how the others interleave with it.
      std::seed_seq seq{static_cast<std::uint32_t>(options_.seed),
                        static_cast<std::uint32_t>(options_.seed >> 32),
                        static_cast<std::uint32_t>(c), static_cast<std::uint32_t>(k)};
      dev.rng.seed(seq);
      Schedule(d, static_cast<TimeNs>(d) * spread / total);
    }
  }
}

void Fleet::Schedule(int device, TimeNs at) { due_.emplace(at, device); }

TimeNs Fleet::SampleInterval() const {
  return static_cast<TimeNs>(1e9 / options_.sample_rate_hz);
}

TimeNs Fleet::LongestStale() const {
  TimeNs longest = 0;
  for (const Zone& z : zones_) longest = std::max(longest, z.limits.stale_after);
  return longest;
}

bool Fleet::FaultFits(TimeNs fault_end) const {
  return options_.run_duration <= 0 || fault_end + kSec <= options_.run_duration;
}

TimeNs Fleet::Step(TimeNs now, std::int64_t wall_ms, std::size_t max_actions,
                   std::vector<Action>& out) {
  const std::size_t start = out.size();
  while (!due_.empty() && due_.top().first <= now && out.size() - start < max_actions) {
    const int d = due_.top().second;
    due_.pop();
    StepDevice(d, now, wall_ms, out);
  }
  return due_.empty() ? now + kSec : due_.top().first;
}

void Fleet::OnConnected(int device, TimeNs now) {
  Device& dev = devices_[static_cast<std::size_t>(device)];
  if (dev.state != State::kConnecting) return;
  dev.state = State::kOnline;
  dev.connected = true;
  Schedule(device, now);
}

void Fleet::Publish(int d, const std::string& topic, std::string payload, int qos, bool retain,
                    std::vector<Action>& out) {
  out.push_back({Action::Kind::kPublish, d, topic, std::move(payload), qos, retain});
}

void Fleet::StepDevice(int d, TimeNs now, std::int64_t wall_ms, std::vector<Action>& out) {
  Device& dev = devices_[static_cast<std::size_t>(d)];
  switch (dev.state) {
    case State::kDisconnected:
    case State::kDown: {
      if (dev.state == State::kDown && !options_.per_device_connections) {
        // Shared connection: the device "comes back" by saying so.
        dev.state = State::kOnline;
        StepDevice(d, now, wall_ms, out);
        return;
      }
      protocol::Status will;
      will.online = false;
      will.ts_ms = wall_ms;
      out.push_back({Action::Kind::kConnect, d, dev.status_topic, protocol::EncodeStatus(will),
                     1, true});
      dev.state = State::kConnecting;
      ++stats_.connects;
      return;  // OnConnected schedules the next step
    }
    case State::kConnecting:
      return;
    case State::kOnline: {
      protocol::Status online;
      online.online = true;
      online.ts_ms = wall_ms;
      online.model = "SimPen-2";
      online.fw = "1.4.0";
      Publish(d, dev.status_topic, protocol::EncodeStatus(online), 1, true, out);
      ++stats_.status;
      dev.seq = 0;  // seq restarts after `online`
      if (dev.session_open) {
        dev.state = State::kTreating;
        Schedule(d, now);
      } else {
        dev.state = State::kIdle;
        const double idle = Uniform(dev.rng, 0, 60) / options_.time_scale;
        Schedule(d, now + std::max<TimeNs>(100 * kMs, Seconds(idle)));
      }
      return;
    }
    case State::kIdle:
      StartSession(d, now, wall_ms, out);
      return;
    case State::kTreating:
      Sample(d, now, wall_ms, out);
      return;
  }
}

void Fleet::StartSession(int d, TimeNs now, std::int64_t wall_ms, std::vector<Action>& out) {
  Device& dev = devices_[static_cast<std::size_t>(d)];
  ++dev.sessions;
  ++stats_.sessions_started;
  dev.session = "S-" + Hex(dev.rng, 12);
  dev.zones.clear();
  const int zone_count = 1 + static_cast<int>(dev.rng() % 4);
  for (int i = 0; i < zone_count; ++i) {
    dev.zones.push_back(static_cast<int>(dev.rng() % zones_.size()));
  }
  dev.zone_pos = 0;
  dev.samples = 0;
  dev.session_open = true;
  dev.state = State::kTreating;
  dev.session_start = now;
  // 10 to 30 minutes of needling on the session clock, capped in real time below the first
  // overtime threshold of the zone the session starts in (the daemon's clock is real).
  const TimeNs cap = static_cast<TimeNs>(kSessionCapFraction *
                                         static_cast<double>(FirstOvertime(CurrentZone(dev).limits)));
  const TimeNs length =
      std::min(cap, Seconds(Uniform(dev.rng, 600, 1800) / options_.time_scale));
  dev.session_end = now + std::max<TimeNs>(length, 2 * SampleInterval());
  dev.zone_dwell = (dev.session_end - now) / zone_count;
  dev.next_zone_at = now + dev.zone_dwell;
  const double safe = SafeDepth(CurrentZone(dev).limits);
  dev.depth_base = safe * Uniform(dev.rng, 0.5, 0.8);
  dev.speed_target = Uniform(dev.rng, 100, 130);
  PlanFault(dev, now);

  protocol::Event start;
  start.kind = protocol::EventKind::kSessionStart;
  start.seq = dev.seq++;
  start.ts_ms = wall_ms;
  start.session = dev.session;
  start.zone = CurrentZone(dev).name;
  const std::string op = "OP-" + Hex(dev.rng, 4);
  start.op = op;
  Publish(d, dev.event_topic, protocol::EncodeEvent(start), 1, false, out);
  ++stats_.events;
  Schedule(d, now + SampleInterval());
}

void Fleet::PlanFault(Device& dev, TimeNs now) {
  dev.has_fault = false;
  dev.fault_started = false;
  const double u = Uniform(dev.rng, 0, 1);
  double acc = 0;
  std::size_t pick = kPerSessionFaultCount;
  for (std::size_t i = 0; i < kPerSessionFaultCount; ++i) {
    acc += options_.faults.rate[i];
    if (u < acc) {
      pick = i;
      break;
    }
  }
  // Draw the fault's parameters even when it is then dropped, so the random stream (and so
  // every later session) is the same whether or not a fault fits.
  const double where = Uniform(dev.rng, 0.2, 0.5);
  const double jitter = Uniform(dev.rng, 0, 1);
  if (pick == kPerSessionFaultCount) return;
  const FaultKind kind = static_cast<FaultKind>(pick);
  const engine::ZoneLimits& start_zone = CurrentZone(dev).limits;
  const TimeNs cap = static_cast<TimeNs>(kSessionCapFraction *
                                         static_cast<double>(FirstOvertime(start_zone)));

  if (kind == FaultKind::kOvertime) {
    const TimeNs end = now + start_zone.session_max_duration + kFaultMargin;
    if (!FaultFits(end)) return;
    dev.has_fault = true;
    dev.fault = kind;
    dev.fault_start = now;
    dev.fault_end = end;
    dev.session_end = end;
    dev.zone_dwell = (end - now) / static_cast<TimeNs>(dev.zones.size());
    dev.next_zone_at = now + dev.zone_dwell;
    return;
  }
  const TimeNs length = dev.session_end - now;
  const TimeNs start = now + static_cast<TimeNs>(where * static_cast<double>(length));
  TimeNs hold = 0;
  switch (kind) {
    case FaultKind::kOverDepth:
      hold = std::max<TimeNs>(300 * kMs, 3 * SampleInterval());
      break;
    case FaultKind::kSpeed: {
      TimeNs longest_for = 0;
      for (const Zone& z : zones_) longest_for = std::max(longest_for, z.limits.speed.for_ns);
      hold = longest_for + kFaultMargin;
      break;
    }
    case FaultKind::kDropout:
      hold = LongestStale() + kFaultMargin;
      break;
    case FaultKind::kOffline:
      hold = kFaultMargin + Seconds(jitter);  // down time; reconnecting adds to it
      break;
    default:
      hold = 0;  // seq_gap: instant
      break;
  }
  const TimeNs end = start + hold;
  // The session must outlast the fault by a second (so the alarm is raised and cleared by
  // the fault, not by the session's end) and still stay under the overtime cap. Reconnecting
  // after `offline` takes up to a few seconds more (Paho's connect latency).
  const TimeNs slack = kind == FaultKind::kOffline ? kReconnectSlack : kSec;
  if (end + slack > now + cap || !FaultFits(end + slack)) return;
  dev.session_end = std::max(dev.session_end, end + kSec);
  dev.has_fault = true;
  dev.fault = kind;
  dev.fault_start = start;
  dev.fault_end = end;
}

void Fleet::Report(Device& dev, FaultKind kind, std::int64_t wall_ms, std::string detail,
                   std::string expected_reject) {
  InjectedFault f;
  f.kind = kind;
  f.clinic = dev.clinic;
  f.device = dev.id;
  f.session = dev.session;
  f.zone = CurrentZone(dev).name;
  f.time = static_cast<double>(wall_ms) / 1e3;
  const engine::ZoneLimits& z = CurrentZone(dev).limits;
  const engine::ZoneLimits& start_zone = zones_[dev.zones.front()].limits;
  switch (kind) {
    case FaultKind::kOverDepth:
      f.expected_alarms.push_back(AlarmNameOf(engine::AlarmKind::kDepthExceeded));
      if (z.depth_warn_mm) {
        f.expected_alarms.push_back(AlarmNameOf(engine::AlarmKind::kDepthWarning));
      }
      break;
    case FaultKind::kSpeed:
      f.expected_alarms.push_back(AlarmNameOf(engine::AlarmKind::kSpeedOutOfRange));
      break;
    case FaultKind::kOvertime:
      if (start_zone.session_warn_after) {
        f.expected_alarms.push_back(AlarmNameOf(engine::AlarmKind::kSessionOvertimeWarning));
      }
      f.expected_alarms.push_back(AlarmNameOf(engine::AlarmKind::kSessionOvertime));
      break;
    case FaultKind::kDropout:
      f.expected_alarms.push_back(AlarmNameOf(engine::AlarmKind::kTelemetryStale));
      break;
    case FaultKind::kOffline:
      f.expected_alarms.push_back(AlarmNameOf(engine::AlarmKind::kDeviceOffline));
      f.possible_alarms.push_back(AlarmNameOf(engine::AlarmKind::kTelemetryStale));
      break;
    default:
      break;
  }
  f.expected_reject = std::move(expected_reject);
  f.detail = std::move(detail);
  faults_.push_back(std::move(f));
}

void Fleet::Sample(int d, TimeNs now, std::int64_t wall_ms, std::vector<Action>& out) {
  Device& dev = devices_[static_cast<std::size_t>(d)];
  if (now >= dev.session_end) {
    EndSession(d, wall_ms, out);
    dev.state = State::kIdle;
    const double idle = Uniform(dev.rng, 60, 240) / options_.time_scale;
    Schedule(d, now + std::max<TimeNs>(200 * kMs, Seconds(idle)));
    return;
  }
  const bool in_fault = dev.has_fault && dev.fault_started && now < dev.fault_end;
  // Zone changes wait while a fault holds, so the fault is judged against one zone's limits.
  if (!in_fault && now >= dev.next_zone_at && dev.zone_pos + 1 < dev.zones.size()) {
    ++dev.zone_pos;
    dev.next_zone_at = now + dev.zone_dwell;
    dev.depth_base = SafeDepth(CurrentZone(dev).limits) * Uniform(dev.rng, 0.5, 0.8);
  }
  const engine::ZoneLimits& z = CurrentZone(dev).limits;

  if (dev.has_fault && !dev.fault_started && now >= dev.fault_start) {
    dev.fault_started = true;
    // The planned length counts from the sample that actually starts the fault.
    dev.fault_end = now + (dev.fault_end - dev.fault_start);
    dev.fault_start = now;
    dev.session_end = std::max(dev.session_end, dev.fault_end + kSec);
    char detail[160];
    switch (dev.fault) {
      case FaultKind::kOverDepth:
        dev.fault_value = std::min(protocol::kMaxDepthMm,
                                   Round(z.depth_max_mm + Uniform(dev.rng, 0.1, 0.5), 0.01));
        std::snprintf(detail, sizeof detail, "depth_mm %.2f > max %.2f for %.1f s",
                      dev.fault_value, z.depth_max_mm,
                      static_cast<double>(dev.fault_end - now) / 1e9);
        Report(dev, dev.fault, wall_ms, detail);
        break;
      case FaultKind::kSpeed: {
        const bool low = z.speed_min_hz >= 20 && (dev.rng() & 1) != 0;
        dev.fault_value = low ? Round(z.speed_min_hz * 0.5, 0.1)
                              : std::min(protocol::kMaxSpeedHz,
                                         Round(z.speed_max_hz + Uniform(dev.rng, 20, 60), 0.1));
        std::snprintf(detail, sizeof detail, "speed_hz %.1f outside [%.1f, %.1f] for %.1f s",
                      dev.fault_value, z.speed_min_hz, z.speed_max_hz,
                      static_cast<double>(dev.fault_end - now) / 1e9);
        Report(dev, dev.fault, wall_ms, detail);
        break;
      }
      case FaultKind::kOvertime:
        break;  // reported at its start below
      case FaultKind::kDropout:
        std::snprintf(detail, sizeof detail, "no telemetry for %.1f s (stale_after %.1f s)",
                      static_cast<double>(dev.fault_end - now) / 1e9,
                      static_cast<double>(LongestStale()) / 1e9);
        Report(dev, dev.fault, wall_ms, detail);
        Schedule(d, dev.fault_end);
        return;
      case FaultKind::kOffline:
        std::snprintf(detail, sizeof detail, "%s for %.1f s, then reconnects",
                      options_.per_device_connections ? "connection dropped (Will)"
                                                      : "offline status",
                      static_cast<double>(dev.fault_end - now) / 1e9);
        Report(dev, dev.fault, wall_ms, detail);
        if (options_.per_device_connections) {
          out.push_back({Action::Kind::kDrop, d, {}, {}, 0, false});
          dev.connected = false;
        } else {
          protocol::Status off;
          off.online = false;
          off.ts_ms = wall_ms;
          Publish(d, dev.status_topic, protocol::EncodeStatus(off), 1, true, out);
          ++stats_.status;
        }
        dev.state = State::kDown;
        Schedule(d, dev.fault_end);
        return;
      case FaultKind::kSeqGap: {
        const std::uint32_t skip = 1 + static_cast<std::uint32_t>(dev.rng() % 5);
        std::snprintf(detail, sizeof detail, "seq skips %u", skip);
        dev.seq += skip;
        Report(dev, dev.fault, wall_ms, detail);
        break;
      }
      default:
        break;
    }
  }
  if (dev.has_fault && dev.fault == FaultKind::kOvertime && !dev.fault_started) {
    dev.fault_started = true;
  }

  // A healthy sample: depth inside the safe band with noise, speed near the target after a
  // spin-up ramp that starts at max(50 Hz, the zone's minimum).
  const double safe = SafeDepth(z);
  double depth = dev.depth_base + std::normal_distribution<double>(0, 0.03 * safe)(dev.rng);
  depth = Round(std::clamp(depth, 0.05 * safe, 0.95 * safe), 0.01);
  depth = std::min(depth, 0.95 * safe);
  const double lo = z.speed_min_hz + 0.05 * (z.speed_max_hz - z.speed_min_hz);
  const double hi = z.speed_max_hz - 0.05 * (z.speed_max_hz - z.speed_min_hz);
  double target = std::clamp(dev.speed_target, lo, hi);
  if (dev.samples < kSpinUpSamples) {
    const double from = std::clamp(std::max(kSpinUpStartHz, z.speed_min_hz), lo, hi);
    target = from + (target - from) * dev.samples / kSpinUpSamples;
  }
  double speed = target + std::normal_distribution<double>(0, 1.0)(dev.rng);
  speed = Round(std::clamp(speed, lo, hi), 0.1);
  const bool faulting = dev.has_fault && dev.fault_started && now < dev.fault_end;
  if (faulting && dev.fault == FaultKind::kOverDepth) depth = dev.fault_value;
  if (faulting && dev.fault == FaultKind::kSpeed) speed = dev.fault_value;
  ++dev.samples;

  protocol::Telemetry t;
  t.seq = dev.seq;
  t.ts_ms = wall_ms;
  t.session = dev.session;
  t.zone = CurrentZone(dev).name;
  t.depth_mm = depth;
  t.speed_hz = speed;

  // Per-message faults: extra messages that do not take a seq number, so they never look like
  // a sequence gap to the monitor.
  if (options_.faults[FaultKind::kMalformed] > 0 &&
      Uniform(dev.rng, 0, 1) < options_.faults[FaultKind::kMalformed]) {
    const std::string& zone = CurrentZone(dev).name;
    std::string payload, reject, detail;
    switch (dev.rng() % 4) {
      case 0:
        payload = TelemetryJson(1, true, dev.seq, wall_ms, dev.session, zone, depth, speed);
        payload.resize(payload.size() / 2);
        reject = "bad_json";
        detail = "truncated JSON";
        break;
      case 1:
        payload = TelemetryJson(2, true, dev.seq, wall_ms, dev.session, zone, depth, speed);
        reject = "bad_version";
        detail = "v: 2";
        break;
      case 2:
        payload = TelemetryJson(1, false, dev.seq, wall_ms, dev.session, zone, depth, speed);
        reject = "missing_field";
        detail = "no ts";
        break;
      default:
        payload = TelemetryJson(1, true, dev.seq, wall_ms, dev.session, zone, 12.5, speed);
        reject = "bad_field";
        detail = "depth_mm 12.5 (range 0 to 10)";
        break;
    }
    Report(dev, FaultKind::kMalformed, wall_ms, detail, reject);
    Publish(d, dev.telemetry_topic, std::move(payload), options_.telemetry_qos, false, out);
  }
  if (options_.faults[FaultKind::kSpoofedTopic] > 0 &&
      Uniform(dev.rng, 0, 1) < options_.faults[FaultKind::kSpoofedTopic]) {
    // '~' is not allowed in IDs, yet the topic matches the monitor's subscription filter.
    const std::string topic = options_.root + "/" + dev.clinic + "/device/" + dev.id +
                              "~spoof/telemetry";
    Report(dev, FaultKind::kSpoofedTopic, wall_ms, "topic " + topic, "bad_topic");
    Publish(d, topic, protocol::EncodeTelemetry(t), options_.telemetry_qos, false, out);
  }

  ++dev.seq;
  Publish(d, dev.telemetry_topic, protocol::EncodeTelemetry(t), options_.telemetry_qos, false,
          out);
  ++stats_.telemetry;

  if (dev.has_fault && dev.fault == FaultKind::kOvertime && dev.samples == 1) {
    char detail[160];
    const engine::ZoneLimits& start_zone = zones_[dev.zones.front()].limits;
    std::snprintf(detail, sizeof detail, "session runs %.1f s (max_duration %.1f s)",
                  static_cast<double>(dev.session_end - dev.session_start) / 1e9,
                  static_cast<double>(start_zone.session_max_duration) / 1e9);
    Report(dev, FaultKind::kOvertime, wall_ms, detail);
  }
  Schedule(d, now + SampleInterval());
}

void Fleet::EndSession(int d, std::int64_t wall_ms, std::vector<Action>& out) {
  Device& dev = devices_[static_cast<std::size_t>(d)];
  protocol::Event end;
  end.kind = protocol::EventKind::kSessionEnd;
  end.seq = dev.seq++;
  end.ts_ms = wall_ms;
  end.session = dev.session;
  Publish(d, dev.event_topic, protocol::EncodeEvent(end), 1, false, out);
  ++stats_.events;
  ++stats_.sessions_ended;
  dev.session_open = false;
  dev.has_fault = false;
}

void Fleet::Finish(std::int64_t wall_ms, std::vector<Action>& out) {
  for (int d = 0; d < device_count(); ++d) {
    Device& dev = devices_[static_cast<std::size_t>(d)];
    const bool up = options_.per_device_connections ? dev.connected
                                                    : dev.state != State::kDisconnected &&
                                                          dev.state != State::kConnecting;
    if (!up) continue;
    if (dev.session_open && dev.state != State::kDown) EndSession(d, wall_ms, out);
    protocol::Status off;
    off.online = false;
    off.ts_ms = wall_ms;
    Publish(d, dev.status_topic, protocol::EncodeStatus(off), 1, true, out);
    ++stats_.status;
  }
  while (!due_.empty()) due_.pop();
}

}  // namespace needlewatch::sim
