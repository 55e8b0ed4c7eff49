#include "floor_model.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <tuple>
#include <utility>

#include "needlewatch/protocol/json_writer.h"

namespace needlewatch::daemon {
namespace {

using engine::TimeNs;
using protocol::JsonWriter;

std::uint32_t SecondOf(TimeNs t) {
  return t <= 0 ? 0 : static_cast<std::uint32_t>(t / engine::kNsPerSec);
}

// Sparkline values are kept as float; written rounded to 0.001 (1 µm, 1 mHz), so a float's
// binary expansion (1.2000000476837158) never reaches the page.
double Rounded(float v) { return std::round(static_cast<double>(v) * 1000.0) / 1000.0; }

void AppendKey(std::string& key, std::string_view clinic, std::string_view device) {
  key.assign(clinic);
  key += '/';
  key.append(device);
}

// `,"name":<seconds>,"name_ns":<ns>` as in GET /api/v1/alarms; both null when unset.
void TimeFields(JsonWriter& w, std::string_view name, std::optional<TimeNs> t) {
  const std::string ns_name = std::string(name) + "_ns";
  if (t) {
    w.Field(name, engine::NsToSeconds(*t)).Field(ns_name, static_cast<std::int64_t>(*t));
  } else {
    w.Key(name).Null().Key(ns_name).Null();
  }
}

double Seconds(TimeNs d) { return engine::NsToSeconds(d); }

// A `late` alarm (CONTRACT v1.1): raised for something that happened while the daemon was
// down. Taken from the event once the engine reports it; until then, a raise whose instant
// lies before the transition.
template <typename Event>
bool IsLate(const Event& e) {
  if constexpr (requires { e.late; }) {
    return e.late;
  } else {
    return e.transition == engine::Transition::kRaised && e.raised_at < e.at;
  }
}

std::shared_ptr<const std::string> MakeFrame(std::uint64_t id, std::string_view event,
                                             const std::string& data) {
  std::string f;
  f.reserve(data.size() + event.size() + 40);
  f += "id: ";
  f += std::to_string(id);
  f += "\nevent: ";
  f += event;
  f += "\ndata: ";
  f += data;  // compact JSON: one line (JsonWriter escapes every newline inside strings)
  f += "\n\n";
  return std::make_shared<const std::string>(std::move(f));
}

}  // namespace

FloorModel::FloorModel(FloorOptions options)
    : options_(options),
      next_event_id_(std::max<std::uint64_t>(options.first_event_id, 1)),
      resume_floor_(next_event_id_ - 1) {
  options_.history_capacity = std::max<std::size_t>(options_.history_capacity, 1);
  options_.alarm_ring_capacity = std::max<std::size_t>(options_.alarm_ring_capacity, 1);
}

FloorModel::~FloorModel() = default;

// ---------------------------------------------------------------------------------------------
// Pens

FloorModel::Pen& FloorModel::PenFor(std::string_view clinic, std::string_view device) {
  AppendKey(key_buf_, clinic, device);
  auto it = pens_.find(key_buf_);
  if (it == pens_.end()) {
    it = pens_.emplace(key_buf_, Pen{}).first;
    it->second.clinic.assign(clinic);
    it->second.device.assign(device);
  }
  return it->second;
}

void FloorModel::MarkDirty(Pen& pen) {
  if (pen.dirty) return;
  pen.dirty = true;
  dirty_.push_back(&pen);
}

void FloorModel::ErasePen(const Pen& pen) {
  AppendKey(key_buf_, pen.clinic, pen.device);
  pens_.erase(key_buf_);
}

void FloorModel::OnAccepted(const engine::AcceptedInfo& m) {
  Pen& pen = PenFor(m.clinic, m.device);
  if (m.channel == protocol::Channel::kTelemetry) {
    const std::uint32_t sec = SecondOf(m.at);
    Bucket& b = pen.spark[sec % kSparklineSeconds];
    const auto depth = static_cast<float>(m.depth_mm);
    const auto speed = static_cast<float>(m.speed_hz);
    if (b.sec != sec) {
      b = Bucket{sec, depth, speed, speed};
    } else {
      b.depth_max = std::max(b.depth_max, depth);
      b.speed_min = std::min(b.speed_min, speed);
      b.speed_max = std::max(b.speed_max, speed);
    }
    if (pen.spark_dirty_from == 0) pen.spark_dirty_from = sec;
    pen.spark_dirty_to = sec;
  } else {
    pen.whole = true;  // a status or a session event: more than the reading changed
  }
  MarkDirty(pen);
}

void FloorModel::OnSession(const engine::SessionEvent& e) {
  Pen& pen = PenFor(e.clinic, e.device);
  if (e.started) {
    pen.session = SessionInfo{e.session, e.zone, e.op, e.started_at};
  } else if (pen.session && pen.session->id == e.session) {
    pen.session.reset();
    pen.spark = {};  // the next session starts a fresh line
    pen.spark_dirty_from = pen.spark_dirty_to = 0;
  }
  pen.whole = true;
  MarkDirty(pen);
}

void FloorModel::OnLimitsChanged() {
  for (auto& [key, pen] : pens_) {
    if (!pen.session) continue;
    pen.whole = true;
    MarkDirty(pen);
  }
}

void FloorModel::SyncSessions(const engine::Engine& engine) {
  sessions_synced_ = true;
  engine.ForEachOpenSession([&](const engine::SessionEvent& s) {
    AppendKey(key_buf_, s.clinic, s.device);
    auto it = pens_.find(key_buf_);
    if (it != pens_.end() && it->second.session && it->second.session->id == s.session) return;
    Pen& pen = PenFor(s.clinic, s.device);
    pen.session = SessionInfo{s.session, s.zone, s.op, s.started_at};
  });
}

// ---------------------------------------------------------------------------------------------
// Device objects

namespace {

struct SparkRange {
  std::uint32_t from = 0;  // first second written; 0: no sparkline (null)
  std::uint32_t to = 0;
};

// The JSON of one pen. `whole`: every field (GET /api/v1/devices, a pen whose structure
// changed); otherwise only the reading (depth, speed, last message, the changed seconds).
// Templates over the model's private Pen and SessionInfo types.
template <typename Pen, typename SessionInfo>
void WriteDevice(JsonWriter& w, const engine::DeviceView& v, const SessionInfo* s,
                 const engine::Limits& limits, const Pen* pen, SparkRange range, bool whole) {
  w.BeginObject().Field("clinic", v.clinic).Field("device", v.device);
  const bool open = v.session_open;
  if (whole) {
    w.Field("online", v.online);
    w.StringOrNull("session", open ? v.session : std::string_view());
    w.StringOrNull("session_zone", open && s ? std::string_view(s->zone) : std::string_view());
    w.StringOrNull("operator", open && s ? std::string_view(s->op) : std::string_view());
    TimeFields(w, "session_started_at",
               open && s ? std::optional<TimeNs>(s->started_at) : std::nullopt);
    w.StringOrNull("zone", v.zone);
  }
  w.Field("depth_mm", v.depth_mm).Field("speed_hz", v.speed_hz);
  if (whole) {
    w.Key("limits");
    if (open) {
      // Depth and speed: the zone of the latest sample (else the session's). Session time:
      // the zone the session started in (CONTRACT §4).
      const std::string_view zone = !v.zone.empty() ? v.zone
                                    : s             ? std::string_view(s->zone)
                                                    : std::string_view();
      const engine::ZoneLimits& z = limits.ForZone(zone);
      const engine::ZoneLimits& sz = s ? limits.ForZone(s->zone) : z;
      w.BeginObject()
          .Field("depth_max_mm", z.depth_max_mm)
          .Field("depth_warn_mm", z.depth_warn_mm)
          .Field("speed_min_hz", z.speed_min_hz)
          .Field("speed_max_hz", z.speed_max_hz)
          .Field("session_warn_after_s",
                 sz.session_warn_after ? std::optional<double>(Seconds(*sz.session_warn_after))
                                       : std::nullopt)
          .Field("session_max_duration_s", Seconds(sz.session_max_duration))
          .EndObject();
    } else {
      w.Null();
    }
  }
  w.Key("sparkline");
  if (pen != nullptr && range.from != 0 && range.from <= range.to) {
    w.BeginObject().Field("start", static_cast<std::int64_t>(range.from));
    auto series = [&](const char* name, auto get) {
      w.Key(name).BeginArray();
      for (std::uint32_t sec = range.from; sec <= range.to; ++sec) {
        const auto& b = pen->spark[sec % kSparklineSeconds];
        if (b.sec == sec) {
          w.Number(Rounded(get(b)));
        } else {
          w.Null();
        }
      }
      w.EndArray();
    };
    series("depth_max", [](const auto& b) { return b.depth_max; });
    series("speed_min", [](const auto& b) { return b.speed_min; });
    series("speed_max", [](const auto& b) { return b.speed_max; });
    w.EndObject();
  } else {
    w.Null();
  }
  if (whole) {
    TimeFields(w, "last_message_at", v.last_message_at);
  } else {
    // Milliseconds are plenty for "last heard" and keep the frequent reading items short.
    w.Field("last_message_at", std::round(engine::NsToSeconds(v.last_message_at) * 1e3) / 1e3);
  }
  w.EndObject();
}

// The last minute up to `now`, or no range when the pen has no sample in it.
template <typename Pen>
SparkRange Window(const Pen* pen, TimeNs now) {
  if (pen == nullptr) return {};
  const std::uint32_t to = SecondOf(now);
  const std::uint32_t from = to >= kSparklineSeconds ? to - (kSparklineSeconds - 1) : 1;
  for (const auto& b : pen->spark) {
    if (b.sec >= from && b.sec <= to) return {from, to};
  }
  return {};
}

}  // namespace

std::string FloorModel::DevicesJson(const engine::Engine& engine, TimeNs now) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject()
      .Field("event_id", static_cast<std::uint64_t>(last_event_id()))
      .Field("now", engine::NsToSeconds(now))
      .Key("devices")
      .BeginArray();
  SyncSessions(engine);
  struct Row {
    std::string clinic;
    std::string device;
    std::string json;
  };
  std::vector<Row> rows;
  rows.reserve(engine.device_count());
  std::string one;
  engine.ForEachDevice([&](const engine::DeviceView& v) {
    AppendKey(key_buf_, v.clinic, v.device);
    auto it = pens_.find(key_buf_);
    const Pen* pen = it == pens_.end() ? nullptr : &it->second;
    const SessionInfo* s = pen && pen->session ? &*pen->session : nullptr;
    one.clear();
    JsonWriter pw(one);
    WriteDevice(pw, v, s, engine.limits(), pen, Window(pen, now), true);
    rows.push_back({std::string(v.clinic), std::string(v.device), one});
  });
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.clinic, a.device) < std::tie(b.clinic, b.device);
  });
  for (const Row& r : rows) w.Raw(r.json);
  w.EndArray().EndObject();
  return out;
}

