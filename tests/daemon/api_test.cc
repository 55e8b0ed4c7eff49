#include "api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_fleet.h"

namespace needlewatch::daemon {
namespace {

using nlohmann::json;
using testing::kT0;

TEST(ParseAckBody, AcceptsTheContractBody) {
  std::string error;
  auto r = ParseAckBody(R"({"clinic":"c1","device":"d1","alarm":"depth_exceeded"})", &error);
  ASSERT_TRUE(r.has_value()) << error;
  EXPECT_EQ(r->clinic, "c1");
  EXPECT_EQ(r->device, "d1");
  EXPECT_EQ(r->alarm, engine::AlarmKind::kDepthExceeded);
}

TEST(ParseAckBody, RejectsBadBodiesWithAMessageNamingTheField) {
  struct Case {
    const char* body;
    const char* mentions;
  };
  for (const Case& c : {Case{"", "JSON object"}, Case{"[1]", "JSON object"},
                        Case{"{", "JSON object"},
                        Case{R"({"device":"d1","alarm":"depth_exceeded"})", "clinic"},
                        Case{R"({"clinic":7,"device":"d1","alarm":"depth_exceeded"})", "clinic"},
                        Case{R"({"clinic":"c 1","device":"d1","alarm":"depth_exceeded"})",
                             "clinic"},
                        Case{R"({"clinic":"c1","device":"","alarm":"depth_exceeded"})",
                             "device"},
                        Case{R"({"clinic":"c1","device":"d1","alarm":"too_deep"})",
                             "depth_exceeded"},
                        Case{R"({"clinic":"c1","device":"d1"})", "alarm"}}) {
    std::string error;
    EXPECT_FALSE(ParseAckBody(c.body, &error).has_value()) << c.body;
    EXPECT_NE(error.find(c.mentions), std::string::npos) << c.body << " -> " << error;
  }
}

TEST(AlarmsJson, EmptyEngineListsNoAlarms) {
  engine::Engine eng(engine::Limits{});
  EXPECT_EQ(json::parse(AlarmsJson(eng))["alarms"].size(), 0U);
}

TEST(AlarmsJson, ListsActiveThenLatchedAlarmWithEveryField) {
  engine::Engine eng(engine::Limits{});
  engine::Sink sink;
  eng.OnMessage(testing::TelemetryTopic("c1", "d1"),
                testing::Telemetry(1, "S1", "cheek", 2.5, 100), kT0, sink);
  json j = json::parse(AlarmsJson(eng));
  ASSERT_EQ(j["alarms"].size(), 1U) << j.dump();
  json a = j["alarms"][0];
  EXPECT_EQ(a["clinic"], "c1");
  EXPECT_EQ(a["device"], "d1");
  EXPECT_EQ(a["session"], "S1");
  EXPECT_EQ(a["zone"], "cheek");
  EXPECT_EQ(a["alarm"], "depth_exceeded");
  EXPECT_EQ(a["severity"], "high");
  EXPECT_EQ(a["state"], "active");
  EXPECT_EQ(a["acknowledged"], false);
  EXPECT_EQ(a["raised_at_ns"].get<std::int64_t>(), kT0);
  EXPECT_TRUE(a["cleared_at"].is_null());
  EXPECT_DOUBLE_EQ(a["value"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(a["limit"].get<double>(), 1.0);

  // Back within limits: a high alarm latches and stays listed until acknowledged.
  eng.OnMessage(testing::TelemetryTopic("c1", "d1"),
                testing::Telemetry(2, "S1", "cheek", 0.5, 100), kT0 + 100'000'000, sink);
  j = json::parse(AlarmsJson(eng));
  ASSERT_EQ(j["alarms"].size(), 1U) << j.dump();
  EXPECT_EQ(j["alarms"][0]["state"], "latched");
  EXPECT_EQ(j["alarms"][0]["cleared_at_ns"].get<std::int64_t>(), kT0 + 100'000'000);

  EXPECT_EQ(eng.Acknowledge("c1", "d1", engine::AlarmKind::kDepthExceeded, kT0 + 200'000'000,
                            sink),
            engine::AckResult::kCleared);
  EXPECT_EQ(json::parse(AlarmsJson(eng))["alarms"].size(), 0U);
}

}  // namespace
}  // namespace needlewatch::daemon
