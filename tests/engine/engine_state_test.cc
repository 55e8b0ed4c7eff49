// Save/Restore (issue 12 item 1, engine part): an engine restored from another's Save()
// continues exactly like it. A seeded property test over random scenarios (messages of several
// devices and clinics, duplicates, malformed input, acks, reloads, catch-ups with late
// messages, eviction), saved at random points; and Restore's checks on inconsistent states.
#include "needlewatch/engine/state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine_test_util.h"
#include "needlewatch/engine/engine.h"

namespace needlewatch::engine::testing {
namespace {

using ::testing::HasSubstr;

std::string Opt(const std::optional<double>& v) {
  if (!v) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", *v);
  return buf;
}
std::string Opt(const std::optional<TimeNs>& v) { return v ? std::to_string(*v) : "null"; }

// Every field of every output, one line each.
class FullSink : public Sink {
 public:
  void OnAccepted(const AcceptedInfo& m) override {
    Add("accepted " + std::string(protocol::ChannelName(m.channel)) + " " + std::string(m.clinic) +
        "/" + std::string(m.device) + " at=" + std::to_string(m.at) +
        " eff=" + std::to_string(m.effective_at) + " late=" + std::to_string(m.late) +
        " ts=" + std::to_string(m.ts_ms) + " " + Opt(std::optional<double>(m.depth_mm)) + " " +
        Opt(std::optional<double>(m.speed_hz)));
  }
  void OnAlarm(const AlarmEvent& e) override {
    Add("alarm " + std::string(TransitionName(e.transition)) + " " +
        std::string(AlarmName(e.alarm)) + " " + std::string(SeverityName(e.severity)) + " " +
        std::string(AlarmStateName(e.state)) + " ack=" + std::to_string(e.acknowledged) + " " +
        e.clinic + "/" + e.device + " " + e.session + " " + e.zone +
        " raised=" + std::to_string(e.raised_at) + " cleared=" + Opt(e.cleared_at) +
        " at=" + std::to_string(e.at) + " v=" + Opt(e.value) + " l=" + Opt(e.limit) +
        " late=" + std::to_string(e.late));
  }
  void OnSession(const SessionEvent& e) override {
    std::string zones;
    for (const std::string& z : e.zones) zones += z + ",";
    Add("session " + std::to_string(e.started) + " " +
        std::to_string(static_cast<int>(e.reason)) + " " + e.clinic + "/" + e.device + " " +
        e.session + " " + e.zone + " op=" + e.op + " implicit=" + std::to_string(e.implicit) +
        " started=" + std::to_string(e.started_at) + " ended=" + Opt(e.ended_at) +
        " samples=" + std::to_string(e.samples) + " " + Opt(e.max_depth_mm) + " " +
        Opt(e.max_speed_hz) + " zones=" + zones + " alarms=" + std::to_string(e.alarms_raised));
  }
  void OnReject(const RejectInfo& r) override {
    Add("reject " + std::string(protocol::RejectName(r.reason)) + " " +
        std::string(protocol::ChannelName(r.channel)) + " " + std::string(r.topic) + " " +
        std::string(r.detail) + " at=" + std::to_string(r.at));
  }
  void OnSeqGap(const SeqGapInfo& g) override {
    Add("gap " + std::string(g.clinic) + "/" + std::string(g.device) + " " +
        std::to_string(g.expected) + " " + std::to_string(g.got) + " at=" + std::to_string(g.at));
  }
  void Add(std::string line) { lines.push_back(std::move(line)); }
  std::vector<std::string> lines;
};

// Everything the engine shows through its views and counters.
std::string Views(const Engine& e) {
  std::ostringstream o;
  const Counters& c = e.counters();
  o << "now=" << e.now() << " catching_up=" << e.catching_up() << " devices=" << e.device_count()
    << " accepted=" << c.accepted << " gaps=" << c.seq_gaps << " late=" << c.late_messages
    << " started=" << c.sessions_started << " ended=" << c.sessions_ended
    << " evicted=" << c.devices_evicted << " unknown_zone=" << c.unknown_zone
    << " own=" << c.ignored_own << "\n";
  for (auto n : c.received) o << n << ",";
  for (auto n : c.rejected) o << n << ",";
  o << "\n";
  e.ForEachClinic([&](const ClinicStats& s) {
    o << "clinic " << s.clinic << " " << s.sessions_active << " " << s.seq_gaps << " "
      << s.sessions_started << " " << s.sessions_ended << " " << s.unsafe_sessions << " "
      << s.devices_online << " " << s.devices_offline;
    for (const auto& row : s.alarms_raised) {
      for (auto n : row) o << " " << n;
    }
    o << "\n";
  });
  e.ForEachDevice([&](const DeviceView& v) {
    o << "device " << v.clinic << "/" << v.device << " " << v.online << " " << v.session_open
      << " " << v.session << " " << v.zone << " " << Opt(v.depth_mm) << " " << Opt(v.speed_hz)
      << " " << v.last_message_at << "\n";
  });
  e.ForEachAlarm([&](const AlarmView& v) {
    o << "alarm " << AlarmName(v.alarm) << " " << SeverityName(v.severity) << " "
      << AlarmStateName(v.state) << " " << v.acknowledged << " " << v.clinic << "/" << v.device
      << " " << v.session << " " << v.zone << " " << v.raised_at << " " << Opt(v.cleared_at)
      << " " << Opt(v.value) << " " << Opt(v.limit) << " " << v.late << "\n";
  });
  FullSink open;
  e.ForEachOpenSession([&](const SessionEvent& s) { open.OnSession(s); });
  for (const std::string& l : open.lines) o << l << "\n";
  return o.str();
}

// The whole saved state as text, to compare two saves.
std::string Dump(const EngineState& s) {
  std::ostringstream o;
  o << "v" << s.version << " now=" << s.now << " cu=" << s.catching_up << " next=" << s.next_order
    << " accepted=" << s.counters.accepted << " late=" << s.counters.late_messages << "\n";
  for (const ClinicStats& c : s.clinics) o << "clinic " << c.clinic << " " << c.sessions_started << "\n";
  o << "device_slots=" << s.device_slots << " free:";
  for (auto f : s.free_device_slots) o << " " << f;
  o << "\n";
  for (const DeviceState& d : s.devices) {
    o << "device " << d.slot << " " << d.clinic << "/" << d.device << " " << d.online << " "
      << d.seq_valid << " " << d.last_seq << " " << d.last_message_at << " " << d.has_offset << " "
      << d.offset_ns << " " << d.offset_at << " " << d.last_effective_at << " " << d.lagging;
    for (const TimerState& t : d.timers) o << " t" << static_cast<int>(t.kind) << ":" << t.order;
    o << "\n";
    if (!d.session) continue;
    const SessionState& ss = *d.session;
    o << "  session " << ss.session << " " << ss.zone << " " << ss.op << " " << ss.implicit << " "
      << ss.unsafe_counted << " " << ss.started_at << " " << ss.stale_base << " " << ss.samples
      << " " << ss.max_depth_mm << " " << ss.max_speed_hz << " " << ss.alarms_raised << " "
      << ss.has_sample << " " << ss.last_zone << " " << ss.last_depth_mm << " "
      << ss.last_speed_hz << " zones:";
    for (const std::string& z : ss.zones) o << " " << z;
    for (const PendingState& p : ss.pendings) {
      o << " p" << static_cast<int>(p.alarm) << ":" << p.t0 << ":" << p.value << ":" << p.limit
        << ":" << p.zone;
    }
    o << "\n";
  }
  o << "alarm_slots=" << s.alarm_slots << " free:";
  for (auto f : s.free_alarm_slots) o << " " << f;
  o << "\n";
  for (const SavedAlarm& a : s.alarms) {
    o << "alarm " << a.slot << " " << a.clinic << "/" << a.device << " " << AlarmName(a.alarm)
      << " " << SeverityName(a.severity) << " " << AlarmStateName(a.state) << " " << a.acknowledged
      << " " << a.session << " " << a.zone << " " << a.raised_at << " " << Opt(a.cleared_at) << " "
      << Opt(a.value) << " " << Opt(a.limit) << " " << a.late << "\n";
  }
  return o.str();
}

// The speed `for` differs by zone (pending conditions follow the zone), and a second table for
// reloads.
Limits ScenarioLimits(bool alternative) {
  Limits l = TestLimits();
  ZoneLimits periorbital;
  periorbital.depth_max_mm = 0.5;
  periorbital.speed_max_hz = 120;
  periorbital.speed.for_ns = 0;
  ZoneLimits scalp;
  scalp.speed.for_ns = 3 * kNsPerSec;
  scalp.session_max_duration = 40 * kNsPerSec;
  scalp.session_warn_after = 20 * kNsPerSec;
  l.zones.emplace_back("periorbital", periorbital);
  l.zones.emplace_back("scalp", scalp);
  if (alternative) {
    for (auto& [name, z] : l.zones) {
      z.speed.for_ns = 500 * kNsPerMs;
      z.stale_after = 2 * kNsPerSec;
    }
    l.zones[1].second.speed_max_hz = 160;  // cheek
  }
  return l;
}

EngineOptions ScenarioOptions() {
  EngineOptions o;
  o.evict_idle_after = 5 * kNsPerSec;
  o.max_devices = 5;
  return o;
}

// One input to the engine.
struct Step {
  enum Kind { kMessage, kAdvance, kAck, kLimits, kBegin, kEnd } kind = kMessage;
  TimeNs t = 0;
  std::string topic;
  std::string payload;
  std::string clinic, device;
  AlarmKind alarm = AlarmKind::kDepthExceeded;
  bool alternative = false;
};

Step At(Step::Kind kind, TimeNs t) {
  Step s;
  s.kind = kind;
  s.t = t;
  return s;
}

void Apply(const Step& s, Engine& e, Sink& sink) {
  switch (s.kind) {
    case Step::kMessage: e.OnMessage(s.topic, s.payload, s.t, sink); break;
    case Step::kAdvance: e.AdvanceTo(s.t, sink); break;
    case Step::kAck: e.Acknowledge(s.clinic, s.device, s.alarm, s.t, sink); break;
    case Step::kLimits: e.SetLimits(ScenarioLimits(s.alternative), s.t, sink); break;
    case Step::kBegin: e.BeginCatchUp(s.t, sink); break;
    case Step::kEnd: e.EndCatchUp(s.t, sink); break;
  }
}

// A seeded random scenario: 6 devices in 2 clinics (one more than max_devices; three of them
// quieter, so that they are evicted), each with its own clock skew; while "down" (between a gap in time and a Begin) devices keep publishing into
// a backlog that is delivered in a burst during catch-up.
std::vector<Step> Scenario(std::uint64_t seed, int steps) {
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  auto next = [&state](std::uint64_t n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 33) % n;
  };
  const char* zones[] = {"cheek", "forehead", "scalp", "periorbital"};
  const double depths[] = {0.2, 0.45, 0.6, 0.9, 1.2, 1.7};
  const double speeds[] = {30, 100, 130, 140, 170, 300};
  struct Dev {
    std::string clinic, device;
    std::uint32_t seq = 1;
    std::string session = "S0";
    TimeNs skew = 0;
    std::vector<Step> sent;  // for redeliveries
  };
  std::vector<Dev> devs;
  for (int i = 0; i < 6; ++i) {
    Dev d;
    d.clinic = i < 3 ? "ca" : "cb";
    d.device = "d" + std::to_string(i);
    d.skew = static_cast<TimeNs>(next(200)) * kNsPerMs;
    devs.push_back(d);
  }
  std::vector<Step> out;
  TimeNs t = Sec(0);
  bool catching_up = false;
  bool alternative = false;
  for (int i = 0; i < steps; ++i) {
    t += static_cast<TimeNs>(next(4) == 0 ? 0 : next(900)) * kNsPerMs;
    const std::uint64_t r = next(100);
    Step s;
    s.t = t;
    if (r < 2) {  // an outage: time passes, devices keep publishing, then a catch-up
      const TimeNs down = static_cast<TimeNs>(5 + next(20)) * kNsPerSec;
      std::vector<Step> backlog;
      for (Dev& d : devs) {
        if (next(3) == 0) continue;  // this one went silent
        for (TimeNs h = t; h < t + down; h += static_cast<TimeNs>(100 + next(400)) * kNsPerMs) {
          Step m;
          m.topic = DeviceTopic(d.clinic, d.device, "telemetry");
          m.payload = TelemetryPayload(d.seq++, d.session, zones[next(4)], depths[next(6)],
                                       speeds[next(6)], (h - d.skew) / kNsPerMs);
          backlog.push_back(m);
        }
      }
      t += down;
      out.push_back(At(Step::kBegin, t));
      catching_up = true;
      for (Step& m : backlog) {
        t += static_cast<TimeNs>(next(3)) * kNsPerMs / 10;
        m.t = t;
        out.push_back(m);
      }
      continue;
    }
    if (r < 5 && catching_up) {
      out.push_back(At(Step::kEnd, t));
      catching_up = false;
      continue;
    }
    if (r < 12) {
      out.push_back(At(Step::kAdvance, t));
      continue;
    }
    if (r < 15) {
      const Dev& d = devs[next(devs.size())];
      s.kind = Step::kAck;
      s.clinic = d.clinic;
      s.device = d.device;
      s.alarm = kAllAlarmKinds[next(kAlarmKindCount)];
      out.push_back(s);
      continue;
    }
    if (r < 16) {
      alternative = !alternative;
      s.kind = Step::kLimits;
      s.alternative = alternative;
      out.push_back(s);
      continue;
    }
    Dev& d = devs[next(10) < 8 ? next(3) : 3 + next(3)];  // d3..d5 quieter: they get evicted
    const std::int64_t ts_ms = (t - d.skew) / kNsPerMs;
    if (r < 22 && !d.sent.empty()) {  // a redelivery
      Step again = d.sent[next(d.sent.size())];
      again.t = t;
      out.push_back(again);
      continue;
    }
    s.topic = DeviceTopic(d.clinic, d.device, "telemetry");
    if (r < 26) {
      d.session = "S" + std::to_string(next(4));
      s.topic = DeviceTopic(d.clinic, d.device, "event");
      s.payload = StartPayload(d.seq++, d.session, zones[next(4)],
                               next(2) ? "op" + std::to_string(next(3)) : "", ts_ms);
    } else if (r < 31) {
      s.topic = DeviceTopic(d.clinic, d.device, "event");
      s.payload = EndPayload(d.seq++, next(3) ? d.session : "Sx");
    } else if (r < 35) {
      const bool online = next(2) == 0;
      s.topic = DeviceTopic(d.clinic, d.device, "status");
      s.payload = StatusPayload(online);
      if (online) d.seq = 1;
    } else if (r < 37) {
      s.payload = "{\"v\":1,\"seq\":";
    } else {
      s.payload = TelemetryPayload(d.seq++, d.session, zones[next(4)], depths[next(6)],
                                   speeds[next(6)], ts_ms);
    }
    d.sent.push_back(s);
    out.push_back(s);
  }
  if (catching_up) out.push_back(At(Step::kEnd, t + 1));
  out.push_back(At(Step::kAdvance, t + 100 * kNsPerSec));
  return out;
}

TEST(EngineState, ARestoredEngineContinuesExactlyLikeTheOriginal) {
  int restores = 0, during_catch_up = 0, with_alarms = 0, with_pendings = 0;
  std::uint64_t late_alarms = 0, duplicates = 0, evicted = 0;
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    const std::vector<Step> steps = Scenario(seed, 600);
    std::uint64_t pick = seed * 7919;
    for (int round = 0; round < 3; ++round) {
      pick = pick * 6364136223846793005ULL + 1442695040888963407ULL;
      const std::size_t cut = (pick >> 33) % steps.size();
      SCOPED_TRACE("seed " + std::to_string(seed) + ", saved after step " + std::to_string(cut));
      Engine original(ScenarioLimits(false), ScenarioOptions());
      FullSink before;
      for (std::size_t i = 0; i < cut; ++i) Apply(steps[i], original, before);

      const EngineState saved = original.Save();
      Engine restored(original.limits(), ScenarioOptions());
      restored.Restore(saved);
      ++restores;
      during_catch_up += saved.catching_up;
      with_alarms += !saved.alarms.empty();
      for (const DeviceState& d : saved.devices) {
        if (d.session && !d.session->pendings.empty()) {
          ++with_pendings;
          break;
        }
      }
      ASSERT_EQ(Views(restored), Views(original));
      ASSERT_EQ(Dump(restored.Save()), Dump(saved));

      FullSink a, b;
      for (std::size_t i = cut; i < steps.size(); ++i) {
        const std::size_t from = a.lines.size();
        Apply(steps[i], original, a);
        Apply(steps[i], restored, b);
        ASSERT_EQ(b.lines.size(), a.lines.size()) << "step " << i;
        for (std::size_t k = from; k < a.lines.size(); ++k) {
          ASSERT_EQ(b.lines[k], a.lines[k]) << "step " << i;
        }
      }
      EXPECT_EQ(Views(restored), Views(original));
      EXPECT_EQ(Dump(restored.Save()), Dump(original.Save()));
      for (const std::string& l : a.lines) late_alarms += l.starts_with("alarm ") && l.ends_with("late=1");
      duplicates += original.counters().rejected[static_cast<std::size_t>(protocol::Reject::kDuplicate)];
      evicted += original.counters().devices_evicted;
    }
  }
  // The scenarios exercise what the state has to carry.
  EXPECT_GT(during_catch_up, 3);
  EXPECT_GT(with_alarms, 10);
  EXPECT_GT(with_pendings, 3);
  EXPECT_GT(late_alarms, 10u);
  EXPECT_GT(duplicates, 50u);
  EXPECT_GT(evicted, 10u);
  std::printf("restores %d (in catch-up %d, with alarms %d, with pendings %d); late alarms %llu, "
              "duplicates %llu, evictions %llu\n",
              restores, during_catch_up, with_alarms, with_pendings,
              static_cast<unsigned long long>(late_alarms),
              static_cast<unsigned long long>(duplicates),
              static_cast<unsigned long long>(evicted));
  EXPECT_EQ(restores, 36);
}

