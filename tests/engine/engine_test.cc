// Message intake (own topics, rejections, seq), clock, determinism, eviction and views.
#include "needlewatch/engine/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "engine_test_util.h"

namespace needlewatch::engine::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using protocol::Channel;
using protocol::Reject;

std::uint64_t Received(const Engine& e, Channel c) {
  return e.counters().received[static_cast<std::size_t>(c)];
}
std::uint64_t Rejected(const Engine& e, Reject r) {
  return e.counters().rejected[static_cast<std::size_t>(r)];
}

TEST(EngineIntake, OwnTopicsAreIgnoredAndNotCounted) {
  Harness h;
  h.Raw(Sec(0), "clinic/c1/device/d1/alarm/depth_exceeded", "{}");
  h.Raw(Sec(0), "clinic/c1/device/d1/command", "{}");
  h.Raw(Sec(0), "needlewatch/mon1/status", "{}");
  EXPECT_EQ(h.engine.counters().ignored_own, 3u);
  for (std::size_t i = 0; i < protocol::kChannelCount; ++i) {
    EXPECT_EQ(h.engine.counters().received[i], 0u);
  }
  EXPECT_THAT(h.sink.lines, IsEmpty());
  EXPECT_EQ(h.engine.device_count(), 0u);
}

TEST(EngineIntake, OnAcceptedReportsEachAcceptedMessageWithItsDeviceClock) {
  Harness h;
  const std::string topic = DeviceTopic("c1", "d1", "telemetry");
  h.Raw(Sec(0), topic,
        R"({"v":1,"seq":1,"ts":1795611133125,"session":"S1","zone":"cheek","depth_mm":0.2,"speed_hz":100})");
  h.Raw(Sec(1), topic,
        R"({"v":1,"seq":2,"ts":1795611134000,"session":"S1","zone":"cheek","depth_mm":12,"speed_hz":100})");
  EXPECT_EQ(Rejected(h.engine, Reject::kBadField), 1u);  // a rejection is not reported
  h.Raw(Sec(2), DeviceTopic("c1", "d1", "status"), R"({"v":1,"ts":1795611135500,"state":"online"})");
  EXPECT_THAT(h.sink.accepted_ts_ms, ElementsAre(1795611133125, 1795611135500));
}

TEST(EngineIntake, BadTopicsAreRejectedAndCountedByChannel) {
  Harness h;
  h.Raw(Sec(0), "clinic/c1/device/bad id/telemetry", TelemetryPayload(0, "S1", "cheek", 1, 100));
  h.Raw(Sec(0), "foo/bar", "{}");
  EXPECT_THAT(h.sink.rejects, ElementsAre("bad_topic/telemetry", "bad_topic/unknown"));
  EXPECT_EQ(Received(h.engine, Channel::kTelemetry), 1u);
  EXPECT_EQ(Received(h.engine, Channel::kUnknown), 1u);
  EXPECT_EQ(Rejected(h.engine, Reject::kBadTopic), 2u);
  EXPECT_EQ(h.engine.device_count(), 0u);
}

TEST(EngineIntake, PayloadRejectionsAreCountedByReasonAndChangeNoState) {
  Harness h;
  const std::string topic = DeviceTopic("c1", "d1", "telemetry");
  h.Raw(Sec(0), topic, "{");
  h.Raw(Sec(0), topic, std::string(5000, ' '));
  h.Raw(Sec(0), topic, "{\"v\":2,\"seq\":1,\"ts\":1,\"session\":\"S\",\"zone\":\"z\",\"depth_mm\":1,\"speed_hz\":1}");
  h.Raw(Sec(0), topic, "{\"v\":1,\"seq\":1,\"ts\":1,\"zone\":\"z\",\"depth_mm\":1,\"speed_hz\":1}");
  h.Raw(Sec(1), topic, TelemetryPayload(1, "S1", "cheek", 11, 100));
  h.Raw(Sec(1), DeviceTopic("c1", "d1", "status"), "{\"v\":1,\"ts\":1,\"state\":\"sleepy\"}");
  EXPECT_THAT(h.sink.rejects, ElementsAre("bad_json/telemetry", "too_large/telemetry",
                                          "bad_version/telemetry", "missing_field/telemetry",
                                          "bad_field/telemetry", "bad_field/status"));
  EXPECT_EQ(Rejected(h.engine, Reject::kBadField), 2u);
  EXPECT_EQ(Received(h.engine, Channel::kTelemetry), 5u);
  EXPECT_EQ(Received(h.engine, Channel::kStatus), 1u);
  EXPECT_EQ(h.engine.counters().accepted, 0u);
  EXPECT_EQ(h.engine.device_count(), 0u);
  EXPECT_EQ(h.engine.counters().sessions_started, 0u);
  EXPECT_EQ(h.engine.now(), Sec(1));
}

