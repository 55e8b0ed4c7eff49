// Unit tests of the pure parts of republish (no sockets): speed parsing, topic checks, due
// times on a fake clock, and option/URL errors that must fail before any connection attempt.
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "needlewatch/republish/republish.h"

namespace needlewatch::republish {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using Clock = Schedule::Clock;

constexpr std::int64_t kT0 = 1795611133125000000;  // an ordinary epoch time in ns

TEST(ParseSpeed, AcceptsMaxAndPositiveFactors) {
  EXPECT_EQ(ParseSpeed("max"), 0.0);
  EXPECT_EQ(ParseSpeed("1"), 1.0);
  EXPECT_EQ(ParseSpeed("2"), 2.0);
  EXPECT_EQ(ParseSpeed("0.5"), 0.5);
  EXPECT_EQ(ParseSpeed("10"), 10.0);
}

TEST(ParseSpeed, RejectsZeroNegativeNonNumbersAndInfinity) {
  for (const char* bad : {"", "0", "-1", "fast", "2x", " 2", "inf", "nan", "1e999", "MAX"}) {
    EXPECT_FALSE(ParseSpeed(bad).has_value()) << bad;
  }
}

TEST(TopicProblem, NamesWhatMakesATopicUnpublishable) {
  EXPECT_EQ(TopicProblem("clinic/c1/device/d1/telemetry"), "");
  EXPECT_EQ(TopicProblem("$needlewatch/ack"), "");  // publishable; skipped as internal instead
  EXPECT_EQ(TopicProblem(""), "empty topic");
  EXPECT_EQ(TopicProblem("clinic/+/x"), "wildcard in topic");
  EXPECT_EQ(TopicProblem("clinic/#"), "wildcard in topic");
  EXPECT_EQ(TopicProblem(std::string("a\0b", 3)), "NUL in topic");
  EXPECT_EQ(TopicProblem(std::string(65536, 'a')), "topic longer than 65535 bytes");
  EXPECT_EQ(TopicProblem(std::string(65535, 'a')), "");
}

TEST(IsInternalTopic, OnlyTheRecordersOwnTopics) {
  EXPECT_TRUE(IsInternalTopic(record::kAckTopic));
  EXPECT_TRUE(IsInternalTopic("$needlewatch/other"));
  EXPECT_FALSE(IsInternalTopic("needlewatch/default/status"));
  EXPECT_FALSE(IsInternalTopic("$SYS/broker/uptime"));
}

TEST(Schedule, FirstRecordIsDueWhenThePassStartsAndTheRestOnScaledOffsets) {
  Schedule s(2.0);
  const Clock::time_point start{milliseconds(5000)};
  EXPECT_EQ(s.Due(kT0, start), start);
  // Later calls use the anchor, not their own `now`: no drift from slow publishing.
  EXPECT_EQ(s.Due(kT0 + 1'000'000'000, start + milliseconds(900)), start + milliseconds(500));
  EXPECT_EQ(s.Due(kT0 + 3'000'000'000, start + milliseconds(10)), start + milliseconds(1500));
}

TEST(Schedule, OffsetsAreExactAtEpochMagnitudes) {
  Schedule s(1.0);
  const Clock::time_point start{milliseconds(1)};
  s.Due(kT0, start);
  EXPECT_EQ(s.Due(kT0 + 1, start), start + nanoseconds(1));
  EXPECT_EQ(s.Due(kT0 + 86'400'000'000'001, start), start + nanoseconds(86'400'000'000'001));
}

TEST(Schedule, AnEarlierRecordIsDueAtOnceNotReordered) {
  Schedule s(1.0);
  const Clock::time_point start{milliseconds(10'000)};
  s.Due(kT0, start);
  EXPECT_LT(s.Due(kT0 - 2'000'000'000, start), start);  // in the past: published immediately
}

TEST(Schedule, MaxSpeedMakesEverythingDueNow) {
  Schedule s(0.0);
  const Clock::time_point now{milliseconds(42)};
  EXPECT_EQ(s.Due(kT0, now), now);
  EXPECT_EQ(s.Due(kT0 + 3'600'000'000'000, now), now);
}

TEST(Schedule, NewPassReanchors) {
  Schedule s(10.0);
  const Clock::time_point first{milliseconds(0)};
  s.Due(kT0, first);
  EXPECT_EQ(s.Due(kT0 + 2'000'000'000, first), first + milliseconds(200));
  s.NewPass();
  const Clock::time_point second{milliseconds(250)};
  EXPECT_EQ(s.Due(kT0, second), second);
  EXPECT_EQ(s.Due(kT0 + 1'000'000'000, first), second + milliseconds(100));
}

TEST(Schedule, AbsurdTimesAndTinySpeedsDoNotOverflow) {
  Schedule s(1e-9);
  const Clock::time_point start{milliseconds(0)};
  s.Due(std::numeric_limits<std::int64_t>::min(), start);
  const auto due = s.Due(std::numeric_limits<std::int64_t>::max(), start);
  EXPECT_GT(due, start);
  EXPECT_LE(due - start, std::chrono::hours(24 * 366 * 40));
}

// Errors that must be reported before any connection is attempted (no socket is opened).
int RunWith(const RepublishOptions& o, std::string* err_text, std::uint64_t* records_read) {
  std::uint64_t reads = 0;
  std::ostringstream out, err;
  const int rc = Republish(
      o, [&](record::RawMessage&) { ++reads; return false; }, nullptr, out, err);
  *err_text = err.str();
  *records_read = reads;
  return rc;
}

TEST(Republish, BadUrlIsAClearErrorAndExitCode1) {
  struct Case {
    const char* url;
    const char* says;
  } cases[] = {
      {"", "--publish: expected mqtt://host:port or mqtts://host:port"},
      {"http://127.0.0.1:1883", "--publish: expected scheme mqtt:// or mqtts://"},
      {"mqtt://127.0.0.1:0", "--publish: expected a port from 1 to 65535"},
      {"mqtt://user:pw@127.0.0.1:1883", "--publish: credentials in the URL are not accepted"},
      {"mqtt://127.0.0.1:1883/topic", "--publish: expected no path"},
  };
  for (const Case& c : cases) {
    RepublishOptions o;
    o.url = c.url;
    std::string err;
    std::uint64_t reads = 0;
    EXPECT_EQ(RunWith(o, &err, &reads), 1) << c.url;
    EXPECT_NE(err.find(std::string("republish: ") + c.says), std::string::npos) << err;
    EXPECT_EQ(err.find("mqtt.url"), std::string::npos) << err;  // the flag, not the config key
    EXPECT_EQ(reads, 0u);
  }
}

TEST(Republish, BadOptionsAreRejectedBeforeConnecting) {
  struct Case {
    std::function<void(RepublishOptions&)> set;
    const char* says;
  } cases[] = {
      {[](RepublishOptions& o) { o.qos_override = 3; }, "qos override must be 0, 1 or 2"},
      {[](RepublishOptions& o) { o.speed = -1; }, "speed must be a positive factor"},
      {[](RepublishOptions& o) { o.speed = std::nan(""); }, "speed must be a positive factor"},
      {[](RepublishOptions& o) { o.mqtt_version = 3; }, "mqtt version must be 4 (3.1.1) or 5"},
      {[](RepublishOptions& o) { o.max_in_flight = 0; }, "max_in_flight must be from 1 to 65535"},
      {[](RepublishOptions& o) { o.max_in_flight = 65536; },
       "max_in_flight must be from 1 to 65535"},
  };
  for (const Case& c : cases) {
    RepublishOptions o;
    o.url = "mqtt://127.0.0.1:1883";
    c.set(o);
    std::string err;
    std::uint64_t reads = 0;
    EXPECT_EQ(RunWith(o, &err, &reads), 1) << c.says;
    EXPECT_NE(err.find(std::string("republish: ") + c.says), std::string::npos) << err;
    EXPECT_EQ(reads, 0u);
  }
}

}  // namespace
}  // namespace needlewatch::republish
