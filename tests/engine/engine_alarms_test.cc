// Sample rules (depth, warning, speed with `for`), the alarm lifecycle (latch, acknowledge,
// replace) and SetLimits.
#include "needlewatch/engine/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine_test_util.h"

namespace needlewatch::engine::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(EngineRules, DepthEqualToZoneMaxIsWithinLimits) {
  Harness h;
  h.Tel(Sec(0), 0.5, 100, "S1", "forehead");
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  EXPECT_EQ(h.AlarmCount(), 0u);
}

TEST(EngineRules, DepthJustAboveZoneMaxRaisesOnFirstSample) {
  Harness h;
  h.Tel(Sec(0), 0.51, 100, "S1", "forehead");
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised depth_exceeded high active d1 S1 v=0.51 l=0.5 raised=0.000 "
                          "at=0.000"));
  EXPECT_EQ(h.sink.alarms[0].zone, "forehead");
  EXPECT_EQ(h.StateOf(AlarmKind::kDepthExceeded), AlarmState::kActive);
}

TEST(EngineRules, DepthLimitComesFromTheSamplesZoneNotTheSessionStartZone) {
  Harness h;
  h.Start(Sec(0), "S1", "cheek");
  h.Tel(Sec(1), 0.8, 100, "S1", "forehead");  // 0.8 is fine on the cheek, not on the forehead
  EXPECT_EQ(h.StateOf(AlarmKind::kDepthExceeded), AlarmState::kActive);
}

TEST(EngineRules, HighDepthAlarmLatchesAtTheFirstSampleBackWithinLimits) {
  Harness h;
  h.Tel(Sec(0), 0.8, 100, "S1", "forehead");
  h.Tel(Sec(0.1), 0.9, 100, "S1", "forehead");  // still offending: nothing new
  h.Tel(Sec(0.2), 0.4, 100, "S1", "forehead");
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised depth_exceeded high active d1 S1 v=0.8 l=0.5 raised=0.000 "
                          "at=0.000",
                          "latched depth_exceeded high latched d1 S1 v=0.8 l=0.5 raised=0.000 "
                          "cleared=0.200 at=0.200"));
  EXPECT_EQ(h.StateOf(AlarmKind::kDepthExceeded), AlarmState::kLatched);
}

TEST(EngineRules, DepthWarningAppliesOnlyWhereTheZoneSetsWarnAndDoesNotLatch) {
  Harness h;
  h.Tel(Sec(0), 1.0, 100, "S1", "cheek");  // equal to warn: within
  h.Tel(Sec(1), 0.9, 100, "S1", "scalp");  // default zone: no warn rule, within max 1.0
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  h.Tel(Sec(2), 1.2, 100, "S1", "cheek");
  h.Tel(Sec(3), 0.5, 100, "S1", "cheek");
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised depth_warning low active d1 S1 v=1.2 l=1 raised=2.000 at=2.000",
                          "cleared depth_warning low cleared d1 S1 v=1.2 l=1 raised=2.000 "
                          "cleared=3.000 at=3.000"));
  EXPECT_EQ(h.AlarmCount(), 0u);
}

TEST(EngineRules, RulesOfOneSampleAreReportedInAlarmKindOrder) {
  Limits limits = TestLimits();
  limits.zones[1].second.speed.for_ns = 0;  // cheek: speed raised on the first sample
  Harness h(limits);
  h.Tel(Sec(0), 1.6, 200, "S1", "cheek");
  ASSERT_EQ(h.sink.alarms.size(), 3u);
  EXPECT_EQ(h.sink.alarms[0].alarm, AlarmKind::kDepthExceeded);
  EXPECT_EQ(h.sink.alarms[1].alarm, AlarmKind::kDepthWarning);
  EXPECT_EQ(h.sink.alarms[2].alarm, AlarmKind::kSpeedOutOfRange);
}

TEST(EngineRules, SpeedAtExactlyMinAndMaxIsWithinLimits) {
  Harness h;
  h.Tel(Sec(0), 0.5, 50);
  h.Tel(Sec(0.5), 0.5, 150);
  h.Advance(Sec(2.5));
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
}

TEST(EngineRules, SpeedOutOfRangeIsRaisedAtFirstOffendingSamplePlusFor) {
  Harness h;
  h.Tel(Sec(0), 0.5, 200);
  h.Tel(Sec(0.5), 0.5, 180);
  h.Advance(Sec(1) - 1);
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  EXPECT_EQ(h.engine.NextDeadline(), Sec(1));
  h.Advance(Sec(1));
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised speed_out_of_range medium active d1 S1 v=200 l=150 "
                          "raised=1.000 at=1.000"));
}

TEST(EngineRules, SpeedBelowMinReportsTheMinAsLimit) {
  Harness h;
  h.Tel(Sec(0), 0.5, 20);
  h.Advance(Sec(1));
  ASSERT_EQ(h.sink.alarms.size(), 1u);
  EXPECT_EQ(h.sink.alarms[0].value, 20.0);
  EXPECT_EQ(h.sink.alarms[0].limit, 50.0);
}

