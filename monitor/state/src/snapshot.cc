#include "needlewatch/state/snapshot.h"

#include <array>
#include <cmath>
#include <concepts>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "needlewatch/protocol/json_writer.h"
#include "needlewatch/state/journal.h"

namespace needlewatch::state {
namespace {

using nlohmann::json;
using protocol::JsonWriter;

// ---- each saved struct's fields, listed once ----
// Fields(v, x) calls v(key, field) for every field of x, in the order the snapshot writes
// them; Out writes each, In reads each back by key, checking its type and range. A field added
// to an engine struct is added here, once, for both directions.

template <typename C, typename T>
concept Saved = std::same_as<std::remove_const_t<C>, T>;

template <typename V, typename C>
  requires Saved<C, engine::Counters>
void Fields(V& v, C& c) {
  v("received", c.received);
  v("accepted", c.accepted);
  v("rejected", c.rejected);
  v("ignored_own", c.ignored_own);
  v("unknown_zone", c.unknown_zone);
  v("seq_gaps", c.seq_gaps);
  v("sessions_started", c.sessions_started);
  v("sessions_ended", c.sessions_ended);
  v("devices_evicted", c.devices_evicted);
  v("late_messages", c.late_messages);
  v("reordered", c.reordered);
}

template <typename V, typename C>
  requires Saved<C, engine::ClinicStats>
void Fields(V& v, C& c) {
  v("clinic", c.clinic);
  v("sessions_active", c.sessions_active);
  v("seq_gaps", c.seq_gaps);
  v("sessions_started", c.sessions_started);
  v("sessions_ended", c.sessions_ended);
  v("unsafe_sessions", c.unsafe_sessions);
  v("devices_online", c.devices_online);
  v("devices_offline", c.devices_offline);
  v("alarms_raised", c.alarms_raised);
}

template <typename V, typename P>
  requires Saved<P, engine::PendingState>
void Fields(V& v, P& p) {
  v("alarm", p.alarm);
  v("t0", p.t0);
  v("zone", p.zone);
  v("value", p.value);
  v("limit", p.limit);
}

template <typename V, typename S>
  requires Saved<S, engine::SessionState>
void Fields(V& v, S& s) {
  v("session", s.session);
  v("zone", s.zone);
  v("op", s.op);
  v("implicit", s.implicit);
  v("unsafe_counted", s.unsafe_counted);
  v("started_at", s.started_at);
  v("stale_base", s.stale_base);
  v("samples", s.samples);
  v("max_depth_mm", s.max_depth_mm);
  v("max_speed_hz", s.max_speed_hz);
  v("zones", s.zones);
  v("alarms_raised", s.alarms_raised);
  v("has_sample", s.has_sample);
  v("last_zone", s.last_zone);
  v("last_depth_mm", s.last_depth_mm);
  v("last_speed_hz", s.last_speed_hz);
  v("pendings", s.pendings);
}

template <typename V, typename D>
  requires Saved<D, engine::DeviceState>
void Fields(V& v, D& d) {
  v("slot", d.slot);
  v("clinic", d.clinic);
  v("device", d.device);
  v("online", d.online);
  v("seq_valid", d.seq_valid);
  v("last_seq", d.last_seq);
  v("seq_seen", d.seq_seen);
  v("last_message_at", d.last_message_at);
  v("has_offset", d.has_offset);
  v("offset_ns", d.offset_ns);
  v("offset_at", d.offset_at);
  v("last_effective_at", d.last_effective_at);
  v("lagging", d.lagging);
  v("session", d.session);
  v("timers", d.timers);
}

template <typename V, typename A>
  requires Saved<A, engine::SavedAlarm>
void Fields(V& v, A& a) {
  v("slot", a.slot);
  v("clinic", a.clinic);
  v("device", a.device);
  v("alarm", a.alarm);
  v("severity", a.severity);
  v("state", a.state);
  v("acknowledged", a.acknowledged);
  v("session", a.session);
  v("zone", a.zone);
  v("raised_at", a.raised_at);
  v("cleared_at", a.cleared_at);
  v("value", a.value);
  v("limit", a.limit);
  v("late", a.late);
}

template <typename V, typename E>
  requires Saved<E, engine::EngineState>
void Fields(V& v, E& e) {
  v("version", e.version);
  v("now", e.now);
  v("catching_up", e.catching_up);
  v("next_order", e.next_order);
  v("counters", e.counters);
  v("clinics", e.clinics);
  v("device_slots", e.device_slots);
  v("devices", e.devices);
  v("free_device_slots", e.free_device_slots);
  v("alarm_slots", e.alarm_slots);
  v("alarms", e.alarms);
  v("free_alarm_slots", e.free_alarm_slots);
}

// How many values each saved enum has (a larger number read back is refused).
constexpr std::size_t EnumCount(engine::AlarmKind) { return engine::kAlarmKindCount; }
constexpr std::size_t EnumCount(engine::Severity) { return engine::kSeverityCount; }
constexpr std::size_t EnumCount(engine::AlarmState) { return 3; }
constexpr std::size_t EnumCount(engine::TimerKind) { return engine::kTimerKindCount; }

// ---- encoding ----

class Out {
 public:
  explicit Out(JsonWriter& w) : w_(w) {}

