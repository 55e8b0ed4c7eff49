// Pending sample-rule conditions re-judged per sample and per reload (CONTRACT §3 v1.1, issue
// 11 item 1): the `for` in force is that of the latest sample's zone, counted from the first
// offending sample; going offline cancels.
#include "needlewatch/engine/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine_test_util.h"

namespace needlewatch::engine::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The example: default speed `for: 2s`; periorbital `speed_hz: {max: 120, for: 0s}`
// (its min stays default's 50); scalp `for: 3s`; temple `for: 500ms`.
Limits ZoneForLimits() {
  Limits l = TestLimits();
  l.defaults.speed.for_ns = 2 * kNsPerSec;
  for (auto& [name, z] : l.zones) z.speed.for_ns = 2 * kNsPerSec;
  ZoneLimits periorbital;
  periorbital.speed_max_hz = 120;
  periorbital.speed.for_ns = 0;
  ZoneLimits scalp;
  scalp.speed.for_ns = 3 * kNsPerSec;
  ZoneLimits temple;
  temple.speed.for_ns = 500 * kNsPerMs;
  l.zones.emplace_back("periorbital", periorbital);
  l.zones.emplace_back("scalp", scalp);
  l.zones.emplace_back("temple", temple);
  return l;
}

TEST(EnginePending, StricterZoneMidConditionRaisesAtThatSample) {
  // 45 Hz on the cheek (pending, 2 s), then 35-40 Hz on the periorbital zone for 0.6 s, then
  // back within range: the periorbital limit says "at once", so the alarm is raised at the first
  // periorbital sample, with that sample's value, limit and zone.
  Harness h(ZoneForLimits());
  h.Tel(Sec(0), 0.3, 45, "S1", "cheek");
  h.Tel(Sec(0.5), 0.3, 45, "S1", "cheek");
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  h.Tel(Sec(1.0), 0.3, 38, "S1", "periorbital");
  h.Tel(Sec(1.3), 0.3, 35, "S1", "periorbital");
  h.Tel(Sec(1.6), 0.3, 100, "S1", "periorbital");
  h.Advance(Sec(4));
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised speed_out_of_range medium active d1 S1 v=38 l=50 raised=1.000 "
                          "at=1.000",
                          "cleared speed_out_of_range medium cleared d1 S1 v=38 l=50 "
                          "raised=1.000 cleared=1.600 at=1.600"));
  EXPECT_EQ(h.sink.alarms[0].zone, "periorbital");
}

TEST(EnginePending, ZoneWhoseForHasElapsedSinceTheFirstSampleRaisesAtThatSample) {
  // Pending on the scalp (3 s) since 0; at 0.8 s on the temple (500 ms): already elapsed.
  Harness h(ZoneForLimits());
  h.Tel(Sec(0), 0.3, 200, "S1", "scalp");
  h.Tel(Sec(0.8), 0.3, 190, "S1", "temple");
  ASSERT_EQ(h.sink.alarms.size(), 1u);
  EXPECT_EQ(h.sink.alarms[0].raised_at, Sec(0.8));
  EXPECT_EQ(h.sink.alarms[0].value, 190.0);
  EXPECT_EQ(h.sink.alarms[0].zone, "temple");
}

TEST(EnginePending, ShorterForNotYetElapsedMovesTheDeadlineEarlier) {
  // Pending on the cheek (2 s) since 0; at 0.2 s on the temple (500 ms): due at 0.5 s, raised
  // then with the first offending sample's value, limit and zone.
  Harness h(ZoneForLimits());
  h.Tel(Sec(0), 0.3, 200, "S1", "cheek");
  h.Tel(Sec(0.2), 0.3, 190, "S1", "temple");
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  EXPECT_EQ(h.engine.NextDeadline(), Sec(0.5));
  h.Advance(Sec(0.5));
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised speed_out_of_range medium active d1 S1 v=200 l=150 "
                          "raised=0.500 at=0.500"));
  EXPECT_EQ(h.sink.alarms[0].zone, "cheek");
}

TEST(EnginePending, LongerForInTheNewZoneExtendsTheWaitFromTheFirstSample) {
  // Pending on the cheek (2 s) since 0; from 0.5 s on the scalp (3 s): due at 3.0, not 2.0
  // and not 0.5 + 3.
  Harness h(ZoneForLimits());
  h.Tel(Sec(0), 0.3, 200, "S1", "cheek");
  for (double t = 0.5; t < 3.0; t += 0.5) h.Tel(Sec(t), 0.3, 200, "S1", "scalp");
  h.Advance(Sec(3) - 1);
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  h.Advance(Sec(3));
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised speed_out_of_range medium active d1 S1 v=200 l=150 "
                          "raised=3.000 at=3.000"));
}

TEST(EnginePending, BackToTheShorterZoneBringsTheDeadlineBack) {
  Harness h(ZoneForLimits());
  h.Tel(Sec(0), 0.3, 200, "S1", "cheek");   // due 2.0
  h.Tel(Sec(0.5), 0.3, 200, "S1", "scalp");  // due 3.0
  h.Tel(Sec(1.0), 0.3, 200, "S1", "cheek");  // due 2.0 again
  h.Advance(Sec(2));
  ASSERT_EQ(h.sink.alarms.size(), 1u);
  EXPECT_EQ(h.sink.alarms[0].raised_at, Sec(2));
}