TEST(EngineRules, GoodSampleBeforeForElapsesCancelsThePendingAlarm) {
  Harness h;
  h.Tel(Sec(0), 0.5, 200);
  h.Tel(Sec(0.9), 0.5, 100);
  h.Advance(Sec(2));
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  // A new offence starts a new `for` from its own first sample.
  h.Tel(Sec(2.5), 0.5, 10);
  h.Advance(Sec(3.4));
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  h.Advance(Sec(3.5));
  ASSERT_EQ(h.sink.alarms.size(), 1u);
  EXPECT_EQ(h.sink.alarms[0].raised_at, Sec(3.5));
}

TEST(EngineRules, ForReachedExactlyAtASampleTimeRaisesBeforeThatSampleIsHandled) {
  Harness h;
  h.Tel(Sec(0), 0.5, 200);
  h.Tel(Sec(1), 0.5, 100);
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised speed_out_of_range medium active d1 S1 v=200 l=150 "
                          "raised=1.000 at=1.000",
                          "cleared speed_out_of_range medium cleared d1 S1 v=200 l=150 "
                          "raised=1.000 cleared=1.000 at=1.000"));
}

TEST(EngineRules, SeverityAndForComeFromTheZoneRuleOptions) {
  Limits limits = TestLimits();
  limits.zones[0].second.depth_exceeded = RuleOptions{Severity::kMedium, 200 * kNsPerMs};
  Harness h(limits);
  h.Tel(Sec(0), 0.8, 100, "S1", "forehead");
  h.Advance(Sec(0.2));
  h.Tel(Sec(0.3), 0.1, 100, "S1", "forehead");
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised depth_exceeded medium active d1 S1 v=0.8 l=0.5 raised=0.200 "
                          "at=0.200",
                          "cleared depth_exceeded medium cleared d1 S1 v=0.8 l=0.5 raised=0.200 "
                          "cleared=0.300 at=0.300"));
}

TEST(EngineLifecycle, AcknowledgingALatchedAlarmEndsIt) {
  Harness h;
  h.Tel(Sec(0), 0.8, 100, "S1", "forehead");
  h.Tel(Sec(1), 0.1, 100, "S1", "forehead");
  h.sink.Clear();
  EXPECT_EQ(h.engine.Acknowledge("c1", "d1", AlarmKind::kDepthExceeded, Sec(2), h.sink),
            AckResult::kCleared);
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("ack_cleared depth_exceeded high cleared d1 S1 v=0.8 l=0.5 "
                          "raised=0.000 cleared=1.000 at=2.000"));
  EXPECT_TRUE(h.sink.alarms[0].acknowledged);
  EXPECT_EQ(h.AlarmCount(), 0u);
  EXPECT_EQ(h.engine.Acknowledge("c1", "d1", AlarmKind::kDepthExceeded, Sec(3), h.sink),
            AckResult::kNotFound);
}

TEST(EngineLifecycle, AcknowledgedActiveAlarmClearsWithoutLatching) {
  Harness h;
  h.Tel(Sec(0), 0.8, 100, "S1", "forehead");
  EXPECT_EQ(h.engine.Acknowledge("c1", "d1", AlarmKind::kDepthExceeded, Sec(0.5), h.sink),
            AckResult::kAcknowledged);
  EXPECT_EQ(h.engine.Acknowledge("c1", "d1", AlarmKind::kDepthExceeded, Sec(0.6), h.sink),
            AckResult::kAlreadyAcknowledged);
  h.Tel(Sec(1), 0.1, 100, "S1", "forehead");
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised depth_exceeded high active d1 S1 v=0.8 l=0.5 raised=0.000 "
                          "at=0.000",
                          "acknowledged depth_exceeded high active d1 S1 v=0.8 l=0.5 "
                          "raised=0.000 at=0.500",
                          "cleared depth_exceeded high cleared d1 S1 v=0.8 l=0.5 raised=0.000 "
                          "cleared=1.000 at=1.000"));
  EXPECT_EQ(h.AlarmCount(), 0u);
}

TEST(EngineLifecycle, AcknowledgingNothingIsNotFound) {
  Harness h;
  EXPECT_EQ(h.engine.Acknowledge("c1", "d1", AlarmKind::kDepthExceeded, Sec(0), h.sink),
            AckResult::kNotFound);
  h.Tel(Sec(0), 0.1);
  EXPECT_EQ(h.engine.Acknowledge("c1", "d1", AlarmKind::kDepthExceeded, Sec(0), h.sink),
            AckResult::kNotFound);
  EXPECT_EQ(h.engine.Acknowledge("c2", "d1", AlarmKind::kDepthExceeded, Sec(0), h.sink),
            AckResult::kNotFound);
}

