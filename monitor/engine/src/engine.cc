// The safety engine (engine.h). Semantics: monitor/engine/README.md ("Engine semantics").
//
// Layout: devices live in a slab (std::deque, so references stay valid while it grows) found
// through an unordered_map keyed by (interned clinic id, device ID view into the slab entry).
// Active and latched alarms live in a separate pool, so a device without alarms stays small.
// Every time-based condition is one entry in a binary min-heap ordered by (time, insertion
// order); an entry is valid only while its device incarnation and per-timer generation still
// match (lazy invalidation), so cancelling is O(1) and firing is O(log n).
//
// The stale and eviction timers are extended lazily: telemetry only moves the device's stale
// base; the heap entry, when it comes due, re-arms itself at the real deadline. This keeps the
// per-sample cost at a few comparisons and the heap at one entry per timer.
#include "needlewatch/engine/engine.h"

#include <algorithm>
#include <cassert>
#include <deque>
#include <limits>
#include <unordered_map>
#include <utility>

#include "needlewatch/protocol/message.h"

namespace needlewatch::engine {
namespace {

constexpr std::uint32_t kNoIndex = std::numeric_limits<std::uint32_t>::max();

constexpr std::string_view kBadTopicDetail =
    "topic: expected {root}/{clinic}/device/{device}/{telemetry|event|status} with IDs "
    "matching [A-Za-z0-9_.-]{1,64}";
constexpr std::string_view kUnknownSessionEndDetail =
    "session: session_end for a session that is not open on this device";

// Timers of one device. The first six share their numbering with AlarmKind: the timer of kind
// k raises alarm k (pendings of the three sample rules, overtime warning, overtime, stale).
enum TimerKind : std::uint8_t {
  kTimerPendingDepth = 0,
  kTimerPendingWarn = 1,
  kTimerPendingSpeed = 2,
  kTimerOvertimeWarn = 3,
  kTimerOvertime = 4,
  kTimerStale = 5,
  kTimerEvict = 6,
  kTimerCount = 7,
};
static_assert(kTimerStale == static_cast<int>(AlarmKind::kTelemetryStale));
static_assert(kTimerOvertime == static_cast<int>(AlarmKind::kSessionOvertime));
static_assert(kTimerPendingSpeed == static_cast<int>(AlarmKind::kSpeedOutOfRange));

constexpr std::size_t kSampleRuleCount = 3;  // depth_exceeded, depth_warning, speed

constexpr std::size_t Index(AlarmKind k) { return static_cast<std::size_t>(k); }

// t + d without overflow: absurd configured durations push a deadline to the end of time.
constexpr TimeNs AddSat(TimeNs t, TimeNs d) {
  constexpr TimeNs kMax = std::numeric_limits<TimeNs>::max();
  constexpr TimeNs kMin = std::numeric_limits<TimeNs>::min();
  if (d > 0 && t > kMax - d) return kMax;
  if (d < 0 && t < kMin - d) return kMin;
  return t + d;
}

// Assigns small stable ids to strings; names stay valid (and their views stable) for the
// lifetime of the interner.
class Interner {
 public:
  std::uint32_t Intern(std::string_view s) {
    if (auto it = index_.find(s); it != index_.end()) return it->second;
    const auto id = static_cast<std::uint32_t>(names_.size());
    names_.emplace_back(s);
    index_.emplace(names_.back(), id);
    return id;
  }
  std::optional<std::uint32_t> Find(std::string_view s) const {
    if (auto it = index_.find(s); it != index_.end()) return it->second;
    return std::nullopt;
  }
  std::string_view Name(std::uint32_t id) const { return names_[id]; }
  std::size_t size() const { return names_.size(); }

 private:
  std::deque<std::string> names_;  // deque: elements never move, so views into them stay valid
  std::unordered_map<std::string_view, std::uint32_t> index_;
};

// A sample rule whose condition holds but whose `for` has not elapsed yet.
struct Pending {
  TimeNs t0 = 0;       // first offending sample
  TimeNs due = 0;      // t0 + the `for` in force (that of the latest sample's zone)
  double value = 0;    // the first offending sample's value
  double limit = 0;    // the limit it broke
  std::uint32_t zone = 0;  // its zone
  bool active = false;
};

// One sample judged by one sample rule against one zone's limits (inclusive limits).
struct Verdict {
  bool offending = false;
  double value = 0;
  double limit = 0;  // the limit broken (or, when within limits, the one checked)
};

Verdict Judge(AlarmKind kind, const ZoneLimits& z, double depth_mm, double speed_hz) {
  switch (kind) {
    case AlarmKind::kDepthExceeded:
      return {depth_mm > z.depth_max_mm, depth_mm, z.depth_max_mm};
    case AlarmKind::kDepthWarning:
      return {z.depth_warn_mm.has_value() && depth_mm > *z.depth_warn_mm, depth_mm,
              z.depth_warn_mm.value_or(0)};
    case AlarmKind::kSpeedOutOfRange: {
      const bool slow = speed_hz < z.speed_min_hz;
      const bool fast = speed_hz > z.speed_max_hz;
      return {slow || fast, speed_hz, slow ? z.speed_min_hz : z.speed_max_hz};
    }
    default:
      return {};
  }
}

constexpr std::array<AlarmKind, 3> kSampleRules = {
    AlarmKind::kDepthExceeded, AlarmKind::kDepthWarning, AlarmKind::kSpeedOutOfRange};

struct Device {
  // Identity. `name` backs the device map's key view: never reassigned while in the map.
  std::string name;
  std::uint32_t clinic = 0;
  std::uint32_t incarnation = 0;  // bumped when the slot is freed: old heap entries die
  bool in_use = false;

  // Connection and sequence.
  bool online = true;
  bool seq_valid = false;
  std::uint32_t last_seq = 0;
  TimeNs last_message_at = 0;

