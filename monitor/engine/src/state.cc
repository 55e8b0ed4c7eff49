// Engine::Save / Engine::Restore (state.h): the engine's state as plain data and back.
// Restore runs on a fresh Impl (Engine::Restore swaps it in only when it succeeds), checks what
// it is given as it goes, and recomputes every armed timer's deadline from the state.
#include <algorithm>
#include <cassert>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "engine_impl.h"
#include "needlewatch/engine/state.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::engine {

using internal::Index;
using internal::kNoIndex;
using internal::kSampleRuleCount;
using internal::kTimerCount;

namespace {

[[noreturn]] void Invalid(const std::string& what) {
  throw std::invalid_argument("engine state: " + what);
}

// Zone names follow the wire rule for `zone`: 1 to 64 bytes.
bool ValidZone(std::string_view z) { return !z.empty() && z.size() <= protocol::kMaxIdLength; }

template <typename E>
bool InRange(E e, std::size_t count) {
  return static_cast<std::size_t>(e) < count;
}

// A table of `slots` slots: `used` of them listed with an entry, the others in `free`, each once.
// Returns the slots taken so far (the free ones); each entry then takes its own with Take.
std::vector<bool> FreeSlots(const char* what, std::size_t used,
                            const std::vector<std::uint32_t>& free, std::uint32_t slots) {
  if (used + free.size() != slots) {
    Invalid(std::string(what) + " slots: " + std::to_string(used) + " used + " +
            std::to_string(free.size()) + " free != " + std::to_string(slots));
  }
  std::vector<bool> taken(slots, false);
  for (std::uint32_t slot : free) {
    if (slot >= slots || taken[slot]) Invalid(std::string("free ") + what + " slot " + std::to_string(slot));
    taken[slot] = true;
  }
  return taken;
}

void Take(std::vector<bool>& taken, std::uint32_t slot, const std::string& who) {
  if (slot >= taken.size() || taken[slot]) Invalid(who + ": bad or repeated slot");
  taken[slot] = true;
}

}  // namespace

EngineState Engine::Impl::Save() const {
  EngineState s;
  s.now = now_;
  s.catching_up = catching_up_;
  s.next_order = next_order_;
  s.counters = counters_;
  for (const ClinicStats& c : clinics_) {
    if (!c.clinic.empty()) s.clinics.push_back(c);
  }

  // The rank of every armed timer, from its live heap entry (in the clock's heap or held).
  std::unordered_map<std::uint64_t, std::uint64_t> ranks;
  auto note = [&](const Deadline& e) {
    if (Live(e)) ranks[static_cast<std::uint64_t>(e.slot) * kTimerCount + e.kind] = e.order;
  };
  for (const Deadline& e : heap_) note(e);
  for (const auto& [slot, held] : held_) {
    for (const Deadline& e : held) note(e);
  }

  s.device_slots = static_cast<std::uint32_t>(devices_.size());
  for (std::uint32_t slot = 0; slot < devices_.size(); ++slot) {
    const Device& d = devices_[slot];
    if (!d.in_use) continue;
    DeviceState ds;
    ds.slot = slot;
    ds.clinic = clinic_names_.Name(d.clinic);
    ds.device = d.name;
    ds.online = d.online;
    ds.seq_valid = d.seq_valid;
    ds.last_seq = d.last_seq;
    for (std::size_t i = 0; i < internal::kSeqWindow; ++i) {
      if (d.seq_seen[i]) ds.seq_seen[i / 64] |= std::uint64_t{1} << (i % 64);
    }
    ds.last_message_at = d.last_message_at;
    ds.has_offset = d.has_offset;
    ds.offset_ns = d.offset_ns;
    ds.offset_at = d.offset_at;
    ds.last_effective_at = d.last_eff;
    ds.lagging = catching_up_ && d.lagging;
    if (d.session_open) {
      SessionState ss;
      ss.session = d.session;
      ss.zone = zone_names_.Name(d.session_zone);
      if (d.op != kNoIndex) ss.op = operators_.Name(d.op);
      ss.implicit = d.implicit;
      ss.unsafe_counted = d.unsafe_counted;
      ss.started_at = d.started_at;
      ss.stale_base = d.stale_base;
      ss.samples = d.samples;
      ss.max_depth_mm = d.max_depth;
      ss.max_speed_hz = d.max_speed;
      for (std::uint32_t z : d.zones) ss.zones.emplace_back(zone_names_.Name(z));
      ss.alarms_raised = d.alarms_raised;
      ss.has_sample = d.has_sample;
      if (d.has_sample) {
        ss.last_zone = zone_names_.Name(d.last_zone);
        ss.last_depth_mm = d.last_depth;
        ss.last_speed_hz = d.last_speed;
      }
      for (std::size_t k = 0; k < kSampleRuleCount; ++k) {
        if (!d.PendingOn(k)) continue;
        const internal::Pending& p = d.pending[k];
        ss.pendings.push_back(PendingState{static_cast<AlarmKind>(k), p.t0, p.value, p.limit,
                                           std::string(zone_names_.Name(p.zone))});
      }
      ds.session = std::move(ss);
    }
    for (std::size_t k = 0; k < kTimerCount; ++k) {
      if ((d.armed & (1U << k)) == 0) continue;
      const auto it = ranks.find(static_cast<std::uint64_t>(slot) * kTimerCount + k);
      assert(it != ranks.end());
      if (it == ranks.end()) continue;
      ds.timers.push_back(TimerState{static_cast<TimerKind>(k), it->second});
    }
    s.devices.push_back(std::move(ds));
  }
  s.free_device_slots = free_devices_;

  s.alarm_slots = static_cast<std::uint32_t>(alarms_.size());
  for (std::uint32_t slot = 0; slot < alarms_.size(); ++slot) {
    const AlarmRecord& a = alarms_[slot];
    if (!a.in_use) continue;
    SavedAlarm sa;
    sa.slot = slot;
    FillAlarm(a, sa);  // the same field names as AlarmEvent and AlarmView
    s.alarms.push_back(std::move(sa));
  }
  s.free_alarm_slots = free_alarms_;
  return s;
}