FloorModel::Frame FloorModel::DevicesFrame(const engine::Engine& engine, TimeNs now, bool full,
                                           std::uint64_t id) {
  if (full && !sessions_synced_) SyncSessions(engine);
  std::string data;
  JsonWriter w(data);
  w.BeginObject().Field("now", engine::NsToSeconds(now));
  if (full) w.Field("full", true);
  w.Key("devices").BeginArray();
  engine.ForEachDevice([&](const engine::DeviceView& v) {
    AppendKey(key_buf_, v.clinic, v.device);
    auto it = pens_.find(key_buf_);
    Pen* pen = it == pens_.end() ? nullptr : &it->second;
    if (!full && (pen == nullptr || !pen->dirty)) return;
    const SessionInfo* s = pen && pen->session ? &*pen->session : nullptr;
    bool whole = full;
    SparkRange range = full ? Window(pen, now) : SparkRange{};
    if (pen != nullptr && !full) {
      whole = pen->whole || pen->sent_online != v.online || pen->sent_session != v.session ||
              pen->sent_zone != v.zone;
      range = {pen->spark_dirty_from, pen->spark_dirty_to};
    }
    WriteDevice(w, v, s, engine.limits(), pen, range, whole);
    // A full snapshot goes to one connection only: what the shared frames said is unchanged.
    if (pen != nullptr && !full) {
      pen->sent_online = v.online;
      pen->sent_session.assign(v.session);
      pen->sent_zone.assign(v.zone);
      pen->dirty = false;
      pen->whole = false;
      pen->spark_dirty_from = pen->spark_dirty_to = 0;
    }
  });
  if (!full) {
    // Pens that changed but are gone from the engine (evicted meanwhile): tell the page.
    for (Pen* pen : dirty_) {
      if (!pen->dirty) continue;
      w.BeginObject()
          .Field("clinic", pen->clinic)
          .Field("device", pen->device)
          .Field("removed", true)
          .EndObject();
      pen->dirty = false;
    }
  }
  w.EndArray().EndObject();
  return MakeFrame(id, "devices", data);
}