  // The open session (meaningful while session_open).
  bool session_open = false;
  bool implicit = false;
  bool unsafe_counted = false;  // a high-severity alarm was raised in this session
  bool has_sample = false;
  std::uint8_t armed = 0;  // bit per TimerKind: a live heap entry exists
  std::uint32_t session_zone = 0;
  std::uint32_t last_zone = 0;
  std::uint32_t op = kNoIndex;  // interned operator, or none
  std::uint32_t alarms_raised = 0;
  TimeNs started_at = 0;
  TimeNs stale_base = 0;  // max(session start, last telemetry, back online)
  std::uint64_t samples = 0;
  double max_depth = 0;
  double max_speed = 0;
  double last_depth = 0;
  double last_speed = 0;
  std::string session;
  std::vector<std::uint32_t> zones;  // distinct zones of the session, in order of appearance

  // Alarm slots (index into the alarm pool, or kNoIndex) and sample-rule pendings.
  std::array<std::uint32_t, kAlarmKindCount> alarm{kNoIndex, kNoIndex, kNoIndex, kNoIndex,
                                                   kNoIndex, kNoIndex, kNoIndex};
  std::array<Pending, kSampleRuleCount> pending{};
  std::array<std::uint32_t, kTimerCount> gen{};
};

// Per-device state stays small (see bench/engine/RESULTS.md for bytes per device).
static_assert(sizeof(Device) <= 512, "per-device state must stay at most 512 bytes");

struct AlarmRecord {
  std::string session;
  TimeNs raised_at = 0;
  TimeNs cleared_at = 0;
  double value = 0;
  double limit = 0;
  std::uint32_t zone = 0;
  std::uint32_t device = 0;  // slab slot
  AlarmKind kind = AlarmKind::kDepthExceeded;
  Severity severity = Severity::kLow;
  AlarmState state = AlarmState::kActive;
  bool acknowledged = false;
  bool has_cleared = false;
  bool has_value = false;
  bool in_use = false;
};

struct Deadline {
  TimeNs at = 0;
  std::uint64_t order = 0;  // insertion order: ties fire first-in first-out
  std::uint32_t slot = 0;
  std::uint32_t incarnation = 0;
  std::uint32_t gen = 0;
  std::uint8_t kind = 0;
};

// std::*_heap build a max-heap; "greater" puts the earliest (time, order) on top.
struct Later {
  bool operator()(const Deadline& a, const Deadline& b) const {
    return a.at != b.at ? a.at > b.at : a.order > b.order;
  }
};

struct DeviceKey {
  std::uint32_t clinic;
  std::string_view device;
  bool operator==(const DeviceKey&) const = default;
};
struct DeviceKeyHash {
  std::size_t operator()(const DeviceKey& k) const {
    return std::hash<std::string_view>()(k.device) ^
           (static_cast<std::size_t>(k.clinic) * 0x9E3779B97F4A7C15ULL);
  }
};

}  // namespace

class Engine::Impl {
 public:
  Impl(Limits limits, EngineOptions options)
      : limits_(std::move(limits)), options_(std::move(options)) {}

  void OnMessage(std::string_view topic, std::string_view payload, TimeNs now_in, Sink& sink);
  void AdvanceTo(TimeNs now_in, Sink& sink) { FireDue(Clamp(now_in), sink); }
  std::optional<TimeNs> NextDeadline() const;
  AckResult Acknowledge(std::string_view clinic, std::string_view device, AlarmKind alarm,
                        TimeNs now_in, Sink& sink);
  void SetLimits(Limits limits, TimeNs now_in, Sink& sink);

  const Limits& limits() const { return limits_; }
  const Counters& counters() const { return counters_; }
  void ForEachClinic(const std::function<void(const ClinicStats&)>& fn) const;
  void ForEachDevice(const std::function<void(const DeviceView&)>& fn) const;
  void ForEachAlarm(const std::function<void(const AlarmView&)>& fn) const;
  void ForEachOpenSession(const std::function<void(const SessionEvent&)>& fn) const;
  std::size_t device_count() const { return device_index_.size(); }
  TimeNs now() const { return now_; }

 private:
  TimeNs Clamp(TimeNs t) {
    now_ = std::max(now_, t);
    return now_;
  }

  // --- deadlines
  void Arm(std::uint32_t slot, TimerKind kind, TimeNs at);
  void Disarm(Device& d, TimerKind kind);
  void FireDue(TimeNs now, Sink& sink);
  void HandleDeadline(std::uint32_t slot, TimerKind kind, TimeNs at, Sink& sink);
  void MaybeArmEviction(std::uint32_t slot);
  bool Busy(const Device& d) const;

  // --- devices, zones
  std::optional<std::uint32_t> FindDevice(std::string_view clinic, std::string_view device) const;
  std::uint32_t CreateDevice(std::string_view clinic, std::string_view device);
  void Evict(std::uint32_t slot);
  std::uint32_t InternZone(std::string_view zone);
  const ZoneLimits& Zone(std::uint32_t zone) const { return *zone_limits_[zone]; }
  void RebuildZoneCache();

  // --- message handling
  void Reject(protocol::Reject reason, protocol::Channel channel, std::string_view topic,
              std::string_view detail, TimeNs now, Sink& sink);
  void CheckSeq(std::uint32_t slot, std::uint32_t seq, TimeNs now, Sink& sink);
  void ApplyTelemetry(std::uint32_t slot, const protocol::Telemetry& t, TimeNs now, Sink& sink);
  void ApplyEvent(std::uint32_t slot, const protocol::Event& e, TimeNs now, Sink& sink);
  void ApplyStatus(std::uint32_t slot, const protocol::Status& s, TimeNs now, Sink& sink);
  void EvaluateSampleRule(std::uint32_t slot, AlarmKind kind, const Verdict& v,
                          std::uint32_t zone, TimeNs now, Sink& sink);
  void ReapplyPendings(std::uint32_t slot, TimeNs now, Sink& sink);

