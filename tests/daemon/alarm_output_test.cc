#include "alarm_output.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_fleet.h"

namespace needlewatch::daemon {
namespace {

using nlohmann::json;

engine::AlarmEvent Raise(engine::AlarmKind kind, engine::Severity sev) {
  return testing::SampleAlarm(kind, sev);
}

TEST(AlarmPublication, IsRetainedQos1OnTheAlarmTopicWithTheContractPayload) {
  const Publication p = AlarmPublication(
      "clinic", Raise(engine::AlarmKind::kDepthExceeded, engine::Severity::kHigh));
  EXPECT_EQ(p.topic, "clinic/c017/device/d00042/alarm/depth_exceeded");
  EXPECT_TRUE(p.retain);
  EXPECT_EQ(p.qos, 1);
  const json j = json::parse(p.payload);
  EXPECT_EQ(j["v"], 1);
  EXPECT_EQ(j["alarm"], "depth_exceeded");
  EXPECT_EQ(j["severity"], "high");
  EXPECT_EQ(j["state"], "active");
  EXPECT_EQ(j["clinic"], "c017");
  EXPECT_EQ(j["device"], "d00042");
  EXPECT_EQ(j["session"], "S-7f3a91");
  EXPECT_EQ(j["zone"], "forehead");
  EXPECT_DOUBLE_EQ(j["value"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(j["limit"].get<double>(), 0.5);
  EXPECT_NEAR(j["raised_at"].get<double>(), 1795611133.125, 1e-6);
  EXPECT_NEAR(j["ts"].get<double>(), 1795611133.125, 1e-6);
}

TEST(AlarmPublication, TsIsTheTransitionTimeAndClearedStateIsShown) {
  engine::AlarmEvent e = Raise(engine::AlarmKind::kSpeedOutOfRange, engine::Severity::kMedium);
  e.transition = engine::Transition::kCleared;
  e.state = engine::AlarmState::kCleared;
  e.cleared_at = e.raised_at + 2'000'000'000;
  e.at = e.raised_at + 2'000'000'000;
  const json j = json::parse(AlarmPublication("root", e).payload);
  EXPECT_EQ(j["state"], "cleared");
  EXPECT_NEAR(j["ts"].get<double>(), 1795611135.125, 1e-6);
  EXPECT_NEAR(j["raised_at"].get<double>(), 1795611133.125, 1e-6);
}

TEST(AlarmPublication, DeviceOfflineHasNullValueAndLimit) {
  engine::AlarmEvent e = Raise(engine::AlarmKind::kDeviceOffline, engine::Severity::kHigh);
  e.value.reset();
  e.limit.reset();
  const json j = json::parse(AlarmPublication("clinic", e).payload);
  EXPECT_TRUE(j["value"].is_null());
  EXPECT_TRUE(j["limit"].is_null());
}

TEST(HaltPublication, SentOnlyForRaisesOfTheConfiguredSeverities) {
  const std::vector<engine::Severity> high = {engine::Severity::kHigh};
  constexpr engine::TimeNs kExpiry = 4'500 * engine::kNsPerMs;
  auto halt = HaltPublication(
      "clinic", Raise(engine::AlarmKind::kDepthExceeded, engine::Severity::kHigh), high, kExpiry);
  ASSERT_TRUE(halt.has_value());
  EXPECT_EQ(halt->topic, "clinic/c017/device/d00042/command");
  EXPECT_FALSE(halt->retain);
  EXPECT_EQ(halt->qos, 1);
  EXPECT_EQ(halt->expiry_seconds, 5u);  // rounded up: never shorter than configured
  const json j = json::parse(halt->payload);
  EXPECT_EQ(j["command"], "halt");
  EXPECT_EQ(j["alarm"], "depth_exceeded");
  EXPECT_EQ(j["session"], "S-7f3a91");

  EXPECT_FALSE(HaltPublication(
                   "clinic", Raise(engine::AlarmKind::kDepthWarning, engine::Severity::kLow),
                   high, kExpiry)
                   .has_value());
  engine::AlarmEvent latched = Raise(engine::AlarmKind::kDepthExceeded, engine::Severity::kHigh);
  latched.transition = engine::Transition::kLatched;
  EXPECT_FALSE(HaltPublication("clinic", latched, high, kExpiry).has_value());
}

TEST(MonitorAlarmPublication, HasTheAlarmShapeWithoutDeviceFields) {
  const Publication p = MonitorAlarmPublication("eu1", "recorder_dropping",
                                                engine::Severity::kMedium, true,
                                                2'000'000'000, 3'000'000'000, 12.0, std::nullopt);
  EXPECT_EQ(p.topic, "needlewatch/eu1/alarm/recorder_dropping");
  EXPECT_TRUE(p.retain);
  const json j = json::parse(p.payload);
  EXPECT_EQ(j["alarm"], "recorder_dropping");
  EXPECT_EQ(j["state"], "active");
  EXPECT_EQ(j["severity"], "medium");
  EXPECT_FALSE(j.contains("clinic"));
  EXPECT_FALSE(j.contains("device"));
  EXPECT_FALSE(j.contains("session"));
  EXPECT_DOUBLE_EQ(j["raised_at"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(j["ts"].get<double>(), 3.0);
  const json cleared = json::parse(MonitorAlarmPublication("eu1", "recorder_dropping",
                                                           engine::Severity::kMedium, false, 2,
                                                           5'000'000'000, std::nullopt,
                                                           std::nullopt)
                                       .payload);
  EXPECT_EQ(cleared["state"], "cleared");
  EXPECT_DOUBLE_EQ(cleared["cleared_at"].get<double>(), 5.0);
}

TEST(MonitorStatusPublication, IsRetainedOnlineOrOffline) {
  const Publication off = MonitorStatusPublication("eu1", false, 0, "0.1.0");
  EXPECT_EQ(off.topic, "needlewatch/eu1/status");
  EXPECT_TRUE(off.retain);
  EXPECT_EQ(off.qos, 1);
  EXPECT_EQ(json::parse(off.payload)["state"], "offline");
  EXPECT_EQ(json::parse(MonitorStatusPublication("eu1", true, 1, "0.1.0").payload)["state"],
            "online");
}

}  // namespace
}  // namespace needlewatch::daemon
