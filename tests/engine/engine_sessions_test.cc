// Sessions (start, switch, end, implicit), overtime, telemetry_stale and device_offline.
#include "needlewatch/engine/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine_test_util.h"

namespace needlewatch::engine::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr TimeNs kMinute = 60 * kNsPerSec;

std::vector<std::string> LinesWith(const RecordingSink& sink, std::string_view needle) {
  std::vector<std::string> out;
  for (const std::string& l : sink.lines) {
    if (l.find(needle) != std::string::npos) out.push_back(l);
  }
  return out;
}

ClinicStats Clinic(const Engine& engine, std::string_view name) {
  ClinicStats found;
  engine.ForEachClinic([&](const ClinicStats& c) {
    if (c.clinic == name) found = c;
  });
  return found;
}

TEST(EngineSessions, StartOpensAndEndCloses) {
  Harness h;
  h.Start(Sec(0), "S1");
  EXPECT_EQ(Clinic(h.engine, "c1").sessions_active, 1u);
  h.End(Sec(2), "S1");
  EXPECT_THAT(h.sink.lines, ElementsAre("session_start d1 S1 cheek started=0.000",
                                        "session_end d1 S1 cheek end_event ended=2.000 "
                                        "started=0.000"));
  const ClinicStats c = Clinic(h.engine, "c1");
  EXPECT_EQ(c.sessions_active, 0u);
  EXPECT_EQ(c.sessions_started, 1u);
  EXPECT_EQ(c.sessions_ended, 1u);
  EXPECT_EQ(h.engine.counters().sessions_ended, 1u);
  EXPECT_FALSE(h.sink.sessions.back().max_depth_mm);  // no telemetry
}

TEST(EngineSessions, RepeatedStartOfTheOpenSessionChangesNothing) {
  Harness h;
  h.Start(Sec(0), "S1", "cheek");
  h.Start(Sec(1), "S1", "forehead");
  EXPECT_THAT(h.sink.lines, ElementsAre("session_start d1 S1 cheek started=0.000"));
  EXPECT_EQ(h.engine.counters().sessions_started, 1u);
  EXPECT_EQ(h.engine.counters().accepted, 2u);
}

TEST(EngineSessions, StartForAnotherSessionEndsTheOpenOneAtThatInstant) {
  Harness h;
  h.Start(Sec(0), "S1");
  h.Start(Sec(1), "S2", "forehead");
  EXPECT_THAT(h.sink.lines, ElementsAre("session_start d1 S1 cheek started=0.000",
                                        "session_end d1 S1 cheek switched ended=1.000 "
                                        "started=0.000",
                                        "session_start d1 S2 forehead started=1.000"));
}

TEST(EngineSessions, TelemetryForAnotherSessionSwitchesAndOpensImplicitly) {
  Harness h;
  h.Start(Sec(0), "S1");
  h.Tel(Sec(1), 0.2, 100, "S2", "forehead");
  EXPECT_THAT(h.sink.lines, ElementsAre("session_start d1 S1 cheek started=0.000",
                                        "session_end d1 S1 cheek switched ended=1.000 "
                                        "started=0.000",
                                        "session_start d1 S2 forehead implicit started=1.000"));
}

TEST(EngineSessions, TelemetryAfterAnEndReopensTheSameIdImplicitly) {
  Harness h;
  h.Tel(Sec(0), 0.2);
  h.End(Sec(1), "S1");
  h.Tel(Sec(2), 0.2);
  EXPECT_EQ(h.engine.counters().sessions_started, 2u);
  EXPECT_TRUE(h.sink.sessions.back().implicit);
  EXPECT_TRUE(h.sink.sessions.back().started);
}

TEST(EngineSessions, EndOfAnUnknownSessionIsRejectedAndChangesNothing) {
  Harness h;
  h.End(Sec(0), "S9");  // no device yet
  EXPECT_EQ(h.engine.device_count(), 0u);
  h.Start(Sec(1), "S1");
  h.sink.Clear();
  h.End(Sec(2), "S2");
  EXPECT_THAT(h.sink.rejects, ElementsAre("unknown_session_end/event"));
  const Counters& c = h.engine.counters();
  EXPECT_EQ(c.rejected[static_cast<std::size_t>(protocol::Reject::kUnknownSessionEnd)], 2u);
  EXPECT_EQ(c.received[static_cast<std::size_t>(protocol::Channel::kEvent)], 3u);
  EXPECT_EQ(c.accepted, 1u);
  bool open = false;
  TimeNs last_message = 0;
  h.engine.ForEachDevice([&](const DeviceView& v) {
    open = v.session_open && v.session == "S1";
    last_message = v.last_message_at;
  });
  EXPECT_TRUE(open);
  EXPECT_EQ(last_message, Sec(1));
  EXPECT_EQ(h.engine.now(), Sec(2));  // only the clock moved
}

