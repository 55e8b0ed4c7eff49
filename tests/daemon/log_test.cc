#include "log.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

namespace needlewatch::daemon::log {
namespace {

TEST(FormatJsonLine, IsOneJsonObjectWithTsLevelMsgAndTypedFields) {
  const std::string line = FormatJsonLine(
      1'795'611'133'310'000'000, Level::kInfo, "http listening",
      {{"address", "127.0.0.1:41234"}, {"count", 3}, {"ok", true}, {"ratio", 0.5},
       {"quote", "a\"b\n"}});
  const nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["ts"], "2026-11-25T12:52:13.310Z");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "http listening");
  EXPECT_EQ(j["address"], "127.0.0.1:41234");
  EXPECT_EQ(j["count"], 3);
  EXPECT_EQ(j["ok"], true);
  EXPECT_DOUBLE_EQ(j["ratio"].get<double>(), 0.5);
  EXPECT_EQ(j["quote"], "a\"b\n");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(FormatJsonLine, NonFiniteNumbersBecomeNull) {
  const nlohmann::json j = nlohmann::json::parse(
      FormatJsonLine(0, Level::kWarn, "alarm", {{"value", std::nan("")}}));
  EXPECT_TRUE(j["value"].is_null());
  EXPECT_EQ(j["level"], "warn");
}

TEST(FormatTextLine, IsHumanReadable) {
  EXPECT_EQ(FormatTextLine(0, Level::kError, "startup failed", {{"error", "x"}, {"n", 2}}),
            "1970-01-01T00:00:00.000Z ERROR startup failed error=\"x\" n=2");
}

TEST(Init, RejectsUnknownLevelAndFormatNamingTheKey) {
  std::string error;
  EXPECT_FALSE(Init("loud", "json", &error));
  EXPECT_NE(error.find("log.level"), std::string::npos);
  EXPECT_FALSE(Init("info", "xml", &error));
  EXPECT_NE(error.find("log.format"), std::string::npos);
  EXPECT_TRUE(Init("warn", "json", &error));
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kError));
  EXPECT_TRUE(Init("info", "json", &error));
}

}  // namespace
}  // namespace needlewatch::daemon::log