  // --- sessions
  void OpenSession(std::uint32_t slot, std::string_view session, std::uint32_t zone,
                   std::string_view op, bool implicit, TimeNs now, Sink& sink);
  void EndSession(std::uint32_t slot, SessionEndReason reason, TimeNs now, Sink& sink);
  void FillSession(const Device& d, SessionEvent& e) const;
  void ArmStaleIfNeeded(std::uint32_t slot);
  void CancelPendings(Device& d);

  // --- alarms
  bool IsActive(const Device& d, AlarmKind k) const {
    const std::uint32_t i = d.alarm[Index(k)];
    return i != kNoIndex && alarms_[i].state == AlarmState::kActive;
  }
  void Raise(std::uint32_t slot, AlarmKind kind, std::uint32_t zone, std::optional<double> value,
             std::optional<double> limit, TimeNs raised_at, Sink& sink);
  void Clear(std::uint32_t slot, AlarmKind kind, TimeNs at, Sink& sink);
  void EmitAlarm(const AlarmRecord& a, Transition t, TimeNs at, Sink& sink);
  // Copies an alarm's state into an AlarmEvent (owned strings) or an AlarmView (views): the two
  // share their field names.
  template <typename Out>
  void FillAlarm(const AlarmRecord& a, Out& out) const {
    const Device& d = devices_[a.device];
    out.alarm = a.kind;
    out.severity = a.severity;
    out.state = a.state;
    out.acknowledged = a.acknowledged;
    out.clinic = clinic_names_.Name(d.clinic);
    out.device = d.name;
    out.session = a.session;
    out.zone = zone_names_.Name(a.zone);
    out.raised_at = a.raised_at;
    out.cleared_at.reset();
    if (a.has_cleared) out.cleared_at = a.cleared_at;
    out.value.reset();
    out.limit.reset();
    if (a.has_value) {
      out.value = a.value;
      out.limit = a.limit;
    }
  }
  void FreeAlarm(Device& d, AlarmKind kind);

  Limits limits_;
  EngineOptions options_;
  TimeNs now_ = 0;
  Counters counters_;

  Interner clinic_names_;
  std::vector<ClinicStats> clinics_;  // by clinic id
  Interner zone_names_;
  std::vector<const ZoneLimits*> zone_limits_;  // by zone id, into limits_
  std::vector<bool> zone_known_;                // by zone id: listed in limits_
  Interner operators_;

  std::deque<Device> devices_;
  std::vector<std::uint32_t> free_devices_;
  std::unordered_map<DeviceKey, std::uint32_t, DeviceKeyHash> device_index_;

  std::vector<AlarmRecord> alarms_;
  std::vector<std::uint32_t> free_alarms_;

  // mutable: NextDeadline() drops dead entries from the top, which changes no behaviour.
  mutable std::vector<Deadline> heap_;
  std::uint64_t next_order_ = 0;