TEST(EngineSessions, EndingASessionClearsItsAlarmsAndLatchesHighOnes) {
  Harness h;
  h.Tel(Sec(0), 1.6, 100, "S1", "cheek");
  h.sink.Clear();
  h.End(Sec(1), "S1");
  EXPECT_THAT(h.sink.lines,
              ElementsAre("latched depth_exceeded high latched d1 S1 v=1.6 l=1.5 raised=0.000 "
                          "cleared=1.000 at=1.000",
                          "cleared depth_warning low cleared d1 S1 v=1.6 l=1 raised=0.000 "
                          "cleared=1.000 at=1.000",
                          "session_end d1 S1 cheek implicit end_event ended=1.000 "
                          "started=0.000"));
  EXPECT_EQ(h.AlarmCount(), 1u);
}

TEST(EngineSessions, EndingASessionCancelsPendings) {
  Harness h;
  h.Tel(Sec(0), 0.2, 200);
  h.End(Sec(0.5), "S1");
  h.Advance(Sec(10));
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  EXPECT_FALSE(h.engine.NextDeadline() && *h.engine.NextDeadline() <= Sec(10));
}

TEST(EngineSessions, SummaryCountsSamplesMaximaAndZonesInOrder) {
  Harness h;
  h.engine.OnMessage(DeviceTopic("c1", "d1", "event"), StartPayload(0, "S1", "cheek", "op-7"),
                     Sec(0), h.sink);
  h.seq["c1/d1"] = 1;
  h.Tel(Sec(0.1), 0.3, 90, "S1", "forehead");
  h.Tel(Sec(0.2), 0.4, 120, "S1", "cheek");
  h.Tel(Sec(0.3), 0.2, 110, "S1", "forehead");
  std::vector<SessionEvent> open;
  h.engine.ForEachOpenSession([&](const SessionEvent& e) { open.push_back(e); });
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].samples, 3u);
  EXPECT_EQ(open[0].max_depth_mm, 0.4);
  EXPECT_EQ(open[0].max_speed_hz, 120.0);
  EXPECT_THAT(open[0].zones, ElementsAre("cheek", "forehead"));
  EXPECT_EQ(open[0].op, "op-7");
  EXPECT_FALSE(open[0].implicit);
  EXPECT_FALSE(open[0].ended_at);
}

TEST(EngineStale, NotRaisedAtExactlyStaleAfterButOneNanosecondLater) {
  Harness h;
  h.Tel(Sec(0), 0.2);
  h.Advance(Sec(3));
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  h.Advance(Sec(3) + 1);
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised telemetry_stale medium active d1 S1 v=3 l=3 raised=3.000 "
                          "at=3.000"));
}

TEST(EngineStale, TelemetryAtExactlyTheDeadlineKeepsItFresh) {
  Harness h;
  h.Tel(Sec(0), 0.2);
  h.Tel(Sec(3), 0.2);
  h.Advance(Sec(6));
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  h.Advance(Sec(6) + 1);
  ASSERT_EQ(h.sink.alarms.size(), 1u);
  EXPECT_EQ(h.sink.alarms[0].raised_at, Sec(6));
}

TEST(EngineStale, StartWithoutTelemetryGoesStaleFromTheStart) {
  Harness h;
  h.Start(Sec(0), "S1");
  h.Advance(Sec(4));
  ASSERT_EQ(h.sink.alarms.size(), 1u);
  EXPECT_EQ(h.sink.alarms[0].alarm, AlarmKind::kTelemetryStale);
  EXPECT_EQ(h.sink.alarms[0].raised_at, Sec(3));
}

TEST(EngineStale, NextTelemetryClearsIt) {
  Harness h;
  h.Tel(Sec(0), 0.2);
  h.Tel(Sec(5), 0.2);
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised telemetry_stale medium active d1 S1 v=3 l=3 raised=3.000 "
                          "at=3.000",
                          "cleared telemetry_stale medium cleared d1 S1 v=3 l=3 raised=3.000 "
                          "cleared=5.000 at=5.000"));
}

TEST(EngineOffline, OfflineDuringASessionRaisesDeviceOfflineAndSuppressesStale) {
  Harness h;
  h.Tel(Sec(0), 0.2);
  h.Offline(Sec(1));
  h.Advance(Sec(30));
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised device_offline high active d1 S1 raised=1.000 at=1.000"));
  EXPECT_FALSE(h.sink.alarms[0].value);
  EXPECT_EQ(Clinic(h.engine, "c1").devices_offline, 1u);
}

