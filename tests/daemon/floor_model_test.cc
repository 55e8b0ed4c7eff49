// FloorModel driven by a real engine, as the daemon drives it: the engine's sink forwards to
// the model; the views come from the same engine.
#include "floor_model.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../engine/engine_test_util.h"

namespace needlewatch::daemon {
namespace {

using engine::TimeNs;
using engine::testing::Sec;
using nlohmann::json;

// A parsed SSE event.
struct Sse {
  std::optional<std::uint64_t> id;
  std::string event;
  json data;
};

Sse ParseFrame(const std::string& frame) {
  Sse s;
  EXPECT_GE(frame.size(), 2U);
  EXPECT_EQ(frame.substr(frame.size() - 2), "\n\n") << frame;
  std::size_t pos = 0;
  while (pos < frame.size()) {
    const std::size_t nl = frame.find('\n', pos);
    const std::string line = frame.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) break;
    const std::size_t colon = line.find(": ");
    const std::string field = line.substr(0, colon);
    const std::string value = line.substr(colon + 2);
    if (field == "id") s.id = std::stoull(value);
    if (field == "event") s.event = value;
    if (field == "data") s.data = json::parse(value);
  }
  EXPECT_EQ(pos, frame.size()) << "more than one event in a frame: " << frame;
  return s;
}

// TestLimits without the stale rule (an hour), so tests that leave pens silent see only the
// alarms they provoke.
engine::Limits QuietLimits() {
  engine::Limits l = engine::testing::TestLimits();
  l.defaults.stale_after = 3600 * engine::kNsPerSec;
  for (auto& [name, zone] : l.zones) zone.stale_after = 3600 * engine::kNsPerSec;
  return l;
}

// The daemon's wiring in miniature: the sink forwards to the model, acks name a user.
class Floor : public engine::Sink {
 public:
  explicit Floor(FloorOptions options = {})
      : engine(QuietLimits()), model(options) {
    model.set_listener([this](const FloorModel::Frame& f) { emitted.push_back(f); });
  }

  void OnAccepted(const engine::AcceptedInfo& m) override { model.OnAccepted(m); }
  void OnSession(const engine::SessionEvent& e) override { model.OnSession(e); }
  void OnAlarm(const engine::AlarmEvent& e) override { model.OnAlarm(e, ack_user_); }

  // Zone "arm" is not listed: default limits (depth max 1.0, no warning rule), so a deep
  // sample raises depth_exceeded alone.
  void Tel(TimeNs t, double depth, double speed = 100, std::string_view zone = "arm",
           std::string_view device = "d1", std::string_view session = "S1",
           std::string_view clinic = "c1") {
    engine.OnMessage(engine::testing::DeviceTopic(clinic, device, "telemetry"),
                     engine::testing::TelemetryPayload(Seq(clinic, device), session, zone, depth,
                                                       speed),
                     t, *this);
  }
  void Start(TimeNs t, std::string_view session, std::string_view zone, std::string_view op,
             std::string_view device = "d1", std::string_view clinic = "c1") {
    engine.OnMessage(engine::testing::DeviceTopic(clinic, device, "event"),
                     engine::testing::StartPayload(Seq(clinic, device), session, zone, op), t,
                     *this);
  }
  void End(TimeNs t, std::string_view session, std::string_view device = "d1",
           std::string_view clinic = "c1") {
    engine.OnMessage(engine::testing::DeviceTopic(clinic, device, "event"),
                     engine::testing::EndPayload(Seq(clinic, device), session), t, *this);
  }
  void Status(TimeNs t, bool online, std::string_view device = "d1",
              std::string_view clinic = "c1") {
    if (online) seq_[std::string(clinic) + "/" + std::string(device)] = 0;
    engine.OnMessage(engine::testing::DeviceTopic(clinic, device, "status"),
                     engine::testing::StatusPayload(online), t, *this);
  }
  engine::AckResult Ack(TimeNs t, engine::AlarmKind kind, std::string_view user,
                        std::string_view device = "d1") {
    ack_user_ = user;
    const engine::AckResult r = engine.Acknowledge("c1", device, kind, t, *this);
    ack_user_.clear();
    return r;
  }
  std::optional<Sse> Flush(TimeNs t) {
    auto f = model.FlushDevices(engine, t);
    if (!f) return std::nullopt;
    return ParseFrame(**f);
  }
  json Devices(TimeNs t) { return json::parse(model.DevicesJson(engine, t)); }
  std::vector<Sse> Emitted() const {
    std::vector<Sse> out;
    for (const auto& f : emitted) out.push_back(ParseFrame(*f));
    return out;
  }