TEST(EngineIntake, RejectionDetailNamesTheField) {
  Harness h;
  struct DetailSink : Sink {
    void OnReject(const RejectInfo& r) override { detail = std::string(r.detail); }
    std::string detail;
  } sink;
  h.engine.OnMessage(DeviceTopic("c1", "d1", "telemetry"),
                     TelemetryPayload(1, "S1", "cheek", 11, 100), Sec(0), sink);
  EXPECT_NE(sink.detail.find("depth_mm"), std::string::npos) << sink.detail;
}

TEST(EngineIntake, UnknownZonesAreAcceptedAndCounted) {
  Harness h;
  h.Start(Sec(0), "S1", "elbow");
  h.Tel(Sec(0.1), 0.2, 100, "S1", "elbow");
  h.Tel(Sec(0.2), 0.2, 100, "S1", "cheek");
  EXPECT_EQ(h.engine.counters().unknown_zone, 2u);
  EXPECT_EQ(h.engine.counters().accepted, 3u);
}

TEST(EngineSeq, FirstSeqIsTheBaselineAndAGapIsCountedOnce) {
  Harness h;
  h.seq["c1/d1"] = 100;
  h.Tel(Sec(0), 0.2);  // 100: baseline
  h.Tel(Sec(1), 0.2);  // 101
  h.seq["c1/d1"] = 105;
  h.Tel(Sec(2), 0.2);  // 105: gap
  h.Tel(Sec(2.5), 0.2);  // 106: fine again
  ASSERT_EQ(h.sink.gaps.size(), 1u);
  EXPECT_EQ(h.sink.gaps[0].expected, 102u);
  EXPECT_EQ(h.sink.gaps[0].got, 105u);
  EXPECT_EQ(h.engine.counters().seq_gaps, 1u);
  std::uint64_t clinic_gaps = 0;
  h.engine.ForEachClinic([&](const ClinicStats& c) { clinic_gaps = c.seq_gaps; });
  EXPECT_EQ(clinic_gaps, 1u);
  EXPECT_EQ(h.engine.counters().accepted, 4u);  // accepted either way
}

TEST(EngineSeq, OnlineResetsTheBaseline) {
  Harness h;
  h.Tel(Sec(0), 0.2);
  h.Tel(Sec(0.1), 0.2);
  h.Online(Sec(0.2));
  h.seq["c1/d1"] = 7;
  h.Tel(Sec(0.3), 0.2);  // 7: new baseline
  h.Tel(Sec(0.4), 0.2);  // 8
  EXPECT_TRUE(h.sink.gaps.empty());
  h.seq["c1/d1"] = 3;
  // A restart without online: in the open session that is a redelivery (issue 12: duplicate,
  // no state change); in another session it counts a gap.
  h.Tel(Sec(0.5), 0.2);
  EXPECT_TRUE(h.sink.gaps.empty());
  EXPECT_THAT(h.sink.rejects, ElementsAre("duplicate/telemetry"));
  h.seq["c1/d1"] = 3;
  h.Tel(Sec(0.6), 0.2, 100, "S2");
  EXPECT_EQ(h.sink.gaps.size(), 1u);
}

