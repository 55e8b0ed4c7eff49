#include "needlewatch/state/snapshot.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "needlewatch/protocol/json_writer.h"
#include "needlewatch/state/journal.h"

namespace needlewatch::state {
namespace {

using nlohmann::json;
using protocol::JsonWriter;

// ---- encoding ----

template <typename T>
void UIntArray(JsonWriter& w, std::string_view key, const T& values) {
  w.Key(key).BeginArray();
  for (const auto v : values) w.UInt(static_cast<std::uint64_t>(v));
  w.EndArray();
}

// A double, exactly: JSON has no infinities, so those (an unset bound) are strings.
void Dbl(JsonWriter& w, std::string_view key, double d) {
  w.Key(key);
  if (std::isfinite(d)) {
    w.Number(d);
  } else {
    w.String(std::isnan(d) ? "nan" : (d > 0 ? "inf" : "-inf"));
  }
}

void OptTime(JsonWriter& w, std::string_view key, const std::optional<engine::TimeNs>& t) {
  w.Key(key);
  if (t) {
    w.Int(*t);
  } else {
    w.Null();
  }
}

void WriteCounters(JsonWriter& w, const engine::Counters& c) {
  w.Key("counters").BeginObject();
  UIntArray(w, "received", c.received);
  w.Field("accepted", c.accepted);
  UIntArray(w, "rejected", c.rejected);
  w.Field("ignored_own", c.ignored_own)
      .Field("unknown_zone", c.unknown_zone)
      .Field("seq_gaps", c.seq_gaps)
      .Field("sessions_started", c.sessions_started)
      .Field("sessions_ended", c.sessions_ended)
      .Field("devices_evicted", c.devices_evicted)
      .Field("late_messages", c.late_messages)
      .Field("reordered", c.reordered)
      .EndObject();
}

void WriteClinic(JsonWriter& w, const engine::ClinicStats& c) {
  w.BeginObject()
      .Field("clinic", c.clinic)
      .Field("sessions_active", c.sessions_active)
      .Field("seq_gaps", c.seq_gaps)
      .Field("sessions_started", c.sessions_started)
      .Field("sessions_ended", c.sessions_ended)
      .Field("unsafe_sessions", c.unsafe_sessions)
      .Field("devices_online", c.devices_online)
      .Field("devices_offline", c.devices_offline)
      .Key("alarms_raised")
      .BeginArray();
  for (const auto& by_severity : c.alarms_raised) {
    w.BeginArray();
    for (const std::uint64_t n : by_severity) w.UInt(n);
    w.EndArray();
  }
  w.EndArray().EndObject();
}

void WriteSession(JsonWriter& w, const engine::SessionState& s) {
  w.BeginObject()
      .Field("session", s.session)
      .Field("zone", s.zone)
      .Field("op", s.op)
      .Field("implicit", s.implicit)
      .Field("unsafe_counted", s.unsafe_counted)
      .Field("started_at", std::int64_t{s.started_at})
      .Field("stale_base", std::int64_t{s.stale_base})
      .Field("samples", s.samples);
  Dbl(w, "max_depth_mm", s.max_depth_mm);
  Dbl(w, "max_speed_hz", s.max_speed_hz);
  w.Key("zones").BeginArray();
  for (const std::string& z : s.zones) w.String(z);
  w.EndArray()
      .Field("alarms_raised", std::uint64_t{s.alarms_raised})
      .Field("has_sample", s.has_sample)
      .Field("last_zone", s.last_zone);
  Dbl(w, "last_depth_mm", s.last_depth_mm);
  Dbl(w, "last_speed_hz", s.last_speed_hz);
  w.Key("pendings").BeginArray();
  for (const engine::PendingState& p : s.pendings) {
    w.BeginObject()
        .Field("alarm", static_cast<unsigned>(p.alarm))
        .Field("t0", std::int64_t{p.t0})
        .Field("zone", p.zone);
    Dbl(w, "value", p.value);
    Dbl(w, "limit", p.limit);
    w.EndObject();
  }
  w.EndArray().EndObject();
}

void WriteDevice(JsonWriter& w, const engine::DeviceState& d) {
  w.BeginObject()
      .Field("slot", std::uint64_t{d.slot})
      .Field("clinic", d.clinic)
      .Field("device", d.device)
      .Field("online", d.online)
      .Field("seq_valid", d.seq_valid)
      .Field("last_seq", std::uint64_t{d.last_seq});
  UIntArray(w, "seq_seen", d.seq_seen);
  w.Field("last_message_at", std::int64_t{d.last_message_at})
      .Field("has_offset", d.has_offset)
      .Field("offset_ns", std::int64_t{d.offset_ns})
      .Field("offset_at", std::int64_t{d.offset_at})
      .Field("last_effective_at", std::int64_t{d.last_effective_at})
      .Field("lagging", d.lagging)
      .Key("session");
  if (d.session) {
    WriteSession(w, *d.session);
  } else {
    w.Null();
  }
  w.Key("timers").BeginArray();
  for (const engine::TimerState& t : d.timers) {
    w.BeginArray().UInt(static_cast<unsigned>(t.kind)).UInt(t.order).EndArray();
  }
  w.EndArray().EndObject();
}

void WriteAlarm(JsonWriter& w, const engine::SavedAlarm& a) {
  w.BeginObject()
      .Field("slot", std::uint64_t{a.slot})
      .Field("clinic", a.clinic)
      .Field("device", a.device)
      .Field("alarm", static_cast<unsigned>(a.alarm))
      .Field("severity", static_cast<unsigned>(a.severity))
      .Field("state", static_cast<unsigned>(a.state))
      .Field("acknowledged", a.acknowledged)
      .Field("session", a.session)
      .Field("zone", a.zone)
      .Field("raised_at", std::int64_t{a.raised_at});
  OptTime(w, "cleared_at", a.cleared_at);
  for (const auto& [key, v] : {std::pair{"value", a.value}, std::pair{"limit", a.limit}}) {
    if (v) {
      Dbl(w, key, *v);
    } else {
      w.Key(key).Null();
    }
  }
  w.Field("late", a.late).EndObject();
}

void WriteEngine(JsonWriter& w, const engine::EngineState& e) {
  w.Key("engine").BeginObject()
      .Field("version", std::uint64_t{e.version})
      .Field("now", std::int64_t{e.now})
      .Field("catching_up", e.catching_up)
      .Field("next_order", e.next_order);
  WriteCounters(w, e.counters);
  w.Key("clinics").BeginArray();
  for (const engine::ClinicStats& c : e.clinics) WriteClinic(w, c);
  w.EndArray().Field("device_slots", std::uint64_t{e.device_slots}).Key("devices").BeginArray();
  for (const engine::DeviceState& d : e.devices) WriteDevice(w, d);
  w.EndArray();
  UIntArray(w, "free_device_slots", e.free_device_slots);
  w.Field("alarm_slots", std::uint64_t{e.alarm_slots}).Key("alarms").BeginArray();
  for (const engine::SavedAlarm& a : e.alarms) WriteAlarm(w, a);
  w.EndArray();
  UIntArray(w, "free_alarm_slots", e.free_alarm_slots);
  w.EndObject();
}

// ---- decoding (throws; DecodeSnapshot turns it into an error) ----

struct Bad : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const json& At(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) throw Bad(std::string("\"") + key + "\": missing");
  return *it;
}

std::string Str(const json& j, const char* key) {
  const json& v = At(j, key);
  if (!v.is_string()) throw Bad(std::string("\"") + key + "\": expected a string");
  return v.get<std::string>();
}

bool Bool(const json& j, const char* key) {
  const json& v = At(j, key);
  if (!v.is_boolean()) throw Bad(std::string("\"") + key + "\": expected true or false");
  return v.get<bool>();
}

std::int64_t I64(const json& v, const char* key) {
  if (!v.is_number_integer()) throw Bad(std::string("\"") + key + "\": expected an integer");
  return v.get<std::int64_t>();
}
std::int64_t I64(const json& j, const char* key, int) { return I64(At(j, key), key); }

std::uint64_t U64(const json& v, const char* key) {
  if (!v.is_number_unsigned()) {
    throw Bad(std::string("\"") + key + "\": expected an unsigned integer");
  }
  return v.get<std::uint64_t>();
}
std::uint64_t U64(const json& j, const char* key, int) { return U64(At(j, key), key); }

std::uint32_t U32(const json& j, const char* key) {
  const std::uint64_t v = U64(j, key, 0);
  if (v > 0xffffffffu) throw Bad(std::string("\"") + key + "\": out of range");
  return static_cast<std::uint32_t>(v);
}

template <typename E>
E Enum(const json& j, const char* key, std::size_t count) {
  const std::uint64_t v = U64(j, key, 0);
  if (v >= count) throw Bad(std::string("\"") + key + "\": out of range");
  return static_cast<E>(v);
}

double Num(const json& j, const char* key) {
  const json& v = At(j, key);
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  if (!v.is_number()) throw Bad(std::string("\"") + key + "\": expected a number");
  return v.get<double>();
}

std::optional<double> OptNum(const json& j, const char* key) {
  const json& v = At(j, key);
  if (v.is_null()) return std::nullopt;
  return Num(j, key);
}

const json& Arr(const json& j, const char* key) {
  const json& v = At(j, key);
  if (!v.is_array()) throw Bad(std::string("\"") + key + "\": expected an array");
  return v;
}

template <typename T, std::size_t N>
void FixedArray(const json& j, const char* key, std::array<T, N>& out) {
  const json& a = Arr(j, key);
  if (a.size() != N) {
    throw Bad(std::string("\"") + key + "\": expected " + std::to_string(N) + " entries");
  }
  for (std::size_t i = 0; i < N; ++i) out[i] = static_cast<T>(U64(a[i], key));
}

template <typename T>
void UIntVector(const json& j, const char* key, std::vector<T>& out) {
  for (const json& v : Arr(j, key)) out.push_back(static_cast<T>(U64(v, key)));
}

engine::Counters ReadCounters(const json& j) {
  engine::Counters c;
  FixedArray(j, "received", c.received);
  c.accepted = U64(j, "accepted", 0);
  FixedArray(j, "rejected", c.rejected);
  c.ignored_own = U64(j, "ignored_own", 0);
  c.unknown_zone = U64(j, "unknown_zone", 0);
  c.seq_gaps = U64(j, "seq_gaps", 0);
  c.sessions_started = U64(j, "sessions_started", 0);
  c.sessions_ended = U64(j, "sessions_ended", 0);
  c.devices_evicted = U64(j, "devices_evicted", 0);
  c.late_messages = U64(j, "late_messages", 0);
  c.reordered = U64(j, "reordered", 0);
  return c;
}

engine::ClinicStats ReadClinic(const json& j) {
  engine::ClinicStats c;
  c.clinic = Str(j, "clinic");
  c.sessions_active = U64(j, "sessions_active", 0);
  c.seq_gaps = U64(j, "seq_gaps", 0);
  c.sessions_started = U64(j, "sessions_started", 0);
  c.sessions_ended = U64(j, "sessions_ended", 0);
  c.unsafe_sessions = U64(j, "unsafe_sessions", 0);
  c.devices_online = U64(j, "devices_online", 0);
  c.devices_offline = U64(j, "devices_offline", 0);
  const json& raised = Arr(j, "alarms_raised");
  if (raised.size() != engine::kAlarmKindCount) throw Bad("\"alarms_raised\": wrong size");
  for (std::size_t k = 0; k < engine::kAlarmKindCount; ++k) {
    if (!raised[k].is_array() || raised[k].size() != engine::kSeverityCount) {
      throw Bad("\"alarms_raised\": wrong size");
    }
    for (std::size_t s = 0; s < engine::kSeverityCount; ++s) {
      c.alarms_raised[k][s] = U64(raised[k][s], "alarms_raised");
    }
  }
  return c;
}

engine::SessionState ReadSession(const json& j) {
  engine::SessionState s;
  s.session = Str(j, "session");
  s.zone = Str(j, "zone");
  s.op = Str(j, "op");
  s.implicit = Bool(j, "implicit");
  s.unsafe_counted = Bool(j, "unsafe_counted");
  s.started_at = I64(j, "started_at", 0);
  s.stale_base = I64(j, "stale_base", 0);
  s.samples = U64(j, "samples", 0);
  s.max_depth_mm = Num(j, "max_depth_mm");
  s.max_speed_hz = Num(j, "max_speed_hz");
  for (const json& z : Arr(j, "zones")) {
    if (!z.is_string()) throw Bad("\"zones\": expected strings");
    s.zones.push_back(z.get<std::string>());
  }
  s.alarms_raised = U32(j, "alarms_raised");
  s.has_sample = Bool(j, "has_sample");
  s.last_zone = Str(j, "last_zone");
  s.last_depth_mm = Num(j, "last_depth_mm");
  s.last_speed_hz = Num(j, "last_speed_hz");
  for (const json& p : Arr(j, "pendings")) {
    engine::PendingState ps;
    ps.alarm = Enum<engine::AlarmKind>(p, "alarm", engine::kAlarmKindCount);
    ps.t0 = I64(p, "t0", 0);
    ps.value = Num(p, "value");
    ps.limit = Num(p, "limit");
    ps.zone = Str(p, "zone");
    s.pendings.push_back(std::move(ps));
  }
  return s;
}

engine::DeviceState ReadDevice(const json& j) {
  engine::DeviceState d;
  d.slot = U32(j, "slot");
  d.clinic = Str(j, "clinic");
  d.device = Str(j, "device");
  d.online = Bool(j, "online");
  d.seq_valid = Bool(j, "seq_valid");
  d.last_seq = U32(j, "last_seq");
  FixedArray(j, "seq_seen", d.seq_seen);
  d.last_message_at = I64(j, "last_message_at", 0);
  d.has_offset = Bool(j, "has_offset");
  d.offset_ns = I64(j, "offset_ns", 0);
  d.offset_at = I64(j, "offset_at", 0);
  d.last_effective_at = I64(j, "last_effective_at", 0);
  d.lagging = Bool(j, "lagging");
  if (const json& s = At(j, "session"); !s.is_null()) d.session = ReadSession(s);
  for (const json& t : Arr(j, "timers")) {
    if (!t.is_array() || t.size() != 2) throw Bad("\"timers\": expected [kind, order] pairs");
    const std::uint64_t kind = U64(t[0], "timers");
    if (kind >= engine::kTimerKindCount) throw Bad("\"timers\": kind out of range");
    d.timers.push_back({static_cast<engine::TimerKind>(kind), U64(t[1], "timers")});
  }
  return d;
}

engine::SavedAlarm ReadAlarm(const json& j) {
  engine::SavedAlarm a;
  a.slot = U32(j, "slot");
  a.clinic = Str(j, "clinic");
  a.device = Str(j, "device");
  a.alarm = Enum<engine::AlarmKind>(j, "alarm", engine::kAlarmKindCount);
  a.severity = Enum<engine::Severity>(j, "severity", engine::kSeverityCount);
  a.state = Enum<engine::AlarmState>(j, "state", 3);
  a.acknowledged = Bool(j, "acknowledged");
  a.session = Str(j, "session");
  a.zone = Str(j, "zone");
  a.raised_at = I64(j, "raised_at", 0);
  if (const json& c = At(j, "cleared_at"); !c.is_null()) a.cleared_at = I64(c, "cleared_at");
  a.value = OptNum(j, "value");
  a.limit = OptNum(j, "limit");
  a.late = Bool(j, "late");
  return a;
}

engine::EngineState ReadEngine(const json& j) {
  engine::EngineState e;
  e.version = U32(j, "version");
  if (e.version != engine::kEngineStateVersion) {
    throw Bad("engine state version " + std::to_string(e.version) + ", this build reads " +
              std::to_string(engine::kEngineStateVersion));
  }
  e.now = I64(j, "now", 0);
  e.catching_up = Bool(j, "catching_up");
  e.next_order = U64(j, "next_order", 0);
  e.counters = ReadCounters(At(j, "counters"));
  for (const json& c : Arr(j, "clinics")) e.clinics.push_back(ReadClinic(c));
  e.device_slots = U32(j, "device_slots");
  for (const json& d : Arr(j, "devices")) e.devices.push_back(ReadDevice(d));
  UIntVector(j, "free_device_slots", e.free_device_slots);
  e.alarm_slots = U32(j, "alarm_slots");
  for (const json& a : Arr(j, "alarms")) e.alarms.push_back(ReadAlarm(a));
  UIntVector(j, "free_alarm_slots", e.free_alarm_slots);
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
  w.BeginObject()
      .Field("format", std::uint64_t{kSnapshotFormat})
      .Field("saved_at", std::int64_t{s.saved_at})
      .Field("journal_generation", s.journal_generation)
      .Field("limits_fingerprint", LimitsFingerprint(s.limits_yaml))
      .Field("limits_source", s.limits_source)
      .Field("limits_yaml", s.limits_yaml);
  OptTime(w, "state_lost_since", s.state_lost_since);
  w.Key("alarm_topics").BeginArray();
  for (const auto& [topic, payload] : s.alarm_topics) {
    w.BeginArray().String(topic).String(payload).EndArray();
  }
  w.EndArray();
  WriteEngine(w, s.engine);
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
    Snapshot s;
    const std::uint64_t format = U64(j, "format", 0);
    if (format != kSnapshotFormat) {
      *error = "snapshot format " + std::to_string(format) + ", this build reads " +
               std::to_string(kSnapshotFormat);
      return std::nullopt;
    }
    s.saved_at = I64(j, "saved_at", 0);
    s.journal_generation = U64(j, "journal_generation", 0);
    s.limits_source = Str(j, "limits_source");
    s.limits_yaml = Str(j, "limits_yaml");
    if (Str(j, "limits_fingerprint") != LimitsFingerprint(s.limits_yaml)) {
      *error = "limits_fingerprint does not match limits_yaml";
      return std::nullopt;
    }
    if (const json& t = At(j, "state_lost_since"); !t.is_null()) {
      s.state_lost_since = I64(t, "state_lost_since");
    }
    for (const json& p : Arr(j, "alarm_topics")) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_string() || !p[1].is_string()) {
        throw Bad("\"alarm_topics\": expected [topic, payload] pairs");
      }
      s.alarm_topics.emplace_back(p[0].get<std::string>(), p[1].get<std::string>());
    }
    s.engine = ReadEngine(At(j, "engine"));
    return s;
  } catch (const std::exception& e) {
    *error = e.what();
    return std::nullopt;
  }
}

}  // namespace needlewatch::state