  engine::Engine engine;
  FloorModel model;
  std::vector<FloorModel::Frame> emitted;

 private:
  std::uint32_t Seq(std::string_view clinic, std::string_view device) {
    return ++seq_[std::string(clinic) + "/" + std::string(device)];
  }
  std::map<std::string, std::uint32_t> seq_;
  std::string ack_user_;
};

const json* FindDevice(const json& devices, const std::string& device) {
  for (const json& d : devices) {
    if (d["device"] == device) return &d;
  }
  return nullptr;
}

// --- GET /api/v1/devices

TEST(FloorDevices, ListsSessionReadingLimitsAndTheLastMinuteBySecond) {
  Floor f;
  f.Start(Sec(0.05), "S1", "cheek", "op-7");
  f.Tel(Sec(0.1), 0.5, 100);
  f.Tel(Sec(0.6), 0.7, 90);
  f.Tel(Sec(1.2), 0.4, 120, "forehead");
  const json doc = f.Devices(Sec(1.5));
  EXPECT_EQ(doc["event_id"], f.model.last_event_id());
  EXPECT_DOUBLE_EQ(doc["now"].get<double>(), engine::NsToSeconds(Sec(1.5)));
  ASSERT_EQ(doc["devices"].size(), 1U) << doc.dump();
  const json& d = doc["devices"][0];
  EXPECT_EQ(d["clinic"], "c1");
  EXPECT_EQ(d["device"], "d1");
  EXPECT_EQ(d["online"], true);
  EXPECT_EQ(d["session"], "S1");
  EXPECT_EQ(d["session_zone"], "cheek");
  EXPECT_EQ(d["operator"], "op-7");
  EXPECT_EQ(d["session_started_at_ns"].get<std::int64_t>(), Sec(0.05));
  EXPECT_EQ(d["zone"], "forehead");  // the latest sample's
  EXPECT_DOUBLE_EQ(d["depth_mm"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(d["speed_hz"].get<double>(), 120);
  EXPECT_EQ(d["last_message_at_ns"].get<std::int64_t>(), Sec(1.2));
  // Depth and speed limits of the latest sample's zone (forehead 0.5, no warn); the session's
  // from the zone it started in (cheek; TestLimits: 50 min / 60 min everywhere).
  EXPECT_DOUBLE_EQ(d["limits"]["depth_max_mm"].get<double>(), 0.5);
  EXPECT_TRUE(d["limits"]["depth_warn_mm"].is_null());
  EXPECT_DOUBLE_EQ(d["limits"]["speed_min_hz"].get<double>(), 50);
  EXPECT_DOUBLE_EQ(d["limits"]["speed_max_hz"].get<double>(), 150);
  EXPECT_DOUBLE_EQ(d["limits"]["session_warn_after_s"].get<double>(), 3000);
  EXPECT_DOUBLE_EQ(d["limits"]["session_max_duration_s"].get<double>(), 3600);

  const json& sp = d["sparkline"];
  const std::int64_t now_s = Sec(1.5) / engine::kNsPerSec;
  EXPECT_EQ(sp["start"].get<std::int64_t>(), now_s - 59);
  ASSERT_EQ(sp["depth_max"].size(), 60U);
  ASSERT_EQ(sp["speed_min"].size(), 60U);
  ASSERT_EQ(sp["speed_max"].size(), 60U);
  for (int i = 0; i < 58; ++i) EXPECT_TRUE(sp["depth_max"][i].is_null()) << i;
  // Second 0 of the test: two samples (max depth 0.7, speeds 90..100); second 1: one sample.
  EXPECT_EQ(sp["depth_max"][58], 0.7);
  EXPECT_EQ(sp["speed_min"][58], 90);
  EXPECT_EQ(sp["speed_max"][58], 100);
  EXPECT_EQ(sp["depth_max"][59], 0.4);
  EXPECT_EQ(sp["speed_min"][59], 120);
  EXPECT_EQ(sp["speed_max"][59], 120);
}

TEST(FloorDevices, SparklineKeepsOnlyTheLastMinuteAndMemoryStaysFlat) {
  Floor f;
  std::size_t after_first_minute = 0;
  for (int i = 0; i < 300; ++i) {  // 5 minutes at 1 Hz, depth = the second number / 1000
    f.Tel(Sec(i + 0.5), i / 1000.0, 100);
    if (i == 60) after_first_minute = f.model.memory_bytes();
  }
  EXPECT_EQ(f.model.memory_bytes(), after_first_minute);
  const json sp = f.Devices(Sec(299.7))["devices"][0]["sparkline"];
  ASSERT_EQ(sp["depth_max"].size(), 60U);
  for (int k = 0; k < 60; ++k) EXPECT_EQ(sp["depth_max"][k], (240 + k) / 1000.0) << k;
  // A minute later with no samples: nothing left to draw.
  EXPECT_TRUE(f.Devices(Sec(360))["devices"][0]["sparkline"].is_null());
}

TEST(FloorDevices, IdlePenHasNoSessionLimitsOrSparklineAndIsNotKept) {
  Floor f;
  f.Tel(Sec(0), 0.5);
  f.End(Sec(1), "S1");
  f.Status(Sec(2), false);
  f.Flush(Sec(2.1));
  EXPECT_EQ(f.model.pen_count(), 0U);
  const json d = f.Devices(Sec(3))["devices"][0];
  EXPECT_EQ(d["online"], false);
  EXPECT_TRUE(d["session"].is_null());
  EXPECT_TRUE(d["session_zone"].is_null());
  EXPECT_TRUE(d["operator"].is_null());
  EXPECT_TRUE(d["session_started_at"].is_null());
  EXPECT_TRUE(d["zone"].is_null());
  EXPECT_TRUE(d["depth_mm"].is_null());
  EXPECT_TRUE(d["limits"].is_null());
  EXPECT_TRUE(d["sparkline"].is_null());
}

TEST(FloorDevices, SortedByClinicThenDevice) {
  Floor f;
  f.Tel(Sec(0), 0.5, 100, "cheek", "d2", "S1", "c2");
  f.Tel(Sec(0), 0.5, 100, "cheek", "d9", "S1", "c1");
  f.Tel(Sec(0), 0.5, 100, "cheek", "d1", "S1", "c2");
  const json devices = f.Devices(Sec(1))["devices"];
  ASSERT_EQ(devices.size(), 3U);
  EXPECT_EQ(devices[0]["clinic"].get<std::string>() + devices[0]["device"].get<std::string>(),
            "c1d9");
  EXPECT_EQ(devices[1]["clinic"].get<std::string>() + devices[1]["device"].get<std::string>(),
            "c2d1");
  EXPECT_EQ(devices[2]["clinic"].get<std::string>() + devices[2]["device"].get<std::string>(),
            "c2d2");
}

TEST(FloorDevices, SessionOpenBeforeTheModelExistedIsReadFromTheEngine) {
  engine::Engine eng(engine::testing::TestLimits());
  engine::Sink quiet;
  eng.OnMessage(engine::testing::DeviceTopic("c1", "d1", "event"),
                engine::testing::StartPayload(1, "S-old", "cheek", "op-1"), Sec(0), quiet);
  FloorModel model;  // e.g. a restart that kept the engine's state
  const json d = json::parse(model.DevicesJson(eng, Sec(1)))["devices"][0];
  EXPECT_EQ(d["session"], "S-old");
  EXPECT_EQ(d["operator"], "op-1");
  EXPECT_EQ(d["session_started_at_ns"].get<std::int64_t>(), Sec(0));
}

// --- devices frames

TEST(FloorFrames, CoalescesEveryChangeSinceTheLastFrameIntoOneEvent) {
  Floor f;
  for (int i = 0; i < 50; ++i) {
    for (const char* d : {"d1", "d2", "d3"}) f.Tel(Sec(i * 0.004), 0.5 + i / 1000.0, 100, "cheek", d);
  }
  auto frame = f.Flush(Sec(0.25));
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->event, "devices");
  ASSERT_TRUE(frame->id);
  EXPECT_EQ(*frame->id, f.model.last_event_id());
  ASSERT_EQ(frame->data["devices"].size(), 3U) << frame->data.dump();
  const json* d1 = FindDevice(frame->data["devices"], "d1");
  ASSERT_NE(d1, nullptr);
  EXPECT_EQ((*d1)["session"], "S1");  // first frame of the pen: whole
  EXPECT_DOUBLE_EQ((*d1)["depth_mm"].get<double>(), 0.549);
  EXPECT_EQ((*d1)["sparkline"]["depth_max"], json::array({0.549}));
  // Nothing changed since: no frame.
  EXPECT_FALSE(f.Flush(Sec(0.5)));
  EXPECT_EQ(f.emitted.size(), 1U);
}

TEST(FloorFrames, ReadingOnlyChangesSendTheReadingAndTheChangedSeconds) {
  Floor f;
  f.Tel(Sec(0.9), 0.5);
  f.Flush(Sec(0.95));
  f.Tel(Sec(0.99), 0.6);
  f.Tel(Sec(1.1), 0.7, 120);
  auto frame = f.Flush(Sec(1.2));
  ASSERT_TRUE(frame);
  const json d = frame->data["devices"][0];
  EXPECT_FALSE(d.contains("online")) << d.dump();
  EXPECT_FALSE(d.contains("limits"));
  EXPECT_DOUBLE_EQ(d["depth_mm"].get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(d["last_message_at"].get<double>(), engine::NsToSeconds(Sec(1.1)));
  // Seconds 0 and 1 of the test both changed.
  EXPECT_EQ(d["sparkline"]["start"].get<std::int64_t>(), Sec(0.99) / engine::kNsPerSec);
  EXPECT_EQ(d["sparkline"]["depth_max"], json::array({0.6, 0.7}));
  EXPECT_EQ(d["sparkline"]["speed_max"], json::array({100, 120}));
}

TEST(FloorFrames, ZoneStatusAndSessionChangesSendThePenWhole) {
  Floor f;
  f.Tel(Sec(0), 0.5, 100, "cheek");
  f.Flush(Sec(0.1));
  f.Tel(Sec(0.2), 0.4, 100, "forehead");
  auto zone = f.Flush(Sec(0.3));
  ASSERT_TRUE(zone);
  EXPECT_EQ(zone->data["devices"][0]["zone"], "forehead");
  EXPECT_DOUBLE_EQ(zone->data["devices"][0]["limits"]["depth_max_mm"].get<double>(), 0.5);

  f.Status(Sec(0.4), false);
  auto offline = f.Flush(Sec(0.5));
  ASSERT_TRUE(offline);
  EXPECT_EQ(offline->data["devices"][0]["online"], false);

  f.End(Sec(0.6), "S1");
  auto ended = f.Flush(Sec(0.7));
  ASSERT_TRUE(ended);
  EXPECT_TRUE(ended->data["devices"][0]["session"].is_null());
  EXPECT_TRUE(ended->data["devices"][0]["sparkline"].is_null());
  EXPECT_EQ(f.model.pen_count(), 0U);
}

TEST(FloorFrames, LimitsReloadSendsOpenSessionsWhole) {
  Floor f;
  f.Tel(Sec(0), 0.5);
  f.Flush(Sec(0.1));
  f.model.OnLimitsChanged();
  auto frame = f.Flush(Sec(0.2));
  ASSERT_TRUE(frame);
  EXPECT_TRUE(frame->data["devices"][0].contains("limits"));
}

// --- alarm events and the history

TEST(FloorAlarms, EachTransitionIsOneEventWithTheInstanceAndTheAcknowledgingUser) {
  Floor f;
  f.Tel(Sec(1), 2.0);                       // depth_exceeded (max 1.0): raised
  f.Tel(Sec(2), 0.5);                       // back within: latched (high)
  ASSERT_EQ(f.Ack(Sec(3), engine::AlarmKind::kDepthExceeded, "alice"),
            engine::AckResult::kCleared);   // ended
  std::vector<Sse> alarms;
  for (const Sse& s : f.Emitted()) {
    if (s.event == "alarm") alarms.push_back(s);
  }
  ASSERT_EQ(alarms.size(), 3U);
  EXPECT_EQ(alarms[0].data["transition"], "raised");
  EXPECT_EQ(alarms[1].data["transition"], "latched");
  EXPECT_EQ(alarms[2].data["transition"], "ack_cleared");
  EXPECT_TRUE(alarms[0].data["user"].is_null());
  EXPECT_EQ(alarms[2].data["user"], "alice");
  EXPECT_EQ(alarms[2].data["at_ns"].get<std::int64_t>(), Sec(3));
  EXPECT_LT(*alarms[0].id, *alarms[1].id);
  EXPECT_LT(*alarms[1].id, *alarms[2].id);

  const json a = alarms[2].data["alarm"];
  EXPECT_EQ(a["v"], 1);
  EXPECT_EQ(a["instance"], alarms[0].data["alarm"]["instance"]);
  EXPECT_EQ(a["alarm"], "depth_exceeded");
  EXPECT_EQ(a["severity"], "high");
  EXPECT_EQ(a["state"], "cleared");
  EXPECT_EQ(a["acknowledged"], true);
  EXPECT_EQ(a["clinic"], "c1");
  EXPECT_EQ(a["device"], "d1");
  EXPECT_EQ(a["session"], "S1");
  EXPECT_EQ(a["zone"], "arm");
  EXPECT_DOUBLE_EQ(a["value"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(a["limit"].get<double>(), 1.0);
  EXPECT_EQ(a["raised_at_ns"].get<std::int64_t>(), Sec(1));
  EXPECT_EQ(a["cleared_at_ns"].get<std::int64_t>(), Sec(2));
  EXPECT_EQ(a["acknowledged_at_ns"].get<std::int64_t>(), Sec(3));
  EXPECT_EQ(a["acknowledged_by"], "alice");
  EXPECT_EQ(a["ended_at_ns"].get<std::int64_t>(), Sec(3));
  EXPECT_EQ(a["late"], false);

  // The history holds the same instance.
  const json h = json::parse(f.model.HistoryJson(Sec(0)));
  ASSERT_EQ(h["alarms"].size(), 1U);
  EXPECT_EQ(h["alarms"][0], a);
  EXPECT_EQ(h["event_id"], f.model.last_event_id());
}

TEST(FloorAlarms, AcknowledgingAnActiveAlarmKeepsItOpenUntilItClears) {
  Floor f;
  f.Tel(Sec(1), 2.0);
  ASSERT_EQ(f.Ack(Sec(2), engine::AlarmKind::kDepthExceeded, "bob"),
            engine::AckResult::kAcknowledged);
  json a = json::parse(f.model.HistoryJson(Sec(0)))["alarms"][0];
  EXPECT_EQ(a["state"], "active");
  EXPECT_EQ(a["acknowledged_by"], "bob");
  EXPECT_TRUE(a["ended_at"].is_null());
  f.Tel(Sec(3), 0.5);  // clears (acknowledged: no latch)
  a = json::parse(f.model.HistoryJson(Sec(0)))["alarms"][0];
  EXPECT_EQ(a["state"], "cleared");
  EXPECT_EQ(a["ended_at_ns"].get<std::int64_t>(), Sec(3));
  EXPECT_EQ(a["acknowledged_at_ns"].get<std::int64_t>(), Sec(2));
}

TEST(FloorAlarms, ARaiseAfterTheEndIsANewInstance) {
  Floor f;
  f.Tel(Sec(1), 2.0);
  f.Ack(Sec(2), engine::AlarmKind::kDepthExceeded, "alice");
  f.Tel(Sec(3), 0.5);
  f.Tel(Sec(4), 2.0);
  const json h = json::parse(f.model.HistoryJson(Sec(0)))["alarms"];
  ASSERT_EQ(h.size(), 2U);
  EXPECT_NE(h[0]["instance"], h[1]["instance"]);
  EXPECT_FALSE(h[0]["ended_at"].is_null());
  EXPECT_TRUE(h[1]["ended_at"].is_null());
  EXPECT_TRUE(h[1]["acknowledged_by"].is_null());
}

TEST(FloorHistory, SinceKeepsWhatWasOpenAtOrAfterIt) {
  Floor f;
  f.Tel(Sec(1), 2.0, 100, "arm", "d1");  // raised 1, acknowledged 3, ended 3.5
  f.Tel(Sec(2), 2.0, 100, "arm", "d2");  // raised 2, still open
  f.Ack(Sec(3), engine::AlarmKind::kDepthExceeded, "alice", "d1");
  f.Tel(Sec(3.5), 0.5, 100, "arm", "d1");
  f.Tel(Sec(10), 2.0, 100, "arm", "d3");  // raised 10
  auto devices = [&](TimeNs since) {
    std::vector<std::string> out;
    const json doc = json::parse(f.model.HistoryJson(since));
    for (const json& a : doc["alarms"]) {
      out.push_back(a["device"]);
    }
    return out;
  };
  EXPECT_EQ(devices(Sec(0)), (std::vector<std::string>{"d1", "d2", "d3"}));
  EXPECT_EQ(devices(Sec(3)), (std::vector<std::string>{"d1", "d2", "d3"}));  // d1 ended at 3.5
  EXPECT_EQ(devices(Sec(5)), (std::vector<std::string>{"d2", "d3"}));
  const json h = json::parse(f.model.HistoryJson(Sec(5)));
  EXPECT_EQ(h["since_ns"].get<std::int64_t>(), Sec(5));
  EXPECT_EQ(h["truncated"], false);
}

TEST(FloorHistory, BoundedToItsCapacityOldestFirstOut) {
  FloorOptions o;
  o.history_capacity = 5;
  Floor f(o);
  for (int i = 0; i < 8; ++i) {
    const std::string d = "d" + std::to_string(i);
    f.Tel(Sec(i), 2.0, 100, "arm", d);
  }
  EXPECT_EQ(f.model.history_size(), 5U);
  const json h = json::parse(f.model.HistoryJson(Sec(0)));
  ASSERT_EQ(h["alarms"].size(), 5U);
  EXPECT_EQ(h["alarms"][0]["device"], "d3");
  EXPECT_EQ(h["alarms"][4]["device"], "d7");
  EXPECT_EQ(h["truncated"], true);  // d0..d2 were raised after `since` and dropped
  EXPECT_EQ(json::parse(f.model.HistoryJson(Sec(5)))["truncated"], false);
  // A transition of a dropped instance starts a new one (the engine still knows the alarm).
  f.Ack(Sec(9), engine::AlarmKind::kDepthExceeded, "alice", "d0");
  const json last = json::parse(f.model.HistoryJson(Sec(0)))["alarms"][4];
  EXPECT_EQ(last["device"], "d0");
  EXPECT_EQ(last["raised_at_ns"].get<std::int64_t>(), Sec(0));
  EXPECT_EQ(last["acknowledged_by"], "alice");
}

// --- the stream: ids, resume, reset

TEST(FloorStream, IdsAreOneSequenceAcrossAlarmAndDevicesEventsFromTheConfiguredBase) {
  FloorOptions o;
  o.first_event_id = 1'000'000;
  Floor f(o);
  EXPECT_EQ(f.model.last_event_id(), 999'999U);
  f.Tel(Sec(0), 2.0);  // alarm 1'000'000
  f.Flush(Sec(0.25));  // devices 1'000'001
  f.Tel(Sec(0.3), 0.5);  // latched 1'000'002
  f.Flush(Sec(0.5));   // devices 1'000'003
  std::vector<std::uint64_t> ids;
  std::vector<std::string> kinds;
  for (const Sse& s : f.Emitted()) {
    ids.push_back(*s.id);
    kinds.push_back(s.event);
  }
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{1'000'000, 1'000'001, 1'000'002, 1'000'003}));
  EXPECT_EQ(kinds, (std::vector<std::string>{"alarm", "devices", "alarm", "devices"}));
}

TEST(FloorStream, ResumeReplaysEveryMissedAlarmEventAndTheDevicesWhole) {
  Floor f;
  f.Tel(Sec(0), 2.0, 100, "arm", "d1");
  f.Flush(Sec(0.25));
  const std::uint64_t seen = f.model.last_event_id();
  f.Tel(Sec(0.3), 2.0, 100, "arm", "d2");  // missed: raised d2
  f.Tel(Sec(0.4), 0.5, 100, "arm", "d1");  // missed: latched d1
  f.Flush(Sec(0.5));                         // missed devices frame

  const FloorModel::Resume r = f.model.ResumeFrom({seen}, f.engine, Sec(0.6));
  EXPECT_FALSE(r.reset);
  ASSERT_EQ(r.frames.size(), 3U);
  const Sse a = ParseFrame(*r.frames[0]);
  const Sse b = ParseFrame(*r.frames[1]);
  const Sse d = ParseFrame(*r.frames[2]);
  EXPECT_EQ(a.event, "alarm");
  EXPECT_EQ(a.data["alarm"]["device"], "d2");
  EXPECT_EQ(b.data["transition"], "latched");
  EXPECT_EQ(d.event, "devices");
  EXPECT_EQ(d.data["full"], true);
  EXPECT_EQ(d.data["devices"].size(), 2U);
  EXPECT_TRUE(d.data["devices"][0].contains("online"));  // whole
  EXPECT_EQ(*d.id, f.model.last_event_id());
  // The replayed events are the very strings the live listener got (serialised once).
  EXPECT_EQ(r.frames[0].get(), f.emitted[2].get());

  // Up to date, or no id at all: nothing to replay.
  EXPECT_TRUE(f.model.ResumeFrom({f.model.last_event_id()}, f.engine, Sec(0.6)).frames.empty());
  EXPECT_TRUE(f.model.ResumeFrom({}, f.engine, Sec(0.6)).frames.empty());
  // Missed only an alarm event: no devices snapshot.
  f.Tel(Sec(0.7), 2.0, 100, "arm", "d3");
  const auto only = f.model.ResumeFrom({f.model.last_event_id() - 1}, f.engine, Sec(0.8));
  ASSERT_EQ(only.frames.size(), 1U);
  EXPECT_EQ(ParseFrame(*only.frames[0]).event, "alarm");
}

TEST(FloorStream, AResumeSnapshotDoesNotHideAChangeFromTheSharedFrames) {
  Floor f;
  f.Tel(Sec(0), 0.5, 100, "cheek");
  f.Flush(Sec(0.1));
  const std::uint64_t seen = f.model.last_event_id();
  f.Tel(Sec(0.2), 0.4, 100, "forehead");  // a zone change, not yet in a shared frame
  f.Flush(Sec(0.25));
  f.Tel(Sec(0.3), 0.4, 100, "cheek");
  f.model.ResumeFrom({seen}, f.engine, Sec(0.35));  // one client's snapshot
  auto frame = f.Flush(Sec(0.5));
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->data["devices"][0]["zone"], "cheek");  // still sent whole to everyone
}

TEST(FloorStream, ResetWhenTheIdIsOlderThanTheRingOrUnknown) {
  FloorOptions o;
  o.alarm_ring_capacity = 4;
  o.first_event_id = 500;
  Floor f(o);
  for (int i = 0; i < 10; ++i) f.Tel(Sec(i), i % 2 == 0 ? 2.0 : 0.5, 100, "arm", "d1");
  // Alarm events 500..509 (raise, latch alternately... each a transition); ring keeps 506..509.
  EXPECT_EQ(f.model.ring_size(), 4U);
  auto reset_reason = [&](std::optional<std::uint64_t> id) -> std::string {
    const auto r = f.model.ResumeFrom({id}, f.engine, Sec(20));
    if (!r.reset) return "";
    EXPECT_EQ(r.frames.size(), 1U);
    const Sse s = ParseFrame(*r.frames[0]);
    EXPECT_EQ(s.event, "reset");
    EXPECT_EQ(*s.id, f.model.last_event_id());
    EXPECT_EQ(s.data["event_id"], f.model.last_event_id());
    return s.data["reason"];
  };
  const std::uint64_t head = f.model.last_event_id();
  ASSERT_EQ(head, 509U);
  EXPECT_EQ(reset_reason(head - 4), "");  // 505 seen: 506.. are all kept
  EXPECT_EQ(reset_reason(head - 5), "too_old");  // 505 was dropped
  EXPECT_EQ(reset_reason(12), "too_old");        // an earlier process's id
  EXPECT_EQ(reset_reason(head + 1), "unknown_id");
  EXPECT_EQ(f.model.ResumeFrom({head - 4}, f.engine, Sec(20)).frames.size(), 4U);
}

TEST(FloorStream, AFreshModelResumesFromTheIdBeforeItsFirstWithoutReset) {
  FloorOptions o;
  o.first_event_id = 100;
  Floor f(o);
  EXPECT_FALSE(f.model.ResumeFrom({99}, f.engine, Sec(0)).reset);
  EXPECT_TRUE(f.model.ResumeFrom({98}, f.engine, Sec(0)).reset);
}

TEST(FloorStream, PingCarriesTheServerTimeAndNoId) {
  const std::string p = FloorModel::PingFrame(Sec(1.5));
  const Sse s = ParseFrame(p);
  EXPECT_FALSE(s.id.has_value());
  EXPECT_EQ(s.event, "ping");
  EXPECT_DOUBLE_EQ(s.data["now"].get<double>(), engine::NsToSeconds(Sec(1.5)));
  EXPECT_EQ(FloorModel::StreamPreamble(), "retry: 2000\n\n");
}

TEST(FloorWhoami, UserOrNullAndWhetherAcksAreAccepted) {
  EXPECT_EQ(json::parse(FloorModel::WhoamiJson("alice", true)),
            json::parse(R"({"user":"alice","can_ack":true})"));
  EXPECT_EQ(json::parse(FloorModel::WhoamiJson("", false)),
            json::parse(R"({"user":null,"can_ack":false})"));
}

TEST(FloorMemory, PerPenCostIsBoundedAndReported) {
  Floor f;
  const std::size_t empty = f.model.memory_bytes();
  for (int i = 0; i < 100; ++i) {
    f.Start(Sec(0), "S-" + std::to_string(i), "cheek", "op", "pen-" + std::to_string(i));
    for (int s = 0; s < 120; ++s) f.Tel(Sec(s), 0.5, 100, "cheek", "pen-" + std::to_string(i),
                                        "S-" + std::to_string(i));
  }
  f.Flush(Sec(120));
  const double per_pen = static_cast<double>(f.model.memory_bytes() - empty) / 100.0;
  std::printf("floor model memory per pen with an open session: %.0f bytes\n", per_pen);
  EXPECT_LT(per_pen, 2048);  // README: about 1.3 KB

  // Alarm history and event ring at their bounds.
  FloorOptions o;
  o.history_capacity = 1000;
  o.alarm_ring_capacity = 1000;
  Floor g(o);
  const std::size_t before = g.model.memory_bytes();
  for (int i = 0; i < 1500; ++i) {
    const std::string d = "pen-" + std::to_string(i);
    g.Tel(Sec(i), 2.0, 100, "arm", d, "S-" + std::to_string(i));  // one raise each
  }
  g.Flush(Sec(1500));
  EXPECT_EQ(g.model.history_size(), 1000U);
  EXPECT_EQ(g.model.ring_size(), 1000U);
  const double per_alarm =
      static_cast<double>(g.model.memory_bytes() - before - 1500 * per_pen) / 1000.0;
  std::printf("floor model memory per alarm (history instance + ring event): %.0f bytes\n",
              per_alarm);
  EXPECT_LT(per_alarm, 2048);  // README: about 1 KB
}

// --- request helpers

TEST(FloorRequests, ParseEventId) {
  EXPECT_EQ(ParseEventId("0"), 0U);
  EXPECT_EQ(ParseEventId("1795611133125001"), 1795611133125001U);
  EXPECT_EQ(ParseEventId("18446744073709551615"), 18446744073709551615U);
  for (const char* bad : {"", "-1", "1.5", " 1", "1 ", "abc", "18446744073709551616",
                          "000000000000000000001"}) {
    EXPECT_FALSE(ParseEventId(bad).has_value()) << bad;
  }
}

TEST(FloorRequests, QueryParam) {
  EXPECT_EQ(QueryParam("since=17&x=1", "since"), "17");
  EXPECT_EQ(QueryParam("x=1&since=17", "since"), "17");
  EXPECT_EQ(QueryParam("x=1&since", "since"), "");
  EXPECT_FALSE(QueryParam("x=1&sincex=2", "since").has_value());
  EXPECT_FALSE(QueryParam("", "since").has_value());
}

TEST(FloorRequests, ParseSince) {
  std::string error;
  EXPECT_EQ(ParseSince("1795611133", &error), 1795611133LL * engine::kNsPerSec);
  EXPECT_EQ(ParseSince("1795611133.5", &error), 1795611133500000000LL);
  EXPECT_EQ(ParseSince("0", &error), 0);
  for (const char* bad : {"", "-5", "abc", "1e9", "nan", "1.2.3", "999999999999"}) {
    error.clear();
    EXPECT_FALSE(ParseSince(bad, &error).has_value()) << bad;
    EXPECT_NE(error.find("since"), std::string::npos) << bad;
  }
}

TEST(FloorRequests, StartOfLocalDayFollowsTz) {
  const char* old = std::getenv("TZ");
  const std::string saved = old ? old : "";
  // 2026-11-25 12:52:13 UTC.
  const TimeNs now = 1795611133LL * engine::kNsPerSec + 125'000'000;
  setenv("TZ", "UTC0", 1);
  tzset();
  EXPECT_EQ(StartOfLocalDay(now), 1795564800LL * engine::kNsPerSec);
  setenv("TZ", "XYZ-14", 1);  // UTC+14: already 02:52 on the 26th
  tzset();
  EXPECT_EQ(StartOfLocalDay(now), (1795564800LL + 86400 - 14 * 3600) * engine::kNsPerSec);
  if (old) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
}

}  // namespace
}  // namespace needlewatch::daemon