// A small state with a session, a pending, a latched alarm and timers, to break.
EngineState SmallState() {
  Harness h;
  h.Tel(Sec(0), 0.8, 100, "S1", "forehead");  // depth_exceeded (high)
  h.Tel(Sec(0.1), 0.2, 200, "S1", "forehead");  // latched; speed pending
  return h.engine.Save();
}

void ExpectRefused(EngineState s, const std::string& what) {
  Harness h;
  h.Tel(Sec(0), 0.2, 100, "S9", "cheek", "keep");
  const std::string views = Views(h.engine);
  try {
    h.engine.Restore(std::move(s));
    ADD_FAILURE() << "accepted a state with " << what;
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("engine state: "));
  }
  EXPECT_EQ(Views(h.engine), views) << "the engine changed though Restore refused";
}

TEST(EngineState, RestoreRefusesInconsistentStatesAndKeepsTheEngine) {
  const EngineState good = SmallState();
  ASSERT_EQ(good.devices.size(), 1u);
  ASSERT_EQ(good.alarms.size(), 1u);
  ASSERT_TRUE(good.devices[0].session);
  ASSERT_EQ(good.devices[0].session->pendings.size(), 1u);
  {
    Engine e(TestLimits());
    e.Restore(good);  // the unbroken one is fine
    EXPECT_EQ(e.device_count(), 1u);
  }
  EngineState s = good;
  s.version = 99;
  ExpectRefused(s, "another version");
  s = good;
  s.alarms[0].device = "nobody";
  ExpectRefused(s, "an alarm of an unknown device");
  s = good;
  s.devices[0].session->pendings.clear();
  ExpectRefused(s, "a pending timer without its pending");
  s = good;
  s.devices[0].session->pendings.push_back(s.devices[0].session->pendings[0]);
  ExpectRefused(s, "a pending twice");
  s = good;
  s.free_device_slots.push_back(s.devices[0].slot);
  ++s.device_slots;
  ExpectRefused(s, "a slot both used and free");
  s = good;
  s.devices.push_back(s.devices[0]);
  s.devices[1].slot = s.device_slots++;
  ExpectRefused(s, "a device twice");
  s = good;
  s.devices[0].clinic = "elsewhere";
  ExpectRefused(s, "a device of an unlisted clinic");
  s = good;
  s.alarms[0].state = AlarmState::kCleared;
  ExpectRefused(s, "a cleared alarm");
  s = good;
  s.devices[0].timers.push_back(s.devices[0].timers[0]);
  ExpectRefused(s, "a timer twice");
  s = good;
  s.devices[0].session->zone = "";
  ExpectRefused(s, "an empty zone");
  s = good;
  s.devices[0].timers[0].order = s.next_order;
  ExpectRefused(s, "a rank not below next_order");
}

TEST(EngineState, DeadlinesAreRecomputedFromTheState) {
  // The pending speed condition (since +0.1 s, `for` 1 s) fires at +1.1 s in the restored
  // engine; overtime and stale as well, from the session start and the last sample.
  Engine e(TestLimits());
  e.Restore(SmallState());
  EXPECT_EQ(e.NextDeadline(), Sec(1.1));
  RecordingSink sink;
  e.AdvanceTo(Sec(4), sink);
  EXPECT_THAT(sink.AlarmLines(),
              ::testing::ElementsAre(
                  "raised speed_out_of_range medium active d1 S1 v=200 l=150 raised=1.100 "
                  "at=1.100",
                  "raised telemetry_stale medium active d1 S1 v=3 l=3 raised=3.100 at=3.100"));
}

}  // namespace
}  // namespace needlewatch::engine::testing
