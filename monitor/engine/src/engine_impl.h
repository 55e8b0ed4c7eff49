// The engine's internals, shared by engine.cc (messages, rules, deadlines, catch-up) and
// state.cc (Save/Restore). Not installed; semantics in ../README.md ("Engine semantics").
//
// Layout: devices live in a slab (Slab: chunks, so references stay valid while it grows) found
// through an unordered_map keyed by (interned clinic id, device ID view into the slab entry).
// Active and latched alarms live in a separate pool, so a device without alarms stays small.
// Every time-based condition is one entry in a binary min-heap ordered by (time, rank); an
// entry is valid only while its device incarnation and per-timer generation still match (lazy
// invalidation), so cancelling is O(1) and firing is O(log n). During catch-up the due entries
// of a lagging device wait in a small heap of its own (`held_`) until its messages pass them.
#ifndef NEEDLEWATCH_ENGINE_SRC_ENGINE_IMPL_H_
#define NEEDLEWATCH_ENGINE_SRC_ENGINE_IMPL_H_

#include <array>
#include <cstdint>
#include <bitset>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "needlewatch/engine/engine.h"
#include "needlewatch/engine/state.h"
#include "needlewatch/protocol/message.h"

namespace needlewatch::engine::internal {

inline constexpr std::uint32_t kNoIndex = std::numeric_limits<std::uint32_t>::max();

// Timers of one device, numbered like state.h's TimerKind. The first six share their
// numbering with AlarmKind: the timer of kind k raises alarm k (pendings of the three sample
// rules, overtime warning, overtime, stale).
enum Timer : std::uint8_t {
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
static_assert(kTimerEvict == static_cast<int>(TimerKind::kEvict));
static_assert(kTimerCount == kTimerKindCount);

inline constexpr std::size_t kSampleRuleCount = 3;  // depth_exceeded, depth_warning, speed
inline constexpr std::array<AlarmKind, kSampleRuleCount> kSampleRules = {
    AlarmKind::kDepthExceeded, AlarmKind::kDepthWarning, AlarmKind::kSpeedOutOfRange};

// A session lists at most this many distinct zones; later new zones are judged but not listed.
inline constexpr std::size_t kMaxSessionZones = 32;
// How far behind a device's latest seq the engine remembers which seqs it handled: a message
// up to this far back that it has not handled is a reordered delivery (accepted), one it has
// handled, or one further back, is a redelivery (rejected as duplicate). 256 covers what a
// restarted broker reorders (tests/integration/test_broker_crash_duplicates.py).
inline constexpr std::size_t kSeqWindow = 256;
inline constexpr std::size_t kSeqWindowWords = kSeqWindow / 64;
// The zone and operator tables are swept of names nothing refers to once they hold this many,
// or twice as many as after the previous sweep.
inline constexpr std::size_t kMinSweep = 1024;

constexpr std::size_t Index(AlarmKind k) { return static_cast<std::size_t>(k); }

// t + d without overflow: absurd configured durations push a deadline to the end of time.
constexpr TimeNs AddSat(TimeNs t, TimeNs d) {
  constexpr TimeNs kMax = std::numeric_limits<TimeNs>::max();
  constexpr TimeNs kMin = std::numeric_limits<TimeNs>::min();
  if (d > 0 && t > kMax - d) return kMax;
  if (d < 0 && t < kMin - d) return kMin;
  return t + d;
}

// Assigns small ids to strings. Names stay valid (and their views stable) until erased; erased
// ids are reused.
class Interner {
 public:
  std::uint32_t Intern(std::string_view s);
  std::optional<std::uint32_t> Find(std::string_view s) const {
    if (auto it = index_.find(s); it != index_.end()) return it->second;
    return std::nullopt;
  }
  void Erase(std::uint32_t id);
  std::string_view Name(std::uint32_t id) const { return names_[id]; }
  bool IsLive(std::uint32_t id) const { return id < live_.size() && live_[id]; }
  std::size_t live() const { return index_.size(); }  // names held
  std::size_t capacity() const { return names_.size(); }  // ids handed out so far

 private:
  std::deque<std::string> names_;  // deque: elements never move, so views into them stay valid
  std::vector<bool> live_;
  std::vector<std::uint32_t> free_;
  std::unordered_map<std::string_view, std::uint32_t> index_;
};

// A growable table whose elements never move (references stay valid as it grows): chunks of
// kChunk elements. Indexing is two loads, always inlined (std::deque's is not, once the callers
// grow, and with elements this large it holds one per block anyway).
template <typename T>
class Slab {
 public:
  static constexpr std::size_t kChunk = 64;

  T& operator[](std::size_t i) { return chunks_[i / kChunk][i % kChunk]; }
  const T& operator[](std::size_t i) const { return chunks_[i / kChunk][i % kChunk]; }
  std::size_t size() const { return size_; }
  void emplace_back() {
    if (size_ % kChunk == 0) chunks_.push_back(std::make_unique<T[]>(kChunk));
    ++size_;
  }
  void resize(std::size_t n) {
    while (size_ < n) emplace_back();
  }

