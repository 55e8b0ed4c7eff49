// The safety engine (engine.h): messages, rules, deadlines and catch-up. Save/Restore live in
// state.cc; the internal types and the layout in engine_impl.h. Semantics: ../README.md.
//
// The stale and eviction timers are extended lazily: telemetry only moves the device's stale
// base; the heap entry, when it comes due, re-arms itself at the real deadline with its rank
// unchanged. This keeps the per-sample cost at a few comparisons and the heap at one entry per
// timer, and makes an entry's rank a function of the state (so Restore can rebuild it).
#include "needlewatch/engine/engine.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "engine_impl.h"
#include "needlewatch/engine/state.h"
#include "needlewatch/protocol/message.h"

namespace needlewatch::engine {

using internal::AddSat;
using internal::Index;
using internal::kNoIndex;
using internal::kSampleRuleCount;
using internal::kSampleRules;
using internal::kTimerCount;
using internal::kTimerEvict;
using internal::kTimerOvertime;
using internal::kTimerOvertimeWarn;
using internal::kTimerPendingDepth;
using internal::kTimerPendingSpeed;
using internal::kTimerPendingWarn;
using internal::kTimerStale;
using internal::Later;

namespace {

constexpr std::string_view kBadTopicDetail =
    "topic: expected {root}/{clinic}/device/{device}/{telemetry|event|status} with IDs "
    "matching [A-Za-z0-9_.-]{1,64}";
constexpr std::string_view kNotAssignedDetail =
    "clinic: not assigned to this monitor instance (shard)";
constexpr std::string_view kUnknownDeviceDetail =
    "device: not in the registry of known clinics and devices (engine.registry_file)";
constexpr std::string_view kTooManyDevicesDetail =
    "device: a new device beyond engine.max_devices";
constexpr std::string_view kUnknownSessionEndDetail =
    "session: session_end for a session that is not open on this device";
constexpr std::string_view kDuplicateDetail =
    "seq: not after the last seq of the device's open session (a redelivery)";

// The offset baseline may rise by at most 2^-kOffsetDriftShift of the time elapsed (1/128, about
// 7.8 ms per second): it follows a device clock that drifts slowly, while a message delayed on
// its way (which only raises the offset) barely moves it. A shift: this runs for every message.
constexpr int kOffsetDriftShift = 7;

// RFC 1982 serial-number arithmetic on 32 bits (window 2^31): is `seq` after `last`? The one
// undefined distance, exactly 2^31, counts as after (the message is kept, as a seq gap).
constexpr bool SeqAfter(std::uint32_t seq, std::uint32_t last) {
  const std::uint32_t diff = seq - last;
  return diff != 0 && diff <= 0x80000000U;
}

// The device clock in ns (`ts` is ms, up to 2^63 - 1: saturates).
constexpr TimeNs TsNs(std::int64_t ts_ms) {
  return ts_ms > std::numeric_limits<TimeNs>::max() / kNsPerMs ? std::numeric_limits<TimeNs>::max()
                                                               : ts_ms * kNsPerMs;
}

}  // namespace

namespace internal {

std::uint32_t Interner::Intern(std::string_view s) {
  if (auto it = index_.find(s); it != index_.end()) return it->second;
  std::uint32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
    names_[id] = s;
    live_[id] = true;
  } else {
    id = static_cast<std::uint32_t>(names_.size());
    names_.emplace_back(s);
    live_.push_back(true);
  }
  index_.emplace(names_[id], id);
  return id;
}

void Interner::Erase(std::uint32_t id) {
  if (!IsLive(id)) return;
  index_.erase(std::string_view(names_[id]));
  names_[id] = std::string();
  live_[id] = false;
  free_.push_back(id);
}

}  // namespace internal

// Per-device state stays small (see bench/engine/RESULTS.md for bytes per device).
static_assert(sizeof(internal::Device) <= 512, "per-device state must stay at most 512 bytes");

// ---------------------------------------------------------------------------------------------
// Deadlines

void Engine::Impl::ArmRanked(std::uint32_t slot, Timer kind, TimeNs at, std::uint64_t order) {
  Device& d = devices_[slot];
  ++d.gen[kind];
  d.armed = static_cast<std::uint8_t>(d.armed | (1U << kind));
  Push(Deadline{at, order, slot, d.incarnation, d.gen[kind], kind, late_context_ && at <= now_});
}