TEST(EngineSeq, SeqOfAnOnlineStatusIsTheNewBaseline) {
  Harness h;
  h.Tel(Sec(0), 0.2);
  h.Raw(Sec(0.1), DeviceTopic("c1", "d1", "status"), StatusPayload(true, 5));
  h.seq["c1/d1"] = 6;
  h.Tel(Sec(0.2), 0.2);  // 6 follows the online's 5
  EXPECT_TRUE(h.sink.gaps.empty());
  h.seq["c1/d1"] = 9;
  h.Tel(Sec(0.3), 0.2);
  ASSERT_EQ(h.sink.gaps.size(), 1u);
  EXPECT_EQ(h.sink.gaps[0].expected, 7u);
}

TEST(EngineSeq, SeqWrapsAroundWithoutAGap) {
  Harness h;
  h.seq["c1/d1"] = 0xFFFFFFFFu;
  h.Tel(Sec(0), 0.2);
  h.Tel(Sec(0.1), 0.2);  // 0
  EXPECT_TRUE(h.sink.gaps.empty());
}

TEST(EngineClock, TimeNeverGoesBackwards) {
  Harness h;
  h.Tel(Sec(5), 0.2);
  h.Tel(Sec(1), 0.8, 100, "S1", "forehead");  // handled at 5
  EXPECT_EQ(h.engine.now(), Sec(5));
  ASSERT_EQ(h.sink.alarms.size(), 1u);
  EXPECT_EQ(h.sink.alarms[0].raised_at, Sec(5));
}

TEST(EngineClock, HugeConfiguredDurationsNeverFireAndNeverOverflow) {
  Limits limits = TestLimits();
  for (auto& [name, z] : limits.zones) {
    z.stale_after = std::numeric_limits<TimeNs>::max();
    z.session_max_duration = std::numeric_limits<TimeNs>::max();
    z.session_warn_after = std::numeric_limits<TimeNs>::max() - 1;
    z.speed.for_ns = std::numeric_limits<TimeNs>::max();
  }
  EngineOptions options;
  options.evict_idle_after = std::numeric_limits<TimeNs>::max();
  Harness h(limits, options);
  h.Tel(Sec(0), 0.2, 500);
  h.Advance(Sec(1e9));
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  EXPECT_EQ(h.engine.device_count(), 1u);
}

TEST(EngineOrder, SameInstantDeadlinesFireInInsertionOrder) {
  Harness h;
  h.Tel(Sec(0), 0.2, 100, "S1", "cheek", "dB");
  h.Tel(Sec(0), 0.2, 100, "S1", "cheek", "dA");
  h.Advance(Sec(10));
  ASSERT_EQ(h.sink.alarms.size(), 2u);
  EXPECT_EQ(h.sink.alarms[0].device, "dB");
  EXPECT_EQ(h.sink.alarms[1].device, "dA");
}

TEST(EngineOrder, SameInputGivesTheSameOutput) {
  auto run = [] {
    Harness h;
    for (int i = 0; i < 40; ++i) {
      const std::string dev = "d" + std::to_string(i % 4);
      h.Tel(Sec(i * 0.5), (i % 3) * 0.7, 40.0 + 20 * (i % 7), "S" + std::to_string(i / 13),
            i % 2 ? "forehead" : "cheek", dev);
      if (i % 9 == 0) h.Offline(Sec(i * 0.5 + 0.1), dev);
      if (i % 9 == 3) h.Online(Sec(i * 0.5 + 0.1), dev);
    }
    h.Advance(Sec(100));
    return h.sink.lines;
  };
  const std::vector<std::string> first = run();
  EXPECT_GT(first.size(), 20u);
  EXPECT_EQ(first, run());
}