std::optional<FloorModel::Frame> FloorModel::FlushDevices(const engine::Engine& engine,
                                                          TimeNs now) {
  if (dirty_.empty()) return std::nullopt;
  // Sessions opened before this model saw their start (a restart that kept the engine's
  // state) are read once; OnSession keeps them current from then on.
  if (!sessions_synced_) SyncSessions(engine);
  const std::uint64_t id = NextEventId();
  Frame f = DevicesFrame(engine, now, /*full=*/false, id);
  last_devices_id_ = id;
  // Pens without an open session need nothing kept once their change went out.
  for (const Pen* pen : dirty_) {
    if (!pen->session) ErasePen(*pen);
  }
  dirty_.clear();
  Emit(f);
  return f;
}

// ---------------------------------------------------------------------------------------------
// Alarms

namespace {

template <typename Instance>
void WriteInstance(JsonWriter& w, const Instance& a) {
  const engine::AlarmEvent& e = a.last;
  w.BeginObject()
      .Field("v", 1)
      .Field("instance", static_cast<std::uint64_t>(a.id))
      .Field("alarm", engine::AlarmName(e.alarm))
      .Field("severity", engine::SeverityName(e.severity))
      .Field("state", engine::AlarmStateName(e.state))
      .Field("acknowledged", e.acknowledged)
      .Field("clinic", e.clinic)
      .Field("device", e.device)
      .Field("session", e.session)
      .Field("zone", e.zone)
      .Field("value", e.value)
      .Field("limit", e.limit);
  TimeFields(w, "raised_at", e.raised_at);
  TimeFields(w, "cleared_at", e.cleared_at);
  w.Field("late", a.late);
  TimeFields(w, "acknowledged_at", a.acknowledged_at);
  w.StringOrNull("acknowledged_by", a.acknowledged_by);
  TimeFields(w, "ended_at", a.ended_at);
  w.EndObject();
}

}  // namespace