  protocol::Decoded decoded_;  // reused: its 4 KiB scratch is not re-initialised per message
  AlarmEvent alarm_event_;     // reused so that steady-state output does not allocate
};

// ---------------------------------------------------------------------------------------------
// Deadlines

void Engine::Impl::Arm(std::uint32_t slot, TimerKind kind, TimeNs at) {
  Device& d = devices_[slot];
  ++d.gen[kind];
  d.armed = static_cast<std::uint8_t>(d.armed | (1U << kind));
  heap_.push_back(Deadline{at, next_order_++, slot, d.incarnation, d.gen[kind], kind});
  std::push_heap(heap_.begin(), heap_.end(), Later());
}

void Engine::Impl::Disarm(Device& d, TimerKind kind) {
  if ((d.armed & (1U << kind)) == 0) return;
  ++d.gen[kind];  // the heap entry is now dead; it is dropped when it reaches the top
  d.armed = static_cast<std::uint8_t>(d.armed & ~(1U << kind));
}

void Engine::Impl::FireDue(TimeNs now, Sink& sink) {
  while (!heap_.empty() && heap_.front().at <= now) {
    const Deadline e = heap_.front();
    std::pop_heap(heap_.begin(), heap_.end(), Later());
    heap_.pop_back();
    Device& d = devices_[e.slot];
    if (!d.in_use || d.incarnation != e.incarnation || d.gen[e.kind] != e.gen) continue;
    d.armed = static_cast<std::uint8_t>(d.armed & ~(1U << e.kind));
    HandleDeadline(e.slot, static_cast<TimerKind>(e.kind), e.at, sink);
  }
}

std::optional<TimeNs> Engine::Impl::NextDeadline() const {
  while (!heap_.empty()) {
    const Deadline& e = heap_.front();
    const Device& d = devices_[e.slot];
    if (d.in_use && d.incarnation == e.incarnation && d.gen[e.kind] == e.gen) return e.at;
    std::pop_heap(heap_.begin(), heap_.end(), Later());
    heap_.pop_back();
  }
  return std::nullopt;
}

void Engine::Impl::HandleDeadline(std::uint32_t slot, TimerKind kind, TimeNs at, Sink& sink) {
  Device& d = devices_[slot];
  switch (kind) {
    case kTimerPendingDepth:
    case kTimerPendingWarn:
    case kTimerPendingSpeed: {
      Pending& p = d.pending[kind];
      if (!p.active) return;
      p.active = false;
      Raise(slot, static_cast<AlarmKind>(kind), p.zone, p.value, p.limit, at, sink);
      return;
    }
    case kTimerOvertimeWarn:
    case kTimerOvertime: {
      const auto alarm = static_cast<AlarmKind>(kind);
      if (!d.session_open || IsActive(d, alarm)) return;
      const ZoneLimits& z = Zone(d.session_zone);
      const TimeNs threshold = kind == kTimerOvertime ? z.session_max_duration
                                                      : z.session_warn_after.value_or(0);
      const double seconds = NsToSeconds(threshold);
      Raise(slot, alarm, d.session_zone, seconds, seconds, at, sink);
      return;
    }
    case kTimerStale: {
      if (!d.session_open || !d.online || IsActive(d, AlarmKind::kTelemetryStale)) return;
      const TimeNs stale_after = Zone(d.session_zone).stale_after;
      const TimeNs deadline = AddSat(d.stale_base, stale_after);
      // Strictly more than stale_after: the entry sits at deadline + 1 ns.
      if (AddSat(deadline, 1) > at) {
        Arm(slot, kTimerStale, AddSat(deadline, 1));  // telemetry moved the base since arming
        return;
      }
      const double seconds = NsToSeconds(stale_after);
      Raise(slot, AlarmKind::kTelemetryStale, d.session_zone, seconds, seconds, deadline, sink);
      return;
    }
    case kTimerEvict: {
      if (Busy(d)) return;  // re-armed by MaybeArmEviction once it is idle again
      const TimeNs due = AddSat(d.last_message_at, options_.evict_idle_after);
      if (due > at) {
        Arm(slot, kTimerEvict, due);
        return;
      }
      Evict(slot);
      return;
    }
    case kTimerCount:
      break;
  }
}

bool Engine::Impl::Busy(const Device& d) const {
  if (d.session_open) return true;
  return std::any_of(d.alarm.begin(), d.alarm.end(), [](std::uint32_t i) { return i != kNoIndex; });
}

void Engine::Impl::MaybeArmEviction(std::uint32_t slot) {
  Device& d = devices_[slot];
  if (options_.evict_idle_after <= 0 || (d.armed & (1U << kTimerEvict)) != 0 || Busy(d)) return;
  Arm(slot, kTimerEvict, AddSat(d.last_message_at, options_.evict_idle_after));
}

// ---------------------------------------------------------------------------------------------
// Devices and zones

std::optional<std::uint32_t> Engine::Impl::FindDevice(std::string_view clinic,
                                                      std::string_view device) const {
  const auto clinic_id = clinic_names_.Find(clinic);
  if (!clinic_id) return std::nullopt;
  if (auto it = device_index_.find(DeviceKey{*clinic_id, device}); it != device_index_.end()) {
    return it->second;
  }
  return std::nullopt;
}

std::uint32_t Engine::Impl::CreateDevice(std::string_view clinic, std::string_view device) {
  const std::uint32_t clinic_id = clinic_names_.Intern(clinic);
  if (clinic_id == clinics_.size()) {
    clinics_.emplace_back();
    clinics_.back().clinic = std::string(clinic);
  }
  std::uint32_t slot;
  if (!free_devices_.empty()) {
    slot = free_devices_.back();
    free_devices_.pop_back();
    const std::uint32_t incarnation = devices_[slot].incarnation;
    devices_[slot] = Device{};
    devices_[slot].incarnation = incarnation;
  } else {
    slot = static_cast<std::uint32_t>(devices_.size());
    devices_.emplace_back();
  }
  Device& d = devices_[slot];
  d.in_use = true;
  d.name = std::string(device);
  d.clinic = clinic_id;
  device_index_.emplace(DeviceKey{clinic_id, d.name}, slot);
  ++clinics_[clinic_id].devices_online;
  return slot;
}

void Engine::Impl::Evict(std::uint32_t slot) {
  Device& d = devices_[slot];
  device_index_.erase(DeviceKey{d.clinic, d.name});
  ClinicStats& c = clinics_[d.clinic];
  --(d.online ? c.devices_online : c.devices_offline);
  d.in_use = false;
  ++d.incarnation;
  free_devices_.push_back(slot);
  ++counters_.devices_evicted;
}

std::uint32_t Engine::Impl::InternZone(std::string_view zone) {
  const std::uint32_t id = zone_names_.Intern(zone);
  if (id == zone_limits_.size()) {
    zone_limits_.push_back(&limits_.ForZone(zone));
    zone_known_.push_back(limits_.HasZone(zone));
  }
  return id;
}

void Engine::Impl::RebuildZoneCache() {
  for (std::uint32_t id = 0; id < zone_limits_.size(); ++id) {
    zone_limits_[id] = &limits_.ForZone(zone_names_.Name(id));
    zone_known_[id] = limits_.HasZone(zone_names_.Name(id));
  }
}

// ---------------------------------------------------------------------------------------------
// Messages

void Engine::Impl::Reject(protocol::Reject reason, protocol::Channel channel,
                          std::string_view topic, std::string_view detail, TimeNs now,
                          Sink& sink) {
  ++counters_.rejected[static_cast<std::size_t>(reason)];
  sink.OnReject(RejectInfo{reason, channel, topic, detail, now});
}

void Engine::Impl::OnMessage(std::string_view topic, std::string_view payload, TimeNs now_in,
                             Sink& sink) {
  const TimeNs now = Clamp(now_in);
  FireDue(now, sink);

  const protocol::Topic t = protocol::ParseTopic(topic, options_.topic_root);
  if (t.kind == protocol::TopicKind::kOwn) {
    ++counters_.ignored_own;
    return;
  }
  const auto channel_index = std::min(static_cast<std::size_t>(t.channel),
                                      static_cast<std::size_t>(protocol::kChannelCount - 1));
  ++counters_.received[channel_index];
  if (t.kind != protocol::TopicKind::kDevice || t.channel == protocol::Channel::kUnknown) {
    Reject(protocol::Reject::kBadTopic, t.channel, topic, kBadTopicDetail, now, sink);
    return;
  }

  // Reset only the small fields; the scratch buffer is overwritten as needed by Decode.
  decoded_.channel = protocol::Channel::kUnknown;
  decoded_.telemetry = {};
  decoded_.event = {};
  decoded_.status = {};
  decoded_.detail = {};
  if (const protocol::Reject r = protocol::Decode(t.channel, payload, decoded_);
      r != protocol::Reject::kNone) {
    Reject(r, t.channel, topic, decoded_.detail, now, sink);
    return;
  }

  std::optional<std::uint32_t> slot = FindDevice(t.clinic, t.device);
  if (t.channel == protocol::Channel::kEvent &&
      decoded_.event.kind == protocol::EventKind::kSessionEnd) {
    const bool open = slot && devices_[*slot].session_open &&
                      devices_[*slot].session == decoded_.event.session;
    if (!open) {
      Reject(protocol::Reject::kUnknownSessionEnd, t.channel, topic, kUnknownSessionEndDetail,
             now, sink);
      return;
    }
  }
  if (!slot) slot = CreateDevice(t.clinic, t.device);
  ++counters_.accepted;
  devices_[*slot].last_message_at = now;

  switch (t.channel) {
    case protocol::Channel::kTelemetry:
      CheckSeq(*slot, decoded_.telemetry.seq, now, sink);
      ApplyTelemetry(*slot, decoded_.telemetry, now, sink);
      break;
    case protocol::Channel::kEvent:
      CheckSeq(*slot, decoded_.event.seq, now, sink);
      ApplyEvent(*slot, decoded_.event, now, sink);
      break;
    case protocol::Channel::kStatus:
      ApplyStatus(*slot, decoded_.status, now, sink);
      break;
    case protocol::Channel::kUnknown:
      break;
  }
  {
    AcceptedInfo a;
    a.channel = t.channel;
    a.clinic = t.clinic;
    a.device = t.device;
    a.at = now;
    a.ts_ms = t.channel == protocol::Channel::kTelemetry ? decoded_.telemetry.ts_ms
              : t.channel == protocol::Channel::kEvent   ? decoded_.event.ts_ms
                                                         : decoded_.status.ts_ms;
    if (t.channel == protocol::Channel::kTelemetry) {
      a.depth_mm = decoded_.telemetry.depth_mm;
      a.speed_hz = decoded_.telemetry.speed_hz;
    }
    sink.OnAccepted(a);
  }
  MaybeArmEviction(*slot);
  FireDue(now, sink);  // deadlines armed at or before now by this message (zero durations)
}

void Engine::Impl::CheckSeq(std::uint32_t slot, std::uint32_t seq, TimeNs now, Sink& sink) {
  Device& d = devices_[slot];
  const std::uint32_t expected = d.last_seq + 1;  // wraps at 2^32 like the device's counter
  if (d.seq_valid && seq != expected) {
    ++counters_.seq_gaps;
    ++clinics_[d.clinic].seq_gaps;
    sink.OnSeqGap(SeqGapInfo{clinic_names_.Name(d.clinic), d.name, expected, seq, now});
  }
  d.last_seq = seq;
  d.seq_valid = true;
}

void Engine::Impl::ApplyTelemetry(std::uint32_t slot, const protocol::Telemetry& t, TimeNs now,
                                  Sink& sink) {
  // Devices keep one zone for many samples: compare with the last before hashing.
  std::uint32_t zone;
  {
    const Device& d = devices_[slot];
    zone = d.has_sample && zone_names_.Name(d.last_zone) == t.zone ? d.last_zone
                                                                    : InternZone(t.zone);
  }
  if (!zone_known_[zone]) ++counters_.unknown_zone;

  if (!devices_[slot].session_open || devices_[slot].session != t.session) {
    if (devices_[slot].session_open) EndSession(slot, SessionEndReason::kSwitched, now, sink);
    OpenSession(slot, t.session, zone, {}, /*implicit=*/true, now, sink);
  }

  Device& d = devices_[slot];
  if (d.samples == 0) {
    d.max_depth = t.depth_mm;
    d.max_speed = t.speed_hz;
  } else {
    d.max_depth = std::max(d.max_depth, t.depth_mm);
    d.max_speed = std::max(d.max_speed, t.speed_hz);
  }
  ++d.samples;
  if (zone != d.last_zone &&
      std::find(d.zones.begin(), d.zones.end(), zone) == d.zones.end()) {
    d.zones.push_back(zone);
  }
  d.has_sample = true;
  d.last_zone = zone;
  d.last_depth = t.depth_mm;
  d.last_speed = t.speed_hz;

  // Sample rules in AlarmKind order, against the sample's zone. Inclusive limits.
  const ZoneLimits& z = Zone(zone);
  for (AlarmKind kind : kSampleRules) {
    EvaluateSampleRule(slot, kind, Judge(kind, z, t.depth_mm, t.speed_hz), zone, now, sink);
  }

  // Telemetry resumed: clear stale and restart its clock.
  if (IsActive(devices_[slot], AlarmKind::kTelemetryStale)) {
    Clear(slot, AlarmKind::kTelemetryStale, now, sink);
  }
  devices_[slot].stale_base = now;
  ArmStaleIfNeeded(slot);
}

// A pending condition is re-judged at every sample with the `for` of that sample's zone
// (CONTRACT §3 v1.1): the `for` keeps running from the first offending sample t0; once the `for`
// in force has elapsed the alarm is raised at this sample, otherwise the deadline moves to
// t0 + that `for`.
void Engine::Impl::EvaluateSampleRule(std::uint32_t slot, AlarmKind kind, const Verdict& v,
                                      std::uint32_t zone, TimeNs now, Sink& sink) {
  Device& d = devices_[slot];
  Pending& p = d.pending[Index(kind)];
  const bool active = IsActive(d, kind);
  if (v.offending) {
    if (active) return;  // condition continues
    const TimeNs for_ns = Zone(zone).Rule(kind).for_ns;
    if (p.active) {
      const TimeNs due = AddSat(p.t0, for_ns);
      if (due <= now) {
        p.active = false;
        Disarm(d, static_cast<TimerKind>(kind));
        Raise(slot, kind, zone, v.value, v.limit, now, sink);
      } else if (due != p.due) {
        p.due = due;
        Arm(slot, static_cast<TimerKind>(kind), due);
      }
      return;
    }
    if (for_ns <= 0) {
      Raise(slot, kind, zone, v.value, v.limit, now, sink);
      return;
    }
    p = Pending{now, AddSat(now, for_ns), v.value, v.limit, zone, true};
    Arm(slot, static_cast<TimerKind>(kind), p.due);
    return;
  }
  if (p.active) {
    p.active = false;
    Disarm(d, static_cast<TimerKind>(kind));
  }
  if (active) Clear(slot, kind, now, sink);
}

// After a reload: each pending condition is judged again on the device's latest sample with
// the new limits of its zone. Within them: cancelled. Otherwise its deadline is t0 + the new
// `for`; one already elapsed raises the alarm now (the reload instant), with the latest sample's
// value and the limit it breaks now.
void Engine::Impl::ReapplyPendings(std::uint32_t slot, TimeNs now, Sink& sink) {
  for (AlarmKind kind : kSampleRules) {
    Device& d = devices_[slot];
    Pending& p = d.pending[Index(kind)];
    if (!p.active) continue;
    const ZoneLimits& z = Zone(d.last_zone);
    const Verdict v = Judge(kind, z, d.last_depth, d.last_speed);
    const TimeNs due = AddSat(p.t0, z.Rule(kind).for_ns);
    if (!v.offending || due <= now) {
      p.active = false;
      Disarm(d, static_cast<TimerKind>(kind));
      if (v.offending) Raise(slot, kind, d.last_zone, v.value, v.limit, now, sink);
      continue;
    }
    p.due = due;
    Arm(slot, static_cast<TimerKind>(kind), due);
  }
}

void Engine::Impl::ApplyEvent(std::uint32_t slot, const protocol::Event& e, TimeNs now,
                              Sink& sink) {
  if (e.kind == protocol::EventKind::kSessionEnd) {
    // OnMessage already rejected a session_end for anything but the open session.
    EndSession(slot, SessionEndReason::kEndEvent, now, sink);
    return;
  }
  const std::uint32_t zone = InternZone(e.zone);
  if (!zone_known_[zone]) ++counters_.unknown_zone;
  Device& d = devices_[slot];
  if (d.session_open && d.session == e.session) return;  // repeated start: nothing changes
  if (d.session_open) EndSession(slot, SessionEndReason::kSwitched, now, sink);
  OpenSession(slot, e.session, zone, e.op, /*implicit=*/false, now, sink);
}

void Engine::Impl::ApplyStatus(std::uint32_t slot, const protocol::Status& s, TimeNs now,
                               Sink& sink) {
  Device& d = devices_[slot];
  ClinicStats& c = clinics_[d.clinic];
  if (s.online) {
    // The device (re)started its counter: the next seq, or this one, is the new baseline.
    d.seq_valid = false;
    if (s.has_seq) CheckSeq(slot, s.seq, now, sink);
    if (!d.online) {
      d.online = true;
      --c.devices_offline;
      ++c.devices_online;
      if (d.session_open) {
        d.stale_base = now;  // the stale timer restarts when the device comes back
        ArmStaleIfNeeded(slot);
      }
    }
    if (IsActive(devices_[slot], AlarmKind::kDeviceOffline)) {
      Clear(slot, AlarmKind::kDeviceOffline, now, sink);
    }
    return;
  }

  if (s.has_seq) CheckSeq(slot, s.seq, now, sink);
  if (d.online) {
    d.online = false;
    --c.devices_online;
    ++c.devices_offline;
  }
  CancelPendings(d);
  Disarm(d, kTimerStale);
  if (IsActive(d, AlarmKind::kTelemetryStale)) {
    Clear(slot, AlarmKind::kTelemetryStale, now, sink);
  }
  const Device& dd = devices_[slot];
  if (dd.session_open && !IsActive(dd, AlarmKind::kDeviceOffline)) {
    Raise(slot, AlarmKind::kDeviceOffline, dd.session_zone, std::nullopt, std::nullopt, now,
          sink);
  }
}

// ---------------------------------------------------------------------------------------------
// Sessions

void Engine::Impl::OpenSession(std::uint32_t slot, std::string_view session, std::uint32_t zone,
                               std::string_view op, bool implicit, TimeNs now, Sink& sink) {
  Device& d = devices_[slot];
  d.session_open = true;
  d.implicit = implicit;
  d.unsafe_counted = false;
  d.has_sample = false;
  d.session = session;
  d.session_zone = zone;
  d.last_zone = zone;
  d.op = op.empty() ? kNoIndex : operators_.Intern(op);
  d.alarms_raised = 0;
  d.started_at = now;
  d.stale_base = now;
  d.samples = 0;
  d.max_depth = d.max_speed = d.last_depth = d.last_speed = 0;
  d.zones.clear();
  d.zones.push_back(zone);

  ++counters_.sessions_started;
  ClinicStats& c = clinics_[d.clinic];
  ++c.sessions_started;
  ++c.sessions_active;

  const ZoneLimits& z = Zone(zone);
  if (z.session_warn_after) Arm(slot, kTimerOvertimeWarn, AddSat(now, *z.session_warn_after));
  Arm(slot, kTimerOvertime, AddSat(now, z.session_max_duration));
  ArmStaleIfNeeded(slot);

  SessionEvent e;
  FillSession(devices_[slot], e);
  sink.OnSession(e);
}

void Engine::Impl::EndSession(std::uint32_t slot, SessionEndReason reason, TimeNs now,
                              Sink& sink) {
  Device& d = devices_[slot];
  CancelPendings(d);
  Disarm(d, kTimerOvertimeWarn);
  Disarm(d, kTimerOvertime);
  Disarm(d, kTimerStale);
  for (AlarmKind k : kAllAlarmKinds) {
    if (IsActive(devices_[slot], k)) Clear(slot, k, now, sink);
  }
  Device& dd = devices_[slot];
  SessionEvent e;
  FillSession(dd, e);
  e.started = false;
  e.reason = reason;
  e.ended_at = now;
  dd.session_open = false;
  dd.has_sample = false;
  ++counters_.sessions_ended;
  ClinicStats& c = clinics_[dd.clinic];
  ++c.sessions_ended;
  --c.sessions_active;
  sink.OnSession(e);
}

void Engine::Impl::FillSession(const Device& d, SessionEvent& e) const {
  e.started = true;
  e.reason = SessionEndReason::kNone;
  e.clinic = clinic_names_.Name(d.clinic);
  e.device = d.name;
  e.session = d.session;
  e.zone = zone_names_.Name(d.session_zone);
  e.op = d.op == kNoIndex ? std::string_view() : operators_.Name(d.op);
  e.implicit = d.implicit;
  e.started_at = d.started_at;
  e.ended_at.reset();
  e.samples = d.samples;
  e.max_depth_mm.reset();
  e.max_speed_hz.reset();
  if (d.samples > 0) {
    e.max_depth_mm = d.max_depth;
    e.max_speed_hz = d.max_speed;
  }
  e.zones.clear();
  for (std::uint32_t z : d.zones) e.zones.emplace_back(zone_names_.Name(z));
  e.alarms_raised = d.alarms_raised;
}

void Engine::Impl::ArmStaleIfNeeded(std::uint32_t slot) {
  Device& d = devices_[slot];
  if (!d.session_open || !d.online || (d.armed & (1U << kTimerStale)) != 0 ||
      IsActive(d, AlarmKind::kTelemetryStale)) {
    return;
  }
  Arm(slot, kTimerStale, AddSat(AddSat(d.stale_base, Zone(d.session_zone).stale_after), 1));
}

void Engine::Impl::CancelPendings(Device& d) {
  for (std::size_t k = 0; k < kSampleRuleCount; ++k) {
    if (!d.pending[k].active) continue;
    d.pending[k].active = false;
    Disarm(d, static_cast<TimerKind>(k));
  }
}

// ---------------------------------------------------------------------------------------------
// Alarms

void Engine::Impl::Raise(std::uint32_t slot, AlarmKind kind, std::uint32_t zone,
                         std::optional<double> value, std::optional<double> limit,
                         TimeNs raised_at, Sink& sink) {
  Device& d = devices_[slot];
  std::uint32_t& index = d.alarm[Index(kind)];
  assert(index == kNoIndex || alarms_[index].state != AlarmState::kActive);
  if (index == kNoIndex) {  // a latched alarm in the slot is replaced in place
    if (!free_alarms_.empty()) {
      index = free_alarms_.back();
      free_alarms_.pop_back();
    } else {
      index = static_cast<std::uint32_t>(alarms_.size());
      alarms_.emplace_back();
    }
  }
  const Severity severity = Zone(zone).Rule(kind).severity;
  AlarmRecord& a = alarms_[index];
  a.session = d.session;
  a.raised_at = raised_at;
  a.cleared_at = 0;
  a.has_cleared = false;
  a.value = value.value_or(0);
  a.limit = limit.value_or(0);
  a.has_value = value.has_value();
  a.zone = zone;
  a.device = slot;
  a.kind = kind;
  a.severity = severity;
  a.state = AlarmState::kActive;
  a.acknowledged = false;
  a.in_use = true;

  ClinicStats& c = clinics_[d.clinic];
  ++c.alarms_raised[Index(kind)][static_cast<std::size_t>(severity)];
  ++d.alarms_raised;
  if (severity == Severity::kHigh && !d.unsafe_counted) {
    d.unsafe_counted = true;
    ++c.unsafe_sessions;
  }
  EmitAlarm(a, Transition::kRaised, raised_at, sink);
}

void Engine::Impl::Clear(std::uint32_t slot, AlarmKind kind, TimeNs at, Sink& sink) {
  Device& d = devices_[slot];
  const std::uint32_t index = d.alarm[Index(kind)];
  if (index == kNoIndex || alarms_[index].state != AlarmState::kActive) return;
  AlarmRecord& a = alarms_[index];
  a.cleared_at = at;
  a.has_cleared = true;
  if (a.severity == Severity::kHigh && !a.acknowledged) {
    a.state = AlarmState::kLatched;
    EmitAlarm(a, Transition::kLatched, at, sink);
    return;
  }
  a.state = AlarmState::kCleared;
  EmitAlarm(a, Transition::kCleared, at, sink);
  FreeAlarm(d, kind);
}

void Engine::Impl::FreeAlarm(Device& d, AlarmKind kind) {
  std::uint32_t& index = d.alarm[Index(kind)];
  alarms_[index].in_use = false;
  free_alarms_.push_back(index);
  index = kNoIndex;
}

void Engine::Impl::EmitAlarm(const AlarmRecord& a, Transition t, TimeNs at, Sink& sink) {
  AlarmEvent& e = alarm_event_;  // reused: its strings keep their capacity
  FillAlarm(a, e);
  e.transition = t;
  e.at = at;
  sink.OnAlarm(e);
}

AckResult Engine::Impl::Acknowledge(std::string_view clinic, std::string_view device,
                                    AlarmKind alarm, TimeNs now_in, Sink& sink) {
  const TimeNs now = Clamp(now_in);
  FireDue(now, sink);
  const std::optional<std::uint32_t> slot = FindDevice(clinic, device);
  if (!slot || Index(alarm) >= kAlarmKindCount) return AckResult::kNotFound;
  Device& d = devices_[*slot];
  const std::uint32_t index = d.alarm[Index(alarm)];
  if (index == kNoIndex) return AckResult::kNotFound;
  AlarmRecord& a = alarms_[index];
  AckResult result;
  if (a.state == AlarmState::kLatched) {
    a.state = AlarmState::kCleared;
    a.acknowledged = true;
    EmitAlarm(a, Transition::kAckCleared, now, sink);
    FreeAlarm(d, alarm);
    result = AckResult::kCleared;
  } else if (a.acknowledged) {
    return AckResult::kAlreadyAcknowledged;
  } else {
    a.acknowledged = true;
    EmitAlarm(a, Transition::kAcknowledged, now, sink);
    result = AckResult::kAcknowledged;
  }
  MaybeArmEviction(*slot);
  FireDue(now, sink);
  return result;
}

void Engine::Impl::SetLimits(Limits limits, TimeNs now_in, Sink& sink) {
  const TimeNs now = Clamp(now_in);
  FireDue(now, sink);  // what was due before the change fires under the old limits
  limits_ = std::move(limits);
  RebuildZoneCache();
  for (std::uint32_t slot = 0; slot < devices_.size(); ++slot) {
    Device& d = devices_[slot];
    if (!d.in_use || !d.session_open) continue;
    const ZoneLimits& z = Zone(d.session_zone);
    if (!IsActive(d, AlarmKind::kSessionOvertimeWarning)) {
      if (z.session_warn_after) {
        Arm(slot, kTimerOvertimeWarn, AddSat(d.started_at, *z.session_warn_after));
      } else {
        Disarm(d, kTimerOvertimeWarn);
      }
    }
    if (!IsActive(d, AlarmKind::kSessionOvertime)) {
      Arm(slot, kTimerOvertime, AddSat(d.started_at, z.session_max_duration));
    }
    if (d.online && !IsActive(d, AlarmKind::kTelemetryStale)) {
      Arm(slot, kTimerStale, AddSat(AddSat(d.stale_base, z.stale_after), 1));
    }
    ReapplyPendings(slot, now, sink);
  }
  FireDue(now, sink);
}

// ---------------------------------------------------------------------------------------------
// Views

void Engine::Impl::ForEachClinic(const std::function<void(const ClinicStats&)>& fn) const {
  std::vector<const ClinicStats*> sorted;
  sorted.reserve(clinics_.size());
  for (const ClinicStats& c : clinics_) sorted.push_back(&c);
  std::sort(sorted.begin(), sorted.end(),
            [](const ClinicStats* a, const ClinicStats* b) { return a->clinic < b->clinic; });
  for (const ClinicStats* c : sorted) fn(*c);
}

void Engine::Impl::ForEachDevice(const std::function<void(const DeviceView&)>& fn) const {
  for (const Device& d : devices_) {
    if (!d.in_use) continue;
    DeviceView v;
    v.clinic = clinic_names_.Name(d.clinic);
    v.device = d.name;
    v.online = d.online;
    v.session_open = d.session_open;
    if (d.session_open) {
      v.session = d.session;
      if (d.has_sample) {
        v.zone = zone_names_.Name(d.last_zone);
        v.depth_mm = d.last_depth;
        v.speed_hz = d.last_speed;
      }
    }
    v.last_message_at = d.last_message_at;
    fn(v);
  }
}

void Engine::Impl::ForEachAlarm(const std::function<void(const AlarmView&)>& fn) const {
  for (const AlarmRecord& a : alarms_) {
    if (!a.in_use) continue;
    AlarmView v;
    FillAlarm(a, v);
    fn(v);
  }
}

void Engine::Impl::ForEachOpenSession(const std::function<void(const SessionEvent&)>& fn) const {
  SessionEvent e;
  for (const Device& d : devices_) {
    if (!d.in_use || !d.session_open) continue;
    FillSession(d, e);
    fn(e);
  }
}

// ---------------------------------------------------------------------------------------------
// Engine: forwards to Impl.

Engine::Engine(Limits limits, EngineOptions options)
    : impl_(std::make_unique<Impl>(std::move(limits), std::move(options))) {}
Engine::~Engine() = default;

void Engine::OnMessage(std::string_view topic, std::string_view payload, TimeNs now,
                       Sink& sink) {
  impl_->OnMessage(topic, payload, now, sink);
}
void Engine::AdvanceTo(TimeNs now, Sink& sink) { impl_->AdvanceTo(now, sink); }
std::optional<TimeNs> Engine::NextDeadline() const { return impl_->NextDeadline(); }
AckResult Engine::Acknowledge(std::string_view clinic, std::string_view device, AlarmKind alarm,
                              TimeNs now, Sink& sink) {
  return impl_->Acknowledge(clinic, device, alarm, now, sink);
}
void Engine::SetLimits(Limits limits, TimeNs now, Sink& sink) {
  impl_->SetLimits(std::move(limits), now, sink);
}
const Limits& Engine::limits() const { return impl_->limits(); }
const Counters& Engine::counters() const { return impl_->counters(); }
void Engine::ForEachClinic(const std::function<void(const ClinicStats&)>& fn) const {
  impl_->ForEachClinic(fn);
}
void Engine::ForEachDevice(const std::function<void(const DeviceView&)>& fn) const {
  impl_->ForEachDevice(fn);
}
void Engine::ForEachAlarm(const std::function<void(const AlarmView&)>& fn) const {
  impl_->ForEachAlarm(fn);
}
void Engine::ForEachOpenSession(const std::function<void(const SessionEvent&)>& fn) const {
  impl_->ForEachOpenSession(fn);
}
std::size_t Engine::device_count() const { return impl_->device_count(); }
TimeNs Engine::now() const { return impl_->now(); }

}  // namespace needlewatch::engine