  template <typename S, typename E>
  class Iter {
   public:
    Iter(S* slab, std::size_t i) : slab_(slab), i_(i) {}
    E& operator*() const { return (*slab_)[i_]; }
    Iter& operator++() {
      ++i_;
      return *this;
    }
    bool operator!=(const Iter& o) const { return i_ != o.i_; }

   private:
    S* slab_;
    std::size_t i_;
  };
  Iter<Slab, T> begin() { return {this, 0}; }
  Iter<Slab, T> end() { return {this, size_}; }
  Iter<const Slab, const T> begin() const { return {this, 0}; }
  Iter<const Slab, const T> end() const { return {this, size_}; }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;
  std::size_t size_ = 0;
};

// A sample rule whose condition holds but whose `for` has not elapsed yet.
struct Pending {
  TimeNs t0 = 0;       // first offending sample
  TimeNs due = 0;      // t0 + the `for` in force (that of the latest sample's zone)
  double value = 0;    // the first offending sample's value
  double limit = 0;    // the limit it broke
  std::uint32_t zone = 0;  // its zone
};

// One sample judged by one sample rule against one zone's limits (inclusive limits).
struct Verdict {
  bool offending = false;
  double value = 0;
  double limit = 0;  // the limit broken (or, when within limits, the one checked)
};
inline Verdict Judge(AlarmKind kind, const ZoneLimits& z, double depth_mm, double speed_hz) {
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

struct Device {
  // Identity. `name` backs the device map's key view: never reassigned while in the map.
  std::string name;
  std::uint32_t clinic = 0;
  std::uint32_t incarnation = 0;  // bumped when the slot is freed: old heap entries die
  bool in_use = false;

  // Connection and sequence.
  bool online = true;
  bool seq_valid = false;
  // Clock: offset baseline learned outside catch-up; lagging during catch-up.
  bool has_offset = false;
  bool lagging = false;
  std::uint32_t last_seq = 0;
  std::bitset<kSeqWindow> seq_seen;  // bit i: seq last_seq − 1 − i was handled
  TimeNs last_message_at = 0;
  TimeNs last_eff = 0;         // the device's own clock: latest message or raise
  std::int64_t offset_ns = 0;  // baseline of receive time − ts
  TimeNs offset_at = 0;        // when it was last updated

  // The open session (meaningful while session_open).
  bool session_open = false;
  bool implicit = false;
  bool unsafe_counted = false;  // a high-severity alarm was raised in this session
  bool has_sample = false;
  std::uint8_t armed = 0;       // bit per Timer: a live heap entry exists
  std::uint8_t pending_on = 0;  // bit per sample rule: pending[k] holds a condition
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
  std::array<Pending, kSampleRuleCount> pending{};  // meaningful where pending_on says so
  std::array<std::uint32_t, kTimerCount> gen{};

  bool PendingOn(std::size_t k) const { return ((pending_on >> k) & 1U) != 0; }
  void SetPending(std::size_t k, bool on) {
    pending_on = static_cast<std::uint8_t>(on ? pending_on | (1U << k) : pending_on & ~(1U << k));
  }
};

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
  bool late = false;  // its latest raise/clear/latch was reported late
  bool in_use = false;
};

struct Deadline {
  TimeNs at = 0;
  std::uint64_t order = 0;  // rank: ties fire first-armed first
  std::uint32_t slot = 0;
  std::uint32_t incarnation = 0;
  std::uint32_t gen = 0;
  std::uint8_t kind = 0;
  // Armed while handling a late message or a held deadline, due at once: fired in the same
  // call, it is reported late as well.
  bool late_ok = false;
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

}  // namespace needlewatch::engine::internal

namespace needlewatch::engine {

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
  void BeginCatchUp(TimeNs now_in, Sink& sink);
  void EndCatchUp(TimeNs now_in, Sink& sink);
  bool catching_up() const { return catching_up_; }
  EngineState Save() const;               // state.cc
  void Restore(EngineState state);        // state.cc; only on a fresh Impl

  const Limits& limits() const { return limits_; }
  const EngineOptions& options() const { return options_; }
  const Counters& counters() const { return counters_; }
  void ForEachClinic(const std::function<void(const ClinicStats&)>& fn) const;
  void ForEachDevice(const std::function<void(const DeviceView&)>& fn) const;
  void ForEachAlarm(const std::function<void(const AlarmView&)>& fn) const;
  void ForEachOpenSession(const std::function<void(const SessionEvent&)>& fn) const;
  std::size_t device_count() const { return device_index_.size(); }
  Engine::TableSizes table_sizes() const {
    return {device_index_.size(), clinic_names_.live(), zone_names_.live(), operators_.live()};
  }
  TimeNs now() const { return now_; }

 private:
  using Device = internal::Device;
  using Deadline = internal::Deadline;
  using AlarmRecord = internal::AlarmRecord;
  using Timer = internal::Timer;
  using Verdict = internal::Verdict;

  TimeNs Clamp(TimeNs t) {
    now_ = std::max(now_, t);
    return now_;
  }

