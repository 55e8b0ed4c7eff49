// Catch-up (issue 12 item 2): during BeginCatchUp … EndCatchUp, late device messages run on
// their device-corrected time, a lagging device's deadlines wait for its messages, and late
// transitions say so. Outside catch-up the receive time is the clock, whatever `ts` says.
#include "needlewatch/engine/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "engine_test_util.h"
#include "needlewatch/engine/state.h"

namespace needlewatch::engine::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr TimeNs Ms(std::int64_t ms) { return kEpoch + ms * kNsPerMs; }

// A pen whose clock runs 30 ms behind the monitor's and whose messages take 20 ms to arrive
// while the monitor is up: the learned offset (receive − ts) is 50 ms, so a late message is
// judged at happened + 20 ms, the time it would have been received.
class Pen {
 public:
  explicit Pen(std::string device, std::string session = "S1")
      : device_(std::move(device)), session_(std::move(session)) {}

  static std::int64_t TsMs(TimeNs happened) { return (happened - 30 * kNsPerMs) / kNsPerMs; }

  // A sample taken at `happened`, received live.
  void Live(Harness& h, TimeNs happened, double speed = 100, double depth = 0.3) {
    Deliver(h, happened + 20 * kNsPerMs, happened, speed, depth);
  }
  // A sample taken at `happened`, received at `received` (from the broker's backlog).
  void Deliver(Harness& h, TimeNs received, TimeNs happened, double speed = 100,
               double depth = 0.3) {
    h.Raw(received, DeviceTopic("c1", device_, "telemetry"),
          TelemetryPayload(seq_++, session_, "cheek", depth, speed, TsMs(happened)));
  }
  void Start(Harness& h, TimeNs happened) {
    h.Raw(happened + 20 * kNsPerMs, DeviceTopic("c1", device_, "event"),
          StartPayload(seq_++, session_, "cheek", {}, TsMs(happened)));
  }

 private:
  std::string device_;
  std::string session_;
  std::uint32_t seq_ = 1;
};

TEST(EngineCatchUp, ASpeedExcursionWhileTheMonitorWasDownIsRaisedLateWhenItHappened) {
  Harness a;
  Pen pen("d1");
  for (int ms = 0; ms < 5000; ms += 100) pen.Live(a, Ms(ms));
  // The monitor stops at +5 s with its state saved, and restarts 25 s later.
  Harness b;
  b.engine.Restore(a.engine.Save());
  b.engine.BeginCatchUp(Ms(30000), b.sink);
  // The broker delivers the 250 samples it kept, 10 µs apart; 3 s of them at 200 Hz.
  int i = 0;
  for (int ms = 5000; ms < 30000; ms += 100, ++i) {
    const double speed = ms >= 8000 && ms < 11000 ? 200 : 100;
    pen.Deliver(b, Ms(30000) + i * 10'000, Ms(ms), speed);
  }
  for (int ms = 30100; ms < 31000; ms += 100) pen.Live(b, Ms(ms));
  b.engine.EndCatchUp(Ms(31000), b.sink);
  // Raised 1 s after the first 200 Hz sample (happened +8.0 s, judged at +8.020), cleared at
  // the first one back within range; no telemetry_stale: the telemetry kept flowing.
  EXPECT_THAT(b.sink.AlarmLines(),
              ElementsAre("raised speed_out_of_range medium active d1 S1 v=200 l=150 "
                          "raised=9.020 at=9.020 late",
                          "cleared speed_out_of_range medium cleared d1 S1 v=200 l=150 "
                          "raised=9.020 cleared=11.020 at=11.020 late"));
  // The last ten backlog samples are less than late_after (1 s) old: judged live.
  EXPECT_EQ(b.engine.counters().late_messages, 240u);
  ASSERT_EQ(b.sink.accepted.size(), 259u);
  EXPECT_TRUE(b.sink.accepted[0].late);
  EXPECT_EQ(b.sink.accepted[0].effective_at, Ms(5020));
  EXPECT_EQ(b.sink.accepted[0].at, Ms(30000));
  EXPECT_FALSE(b.sink.accepted[240].late);
  EXPECT_EQ(b.sink.accepted[240].effective_at, b.sink.accepted[240].at);
}

TEST(EngineCatchUp, ADeviceThatWentSilentGetsStaleAtEndCatchUpWithItsRealDeadline) {
  Harness h;
  Pen kept("d1");
  Pen silent("d2");
  for (int ms = 0; ms < 5000; ms += 100) {
    kept.Live(h, Ms(ms));
    silent.Live(h, Ms(ms));
  }
  h.engine.BeginCatchUp(Ms(30000), h.sink);
  int i = 0;
  for (int ms = 5000; ms < 29000; ms += 100, ++i) kept.Deliver(h, Ms(30000) + i * 10'000, Ms(ms));
  h.Advance(Ms(30500));
  EXPECT_THAT(h.sink.AlarmLines(), IsEmpty());  // d2's deadline waits for its messages
  h.engine.EndCatchUp(Ms(31000), h.sink);
  // d2's last sample was received at +4.920: stale at +7.920, reported late.
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised telemetry_stale medium active d2 S1 v=3 l=3 raised=7.920 "
                          "at=7.920 late"));
  std::vector<AlarmView> views;
  h.engine.ForEachAlarm([&](const AlarmView& v) { views.push_back(v); });
  ASSERT_EQ(views.size(), 1u);
  EXPECT_TRUE(views[0].late);
  // After the catch-up d1's stale (its last sample judged at +28.920) comes from the clock.
  h.Advance(Ms(31921));
  EXPECT_THAT(h.sink.AlarmLines().back(),
              "raised telemetry_stale medium active d1 S1 v=3 l=3 raised=31.920 at=31.920");
}