void Engine::Impl::Push(const Deadline& e) {
  if (catching_up_ && devices_[e.slot].lagging) {
    std::vector<Deadline>& held = held_[e.slot];
    held.push_back(e);
    std::push_heap(held.begin(), held.end(), Later());
    return;
  }
  heap_.push_back(e);
  std::push_heap(heap_.begin(), heap_.end(), Later());
}

void Engine::Impl::Disarm(Device& d, Timer kind) {
  if ((d.armed & (1U << kind)) == 0) return;
  ++d.gen[kind];  // the heap entry is now dead; it is dropped when it reaches the top
  d.armed = static_cast<std::uint8_t>(d.armed & ~(1U << kind));
}

void Engine::Impl::FireDue(TimeNs now, Sink& sink) {
  const bool outer_late = late_context_;
  while (!heap_.empty() && heap_.front().at <= now) {
    const Deadline e = heap_.front();
    std::pop_heap(heap_.begin(), heap_.end(), Later());
    heap_.pop_back();
    if (!Live(e)) continue;
    Device& d = devices_[e.slot];
    if (catching_up_ && d.lagging) {  // waits for the device's messages (FireHeld)
      std::vector<Deadline>& held = held_[e.slot];
      held.push_back(e);
      std::push_heap(held.begin(), held.end(), Later());
      continue;
    }
    d.armed = static_cast<std::uint8_t>(d.armed & ~(1U << e.kind));
    late_context_ = e.late_ok;
    HandleDeadline(e, sink);
  }
  late_context_ = outer_late;
}

std::optional<TimeNs> Engine::Impl::NextDeadline() const {
  while (!heap_.empty()) {
    const Deadline& e = heap_.front();
    if (Live(e)) return e.at;
    std::pop_heap(heap_.begin(), heap_.end(), Later());
    heap_.pop_back();
  }
  return std::nullopt;
}