FloorModel::Instance& FloorModel::InstanceFor(const engine::AlarmEvent& e) {
  std::string key;
  AppendKey(key, e.clinic, e.device);
  key += '/';
  key += engine::AlarmName(e.alarm);
  if (e.transition != engine::Transition::kRaised) {
    auto it = open_instances_.find(key);
    if (it != open_instances_.end() && !history_.empty() && it->second >= history_.front().id) {
      Instance& found = history_[it->second - history_.front().id];
      if (found.last.raised_at == e.raised_at) return found;
    }
  }
  // A raise, or a transition of an instance this model has not seen raised (it was raised
  // before the model existed, or dropped from the history): a new instance.
  if (history_.size() >= options_.history_capacity) {
    history_.pop_front();
    history_dropped_ = true;
  }
  Instance& a = history_.emplace_back();
  a.id = next_instance_id_++;
  a.late = IsLate(e);
  open_instances_[key] = a.id;
  return a;
}

void FloorModel::OnAlarm(const engine::AlarmEvent& e, std::string_view user) {
  Instance& a = InstanceFor(e);
  a.last = e;
  a.late = a.late || IsLate(e);
  switch (e.transition) {
    case engine::Transition::kRaised:
    case engine::Transition::kLatched:
      break;
    case engine::Transition::kAcknowledged:
      a.acknowledged_at = e.at;
      a.acknowledged_by.assign(user);
      break;
    case engine::Transition::kAckCleared:
      a.acknowledged_at = e.at;
      a.acknowledged_by.assign(user);
      a.ended_at = e.at;
      break;
    case engine::Transition::kCleared:
      a.ended_at = e.at;
      break;
  }
  if (a.ended_at) {
    std::string key;
    AppendKey(key, e.clinic, e.device);
    key += '/';
    key += engine::AlarmName(e.alarm);
    auto it = open_instances_.find(key);
    if (it != open_instances_.end() && it->second == a.id) open_instances_.erase(it);
  }

  std::string data;
  JsonWriter w(data);
  w.BeginObject().Field("transition", engine::TransitionName(e.transition));
  TimeFields(w, "at", e.at);
  w.StringOrNull("user", user).Key("alarm");
  WriteInstance(w, a);
  w.EndObject();
  const std::uint64_t id = NextEventId();
  Frame f = MakeFrame(id, "alarm", data);
  if (ring_.size() >= options_.alarm_ring_capacity) {
    resume_floor_ = ring_.front().id;
    ring_bytes_ -= ring_.front().frame->size();
    ring_.pop_front();
  }
  ring_.push_back({id, f});
  ring_bytes_ += f->size();
  Emit(f);
}