TEST(EngineCatchUp, ASilentDeviceThatComesBackLiveGetsItsStaleFirst) {
  Harness h;
  Pen pen("d1");
  for (int ms = 0; ms < 5000; ms += 100) pen.Live(h, Ms(ms));
  h.engine.BeginCatchUp(Ms(30000), h.sink);
  pen.Live(h, Ms(30500));
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised telemetry_stale medium active d1 S1 v=3 l=3 raised=7.920 "
                          "at=7.920 late",
                          "cleared telemetry_stale medium cleared d1 S1 v=3 l=3 raised=7.920 "
                          "cleared=30.520 at=30.520"));
  EXPECT_EQ(h.engine.counters().late_messages, 0u);
}

TEST(EngineCatchUp, OvertimeDuringTheOutageIsRaisedWhenABacklogSamplePassesIt) {
  Limits l = TestLimits();
  l.zones[1].second.session_warn_after.reset();
  l.zones[1].second.session_max_duration = 10 * kNsPerSec;
  Harness h(l);
  Pen pen("d1");
  pen.Start(h, Ms(0));  // started at +0.020
  for (int ms = 100; ms < 5000; ms += 100) pen.Live(h, Ms(ms));
  h.engine.BeginCatchUp(Ms(30000), h.sink);
  int i = 0;
  for (int ms = 5000; ms < 20000; ms += 100, ++i) pen.Deliver(h, Ms(30000) + i * 10'000, Ms(ms));
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised session_overtime high active d1 S1 v=10 l=10 raised=10.020 "
                          "at=10.020 late"));
  h.engine.EndCatchUp(Ms(30100), h.sink);
  // Its stale deadline (+19.920 + 3 s) was due before the end: it fires then, late.
  EXPECT_THAT(h.sink.AlarmLines().back(),
              "raised telemetry_stale medium active d1 S1 v=3 l=3 raised=22.920 at=22.920 late");
}

TEST(EngineCatchUp, DeadlinesFireInOrderBetweenLateMessagesAtTheirOwnTime) {
  Harness h;
  Pen pen("d1");
  for (int ms = 0; ms < 1000; ms += 100) pen.Live(h, Ms(ms));
  h.engine.BeginCatchUp(Ms(30000), h.sink);
  // 200 Hz from +1.0 s, then samples far apart: the pending (due +2.020) fires before the
  // sample of +3.5 s is applied; the stale deadline (+3.520 + 3 s) before that of +8.0 s.
  pen.Deliver(h, Ms(30000), Ms(1000), 200);
  pen.Deliver(h, Ms(30001), Ms(3500), 200);
  pen.Deliver(h, Ms(30002), Ms(8000), 100);
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised speed_out_of_range medium active d1 S1 v=200 l=150 "
                          "raised=2.020 at=2.020 late",
                          "raised telemetry_stale medium active d1 S1 v=3 l=3 raised=6.520 "
                          "at=6.520 late",
                          "cleared speed_out_of_range medium cleared d1 S1 v=200 l=150 "
                          "raised=2.020 cleared=8.020 at=8.020 late",
                          "cleared telemetry_stale medium cleared d1 S1 v=3 l=3 raised=6.520 "
                          "cleared=8.020 at=8.020 late"));
}