TEST(EngineLifecycle, NewRaiseReplacesALatchedAlarmInItsSlot) {
  Harness h;
  h.Tel(Sec(0), 0.8, 100, "S1", "forehead");
  h.Tel(Sec(1), 0.1, 100, "S1", "forehead");
  h.Tel(Sec(2), 0.7, 100, "S1", "forehead");
  EXPECT_EQ(h.AlarmCount(), 1u);
  std::optional<AlarmView> view;
  h.engine.ForEachAlarm([&](const AlarmView& v) { view = v; });
  ASSERT_TRUE(view);
  EXPECT_EQ(view->state, AlarmState::kActive);
  EXPECT_EQ(view->raised_at, Sec(2));
  EXPECT_EQ(view->value, 0.7);
  EXPECT_FALSE(view->cleared_at);
}

TEST(EngineLifecycle, ClinicCountsRaisesBySeverityAndUnsafeSessionsOnce) {
  Harness h;
  h.Tel(Sec(0), 0.8, 100, "S1", "forehead");
  h.Tel(Sec(1), 0.1, 100, "S1", "forehead");
  h.Tel(Sec(2), 0.7, 100, "S1", "forehead");
  h.Tel(Sec(2.5), 1.2, 100, "S1", "cheek");  // within cheek max 1.5 (latches), above warn 1.0
  h.End(Sec(3), "S1");
  std::vector<ClinicStats> stats;
  h.engine.ForEachClinic([&](const ClinicStats& c) { stats.push_back(c); });
  ASSERT_EQ(stats.size(), 1u);
  const auto depth = static_cast<std::size_t>(AlarmKind::kDepthExceeded);
  const auto warn = static_cast<std::size_t>(AlarmKind::kDepthWarning);
  EXPECT_EQ(stats[0].alarms_raised[depth][static_cast<std::size_t>(Severity::kHigh)], 2u);
  EXPECT_EQ(stats[0].alarms_raised[warn][static_cast<std::size_t>(Severity::kLow)], 1u);
  EXPECT_EQ(stats[0].unsafe_sessions, 1u);
  ASSERT_FALSE(h.sink.sessions.empty());
  EXPECT_EQ(h.sink.sessions.back().alarms_raised, 3u);
}

TEST(EngineSetLimits, KeepsActiveAlarmsAndAppliesNewLimitsToTheNextSample) {
  Harness h;
  h.Tel(Sec(0), 0.8, 100, "S1", "forehead");
  Limits relaxed = TestLimits();
  relaxed.zones[0].second.depth_max_mm = 1.0;
  h.engine.SetLimits(relaxed, Sec(0.5), h.sink);
  EXPECT_EQ(h.StateOf(AlarmKind::kDepthExceeded), AlarmState::kActive);
  h.Tel(Sec(1), 0.9, 100, "S1", "forehead");
  EXPECT_EQ(h.StateOf(AlarmKind::kDepthExceeded), AlarmState::kLatched);
  EXPECT_EQ(h.engine.limits().ForZone("forehead").depth_max_mm, 1.0);
}

TEST(EngineSetLimits, ShorterForAlreadyElapsedRaisesThePendingAtTheReloadInstant) {
  // CONTRACT §3 v1.1: raised when the new `for` applies (the reload), not in the past.
  Harness h;
  h.Tel(Sec(0), 0.5, 200);
  Limits quick = TestLimits();
  quick.zones[1].second.speed.for_ns = 200 * kNsPerMs;
  h.engine.SetLimits(quick, Sec(0.5), h.sink);
  ASSERT_EQ(h.sink.alarms.size(), 1u);
  EXPECT_EQ(h.sink.alarms[0].raised_at, Sec(0.5));
  EXPECT_EQ(h.sink.alarms[0].value, 200.0);
}

TEST(EngineSetLimits, LongerForPostponesThePending) {
  Harness h;
  h.Tel(Sec(0), 0.5, 200);
  Limits slow = TestLimits();
  slow.zones[1].second.speed.for_ns = 2 * kNsPerSec;
  h.engine.SetLimits(slow, Sec(0.5), h.sink);
  h.Tel(Sec(1.5), 0.5, 200);
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  h.Advance(Sec(2));
  ASSERT_EQ(h.sink.alarms.size(), 1u);
  EXPECT_EQ(h.sink.alarms[0].raised_at, Sec(2));
}

TEST(EngineSetLimits, ShorterMaxDurationRaisesOvertimeFromTheSessionStart) {
  Harness h;
  h.Start(Sec(0), "S1");
  Limits shorter = TestLimits();
  shorter.zones[1].second.session_warn_after.reset();
  shorter.zones[1].second.session_max_duration = 5 * kNsPerSec;
  shorter.zones[1].second.stale_after = 3600 * kNsPerSec;
  h.engine.SetLimits(shorter, Sec(2), h.sink);
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  h.Advance(Sec(10));
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised session_overtime high active d1 S1 v=5 l=5 raised=5.000 "
                          "at=5.000"));
  EXPECT_EQ(h.engine.counters().sessions_started, 1u);
}

}  // namespace
}  // namespace needlewatch::engine::testing