TEST(EngineEviction, IdleDeviceWithoutSessionOrAlarmIsForgotten) {
  EngineOptions options;
  options.evict_idle_after = 10 * kNsPerSec;
  Harness h(TestLimits(), options);
  h.Online(Sec(0));
  h.Online(Sec(0), "d2");
  h.Online(Sec(5), "d2");
  h.Advance(Sec(10) - 1);
  EXPECT_EQ(h.engine.device_count(), 2u);
  h.Advance(Sec(10));
  EXPECT_EQ(h.engine.device_count(), 1u);
  h.Advance(Sec(15));
  EXPECT_EQ(h.engine.device_count(), 0u);
  EXPECT_EQ(h.engine.counters().devices_evicted, 2u);
  // Its clinic has no known device left: it is forgotten (issue 13: bounded tables).
  std::size_t clinics = 0;
  h.engine.ForEachClinic([&](const ClinicStats&) { ++clinics; });
  EXPECT_EQ(clinics, 0u);
}

TEST(EngineEviction, OpenSessionsAndLatchedAlarmsKeepADevice) {
  EngineOptions options;
  options.evict_idle_after = 10 * kNsPerSec;
  Harness h(TestLimits(), options);
  h.Tel(Sec(0), 0.8, 100, "S1", "forehead", "d1");
  h.End(Sec(1), "S1", "d1");  // depth_exceeded latched
  h.Start(Sec(0), "S2", "cheek", "d2");
  h.Advance(Sec(100));
  EXPECT_EQ(h.engine.device_count(), 2u);
  EXPECT_EQ(h.engine.Acknowledge("c1", "d1", AlarmKind::kDepthExceeded, Sec(101), h.sink),
            AckResult::kCleared);
  EXPECT_EQ(h.engine.device_count(), 1u);  // idle for long enough already
  h.End(Sec(102), "S2", "d2");
  h.Advance(Sec(111));
  EXPECT_EQ(h.engine.device_count(), 1u);  // its medium stale alarm cleared at the end
  h.Advance(Sec(112));
  EXPECT_EQ(h.engine.device_count(), 0u);
}

TEST(EngineEviction, AnEvictedDeviceStartsAfreshWhenItReturns) {
  EngineOptions options;
  options.evict_idle_after = 10 * kNsPerSec;
  Harness h(TestLimits(), options);
  h.seq["c1/d1"] = 50;
  h.Online(Sec(0));
  h.Advance(Sec(20));
  ASSERT_EQ(h.engine.device_count(), 0u);
  h.seq["c1/d1"] = 900;
  h.Tel(Sec(21), 0.2);
  EXPECT_TRUE(h.sink.gaps.empty());  // a new baseline
  EXPECT_EQ(h.engine.device_count(), 1u);
}

TEST(EngineViews, DeviceViewShowsTheLastSampleOfTheOpenSession) {
  Harness h;
  h.Tel(Sec(0), 0.3, 90, "S1", "forehead");
  h.Tel(Sec(0.1), 0.25, 95, "S1", "forehead");
  std::vector<DeviceView> views;
  std::string session;
  h.engine.ForEachDevice([&](const DeviceView& v) {
    views.push_back(v);
    session = std::string(v.session);
  });
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].depth_mm, 0.25);
  EXPECT_EQ(views[0].speed_hz, 95.0);
  EXPECT_EQ(session, "S1");
  EXPECT_TRUE(views[0].session_open);
  EXPECT_EQ(views[0].last_message_at, Sec(0.1));
  h.End(Sec(0.2), "S1");
  h.engine.ForEachDevice([&](const DeviceView& v) {
    EXPECT_FALSE(v.depth_mm);
    EXPECT_FALSE(v.session_open);
    EXPECT_TRUE(v.zone.empty());
  });
}

TEST(EngineViews, ClinicsAreVisitedSortedByName) {
  Harness h;
  h.Online(Sec(0), "d1", "zeta");
  h.Online(Sec(0), "d1", "alpha");
  h.Online(Sec(0), "d1", "mid");
  std::vector<std::string> names;
  h.engine.ForEachClinic([&](const ClinicStats& c) { names.push_back(c.clinic); });
  EXPECT_THAT(names, ElementsAre("alpha", "mid", "zeta"));
}

