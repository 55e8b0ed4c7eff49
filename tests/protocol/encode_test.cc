#include "needlewatch/protocol/encode.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "needlewatch/protocol/message.h"

namespace needlewatch::protocol {
namespace {

TEST(Encode, TelemetryIsCompactAndMatchesTheContractExample) {
  Telemetry t;
  t.seq = 1042;
  t.ts_ms = 1795611133125;
  t.session = "S-7f3a91";
  t.zone = "cheek";
  t.depth_mm = 1.25;
  t.speed_hz = 120.0;
  EXPECT_EQ(EncodeTelemetry(t),
            R"({"v":1,"seq":1042,"ts":1795611133125,"session":"S-7f3a91","zone":"cheek",)"
            R"("depth_mm":1.25,"speed_hz":120})");
}

TEST(Encode, TelemetryRoundTripsThroughDecode) {
  const double depths[] = {0.0, 0.1, 1.0 / 3.0, 9.999999999999998, 10.0, 5e-324};
  for (double depth : depths) {
    Telemetry t;
    t.seq = 4294967295u;
    t.ts_ms = 0;
    t.session = "s";
    t.zone = "upper \"lip\" \xc3\xa9";
    t.depth_mm = depth;
    t.speed_hz = 1000.0;
    const std::string json = EncodeTelemetry(t);
    Decoded d;
    ASSERT_EQ(Decode(Channel::kTelemetry, json, d), Reject::kNone) << json << d.detail;
    EXPECT_EQ(d.telemetry.seq, t.seq);
    EXPECT_EQ(d.telemetry.ts_ms, t.ts_ms);
    EXPECT_EQ(d.telemetry.session, t.session);
    EXPECT_EQ(d.telemetry.zone, t.zone);
    EXPECT_EQ(d.telemetry.depth_mm, depth) << json;  // bit-exact: shortest round-trip form
    EXPECT_EQ(d.telemetry.speed_hz, t.speed_hz);
  }
}

TEST(Encode, EventRoundTripsThroughDecode) {
  Event e;
  e.kind = EventKind::kSessionStart;
  e.seq = 1;
  e.ts_ms = 1795611133125;
  e.session = "S-1";
  e.zone = "forehead";
  e.op = "op.7";
  std::string json = EncodeEvent(e);
  EXPECT_EQ(json, R"({"v":1,"seq":1,"ts":1795611133125,"event":"session_start","session":"S-1",)"
                  R"("zone":"forehead","operator":"op.7"})");
  Decoded d;
  ASSERT_EQ(Decode(Channel::kEvent, json, d), Reject::kNone) << d.detail;
  EXPECT_EQ(d.event.kind, e.kind);
  EXPECT_EQ(d.event.op, "op.7");

  e.op = "";
  EXPECT_EQ(EncodeEvent(e).find("operator"), std::string::npos);
  e.kind = EventKind::kSessionEnd;
  json = EncodeEvent(e);
  EXPECT_EQ(json, R"({"v":1,"seq":1,"ts":1795611133125,"event":"session_end","session":"S-1"})");
  ASSERT_EQ(Decode(Channel::kEvent, json, d), Reject::kNone) << d.detail;
  EXPECT_EQ(d.event.kind, EventKind::kSessionEnd);
  EXPECT_EQ(d.event.session, "S-1");
}

TEST(Encode, StatusRoundTripsThroughDecode) {
  Status s;
  s.online = true;
  s.ts_ms = 12;
  s.model = "NP-3";
  s.fw = "2.3.1";
  std::string json = EncodeStatus(s);
  EXPECT_EQ(json, R"({"v":1,"ts":12,"state":"online","model":"NP-3","fw":"2.3.1"})");
  Decoded d;
  ASSERT_EQ(Decode(Channel::kStatus, json, d), Reject::kNone);
  EXPECT_TRUE(d.status.online);
  EXPECT_EQ(d.status.model, "NP-3");

  Status off;
  off.has_seq = true;
  off.seq = 5;
  json = EncodeStatus(off);
  EXPECT_EQ(json, R"({"v":1,"seq":5,"ts":0,"state":"offline"})");
  ASSERT_EQ(Decode(Channel::kStatus, json, d), Reject::kNone);
  EXPECT_FALSE(d.status.online);
  EXPECT_TRUE(d.status.has_seq);
}

TEST(Encode, AlarmHasTheContractFieldsAndExtensions) {
  AlarmPayload a;
  a.alarm = "depth_exceeded";
  a.severity = "high";
  a.state = "active";
  a.clinic = "c017";
  a.device = "d00042";
  a.session = "S-7f3a91";
  a.zone = "forehead";
  a.value = 0.8;
  a.limit = 0.5;
  a.raised_at = 1795611133.125;
  a.ts = 1795611133.125;
  EXPECT_EQ(
      EncodeAlarm(a),
      R"({"v":1,"alarm":"depth_exceeded","severity":"high","state":"active","clinic":"c017",)"
      R"("device":"d00042","session":"S-7f3a91","zone":"forehead","value":0.8,"limit":0.5,)"
      R"("raised_at":1795611133.125,"ts":1795611133.125,"acknowledged":false,"cleared_at":null})");
}

TEST(Encode, AlarmWithoutValueSessionOrZoneWritesNull) {
  AlarmPayload a;
  a.alarm = "device_offline";
  a.severity = "high";
  a.state = "latched";
  a.clinic = "c";
  a.device = "d";
  a.raised_at = 1.5;
  a.ts = 2;
  a.acknowledged = true;
  a.cleared_at = 2.0;
  EXPECT_EQ(EncodeAlarm(a),
            R"({"v":1,"alarm":"device_offline","severity":"high","state":"latched","clinic":"c",)"
            R"("device":"d","session":null,"zone":null,"value":null,"limit":null,"raised_at":1.5,)"
            R"("ts":2,"acknowledged":true,"cleared_at":2})");
}

TEST(Encode, HaltCommandAndMonitorStatus) {
  EXPECT_EQ(EncodeHaltCommand("depth_exceeded", "high", "S-1", 1795611133.125),
            R"({"v":1,"command":"halt","alarm":"depth_exceeded","severity":"high",)"
            R"("session":"S-1","ts":1795611133.125})");
  EXPECT_EQ(EncodeMonitorStatus(true, 10.25, "0.1.0"),
            R"({"v":1,"state":"online","ts":10.25,"version":"0.1.0"})");
  EXPECT_EQ(EncodeMonitorStatus(false, 0, "x\"y"),
            R"({"v":1,"state":"offline","ts":0,"version":"x\"y"})");
}

TEST(AppendJsonString, EscapesQuotesBackslashesAndControls) {
  std::string out;
  AppendJsonString(out, std::string_view("a\"b\\c\n\t\r\b\f\x01\x1f\x7f/", 14));
  EXPECT_EQ(out, R"("a\"b\\c\n\t\r\b\f\u0001\u001f)"
                 "\x7f"
                 R"(/")");
  out.clear();
  AppendJsonString(out, std::string_view("\0", 1));
  EXPECT_EQ(out, R"("\u0000")");
}

TEST(AppendJsonString, KeepsValidUtf8AndReplacesInvalidBytes) {
  std::string out;
  AppendJsonString(out, "\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(out, "\"\xc3\xa9\xf0\x9f\x98\x80\"");
  out.clear();
  AppendJsonString(out,
                   "a\xff"
                   "b\xc3");
  EXPECT_EQ(out, R"("a\ufffdb\ufffd")");
  out.clear();
  AppendJsonString(out, "\xed\xa0\x80");  // surrogate: 3 bytes, each replaced
  EXPECT_EQ(out, R"("\ufffd\ufffd\ufffd")");
}

TEST(AppendJsonNumber, WritesShortestRoundTripAndNullForNonFinite) {
  auto num = [](double d) {
    std::string s;
    AppendJsonNumber(s, d);
    return s;
  };
  EXPECT_EQ(num(0.1), "0.1");
  EXPECT_EQ(num(120.0), "120");
  EXPECT_EQ(num(-0.0), "0");
  EXPECT_EQ(num(1795611133.125), "1795611133.125");
  EXPECT_EQ(num(1e300), "1e+300");
  EXPECT_EQ(num(std::numeric_limits<double>::quiet_NaN()), "null");
  EXPECT_EQ(num(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(num(-std::numeric_limits<double>::infinity()), "null");
}

}  // namespace
}  // namespace needlewatch::protocol

namespace needlewatch::protocol {
namespace {

TEST(AlarmPayloadState, ReadsTheStateOfWhatEncodeAlarmWrites) {
  AlarmPayload a;
  a.alarm = "depth_exceeded";
  a.severity = "high";
  a.clinic = "c1";
  a.device = "d1";
  for (const char* state : {"active", "cleared", "latched"}) {
    a.state = state;
    EXPECT_EQ(AlarmPayloadState(EncodeAlarm(a)), std::optional<std::string_view>(state));
  }
}

TEST(AlarmPayloadState, RefusesAnythingElse) {
  for (const char* bad : {"", "{", "[]", R"({"state":"on"})", R"({"state":1})",
                          R"({"state":"active","state":"cleared"})", "{\"state\":\"active\"}x"}) {
    EXPECT_FALSE(AlarmPayloadState(bad)) << bad;
  }
  EXPECT_FALSE(AlarmPayloadState(std::string(5000, ' ') + R"({"state":"active"})"));
}

}  // namespace
}  // namespace needlewatch::protocol