  template <typename T>
  void operator()(std::string_view key, const T& value) {
    w_.Key(key);
    Value(value);
  }

  template <typename S>
  void Object(const S& s) {
    w_.BeginObject();
    Fields(*this, s);
    w_.EndObject();
  }

 private:
  void Value(bool b) { w_.Bool(b); }
  void Value(const std::string& s) { w_.String(s); }
  void Value(std::int64_t i) { w_.Int(i); }
  template <std::unsigned_integral U>
  void Value(U u) {
    w_.UInt(u);
  }
  template <typename E>
    requires std::is_enum_v<E>
  void Value(E e) {
    w_.UInt(static_cast<unsigned>(e));
  }
  // A double, exactly: JSON has no infinities, so those (an unset bound) are strings.
  void Value(double d) {
    if (std::isfinite(d)) {
      w_.Number(d);
    } else {
      w_.String(std::isnan(d) ? "nan" : (d > 0 ? "inf" : "-inf"));
    }
  }
  template <typename T>
  void Value(const std::optional<T>& o) {
    if (o) {
      Value(*o);
    } else {
      w_.Null();
    }
  }
  template <typename T, std::size_t N>
  void Value(const std::array<T, N>& a) {
    w_.BeginArray();
    for (const T& x : a) Value(x);
    w_.EndArray();
  }
  template <typename T>
  void Value(const std::vector<T>& v) {
    w_.BeginArray();
    for (const T& x : v) Value(x);
    w_.EndArray();
  }
  void Value(const std::pair<std::string, std::string>& p) {  // an alarm topic and payload
    w_.BeginArray().String(p.first).String(p.second).EndArray();
  }
  // A timer is a [kind, order] pair.
  void Value(const engine::TimerState& t) {
    w_.BeginArray().UInt(static_cast<unsigned>(t.kind)).UInt(t.order).EndArray();
  }
  void Value(const engine::Counters& x) { Object(x); }
  void Value(const engine::ClinicStats& x) { Object(x); }
  void Value(const engine::PendingState& x) { Object(x); }
  void Value(const engine::SessionState& x) { Object(x); }
  void Value(const engine::DeviceState& x) { Object(x); }
  void Value(const engine::SavedAlarm& x) { Object(x); }
  void Value(const engine::EngineState& x) { Object(x); }

  JsonWriter& w_;
};

// ---- decoding (throws; DecodeSnapshot turns it into an error) ----

struct Bad : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void Fail(const char* key, std::string_view what) {
  throw Bad(std::string("\"") + key + "\": " + std::string(what));
}

const json& At(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) Fail(key, "missing");
  return *it;
}

std::int64_t I64(const json& v, const char* key) {
  if (!v.is_number_integer()) Fail(key, "expected an integer");
  return v.get<std::int64_t>();
}

std::uint64_t U64(const json& v, const char* key) {
  if (!v.is_number_unsigned()) Fail(key, "expected an unsigned integer");
  return v.get<std::uint64_t>();
}

std::string Str(const json& v, const char* key) {
  if (!v.is_string()) Fail(key, "expected a string");
  return v.get<std::string>();
}

class In {
 public:
  explicit In(const json& j) : j_(j) {}

  template <typename T>
  void operator()(const char* key, T& out) {
    Read(At(j_, key), key, out);
  }

  template <typename S>
  static void Object(const json& v, const char* key, S& s) {
    if (!v.is_object()) Fail(key, "expected an object");
    In in(v);
    Fields(in, s);
  }