// A seeded random walk over valid and broken messages, acks, limit changes and time jumps:
// the engine's views and counters stay consistent with each other throughout.
TEST(EngineInvariants, CountersAndViewsAgreeUnderARandomWalk) {
  EngineOptions options;
  options.evict_idle_after = 20 * kNsPerSec;
  Harness h(TestLimits(), options);
  std::uint64_t state = 42;
  auto next = [&state](std::uint64_t n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 33) % n;
  };
  const char* zones[] = {"cheek", "forehead", "scalp"};
  TimeNs t = Sec(0);
  for (int step = 0; step < 4000; ++step) {
    t += static_cast<TimeNs>(next(1500)) * kNsPerMs;
    const std::string dev = "d" + std::to_string(next(6));
    const std::string session = "S" + std::to_string(next(3));
    switch (next(10)) {
      case 0: h.Start(t, session, zones[next(3)], dev); break;
      case 1: h.End(t, session, dev); break;
      case 2: h.Offline(t, dev); break;
      case 3: h.Online(t, dev); break;
      case 4: h.Raw(t, DeviceTopic("c1", dev, "telemetry"), "{\"v\":1,\"seq\":"); break;
      case 5:
        h.engine.Acknowledge("c1", dev, kAllAlarmKinds[next(kAlarmKindCount)], t, h.sink);
        break;
      case 6:
        if (next(20) == 0) {
          Limits l = TestLimits();
          l.zones[0].second.speed.for_ns = static_cast<TimeNs>(next(3)) * kNsPerSec;
          h.engine.SetLimits(l, t, h.sink);
        } else {
          h.Advance(t);
        }
        break;
      default:
        h.Tel(t, next(200) / 100.0, static_cast<double>(next(250)), session, zones[next(3)], dev);
    }

    const Counters& c = h.engine.counters();
    std::uint64_t received = 0, rejected = 0;
    for (std::uint64_t n : c.received) received += n;
    for (std::uint64_t n : c.rejected) rejected += n;
    ASSERT_EQ(received, c.accepted + rejected) << "step " << step;
    std::uint64_t open = 0, devices = 0, online = 0;
    h.engine.ForEachDevice([&](const DeviceView& v) {
      ++devices;
      open += v.session_open ? 1 : 0;
      online += v.online ? 1 : 0;
    });
    std::uint64_t active = 0, listed_online = 0, listed_offline = 0;
    h.engine.ForEachClinic([&](const ClinicStats& s) {
      active += s.sessions_active;
      listed_online += s.devices_online;
      listed_offline += s.devices_offline;
    });
    ASSERT_EQ(devices, h.engine.device_count());
    ASSERT_EQ(open, active) << "step " << step;
    ASSERT_EQ(c.sessions_started - c.sessions_ended, open);
    ASSERT_EQ(online, listed_online);
    ASSERT_EQ(devices - online, listed_offline);
    h.engine.ForEachAlarm([&](const AlarmView& v) {
      if (v.state == AlarmState::kLatched) {
        EXPECT_TRUE(v.cleared_at);
        EXPECT_EQ(v.severity, Severity::kHigh);
      }
    });
    if (const auto next_deadline = h.engine.NextDeadline()) {
      ASSERT_GT(*next_deadline, h.engine.now());
    }
  }
  EXPECT_GT(h.engine.counters().sessions_started, 10u);
  EXPECT_GT(h.sink.alarms.size(), 10u);
}

TEST(EngineViews, NamesRoundTrip) {
  for (AlarmKind k : kAllAlarmKinds) EXPECT_EQ(ParseAlarmName(AlarmName(k)), k);
  EXPECT_FALSE(ParseAlarmName("nope"));
  EXPECT_EQ(ParseSeverity("medium"), Severity::kMedium);
  EXPECT_FALSE(ParseSeverity("urgent"));
  EXPECT_EQ(AlarmStateName(AlarmState::kLatched), "latched");
  EXPECT_EQ(TransitionName(Transition::kAckCleared), "ack_cleared");
}

}  // namespace
}  // namespace needlewatch::engine::testing