void Engine::Impl::Restore(EngineState s) {
  if (s.version != kEngineStateVersion) {
    Invalid("version " + std::to_string(s.version) + ", expected " +
            std::to_string(kEngineStateVersion));
  }
  sweeping_ = false;  // ids are taken and stored one after another below
  now_ = s.now;
  catching_up_ = s.catching_up;
  next_order_ = s.next_order;
  counters_ = s.counters;

  for (ClinicStats& c : s.clinics) {
    if (!protocol::IsValidId(c.clinic)) Invalid("clinic name \"" + c.clinic + "\"");
    if (clinic_names_.Find(c.clinic)) Invalid("clinic " + c.clinic + " listed twice");
    const std::uint32_t id = clinic_names_.Intern(c.clinic);
    if (id >= clinics_.size()) clinics_.resize(id + 1);
    c.devices_online = c.devices_offline = c.sessions_active = 0;  // recounted below
    clinics_[id] = std::move(c);
  }

  // Devices, in their slots.
  std::vector<bool> taken =
      FreeSlots("device", s.devices.size(), s.free_device_slots, s.device_slots);
  devices_.resize(s.device_slots);
  for (DeviceState& ds : s.devices) {
    const std::string who = ds.clinic + "/" + ds.device;
    Take(taken, ds.slot, who);
    if (!protocol::IsValidId(ds.device)) Invalid(who + ": device name");
    const std::optional<std::uint32_t> clinic = clinic_names_.Find(ds.clinic);
    if (!clinic) Invalid(who + ": its clinic is not listed");
    Device& d = devices_[ds.slot];
    d.in_use = true;
    d.name = std::move(ds.device);
    d.clinic = *clinic;
    if (!device_index_.emplace(internal::DeviceKey{*clinic, d.name}, ds.slot).second) {
      Invalid(who + ": listed twice");
    }
    d.online = ds.online;
    d.seq_valid = ds.seq_valid;
    d.last_seq = ds.last_seq;
    for (std::size_t i = 0; i < internal::kSeqWindow; ++i) {
      d.seq_seen[i] = ((ds.seq_seen[i / 64] >> (i % 64)) & 1U) != 0;
    }
    d.last_message_at = ds.last_message_at;
    d.has_offset = ds.has_offset;
    d.offset_ns = ds.offset_ns;
    d.offset_at = ds.offset_at;
    d.last_eff = ds.last_effective_at;
    d.lagging = catching_up_ && ds.lagging;
    ClinicStats& c = clinics_[*clinic];
    ++(d.online ? c.devices_online : c.devices_offline);
    if (!ds.session) continue;

    SessionState& ss = *ds.session;
    if (!protocol::IsValidId(ss.session)) Invalid(who + ": session ID");
    if (!ValidZone(ss.zone)) Invalid(who + ": session zone");
    if (!ss.op.empty() && !protocol::IsValidId(ss.op)) Invalid(who + ": operator ID");
    d.session_open = true;
    d.session = std::move(ss.session);
    d.session_zone = InternZone(ss.zone);
    d.last_zone = d.session_zone;
    if (!ss.op.empty()) d.op = InternOperator(ss.op);
    d.implicit = ss.implicit;
    d.unsafe_counted = ss.unsafe_counted;
    d.started_at = ss.started_at;
    d.stale_base = ss.stale_base;
    d.samples = ss.samples;
    d.max_depth = ss.max_depth_mm;
    d.max_speed = ss.max_speed_hz;
    for (const std::string& z : ss.zones) {
      if (!ValidZone(z)) Invalid(who + ": session zone list");
      if (d.zones.size() < internal::kMaxSessionZones) d.zones.push_back(InternZone(z));
    }
    d.alarms_raised = ss.alarms_raised;
    d.has_sample = ss.has_sample;
    if (ss.has_sample) {
      if (!ValidZone(ss.last_zone)) Invalid(who + ": last sample's zone");
      d.last_zone = InternZone(ss.last_zone);
      d.last_depth = ss.last_depth_mm;
      d.last_speed = ss.last_speed_hz;
    }
    for (const PendingState& ps : ss.pendings) {
      if (!InRange(ps.alarm, kSampleRuleCount)) Invalid(who + ": pending of a non-sample rule");
      if (d.PendingOn(Index(ps.alarm))) Invalid(who + ": pending listed twice");
      if (!ss.has_sample || !ValidZone(ps.zone)) Invalid(who + ": pending without a sample");
      d.pending[Index(ps.alarm)] = internal::Pending{ps.t0, 0, ps.value, ps.limit, InternZone(ps.zone)};
      d.SetPending(Index(ps.alarm), true);
    }
    ++c.sessions_active;
  }
  free_devices_ = std::move(s.free_device_slots);
  for (const ClinicStats& c : clinics_) {
    if (c.devices_online + c.devices_offline == 0) Invalid("clinic " + c.clinic + " has no device");
  }

  // Alarms, in their slots.
  std::vector<bool> alarm_taken =
      FreeSlots("alarm", s.alarms.size(), s.free_alarm_slots, s.alarm_slots);
  alarms_.resize(s.alarm_slots);
  for (SavedAlarm& sa : s.alarms) {
    const std::string who = sa.clinic + "/" + sa.device + " alarm";
    Take(alarm_taken, sa.slot, who);
    const std::optional<std::uint32_t> device = FindDevice(sa.clinic, sa.device);
    if (!device) Invalid(who + ": alarm of an unlisted device");
    if (!InRange(sa.alarm, kAlarmKindCount) || !InRange(sa.severity, kSeverityCount)) {
      Invalid(who + ": alarm kind or severity");
    }
    if (sa.state != AlarmState::kActive && sa.state != AlarmState::kLatched) {
      Invalid(who + ": an alarm must be active or latched");
    }
    if (sa.state == AlarmState::kLatched && !sa.cleared_at) Invalid(who + ": latched, no cleared_at");
    if (sa.value.has_value() != sa.limit.has_value()) Invalid(who + ": value without limit");
    if (!ValidZone(sa.zone)) Invalid(who + ": alarm zone");
    Device& d = devices_[*device];
    if (d.alarm[Index(sa.alarm)] != kNoIndex) Invalid(who + ": two alarms of one kind");
    d.alarm[Index(sa.alarm)] = sa.slot;
    AlarmRecord& a = alarms_[sa.slot];
    a.session = std::move(sa.session);
    a.raised_at = sa.raised_at;
    a.has_cleared = sa.cleared_at.has_value();
    a.cleared_at = sa.cleared_at.value_or(0);
    a.has_value = sa.value.has_value();
    a.value = sa.value.value_or(0);
    a.limit = sa.limit.value_or(0);
    a.zone = InternZone(sa.zone);
    a.device = *device;
    a.kind = sa.alarm;
    a.severity = sa.severity;
    a.state = sa.state;
    a.acknowledged = sa.acknowledged;
    a.late = sa.late;
    a.in_use = true;
  }
  free_alarms_ = std::move(s.free_alarm_slots);

  // Timers: each deadline recomputed from the state, with its saved rank.
  std::unordered_set<std::uint64_t> ranks;
  for (const DeviceState& ds : s.devices) {
    Device& d = devices_[ds.slot];
    const std::string who = std::string(clinic_names_.Name(d.clinic)) + "/" + d.name;
    for (const TimerState& ts : ds.timers) {
      if (!InRange(ts.kind, kTimerCount)) Invalid(who + ": timer kind");
      const auto kind = static_cast<Timer>(ts.kind);
      if ((d.armed & (1U << kind)) != 0) Invalid(who + ": timer listed twice");
      if (ts.order >= next_order_ || !ranks.insert(ts.order).second) {
        Invalid(who + ": timer rank");
      }
      const bool ok = kind == internal::kTimerEvict
                          ? options_.evict_idle_after > 0
                          : d.session_open &&
                                (kind >= kSampleRuleCount || d.PendingOn(kind)) &&
                                (kind != internal::kTimerOvertimeWarn ||
                                 Zone(d.session_zone).session_warn_after.has_value());
      if (!ok) Invalid(who + ": a timer its state does not support");
      if (kind < kSampleRuleCount) d.pending[kind].due = DeadlineOf(d, kind);
      ArmRanked(ds.slot, kind, DeadlineOf(d, kind), ts.order);
    }
    for (std::size_t k = 0; k < kSampleRuleCount; ++k) {
      if (d.PendingOn(k) && (d.armed & (1U << k)) == 0) Invalid(who + ": pending, no timer");
    }
  }

  sweeping_ = true;
  zone_sweep_at_ = std::max(internal::kMinSweep, 2 * zone_names_.live());
  operator_sweep_at_ = std::max(internal::kMinSweep, 2 * operators_.live());
}

}  // namespace needlewatch::engine