std::string FloorModel::HistoryJson(TimeNs since) const {
  std::string out;
  JsonWriter w(out);
  w.BeginObject().Field("event_id", static_cast<std::uint64_t>(last_event_id()));
  TimeFields(w, "since", since);
  // Truncated: instances were dropped, and the oldest kept one is not older than `since`, so
  // the dropped ones may have belonged to the answer.
  const bool truncated =
      history_dropped_ && !history_.empty() && history_.front().last.raised_at >= since;
  w.Field("truncated", truncated).Key("alarms").BeginArray();
  for (const Instance& a : history_) {
    if (a.last.raised_at >= since || !a.ended_at || *a.ended_at >= since) WriteInstance(w, a);
  }
  w.EndArray().EndObject();
  return out;
}

std::string FloorModel::WhoamiJson(std::string_view user, bool can_ack) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject().StringOrNull("user", user).Field("can_ack", can_ack).EndObject();
  return out;
}

// ---------------------------------------------------------------------------------------------
// The stream

void FloorModel::Emit(const Frame& frame) {
  if (listener_) listener_(frame);
}

FloorModel::Resume FloorModel::ResumeFrom(ResumePoint from, const engine::Engine& engine,
                                          TimeNs now) {
  Resume r;
  if (!from.last_event_id) return r;
  const std::uint64_t x = *from.last_event_id;
  const std::uint64_t head = last_event_id();
  if (x < resume_floor_ || x > head) {
    std::string data;
    JsonWriter w(data);
    w.BeginObject()
        .Field("reason", x > head ? "unknown_id" : "too_old")
        .Field("event_id", static_cast<std::uint64_t>(head))
        .EndObject();
    r.reset = true;
    r.frames.push_back(MakeFrame(head, "reset", data));
    return r;
  }
  // Alarm events after x, oldest first (ids ascend along the ring).
  auto it = std::upper_bound(ring_.begin(), ring_.end(), x,
                             [](std::uint64_t id, const RingEntry& e) { return id < e.id; });
  for (; it != ring_.end(); ++it) r.frames.push_back(it->frame);
  // Devices frames carry only what changed, so a missed one is replaced by every pen whole.
  if (last_devices_id_ > x) r.frames.push_back(DevicesFrame(engine, now, /*full=*/true, head));
  return r;
}