TEST(EnginePending, ReloadWithAnElapsedForRaisesAtTheReloadInstant) {
  Harness h(ZoneForLimits());
  h.Tel(Sec(0), 0.3, 200, "S1", "cheek");
  h.Tel(Sec(0.3), 0.3, 210, "S1", "cheek");
  Limits quick = ZoneForLimits();
  quick.zones[1].second.speed.for_ns = 200 * kNsPerMs;  // cheek
  h.engine.SetLimits(quick, Sec(0.5), h.sink);
  // Not in the past: the new `for` elapsed at 0.2 s, but the limits changed only at 0.5 s.
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised speed_out_of_range medium active d1 S1 v=210 l=150 "
                          "raised=0.500 at=0.500"));
}

TEST(EnginePending, ReloadWithAShorterForNotYetElapsedMovesTheDeadlineEarlier) {
  Harness h(ZoneForLimits());
  h.Tel(Sec(0), 0.3, 200, "S1", "cheek");
  Limits quicker = ZoneForLimits();
  quicker.zones[1].second.speed.for_ns = 800 * kNsPerMs;
  h.engine.SetLimits(quicker, Sec(0.5), h.sink);
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  h.Advance(Sec(0.8));
  ASSERT_EQ(h.sink.alarms.size(), 1u);
  EXPECT_EQ(h.sink.alarms[0].raised_at, Sec(0.8));
  EXPECT_EQ(h.sink.alarms[0].value, 200.0);
}

TEST(EnginePending, ReloadWithALongerForPostponesFromTheFirstSample) {
  Harness h(ZoneForLimits());
  h.Tel(Sec(0), 0.3, 200, "S1", "cheek");
  Limits slower = ZoneForLimits();
  slower.zones[1].second.speed.for_ns = 4 * kNsPerSec;
  h.engine.SetLimits(slower, Sec(1), h.sink);
  h.Tel(Sec(2.5), 0.3, 200, "S1", "cheek");
  h.Advance(Sec(4) - 1);
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  h.Advance(Sec(4));
  ASSERT_EQ(h.sink.alarms.size(), 1u);
  EXPECT_EQ(h.sink.alarms[0].raised_at, Sec(4));
}

TEST(EnginePending, ReloadTakesTheForOfTheLatestSamplesZone) {
  // Started on the cheek, latest sample on the scalp: the scalp's new `for` applies.
  Harness h(ZoneForLimits());
  h.Tel(Sec(0), 0.3, 200, "S1", "cheek");
  h.Tel(Sec(0.5), 0.3, 200, "S1", "scalp");  // due 3.0
  Limits l = ZoneForLimits();
  l.zones[3].second.speed.for_ns = 1500 * kNsPerMs;  // scalp
  l.zones[1].second.speed.for_ns = 10 * kNsPerSec;   // cheek: irrelevant now
  h.engine.SetLimits(l, Sec(1), h.sink);
  h.Advance(Sec(1.5));
  ASSERT_EQ(h.sink.alarms.size(), 1u);
  EXPECT_EQ(h.sink.alarms[0].raised_at, Sec(1.5));
}

TEST(EnginePending, ReloadThatPutsTheLatestSampleWithinLimitsCancels) {
  Harness h(ZoneForLimits());
  h.Tel(Sec(0), 0.3, 200, "S1", "cheek");
  Limits wider = ZoneForLimits();
  wider.zones[1].second.speed_max_hz = 250;
  h.engine.SetLimits(wider, Sec(0.5), h.sink);
  h.Advance(Sec(2.5));  // past the old deadline (2.0)
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());
  // A later offence starts a new condition from its own first sample.
  h.Tel(Sec(2.6), 0.3, 300, "S1", "cheek");
  h.Advance(Sec(4.6));
  ASSERT_EQ(h.sink.alarms.size(), 1u);
  EXPECT_EQ(h.sink.alarms[0].raised_at, Sec(4.6));
}

TEST(EnginePending, GoingOfflineCancelsPendingConditions) {
  Harness h(ZoneForLimits());
  h.Tel(Sec(0), 0.3, 200, "S1", "cheek");
  h.Offline(Sec(0.5));
  h.Advance(Sec(5));
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised device_offline high active d1 S1 raised=0.500 at=0.500"));
  // Back online and still out of range: a new `for` from the first sample after it.
  h.Online(Sec(6));
  h.Tel(Sec(6.5), 0.3, 200, "S1", "cheek");
  h.Advance(Sec(8.5) - 1);
  EXPECT_EQ(h.sink.alarms.size(), 2u);  // raised offline, latched offline
  h.Advance(Sec(8.5));
  ASSERT_EQ(h.sink.alarms.size(), 3u);
  EXPECT_EQ(h.sink.alarms[2].alarm, AlarmKind::kSpeedOutOfRange);
  EXPECT_EQ(h.sink.alarms[2].raised_at, Sec(8.5));
}

TEST(EnginePending, DepthRulesFollowTheZoneToo) {
  // depth_exceeded with `for: 1s` on the cheek, 0 s on the forehead: a deep sample pending on
  // the cheek raises at the first forehead sample that is also too deep there.
  Limits l = TestLimits();
  l.zones[1].second.depth_exceeded.for_ns = kNsPerSec;  // cheek
  l.zones[1].second.depth_warn_mm.reset();
  Harness h(l);
  h.Tel(Sec(0), 1.6, 100, "S1", "cheek");
  h.Tel(Sec(0.2), 0.7, 100, "S1", "forehead");
  ASSERT_EQ(h.sink.alarms.size(), 1u);
  EXPECT_EQ(h.sink.alarms[0].alarm, AlarmKind::kDepthExceeded);
  EXPECT_EQ(h.sink.alarms[0].raised_at, Sec(0.2));
  EXPECT_EQ(h.sink.alarms[0].limit, 0.5);
}

}  // namespace
}  // namespace needlewatch::engine::testing