TEST(EngineOffline, GoingOfflineClearsAnActiveStaleAlarm) {
  Harness h;
  h.Tel(Sec(0), 0.2);
  h.Advance(Sec(4));
  h.Offline(Sec(5));
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised telemetry_stale medium active d1 S1 v=3 l=3 raised=3.000 "
                          "at=3.000",
                          "cleared telemetry_stale medium cleared d1 S1 v=3 l=3 raised=3.000 "
                          "cleared=5.000 at=5.000",
                          "raised device_offline high active d1 S1 raised=5.000 at=5.000"));
}

TEST(EngineOffline, StaleTimerRestartsWhenTheDeviceComesBackOnline) {
  Harness h;
  h.Tel(Sec(0), 0.2);
  h.Offline(Sec(1));
  h.Online(Sec(10));
  h.Advance(Sec(13));
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised device_offline high active d1 S1 raised=1.000 at=1.000",
                          "latched device_offline high latched d1 S1 raised=1.000 "
                          "cleared=10.000 at=10.000"));
  h.Advance(Sec(13) + 1);
  ASSERT_EQ(h.sink.alarms.size(), 3u);
  EXPECT_EQ(h.sink.alarms[2].alarm, AlarmKind::kTelemetryStale);
  EXPECT_EQ(h.sink.alarms[2].raised_at, Sec(13));
}

TEST(EngineOffline, OfflineWithoutASessionOnlyRecordsTheState) {
  Harness h;
  h.Offline(Sec(0));
  EXPECT_THAT(h.sink.lines, IsEmpty());
  const ClinicStats c = Clinic(h.engine, "c1");
  EXPECT_EQ(c.devices_offline, 1u);
  EXPECT_EQ(c.devices_online, 0u);
  bool online = true;
  h.engine.ForEachDevice([&](const DeviceView& v) { online = v.online; });
  EXPECT_FALSE(online);
}

TEST(EngineOffline, OfflineCancelsPendings) {
  Harness h;
  h.Tel(Sec(0), 0.2, 200);
  h.Offline(Sec(0.5));
  h.Advance(Sec(2));
  EXPECT_TRUE(LinesWith(h.sink, "speed_out_of_range").empty());
}

TEST(EngineOvertime, WarningThenOvertimeAtTheirThresholds) {
  Harness h;
  h.Start(Sec(0), "S1");
  h.Advance(Sec(0) + 50 * kMinute - 1);
  EXPECT_TRUE(LinesWith(h.sink, "overtime").empty());
  h.Advance(Sec(0) + 50 * kMinute);
  h.Advance(Sec(0) + 60 * kMinute);
  EXPECT_THAT(LinesWith(h.sink, "overtime"),
              ElementsAre("raised session_overtime_warning low active d1 S1 v=3000 l=3000 "
                          "raised=3000.000 at=3000.000",
                          "raised session_overtime high active d1 S1 v=3600 l=3600 "
                          "raised=3600.000 at=3600.000"));
  h.End(Sec(0) + 61 * kMinute, "S1");
  EXPECT_EQ(h.StateOf(AlarmKind::kSessionOvertime), AlarmState::kLatched);
  EXPECT_FALSE(h.StateOf(AlarmKind::kSessionOvertimeWarning));
}

TEST(EngineOvertime, RunsWhileTheDeviceIsOffline) {
  Harness h;
  h.Start(Sec(0), "S1");
  h.Offline(Sec(1));
  h.Advance(Sec(0) + 60 * kMinute);
  EXPECT_EQ(h.StateOf(AlarmKind::kSessionOvertime), AlarmState::kActive);
}

TEST(EngineOvertime, SwitchingSessionsRestartsTheClock) {
  Harness h;
  h.Start(Sec(0), "S1");
  h.Start(Sec(0) + 30 * kMinute, "S2");
  h.Advance(Sec(0) + 89 * kMinute);
  EXPECT_FALSE(h.StateOf(AlarmKind::kSessionOvertime));
  h.Advance(Sec(0) + 90 * kMinute);
  EXPECT_EQ(h.StateOf(AlarmKind::kSessionOvertime), AlarmState::kActive);
}

TEST(EngineOvertime, LimitsComeFromTheZoneTheSessionStartedIn) {
  Limits limits = TestLimits();
  limits.zones[0].second.session_warn_after.reset();
  limits.zones[0].second.session_max_duration = 10 * kMinute;  // forehead
  Harness h(limits);
  h.Start(Sec(0), "S1", "forehead");
  h.Tel(Sec(1), 0.2, 100, "S1", "cheek");
  h.Advance(Sec(0) + 10 * kMinute);
  EXPECT_EQ(h.StateOf(AlarmKind::kSessionOvertime), AlarmState::kActive);
  EXPECT_FALSE(h.StateOf(AlarmKind::kSessionOvertimeWarning));
}

}  // namespace
}  // namespace needlewatch::engine::testing