std::string FloorModel::PingFrame(TimeNs now) {
  std::string f = "event: ping\ndata: ";
  JsonWriter w(f);
  w.BeginObject().Field("now", engine::NsToSeconds(now)).EndObject();
  f += "\n\n";
  return f;
}

std::size_t FloorModel::memory_bytes() const {
  // Node-based containers: the node (value + next pointer + cached hash) and the strings that
  // outgrew their small-string buffer.
  auto heap = [](const std::string& s) {
    return s.capacity() > 15 ? s.capacity() + 1 : 0;
  };
  std::size_t n = sizeof(*this);
  n += pens_.bucket_count() * sizeof(void*);
  for (const auto& [key, pen] : pens_) {
    n += sizeof(std::pair<const std::string, Pen>) + 2 * sizeof(void*);
    n += heap(key) + heap(pen.clinic) + heap(pen.device) + heap(pen.sent_session) +
         heap(pen.sent_zone);
    if (pen.session) n += heap(pen.session->id) + heap(pen.session->zone) + heap(pen.session->op);
  }
  n += dirty_.capacity() * sizeof(Pen*);
  for (const Instance& a : history_) {
    n += sizeof(Instance) + heap(a.last.clinic) + heap(a.last.device) + heap(a.last.session) +
         heap(a.last.zone) + heap(a.acknowledged_by);
  }
  n += open_instances_.size() * (sizeof(std::pair<const std::string, std::uint64_t>) + 48);
  n += ring_.size() * (sizeof(RingEntry) + 32) + ring_bytes_;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Request helpers

std::optional<std::uint64_t> ParseEventId(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::string_view> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<TimeNs> ParseSince(std::string_view value, std::string* error) {
  // Up to year 5138 (1e11 s): far beyond any real instant, far below int64 nanoseconds.
  constexpr double kMaxSeconds = 1e11;
  const char* end = value.data() + value.size();
  if (!value.empty() && value.find_first_not_of("0123456789.") == std::string_view::npos) {
    if (value.find('.') == std::string_view::npos) {
      std::int64_t s = 0;
      const auto [ptr, ec] = std::from_chars(value.data(), end, s);
      if (ec == std::errc() && ptr == end && s <= static_cast<std::int64_t>(kMaxSeconds)) {
        return s * engine::kNsPerSec;
      }
    } else {
      double s = 0;
      const auto [ptr, ec] = std::from_chars(value.data(), end, s);
      if (ec == std::errc() && ptr == end && std::isfinite(s) && s <= kMaxSeconds) {
        return static_cast<TimeNs>(std::llround(s * 1e9));
      }
    }
  }
  *error = "since: expected seconds since the Unix epoch, e.g. 1795611133 or 1795611133.5";
  return std::nullopt;
}

TimeNs StartOfLocalDay(TimeNs now) {
  const std::time_t secs = static_cast<std::time_t>(now / engine::kNsPerSec);
  std::tm tm{};
  if (localtime_r(&secs, &tm) == nullptr) return now - now % (86400 * engine::kNsPerSec);
  tm.tm_hour = 0;
  tm.tm_min = 0;
  tm.tm_sec = 0;
  tm.tm_isdst = -1;  // let mktime decide (the day may start in another DST state)
  const std::time_t midnight = std::mktime(&tm);
  if (midnight == static_cast<std::time_t>(-1)) return now - now % (86400 * engine::kNsPerSec);
  return static_cast<TimeNs>(midnight) * engine::kNsPerSec;
}

}  // namespace needlewatch::daemon