TEST(EngineCatchUp, EffectiveTimeNeverGoesBackForADevice) {
  Harness h;
  Pen pen("d1");
  for (int ms = 0; ms < 1000; ms += 100) pen.Live(h, Ms(ms));
  h.engine.BeginCatchUp(Ms(30000), h.sink);
  h.sink.Clear();
  pen.Deliver(h, Ms(30000), Ms(10000));
  pen.Deliver(h, Ms(30001), Ms(8000));  // its clock stepped back 2 s
  ASSERT_EQ(h.sink.accepted.size(), 2u);
  EXPECT_EQ(h.sink.accepted[0].effective_at, Ms(10020));
  EXPECT_EQ(h.sink.accepted[1].effective_at, Ms(10020));
  EXPECT_TRUE(h.sink.accepted[1].late);
}

TEST(EngineCatchUp, AMessageLessThanLateAfterOldIsLive) {
  Harness h;
  Pen pen("d1");
  for (int ms = 0; ms < 1000; ms += 100) pen.Live(h, Ms(ms));
  h.engine.BeginCatchUp(Ms(2000), h.sink);
  h.sink.Clear();
  pen.Deliver(h, Ms(2000), Ms(1000));  // 1.0 s after it happened, 0.980 s beyond the baseline
  ASSERT_EQ(h.sink.accepted.size(), 1u);
  EXPECT_FALSE(h.sink.accepted[0].late);
  EXPECT_EQ(h.sink.accepted[0].effective_at, Ms(2000));
}

TEST(EngineCatchUp, ADeviceWithoutABaselineRunsOnReceiveTimeAndTheClock) {
  Harness h;
  h.engine.BeginCatchUp(Ms(0), h.sink);
  Pen pen("d9");
  pen.Deliver(h, Ms(30000), Ms(1000));  // first seen during catch-up: nothing to correct with
  ASSERT_EQ(h.sink.accepted.size(), 1u);
  EXPECT_FALSE(h.sink.accepted[0].late);
  EXPECT_EQ(h.sink.accepted[0].effective_at, Ms(30000));
  h.Advance(Ms(33001));  // it is not lagging: its stale comes from the clock
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised telemetry_stale medium active d9 S1 v=3 l=3 raised=33.000 "
                          "at=33.000"));
}

TEST(EngineCatchUp, OutsideCatchUpTheDeviceClockIsIgnored) {
  Harness h;
  Pen pen("d1");
  for (int ms = 0; ms < 1000; ms += 100) pen.Live(h, Ms(ms));
  h.sink.Clear();
  pen.Deliver(h, Ms(60000), Ms(2000), 200);  // an hour-old-looking sample, not in catch-up
  h.Advance(Ms(61000));
  ASSERT_EQ(h.sink.accepted.size(), 1u);
  EXPECT_FALSE(h.sink.accepted[0].late);
  EXPECT_EQ(h.sink.accepted[0].effective_at, Ms(60000));
  EXPECT_THAT(h.sink.AlarmLines(),
              ElementsAre("raised telemetry_stale medium active d1 S1 v=3 l=3 raised=3.920 "
                          "at=3.920",
                          "cleared telemetry_stale medium cleared d1 S1 v=3 l=3 raised=3.920 "
                          "cleared=60.000 at=60.000",
                          "raised speed_out_of_range medium active d1 S1 v=200 l=150 "
                          "raised=61.000 at=61.000"));
  EXPECT_EQ(h.engine.counters().late_messages, 0u);
}

TEST(EngineCatchUp, EndOutsideCatchUpOnlyFiresWhatIsDueAndBeginTwiceIsHarmless) {
  Harness h;
  Pen pen("d1");
  pen.Live(h, Ms(0));
  h.engine.EndCatchUp(Ms(5000), h.sink);
  EXPECT_FALSE(h.engine.catching_up());
  EXPECT_EQ(h.sink.AlarmLines().size(), 1u);  // stale at +3.020, not late
  EXPECT_THAT(h.sink.AlarmLines()[0], ::testing::Not(::testing::EndsWith("late")));
  h.engine.BeginCatchUp(Ms(6000), h.sink);
  h.engine.BeginCatchUp(Ms(7000), h.sink);
  EXPECT_TRUE(h.engine.catching_up());
  h.engine.EndCatchUp(Ms(8000), h.sink);
  EXPECT_FALSE(h.engine.catching_up());
}

}  // namespace
}  // namespace needlewatch::engine::testing