void Engine::Impl::HandleDeadline(const Deadline& e, Sink& sink) {
  const std::uint32_t slot = e.slot;
  const TimeNs at = e.at;
  const auto kind = static_cast<Timer>(e.kind);
  Device& d = devices_[slot];
  switch (kind) {
    case kTimerPendingDepth:
    case kTimerPendingWarn:
    case kTimerPendingSpeed: {
      const internal::Pending& p = d.pending[kind];
      if (!d.PendingOn(kind)) return;
      d.SetPending(kind, false);
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
        // Telemetry moved the base since arming: the same timer, later (its rank stays).
        ArmRanked(slot, kTimerStale, AddSat(deadline, 1), e.order);
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
        ArmRanked(slot, kTimerEvict, due, e.order);
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

TimeNs Engine::Impl::DeadlineOf(const Device& d, Timer kind) const {
  switch (kind) {
    case kTimerPendingDepth:
    case kTimerPendingWarn:
    case kTimerPendingSpeed:
      return AddSat(d.pending[kind].t0,
                    Zone(d.last_zone).Rule(static_cast<AlarmKind>(kind)).for_ns);
    case kTimerOvertimeWarn:
      return AddSat(d.started_at, Zone(d.session_zone).session_warn_after.value_or(0));
    case kTimerOvertime:
      return AddSat(d.started_at, Zone(d.session_zone).session_max_duration);
    case kTimerStale:
      return AddSat(AddSat(d.stale_base, Zone(d.session_zone).stale_after), 1);
    case kTimerEvict:
      return AddSat(d.last_message_at, options_.evict_idle_after);
    case kTimerCount:
      break;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Catch-up

// Every device lags from here on, before anything fires: deadlines already due wait for the
// device's messages (an outage must not raise stale or overtime for devices whose telemetry the
// broker kept).
void Engine::Impl::BeginCatchUp(TimeNs now_in, Sink& sink) {
  const TimeNs now = Clamp(now_in);
  catching_up_ = true;
  for (Device& d : devices_) d.lagging = d.in_use;
  FireDue(now, sink);
}

void Engine::Impl::EndCatchUp(TimeNs now_in, Sink& sink) {
  const TimeNs now = Clamp(now_in);
  if (catching_up_) {
    // Everything that waited goes back to the clock; what is due fires now, in (time, rank)
    // order across devices, reported late where it is.
    for (auto& [slot, held] : held_) {
      for (Deadline e : held) {
        e.late_ok = e.at <= now;
        heap_.push_back(e);
        std::push_heap(heap_.begin(), heap_.end(), Later());
      }
    }
    held_.clear();
    for (Device& d : devices_) d.lagging = false;
    catching_up_ = false;
  }
  FireDue(now, sink);
}

// Fires the device's held deadlines at or before `bound`, in (time, rank) order, each at its own
// time; deadlines they arm for it are held too (it still lags), so those due also fire here.
void Engine::Impl::FireHeld(std::uint32_t slot, TimeNs bound, Sink& sink) {
  const bool outer_late = late_context_;
  late_context_ = true;
  for (;;) {
    auto it = held_.find(slot);  // looked up again: a deadline may evict the device
    if (it == held_.end()) break;
    std::vector<Deadline>& held = it->second;
    if (held.empty() || held.front().at > bound) break;
    const Deadline e = held.front();
    std::pop_heap(held.begin(), held.end(), Later());
    held.pop_back();
    if (!Live(e)) continue;
    Device& d = devices_[e.slot];
    d.armed = static_cast<std::uint8_t>(d.armed & ~(1U << e.kind));
    HandleDeadline(e, sink);
  }
  late_context_ = outer_late;
}

// The device is live again: what it still holds goes back to the clock.
void Engine::Impl::Unhold(std::uint32_t slot) {
  devices_[slot].lagging = false;
  auto it = held_.find(slot);
  if (it == held_.end()) return;
  for (Deadline e : it->second) {
    e.late_ok = false;
    heap_.push_back(e);
    std::push_heap(heap_.begin(), heap_.end(), Later());
  }
  held_.erase(it);
}

// Baseline of the clock offset (receive time − device ts): the lower envelope of the offsets
// seen, allowed to rise by 2^-kOffsetDriftShift of the time elapsed. The first message sets it.
void Engine::Impl::LearnOffset(Device& d, TimeNs now, std::int64_t ts_ms) {
  const std::int64_t offset = AddSat(now, -TsNs(ts_ms));
  if (!d.has_offset || offset <= d.offset_ns) {
    d.has_offset = true;
    d.offset_ns = offset;
  } else {
    d.offset_ns = std::min(offset, AddSat(d.offset_ns, (now - d.offset_at) >> kOffsetDriftShift));
  }
  d.offset_at = now;
}

// ---------------------------------------------------------------------------------------------
// Devices and zones

std::optional<std::uint32_t> Engine::Impl::FindDevice(std::string_view clinic,
                                                      std::string_view device) const {
  const auto clinic_id = clinic_names_.Find(clinic);
  if (!clinic_id) return std::nullopt;
  if (auto it = device_index_.find(internal::DeviceKey{*clinic_id, device});
      it != device_index_.end()) {
    return it->second;
  }
  return std::nullopt;
}

bool Engine::Impl::Registered(std::string_view clinic, std::string_view device) {
  if (options_.known_clinics) {
    scratch_.assign(clinic);
    if (options_.known_clinics->count(scratch_) == 0) return false;
  }
  if (options_.known_devices) {
    scratch_.assign(clinic);
    scratch_ += '/';
    scratch_ += device;
    if (options_.known_devices->count(scratch_) == 0) return false;
  }
  return true;
}

std::uint32_t Engine::Impl::CreateDevice(std::string_view clinic, std::string_view device) {
  const std::optional<std::uint32_t> known = clinic_names_.Find(clinic);
  const std::uint32_t clinic_id = known ? *known : clinic_names_.Intern(clinic);
  if (clinic_id >= clinics_.size()) clinics_.resize(clinic_id + 1);
  if (!known) {
    clinics_[clinic_id] = ClinicStats{};
    clinics_[clinic_id].clinic = std::string(clinic);
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
  device_index_.emplace(internal::DeviceKey{clinic_id, d.name}, slot);
  ++clinics_[clinic_id].devices_online;
  return slot;
}

void Engine::Impl::Evict(std::uint32_t slot) {
  Device& d = devices_[slot];
  device_index_.erase(internal::DeviceKey{d.clinic, d.name});
  held_.erase(slot);
  ClinicStats& c = clinics_[d.clinic];
  --(d.online ? c.devices_online : c.devices_offline);
  if (c.devices_online + c.devices_offline == 0) {  // its last device: forget the clinic
    clinic_names_.Erase(d.clinic);
    c = ClinicStats{};
  }
  d.in_use = false;
  d.lagging = false;
  ++d.incarnation;
  free_devices_.push_back(slot);
  ++counters_.devices_evicted;
}

std::uint32_t Engine::Impl::InternZone(std::string_view zone) {
  if (auto id = zone_names_.Find(zone)) return *id;
  MaybeSweepZones();
  const std::uint32_t id = zone_names_.Intern(zone);
  if (id >= zone_limits_.size()) {
    zone_limits_.resize(id + 1);
    zone_known_.resize(id + 1);
  }
  zone_limits_[id] = &limits_.ForZone(zone);
  zone_known_[id] = limits_.HasZone(zone);
  return id;
}

std::uint32_t Engine::Impl::InternOperator(std::string_view op) {
  if (auto id = operators_.Find(op)) return *id;
  MaybeSweepOperators();
  return operators_.Intern(op);
}

// Zone names nothing refers to any more are dropped once the table has doubled since the last
// sweep, so a device inventing zone names cannot grow it without bound.
void Engine::Impl::MaybeSweepZones() {
  if (!sweeping_ || zone_names_.live() < zone_sweep_at_) return;
  std::vector<bool> used(zone_names_.capacity(), false);
  for (const Device& d : devices_) {
    if (!d.in_use) continue;
    used[d.session_zone] = true;
    used[d.last_zone] = true;
    for (std::uint32_t z : d.zones) used[z] = true;
    for (std::size_t k = 0; k < kSampleRuleCount; ++k) {
      if (d.PendingOn(k)) used[d.pending[k].zone] = true;
    }
  }
  for (const AlarmRecord& a : alarms_) {
    if (a.in_use) used[a.zone] = true;
  }
  for (std::uint32_t id = 0; id < used.size(); ++id) {
    if (!used[id]) zone_names_.Erase(id);
  }
  zone_sweep_at_ = std::max(internal::kMinSweep, 2 * zone_names_.live());
}

void Engine::Impl::MaybeSweepOperators() {
  if (!sweeping_ || operators_.live() < operator_sweep_at_) return;
  std::vector<bool> used(operators_.capacity(), false);
  for (const Device& d : devices_) {
    if (d.in_use && d.op != kNoIndex) used[d.op] = true;
  }
  for (std::uint32_t id = 0; id < used.size(); ++id) {
    if (!used[id]) operators_.Erase(id);
  }
  operator_sweep_at_ = std::max(internal::kMinSweep, 2 * operators_.live());
}

void Engine::Impl::RebuildZoneCache() {
  for (std::uint32_t id = 0; id < zone_limits_.size(); ++id) {
    if (!zone_names_.IsLive(id)) continue;
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

  // Admission, before the payload is looked at: shard, registry, bound on devices.
  if (options_.assigned && !options_.assigned(t.clinic)) {
    Reject(protocol::Reject::kNotAssigned, t.channel, topic, kNotAssignedDetail, now, sink);
    return;
  }
  std::optional<std::uint32_t> slot = FindDevice(t.clinic, t.device);
  if (!slot) {
    if (!Registered(t.clinic, t.device)) {
      Reject(protocol::Reject::kUnknownDevice, t.channel, topic, kUnknownDeviceDetail, now, sink);
      return;
    }
    if (device_index_.size() >= options_.max_devices) {
      Reject(protocol::Reject::kTooManyDevices, t.channel, topic, kTooManyDevicesDetail, now,
             sink);
      return;
    }
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
  const bool is_telemetry = t.channel == protocol::Channel::kTelemetry;
  const bool is_event = t.channel == protocol::Channel::kEvent;

  if (is_event && decoded_.event.kind == protocol::EventKind::kSessionEnd) {
    const bool open = slot && devices_[*slot].session_open &&
                      devices_[*slot].session == decoded_.event.session;
    if (!open) {
      Reject(protocol::Reject::kUnknownSessionEnd, t.channel, topic, kUnknownSessionEndDetail,
             now, sink);
      return;
    }
  }
  // A QoS 1 redelivery: a seq of the open session the engine handled already, or one too far
  // back to know (kSeqWindow). An earlier seq it has not handled is a reordered delivery (a
  // restarted broker may send its saved queue after newer messages): accepted, out of order.
  std::uint32_t reordered_behind = 0;  // > 0: seq is this far behind the device's latest
  if (slot && (is_telemetry || is_event)) {
    const Device& d = devices_[*slot];
    const std::uint32_t seq = is_telemetry ? decoded_.telemetry.seq : decoded_.event.seq;
    const std::string_view session =
        is_telemetry ? decoded_.telemetry.session : decoded_.event.session;
    if (d.seq_valid && !SeqAfter(seq, d.last_seq) && d.session_open && d.session == session) {
      const std::uint32_t behind = d.last_seq - seq;  // wraps like the counter
      if (behind == 0 || behind > internal::kSeqWindow || d.seq_seen[behind - 1]) {
        Reject(protocol::Reject::kDuplicate, t.channel, topic, kDuplicateDetail, now, sink);
        return;
      }
      reordered_behind = behind;
    }
  }

  const std::int64_t ts_ms = is_telemetry ? decoded_.telemetry.ts_ms
                             : is_event   ? decoded_.event.ts_ms
                                          : decoded_.status.ts_ms;
  // The time the device's rules run on: the receive time, except for a late message during
  // catch-up, which runs at its device-corrected time.
  TimeNs at = now;
  bool late = false;
  if (catching_up_ && slot) {
    Device& d = devices_[*slot];
    if (d.has_offset) {
      const std::int64_t offset = AddSat(now, -TsNs(ts_ms));
      if (AddSat(offset, -d.offset_ns) > options_.late_after) {
        late = true;
        at = std::min(now, std::max(d.last_eff, AddSat(TsNs(ts_ms), d.offset_ns)));
      }
    }
    const std::uint32_t incarnation = d.incarnation;
    if (late) {
      d.lagging = true;
      FireHeld(*slot, at, sink);  // its deadlines this message passes
    } else if (d.lagging) {
      FireHeld(*slot, now, sink);  // live again: everything due fires
      if (devices_[*slot].in_use && devices_[*slot].incarnation == incarnation) Unhold(*slot);
    }
    if (!devices_[*slot].in_use || devices_[*slot].incarnation != incarnation) {
      slot.reset();  // evicted by its own deadline: it returns afresh
    }
  }
  if (!slot) {
    slot = CreateDevice(t.clinic, t.device);
    devices_[*slot].lagging = late;
  }
  ++counters_.accepted;
  if (late) ++counters_.late_messages;
  Device& d = devices_[*slot];
  if (!catching_up_) LearnOffset(d, now, ts_ms);
  d.last_eff = std::max(d.last_eff, at);
  d.last_message_at = at;
  late_context_ = late;

  if (reordered_behind > 0) {
    // Older than what the device sent since: it changes no current condition, but what it
    // shows is not lost (ApplyReorderedSample). An event out of order changes nothing.
    d.seq_seen[reordered_behind - 1] = true;
    ++counters_.reordered;
    if (is_telemetry) ApplyReorderedSample(*slot, decoded_.telemetry, at, sink);
  } else switch (t.channel) {
    case protocol::Channel::kTelemetry:
      CheckSeq(*slot, decoded_.telemetry.seq, at, sink);
      ApplyTelemetry(*slot, decoded_.telemetry, at, sink);
      break;
    case protocol::Channel::kEvent:
      CheckSeq(*slot, decoded_.event.seq, at, sink);
      ApplyEvent(*slot, decoded_.event, at, sink);
      break;
    case protocol::Channel::kStatus:
      ApplyStatus(*slot, decoded_.status, at, sink);
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
    a.effective_at = at;
    a.late = late;
    a.ts_ms = ts_ms;
    if (is_telemetry) {
      a.depth_mm = decoded_.telemetry.depth_mm;
      a.speed_hz = decoded_.telemetry.speed_hz;
      a.zone = decoded_.telemetry.zone;
    }
    sink.OnAccepted(a);
  }
  MaybeArmEviction(*slot);
  late_context_ = false;
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
  if (!d.seq_valid || seq == d.last_seq) {
    d.seq_seen.set();  // a new baseline: nothing before it belongs to this count
  } else {
    const std::uint32_t ahead = seq - d.last_seq;
    if (ahead > internal::kSeqWindow) {
      d.seq_seen.reset();
    } else {
      d.seq_seen <<= ahead;
      d.seq_seen[ahead - 1] = true;  // the previous latest
    }
  }
  d.last_seq = seq;
  d.seq_valid = true;
}

// A sample delivered after newer ones of its session (reordered by a broker). It counts in the
// session's figures; the current conditions stay with the newer samples. An excursion it shows
// for a rule without `for` is not lost: the alarm is raised (late) and, when the latest sample
// is within that limit, cleared at once, so a latching rule stays latched for acknowledgement.
void Engine::Impl::ApplyReorderedSample(std::uint32_t slot, const protocol::Telemetry& t,
                                        TimeNs now, Sink& sink) {
  const std::uint32_t zone = InternZone(t.zone);
  if (!zone_known_[zone]) ++counters_.unknown_zone;
  {
    Device& d = devices_[slot];
    d.max_depth = std::max(d.max_depth, t.depth_mm);
    d.max_speed = std::max(d.max_speed, t.speed_hz);
    ++d.samples;
  }
  const bool outer_late = late_context_;
  late_context_ = true;
  const ZoneLimits& z = Zone(zone);
  for (AlarmKind kind : kSampleRules) {
    const Device& d = devices_[slot];
    const std::size_t k = Index(kind);
    const internal::Verdict v = internal::Judge(kind, z, t.depth_mm, t.speed_hz);
    if (!v.offending || z.Rule(kind).for_ns > 0 || IsActive(d, kind) || d.PendingOn(k)) continue;
    Raise(slot, kind, zone, v.value, v.limit, now, sink);
    const Device& after = devices_[slot];
    if (!internal::Judge(kind, Zone(after.last_zone), after.last_depth, after.last_speed)
             .offending &&
        IsActive(after, kind)) {
      Clear(slot, kind, now, sink);
    }
  }
  late_context_ = outer_late;
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
  if (zone != d.last_zone && d.zones.size() < internal::kMaxSessionZones &&
      std::find(d.zones.begin(), d.zones.end(), zone) == d.zones.end()) {
    d.zones.push_back(zone);
  }
  d.has_sample = true;
  d.last_zone = zone;
  d.last_depth = t.depth_mm;
  d.last_speed = t.speed_hz;

  // Sample rules in AlarmKind order, against the sample's zone. Inclusive limits.
  const ZoneLimits& z = Zone(zone);
  using internal::Judge;
  EvaluateSampleRule(slot, AlarmKind::kDepthExceeded,
                     Judge(AlarmKind::kDepthExceeded, z, t.depth_mm, t.speed_hz), zone, now, sink);
  EvaluateSampleRule(slot, AlarmKind::kDepthWarning,
                     Judge(AlarmKind::kDepthWarning, z, t.depth_mm, t.speed_hz), zone, now, sink);
  EvaluateSampleRule(slot, AlarmKind::kSpeedOutOfRange,
                     Judge(AlarmKind::kSpeedOutOfRange, z, t.depth_mm, t.speed_hz), zone, now,
                     sink);

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
void Engine::Impl::EvaluateSampleRule(std::uint32_t slot, AlarmKind kind, Verdict v,
                                      std::uint32_t zone, TimeNs now, Sink& sink) {
  Device& d = devices_[slot];
  const std::size_t k = Index(kind);
  const bool pending = d.PendingOn(k);
  const bool active = IsActive(d, kind);
  if (v.offending) {
    if (active) return;  // condition continues
    const TimeNs for_ns = Zone(zone).Rule(kind).for_ns;
    internal::Pending& p = d.pending[k];
    if (pending) {
      const TimeNs due = AddSat(p.t0, for_ns);
      if (due <= now) {
        d.SetPending(k, false);
        Disarm(d, static_cast<Timer>(kind));
        Raise(slot, kind, zone, v.value, v.limit, now, sink);
      } else if (due != p.due) {
        p.due = due;
        Arm(slot, static_cast<Timer>(kind), due);
      }
      return;
    }
    if (for_ns <= 0) {
      Raise(slot, kind, zone, v.value, v.limit, now, sink);
      return;
    }
    p = internal::Pending{now, AddSat(now, for_ns), v.value, v.limit, zone};
    d.SetPending(k, true);
    Arm(slot, static_cast<Timer>(kind), p.due);
    return;
  }
  if (pending) {
    d.SetPending(k, false);
    Disarm(d, static_cast<Timer>(kind));
  }
  if (active) Clear(slot, kind, now, sink);
}

// After a reload: each pending condition is judged again on the device's latest sample with
// the new limits of its zone. Within them: cancelled. Otherwise its deadline is t0 + the new
// `for`; one already elapsed raises the alarm now (the reload instant), with the latest sample's
// value and the limit it breaks now. A device lagging in catch-up is at its own latest time.
void Engine::Impl::ReapplyPendings(std::uint32_t slot, TimeNs now, Sink& sink) {
  const bool lagging = catching_up_ && devices_[slot].lagging;
  const TimeNs at = lagging ? devices_[slot].last_eff : now;
  const bool outer_late = late_context_;
  late_context_ = lagging;
  for (AlarmKind kind : kSampleRules) {
    Device& d = devices_[slot];
    const std::size_t k = Index(kind);
    if (!d.PendingOn(k)) continue;
    internal::Pending& p = d.pending[k];
    const ZoneLimits& z = Zone(d.last_zone);
    const Verdict v = internal::Judge(kind, z, d.last_depth, d.last_speed);
    const TimeNs due = AddSat(p.t0, z.Rule(kind).for_ns);
    if (!v.offending || due <= at) {
      d.SetPending(k, false);
      Disarm(d, static_cast<Timer>(kind));
      if (v.offending) Raise(slot, kind, d.last_zone, v.value, v.limit, at, sink);
      continue;
    }
    p.due = due;
    Arm(slot, static_cast<Timer>(kind), due);
  }
  late_context_ = outer_late;
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
  d.op = kNoIndex;  // before interning: a sweep need not keep the old one
  if (!op.empty()) devices_[slot].op = InternOperator(op);
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
    if (!d.PendingOn(k)) continue;
    d.SetPending(k, false);
    Disarm(d, static_cast<Timer>(k));
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

  d.last_eff = std::max(d.last_eff, raised_at);
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

void Engine::Impl::EmitAlarm(AlarmRecord& a, Transition t, TimeNs at, Sink& sink) {
  // Late: determined (now) more than late_after after it happened, on the catch-up path only.
  const bool late = late_context_ && now_ - at > options_.late_after;
  if (t != Transition::kAcknowledged && t != Transition::kAckCleared) a.late = late;
  AlarmEvent& e = alarm_event_;  // reused: its strings keep their capacity
  FillAlarm(a, e);
  e.late = late;
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
  for (const ClinicStats& c : clinics_) {
    if (!c.clinic.empty()) sorted.push_back(&c);  // empty: a forgotten clinic's slot
  }
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
void Engine::BeginCatchUp(TimeNs now, Sink& sink) { impl_->BeginCatchUp(now, sink); }
void Engine::EndCatchUp(TimeNs now, Sink& sink) { impl_->EndCatchUp(now, sink); }
bool Engine::catching_up() const { return impl_->catching_up(); }
EngineState Engine::Save() const { return impl_->Save(); }
void Engine::Restore(EngineState state) {
  // Built aside, so that an inconsistent state leaves this engine as it was.
  auto restored = std::make_unique<Impl>(impl_->limits(), impl_->options());
  restored->Restore(std::move(state));
  impl_ = std::move(restored);
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
Engine::TableSizes Engine::table_sizes() const { return impl_->table_sizes(); }
TimeNs Engine::now() const { return impl_->now(); }

}  // namespace needlewatch::engine