 private:
  static void Read(const json& v, const char* key, bool& b) {
    if (!v.is_boolean()) Fail(key, "expected true or false");
    b = v.get<bool>();
  }
  static void Read(const json& v, const char* key, std::string& s) { s = Str(v, key); }
  static void Read(const json& v, const char* key, std::int64_t& i) { i = I64(v, key); }
  template <std::unsigned_integral U>
  static void Read(const json& v, const char* key, U& u) {
    const std::uint64_t x = U64(v, key);
    if (x > std::numeric_limits<U>::max()) Fail(key, "out of range");
    u = static_cast<U>(x);
  }
  template <typename E>
    requires std::is_enum_v<E>
  static void Read(const json& v, const char* key, E& e) {
    const std::uint64_t x = U64(v, key);
    if (x >= EnumCount(E{})) Fail(key, "out of range");
    e = static_cast<E>(x);
  }
  static void Read(const json& v, const char* key, double& d) {
    if (v.is_string()) {
      const std::string& s = v.get_ref<const std::string&>();
      if (s == "inf") {
        d = std::numeric_limits<double>::infinity();
        return;
      }
      if (s == "-inf") {
        d = -std::numeric_limits<double>::infinity();
        return;
      }
      if (s == "nan") {
        d = std::numeric_limits<double>::quiet_NaN();
        return;
      }
    }
    if (!v.is_number()) Fail(key, "expected a number");
    d = v.get<double>();
  }
  template <typename T>
  static void Read(const json& v, const char* key, std::optional<T>& o) {
    if (v.is_null()) {
      o.reset();
      return;
    }
    T t{};
    Read(v, key, t);
    o = std::move(t);
  }
  template <typename T, std::size_t N>
  static void Read(const json& v, const char* key, std::array<T, N>& a) {
    if (!v.is_array()) Fail(key, "expected an array");
    if (v.size() != N) Fail(key, "expected " + std::to_string(N) + " entries");
    for (std::size_t i = 0; i < N; ++i) Read(v[i], key, a[i]);
  }
  template <typename T>
  static void Read(const json& v, const char* key, std::vector<T>& out) {
    if (!v.is_array()) Fail(key, "expected an array");
    out.reserve(v.size());
    for (const json& x : v) {
      T t{};
      Read(x, key, t);
      out.push_back(std::move(t));
    }
  }
  static void Read(const json& v, const char* key, std::pair<std::string, std::string>& p) {
    if (!v.is_array() || v.size() != 2) Fail(key, "expected [topic, payload] pairs");
    p = {Str(v[0], key), Str(v[1], key)};
  }
  static void Read(const json& v, const char* key, engine::TimerState& t) {
    if (!v.is_array() || v.size() != 2) Fail(key, "expected [kind, order] pairs");
    Read(v[0], key, t.kind);
    Read(v[1], key, t.order);
  }
  static void Read(const json& v, const char* key, engine::Counters& x) { Object(v, key, x); }
  static void Read(const json& v, const char* key, engine::ClinicStats& x) { Object(v, key, x); }
  static void Read(const json& v, const char* key, engine::PendingState& x) { Object(v, key, x); }
  static void Read(const json& v, const char* key, engine::SessionState& x) { Object(v, key, x); }
  static void Read(const json& v, const char* key, engine::DeviceState& x) { Object(v, key, x); }
  static void Read(const json& v, const char* key, engine::SavedAlarm& x) { Object(v, key, x); }

  const json& j_;
};

engine::EngineState ReadEngine(const json& j) {
  if (!j.is_object()) Fail("engine", "expected an object");
  std::uint32_t version = 0;  // first: another version may have other fields
  In in(j);
  in("version", version);
  if (version != engine::kEngineStateVersion) {
    throw Bad("engine state version " + std::to_string(version) + ", this build reads " +
              std::to_string(engine::kEngineStateVersion));
  }
  engine::EngineState e;
  In::Object(j, "engine", e);
  return e;
}

}  // namespace

std::string LimitsFingerprint(std::string_view yaml) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08x", Crc32(yaml));
  return std::string("crc32:") + buf;
}

std::string EncodeSnapshot(const Snapshot& s) {
  std::string out;
  out.reserve(4096 + s.engine.devices.size() * 700);
  JsonWriter w(out);
  w.BeginObject();
  Out field(w);
  field("format", std::uint64_t{kSnapshotFormat});
  field("saved_at", s.saved_at);
  field("journal_generation", s.journal_generation);
  field("limits_fingerprint", LimitsFingerprint(s.limits_yaml));
  field("limits_source", s.limits_source);
  field("limits_yaml", s.limits_yaml);
  field("state_lost_since", s.state_lost_since);
  field("alarm_topics", s.alarm_topics);
  field("engine", s.engine);
  w.EndObject();
  out.push_back('\n');
  return out;
}

std::optional<Snapshot> DecodeSnapshot(std::string_view text, std::string* error) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "not a JSON object (truncated or corrupt)";
    return std::nullopt;
  }
  try {
    In field(j);
    std::uint64_t format = 0;
    field("format", format);
    if (format != kSnapshotFormat) {
      *error = "snapshot format " + std::to_string(format) + ", this build reads " +
               std::to_string(kSnapshotFormat);
      return std::nullopt;
    }
    Snapshot s;
    field("saved_at", s.saved_at);
    field("journal_generation", s.journal_generation);
    field("limits_source", s.limits_source);
    field("limits_yaml", s.limits_yaml);
    std::string fingerprint;
    field("limits_fingerprint", fingerprint);
    if (fingerprint != LimitsFingerprint(s.limits_yaml)) {
      *error = "limits_fingerprint does not match limits_yaml";
      return std::nullopt;
    }
    field("state_lost_since", s.state_lost_since);
    field("alarm_topics", s.alarm_topics);
    s.engine = ReadEngine(At(j, "engine"));
    return s;
  } catch (const std::exception& e) {
    *error = e.what();
    return std::nullopt;
  }
}

}  // namespace needlewatch::state
