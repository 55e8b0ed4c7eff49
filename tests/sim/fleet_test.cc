// The simulator's model, driven on a synthetic clock with instant connections (no broker).
#include "fleet.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "faults.h"
#include "needlewatch/protocol/message.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::sim {
namespace {

namespace protocol = needlewatch::protocol;

constexpr std::int64_t kWallBaseMs = 1'795'611'133'000;

struct Sent {
  TimeNs at;
  Action action;
};

engine::Limits TestLimits() {
  engine::Limits l;
  engine::ZoneLimits forehead;
  forehead.depth_max_mm = 0.75;
  forehead.depth_warn_mm = 0.5;
  engine::ZoneLimits cheek;
  cheek.depth_max_mm = 2.0;
  cheek.depth_warn_mm = 1.5;
  cheek.speed_min_hz = 60;
  cheek.speed_max_hz = 140;
  engine::ZoneLimits neck;  // no warn limit
  neck.depth_max_mm = 1.0;
  neck.depth_warn_mm.reset();
  for (engine::ZoneLimits* z : {&forehead, &cheek, &neck}) {
    z->session_warn_after = 8 * engine::kNsPerSec;
    z->session_max_duration = 12 * engine::kNsPerSec;
    z->stale_after = 1500 * engine::kNsPerMs;
    z->speed.for_ns = 500 * engine::kNsPerMs;
  }
  l.zones = {{"forehead", forehead}, {"cheek", cheek}, {"neck", neck}};
  l.defaults = forehead;
  return l;
}

FleetOptions Options(const std::string& faults, std::uint64_t seed = 7) {
  FleetOptions o;
  o.clinics = 2;
  o.devices = 3;
  o.sample_rate_hz = 10;
  o.time_scale = 120;
  o.seed = seed;
  o.run_duration = 120 * kSec;
  std::string error;
  o.faults = *ParseFaultRates(faults, &error);
  return o;
}

// Runs the fleet for `until` in 10 ms steps; connections come up in the step they are asked
// for; kDrop takes the device's connection down (the caller sees it in the log).
std::vector<Sent> Drive(Fleet& fleet, TimeNs until) {
  std::vector<Sent> log;
  std::vector<Action> out;
  for (TimeNs now = 0; now < until; now += 10 * kMs) {
    out.clear();
    fleet.Step(now, kWallBaseMs + now / kMs, 1 << 20, out);
    for (Action& a : out) {
      if (a.kind == Action::Kind::kConnect) fleet.OnConnected(a.device, now);
      log.push_back({now, std::move(a)});
    }
  }
  return log;
}

const engine::ZoneLimits& ZoneOf(const engine::Limits& l, std::string_view zone) {
  for (const auto& [name, z] : l.zones) {
    if (name == zone) return z;
  }
  ADD_FAILURE() << "unknown zone " << zone;
  return l.defaults;
}

TEST(FleetTest, SameSeedGivesTheSameMessages) {
  Fleet a(Options("over_depth=0.2,speed=0.2,malformed=0.05"), TestLimits());
  Fleet b(Options("over_depth=0.2,speed=0.2,malformed=0.05"), TestLimits());
  const auto la = Drive(a, 30 * kSec);
  const auto lb = Drive(b, 30 * kSec);
  ASSERT_EQ(la.size(), lb.size());
  for (std::size_t i = 0; i < la.size(); ++i) {
    EXPECT_EQ(la[i].action.topic, lb[i].action.topic);
    EXPECT_EQ(la[i].action.payload, lb[i].action.payload);
  }
  Fleet c(Options("over_depth=0.2,speed=0.2,malformed=0.05", 8), TestLimits());
  const auto lc = Drive(c, 30 * kSec);
  bool differs = lc.size() != la.size();
  for (std::size_t i = 0; !differs && i < la.size(); ++i) {
    differs = la[i].action.payload != lc[i].action.payload;
  }
  EXPECT_TRUE(differs) << "another seed must give another fleet";
}

TEST(FleetTest, HealthySessionsStayInsideEveryLimit) {
  const engine::Limits limits = TestLimits();
  Fleet fleet(Options("none"), limits);
  const auto log = Drive(fleet, 60 * kSec);
  std::map<std::string, std::uint32_t> next_seq;        // per device topic prefix
  std::map<std::string, TimeNs> session_started_at;     // per session
  std::map<std::string, TimeNs> last_sample_at;         // per device, within a session
  std::size_t telemetry = 0, ended = 0;
  for (const Sent& s : log) {
    if (s.action.kind != Action::Kind::kPublish) continue;
    const protocol::Topic topic = protocol::ParseTopic(s.action.topic);
    ASSERT_EQ(topic.kind, protocol::TopicKind::kDevice) << s.action.topic;
    const std::string dev = std::string(topic.clinic) + "/" + std::string(topic.device);
    protocol::Decoded d;
    ASSERT_EQ(protocol::Decode(topic.channel, s.action.payload, d), protocol::Reject::kNone)
        << s.action.payload << ": " << d.detail;
    if (topic.channel == protocol::Channel::kStatus) {
      if (d.status.online) next_seq[dev] = 0;
      continue;
    }
    const std::uint32_t seq =
        topic.channel == protocol::Channel::kTelemetry ? d.telemetry.seq : d.event.seq;
    EXPECT_EQ(seq, next_seq[dev]) << s.action.payload;
    next_seq[dev] = seq + 1;
    if (topic.channel == protocol::Channel::kEvent) {
      const std::string session(d.event.session);
      if (d.event.kind == protocol::EventKind::kSessionStart) {
        session_started_at[session] = s.at;
        EXPECT_FALSE(d.event.op.empty());
        last_sample_at.erase(dev);
      } else {
        ++ended;
        // Under 80 % of the first overtime threshold, in real time.
        EXPECT_LE(s.at - session_started_at.at(session), 6400 * kMs + 20 * kMs);
      }
      continue;
    }
    ++telemetry;
    const engine::ZoneLimits& z = ZoneOf(limits, d.telemetry.zone);
    const double safe = z.depth_warn_mm ? *z.depth_warn_mm : z.depth_max_mm;
    EXPECT_LE(d.telemetry.depth_mm, safe) << s.action.payload;
    EXPECT_GT(d.telemetry.depth_mm, 0);
    EXPECT_GE(d.telemetry.speed_hz, z.speed_min_hz) << s.action.payload;
    EXPECT_LE(d.telemetry.speed_hz, z.speed_max_hz) << s.action.payload;
    EXPECT_EQ(std::string(d.telemetry.session).rfind("S-", 0), 0U);
    if (auto it = last_sample_at.find(dev); it != last_sample_at.end()) {
      EXPECT_LT(s.at - it->second, z.stale_after) << "a gap long enough to look stale";
    }
    last_sample_at[dev] = s.at;
  }
  EXPECT_GT(telemetry, 1000U);
  EXPECT_GT(ended, 6U);
  EXPECT_TRUE(fleet.faults().empty());
}

TEST(FleetTest, OverDepthFaultBreaksTheZoneMaximumAndIsReported) {
  const engine::Limits limits = TestLimits();
  Fleet fleet(Options("over_depth=1"), limits);
  const auto log = Drive(fleet, 40 * kSec);
  std::set<std::string> deep_sessions;
  for (const Sent& s : log) {
    const protocol::Topic topic = protocol::ParseTopic(s.action.topic);
    if (topic.channel != protocol::Channel::kTelemetry) continue;
    protocol::Decoded d;
    ASSERT_EQ(protocol::Decode(topic.channel, s.action.payload, d), protocol::Reject::kNone);
    if (d.telemetry.depth_mm > ZoneOf(limits, d.telemetry.zone).depth_max_mm) {
      deep_sessions.insert(std::string(d.telemetry.session));
    }
  }
  ASSERT_FALSE(fleet.faults().empty());
  std::set<std::string> reported;
  for (const InjectedFault& f : fleet.faults()) {
    EXPECT_EQ(f.kind, FaultKind::kOverDepth);
    ASSERT_FALSE(f.expected_alarms.empty());
    EXPECT_EQ(f.expected_alarms[0], "depth_exceeded");
    const bool has_warn = ZoneOf(limits, f.zone).depth_warn_mm.has_value();
    EXPECT_EQ(f.expected_alarms.size(), has_warn ? 2U : 1U) << f.zone;
    reported.insert(f.session);
  }
  EXPECT_EQ(reported, deep_sessions);
}

TEST(FleetTest, SpeedAndDropoutFaultsOutlastTheDaemonThresholds) {
  const engine::Limits limits = TestLimits();
  Fleet fleet(Options("speed=0.5,dropout=0.5"), limits);
  const auto log = Drive(fleet, 60 * kSec);
  std::map<std::string, TimeNs> bad_since, last_sample;
  std::map<std::string, TimeNs> longest_bad, longest_gap;  // per session
  for (const Sent& s : log) {
    const protocol::Topic topic = protocol::ParseTopic(s.action.topic);
    protocol::Decoded d;
    if (topic.channel == protocol::Channel::kEvent) {
      ASSERT_EQ(protocol::Decode(topic.channel, s.action.payload, d), protocol::Reject::kNone);
      const std::string session(d.event.session);
      bad_since.erase(session);
      last_sample.erase(session);
      continue;
    }
    if (topic.channel != protocol::Channel::kTelemetry) continue;
    ASSERT_EQ(protocol::Decode(topic.channel, s.action.payload, d), protocol::Reject::kNone);
    const std::string session(d.telemetry.session);
    const engine::ZoneLimits& z = ZoneOf(limits, d.telemetry.zone);
    if (auto it = last_sample.find(session); it != last_sample.end()) {
      longest_gap[session] = std::max(longest_gap[session], s.at - it->second);
    }
    last_sample[session] = s.at;
    if (d.telemetry.speed_hz < z.speed_min_hz || d.telemetry.speed_hz > z.speed_max_hz) {
      bad_since.try_emplace(session, s.at);
      longest_bad[session] = std::max(longest_bad[session], s.at - bad_since[session]);
    } else {
      bad_since.erase(session);
    }
  }
  std::size_t speed = 0, dropout = 0;
  for (const InjectedFault& f : fleet.faults()) {
    if (f.kind == FaultKind::kSpeed) {
      ++speed;
      EXPECT_EQ(f.expected_alarms, std::vector<std::string>{"speed_out_of_range"});
      EXPECT_GT(longest_bad[f.session], 500 * kMs + 500 * kMs) << f.session;
    } else {
      ASSERT_EQ(f.kind, FaultKind::kDropout);
      ++dropout;
      EXPECT_EQ(f.expected_alarms, std::vector<std::string>{"telemetry_stale"});
      EXPECT_GT(longest_gap[f.session], 1500 * kMs + 500 * kMs) << f.session;
    }
  }
  EXPECT_GT(speed, 0U);
  EXPECT_GT(dropout, 0U);
}

TEST(FleetTest, OfflineFaultDropsTheConnectionAndResumesAfterOnline) {
  Fleet fleet(Options("offline=1"), TestLimits());
  const auto log = Drive(fleet, 40 * kSec);
  ASSERT_FALSE(fleet.faults().empty());
  const InjectedFault& f = fleet.faults().front();
  EXPECT_EQ(f.expected_alarms, std::vector<std::string>{"device_offline"});
  // After the drop: a new connect with a fresh Will, `online`, then telemetry of the same
  // session with seq restarting at 0.
  enum { kWantDrop, kWantConnect, kWantOnline, kWantSample, kDone } want = kWantDrop;
  for (const Sent& s : log) {
    const Action& a = s.action;
    if (fleet.IdOf(a.device) != f.device || fleet.ClinicOf(a.device) != f.clinic) continue;
    if (want == kWantDrop && a.kind == Action::Kind::kDrop) want = kWantConnect;
    if (want == kWantConnect && a.kind == Action::Kind::kConnect) {
      EXPECT_NE(a.payload.find("\"offline\""), std::string::npos) << a.payload;
      EXPECT_TRUE(a.retain);
      want = kWantOnline;
    } else if (want == kWantOnline && a.kind == Action::Kind::kPublish) {
      EXPECT_NE(a.payload.find("\"online\""), std::string::npos) << a.payload;
      want = kWantSample;
    } else if (want == kWantSample && a.kind == Action::Kind::kPublish) {
      protocol::Decoded d;
      const protocol::Topic topic = protocol::ParseTopic(a.topic);
      ASSERT_EQ(protocol::Decode(topic.channel, a.payload, d), protocol::Reject::kNone);
      if (topic.channel == protocol::Channel::kTelemetry) {
        EXPECT_EQ(d.telemetry.seq, 0U);
        EXPECT_EQ(d.telemetry.session, f.session);
      } else {
        EXPECT_EQ(d.event.seq, 0U);
      }
      want = kDone;
    }
  }
  EXPECT_EQ(want, kDone);
}

TEST(FleetTest, MalformedAndSpoofedMessagesAreRejectedForTheReportedReason) {
  Fleet fleet(Options("malformed=0.05,spoofed_topic=0.05"), TestLimits());
  const auto log = Drive(fleet, 30 * kSec);
  std::map<std::string, std::size_t> rejected;  // reason → count seen on the wire
  for (const Sent& s : log) {
    if (s.action.kind != Action::Kind::kPublish) continue;
    const protocol::Topic topic = protocol::ParseTopic(s.action.topic);
    if (topic.kind == protocol::TopicKind::kBad) {
      ++rejected["bad_topic"];
      continue;
    }
    protocol::Decoded d;
    const protocol::Reject r = protocol::Decode(topic.channel, s.action.payload, d);
    if (r != protocol::Reject::kNone) ++rejected[std::string(protocol::RejectName(r))];
  }
  std::map<std::string, std::size_t> reported;
  for (const InjectedFault& f : fleet.faults()) {
    EXPECT_TRUE(f.expected_alarms.empty());
    ++reported[f.expected_reject];
  }
  EXPECT_EQ(rejected, reported);
  EXPECT_GT(reported["bad_topic"], 0U);
  EXPECT_GT(reported["bad_json"] + reported["bad_version"] + reported["missing_field"] +
                reported["bad_field"],
            0U);
}

TEST(FleetTest, OvertimeFaultOutlastsMaxDurationAndOnlyWhenTheRunAllowsIt) {
  FleetOptions o = Options("overtime=1");
  Fleet fleet(o, TestLimits());
  const auto log = Drive(fleet, 30 * kSec);
  ASSERT_FALSE(fleet.faults().empty());
  for (const InjectedFault& f : fleet.faults()) {
    EXPECT_EQ(f.expected_alarms,
              (std::vector<std::string>{"session_overtime_warning", "session_overtime"}));
  }
  o.run_duration = 10 * kSec;  // shorter than max_duration: no overtime fault can complete
  Fleet short_run(o, TestLimits());
  Drive(short_run, 10 * kSec);
  EXPECT_TRUE(short_run.faults().empty());
}

TEST(FaultRatesTest, ParsesNamesAndRejectsBadInput) {
  std::string error;
  const auto r = ParseFaultRates("over_depth=0.1, speed=0.05,malformed=0.01", &error);
  ASSERT_TRUE(r) << error;
  EXPECT_DOUBLE_EQ((*r)[FaultKind::kOverDepth], 0.1);
  EXPECT_DOUBLE_EQ((*r)[FaultKind::kSpeed], 0.05);
  EXPECT_DOUBLE_EQ((*r)[FaultKind::kMalformed], 0.01);
  EXPECT_DOUBLE_EQ((*r)[FaultKind::kOffline], 0);
  EXPECT_FALSE(ParseFaultRates("depth=0.1", &error));
  EXPECT_NE(error.find("unknown fault \"depth\""), std::string::npos) << error;
  EXPECT_FALSE(ParseFaultRates("speed=2", &error));
  EXPECT_NE(error.find("speed"), std::string::npos) << error;
  EXPECT_FALSE(ParseFaultRates("speed", &error));
  EXPECT_FALSE(ParseFaultRates("over_depth=0.6,speed=0.6", &error));
  EXPECT_TRUE(ParseFaultRates("none", &error));
}

}  // namespace
}  // namespace needlewatch::sim