  // --- deadlines
  void Arm(std::uint32_t slot, Timer kind, TimeNs at) { ArmRanked(slot, kind, at, next_order_++); }
  void ArmRanked(std::uint32_t slot, Timer kind, TimeNs at, std::uint64_t order);
  void Push(const Deadline& e);
  void Disarm(Device& d, Timer kind);
  bool Live(const Deadline& e) const {
    const Device& d = devices_[e.slot];
    return d.in_use && d.incarnation == e.incarnation && d.gen[e.kind] == e.gen;
  }
  void FireDue(TimeNs now, Sink& sink);
  void HandleDeadline(const Deadline& e, Sink& sink);
  void MaybeArmEviction(std::uint32_t slot);
  bool Busy(const Device& d) const;
  // The deadline of an armed timer, from the device's state (Restore; Save checks it).
  TimeNs DeadlineOf(const Device& d, Timer kind) const;

  // --- catch-up
  void FireHeld(std::uint32_t slot, TimeNs bound, Sink& sink);
  void Unhold(std::uint32_t slot);
  void LearnOffset(Device& d, TimeNs now, std::int64_t ts_ms);

  // --- devices, zones
  std::optional<std::uint32_t> FindDevice(std::string_view clinic, std::string_view device) const;
  bool Registered(std::string_view clinic, std::string_view device);
  std::uint32_t CreateDevice(std::string_view clinic, std::string_view device);
  void Evict(std::uint32_t slot);
  std::uint32_t InternZone(std::string_view zone);
  std::uint32_t InternOperator(std::string_view op);
  void MaybeSweepZones();
  void MaybeSweepOperators();
  const ZoneLimits& Zone(std::uint32_t zone) const { return *zone_limits_[zone]; }
  void RebuildZoneCache();

  // --- message handling
  void Reject(protocol::Reject reason, protocol::Channel channel, std::string_view topic,
              std::string_view detail, TimeNs now, Sink& sink);
  void CheckSeq(std::uint32_t slot, std::uint32_t seq, TimeNs now, Sink& sink);
  void ApplyTelemetry(std::uint32_t slot, const protocol::Telemetry& t, TimeNs now, Sink& sink);
  void ApplyReorderedSample(std::uint32_t slot, const protocol::Telemetry& t, TimeNs now,
                            Sink& sink);
  void ApplyEvent(std::uint32_t slot, const protocol::Event& e, TimeNs now, Sink& sink);
  void ApplyStatus(std::uint32_t slot, const protocol::Status& s, TimeNs now, Sink& sink);
  void EvaluateSampleRule(std::uint32_t slot, AlarmKind kind, Verdict v,
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
    const std::uint32_t i = d.alarm[internal::Index(k)];
    return i != internal::kNoIndex && alarms_[i].state == AlarmState::kActive;
  }
  void Raise(std::uint32_t slot, AlarmKind kind, std::uint32_t zone, std::optional<double> value,
             std::optional<double> limit, TimeNs raised_at, Sink& sink);
  void Clear(std::uint32_t slot, AlarmKind kind, TimeNs at, Sink& sink);
  void EmitAlarm(AlarmRecord& a, Transition t, TimeNs at, Sink& sink);
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
    out.late = a.late;
  }
  void FreeAlarm(Device& d, AlarmKind kind);

  Limits limits_;
  EngineOptions options_;
  TimeNs now_ = 0;
  Counters counters_;

  internal::Interner clinic_names_;
  std::vector<ClinicStats> clinics_;  // by clinic id; an empty name marks a forgotten clinic
  internal::Interner zone_names_;
  std::vector<const ZoneLimits*> zone_limits_;  // by zone id, into limits_
  std::vector<bool> zone_known_;                // by zone id: listed in limits_
  internal::Interner operators_;
  std::size_t zone_sweep_at_ = internal::kMinSweep;
  std::size_t operator_sweep_at_ = internal::kMinSweep;
  bool sweeping_ = true;  // off while Restore builds the tables

  internal::Slab<Device> devices_;
  std::vector<std::uint32_t> free_devices_;
  std::unordered_map<internal::DeviceKey, std::uint32_t, internal::DeviceKeyHash> device_index_;

  std::vector<AlarmRecord> alarms_;
  std::vector<std::uint32_t> free_alarms_;

  // mutable: NextDeadline() drops dead entries from the top, which changes no behaviour.
  mutable std::vector<Deadline> heap_;
  std::uint64_t next_order_ = 0;

  // Catch-up: per lagging device, a heap of its due deadlines waiting for its messages.
  bool catching_up_ = false;
  bool late_context_ = false;  // handling a late message or a held deadline
  std::unordered_map<std::uint32_t, std::vector<Deadline>> held_;

  protocol::Decoded decoded_;  // reused: its 4 KiB scratch is not re-initialised per message
  AlarmEvent alarm_event_;     // reused so that steady-state output does not allocate
  std::string scratch_;        // reused for registry lookups
};

}  // namespace needlewatch::engine

#endif  // NEEDLEWATCH_ENGINE_SRC_ENGINE_IMPL_H_
