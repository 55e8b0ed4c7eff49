// The control-record codec and ApplyRecord: what the daemon records and what replay reads back.
#include "needlewatch/control/apply.h"
#include "needlewatch/control/records.h"

#include <gtest/gtest.h>

#include "needlewatch/config/config.h"

namespace needlewatch::control {
namespace {

constexpr engine::TimeNs kT0 = 1'795'611'133LL * engine::kNsPerSec;

TEST(AckRecord, RoundTripsWithAndWithoutUser) {
  for (const AckRecord& a : {AckRecord{"c017", "d00042", "depth_exceeded", "alice"},
                             AckRecord{"c1", "d1", "device_offline", ""}}) {
    std::string error;
    const std::optional<AckRecord> back = DecodeAck(EncodeAck(a), &error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(back->clinic, a.clinic);
    EXPECT_EQ(back->device, a.device);
    EXPECT_EQ(back->alarm, a.alarm);
    EXPECT_EQ(back->user, a.user);
  }
  EXPECT_EQ(EncodeAck({"c1", "d1", "depth_exceeded", ""}),
            R"({"clinic":"c1","device":"d1","alarm":"depth_exceeded","user":null})");
}

TEST(AckRecord, ReadsRecordingsWrittenBeforeUsersWereRecorded) {
  std::string error;
  const auto a = DecodeAck(R"({"clinic":"c1","device":"d1","alarm":"depth_exceeded"})", &error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->user, "");
}

TEST(AckRecord, RefusesWhatIsNotOne) {
  for (const char* bad : {"", "[]", "{", R"({"clinic":"c1","device":"d1"})",
                          R"({"clinic":1,"device":"d1","alarm":"x"})"}) {
    std::string error;
    EXPECT_FALSE(DecodeAck(bad, &error)) << bad;
    EXPECT_NE(error.find("clinic"), std::string::npos) << bad;
  }
}

TEST(LimitsRecord, RoundTripsTheDocumentExactly) {
  const LimitsRecord l{"reload", "/etc/needlewatch/needlewatch.yaml",
                       "limits:\n  default:\n    depth_mm: {max: 0.9}\n\"quoted\"\t\n"};
  std::string error;
  const auto back = DecodeLimits(EncodeLimits(l), &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->reason, l.reason);
  EXPECT_EQ(back->source, l.source);
  EXPECT_EQ(back->yaml, l.yaml);
  EXPECT_FALSE(DecodeLimits(R"({"reason":"start"})", &error));
  EXPECT_NE(error.find("yaml"), std::string::npos);
}

TEST(AckResultName, MatchesTheApiWords) {
  EXPECT_EQ(AckResultName(engine::AckResult::kAcknowledged), "acknowledged");
  EXPECT_EQ(AckResultName(engine::AckResult::kCleared), "cleared");
  EXPECT_EQ(AckResultName(engine::AckResult::kAlreadyAcknowledged), "already_acknowledged");
  EXPECT_EQ(AckResultName(engine::AckResult::kNotFound), "not_found");
}

// A sink that counts alarm transitions by name.
struct Alarms : engine::Sink {
  void OnAlarm(const engine::AlarmEvent& e) override {
    names.push_back(std::string(engine::TransitionName(e.transition)) + " " +
                    std::string(engine::AlarmName(e.alarm)));
  }
  std::vector<std::string> names;
};

TEST(ApplyRecord, DeviceMessagesGoToTheEngineAndAcksClearALatchedAlarm) {
  engine::Engine eng(config::DefaultConfig().limits);
  Alarms sink;
  const std::string topic = "clinic/c1/device/d1/telemetry";
  ApplyRecord({kT0, topic,
               R"({"v":1,"seq":1,"ts":1,"session":"S1","zone":"forehead","depth_mm":3,"speed_hz":100})"},
              eng, sink);
  ApplyRecord({kT0 + 100 * engine::kNsPerMs, topic,
               R"({"v":1,"seq":2,"ts":2,"session":"S1","zone":"forehead","depth_mm":0.1,"speed_hz":100})"},
              eng, sink);
  const record::RawMessage ack = AckMessage({"c1", "d1", "depth_exceeded", "alice"},
                                            kT0 + engine::kNsPerSec);
  const Applied a = ApplyRecord({ack.receive_ns, ack.topic, ack.payload}, eng, sink);
  EXPECT_EQ(a.kind, RecordKind::kAck);
  ASSERT_TRUE(a.ack_result);
  EXPECT_EQ(*a.ack_result, engine::AckResult::kCleared);
  EXPECT_EQ(a.ack->user, "alice");
  ASSERT_GE(sink.names.size(), 3u);
  EXPECT_EQ(sink.names.front(), "raised depth_exceeded");
  EXPECT_EQ(sink.names.back(), "ack_cleared depth_exceeded");
}

TEST(ApplyRecord, AnAckOfAnUnknownAlarmAppliesNothingButMovesTheClock) {
  engine::Engine eng(config::DefaultConfig().limits);
  Alarms sink;
  const Applied a = ApplyRecord(
      {kT0, kAckTopic, R"({"clinic":"c1","device":"d1","alarm":"too_deep"})"}, eng, sink);
  EXPECT_EQ(a.kind, RecordKind::kAck);
  EXPECT_FALSE(a.ack_result);
  EXPECT_NE(a.error.find("too_deep"), std::string::npos);
  EXPECT_EQ(eng.now(), kT0);
}

TEST(ApplyRecord, LimitsRecordsApplyUnlessIgnoredAndBadOnesAreReported) {
  engine::Engine eng(config::DefaultConfig().limits);
  Alarms sink;
  const record::RawMessage l = LimitsMessage(
      {"reload", "x.yaml", "limits:\n  default:\n    depth_mm: {max: 0.25}\n"}, kT0);
  ApplyOptions ignore;
  ignore.ignore_recorded_limits = true;
  EXPECT_EQ(ApplyRecord({l.receive_ns, l.topic, l.payload}, eng, sink, ignore).limits_result,
            "ignored");
  EXPECT_NE(eng.limits().defaults.depth_max_mm, 0.25);
  const Applied applied = ApplyRecord({l.receive_ns, l.topic, l.payload}, eng, sink);
  EXPECT_EQ(applied.limits_result, "applied");
  EXPECT_EQ(applied.limits_topic_root, "clinic");
  EXPECT_EQ(eng.limits().defaults.depth_max_mm, 0.25);
  const Applied bad = ApplyRecord(
      {kT0, kLimitsTopic, EncodeLimits({"reload", "x.yaml", "limits: [1"})}, eng, sink);
  EXPECT_EQ(bad.limits_result, "bad_limits");
  EXPECT_FALSE(bad.error.empty());
  EXPECT_EQ(eng.limits().defaults.depth_max_mm, 0.25);
}

TEST(CatchUpRecord, RoundTripsAndRefusesOtherStates) {
  std::string error;
  for (const CatchUpRecord& c : {CatchUpRecord{true, "restore"}, CatchUpRecord{false, "synced"}}) {
    const std::optional<CatchUpRecord> back = DecodeCatchUp(EncodeCatchUp(c), &error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(back->begin, c.begin);
    EXPECT_EQ(back->reason, c.reason);
  }
  EXPECT_EQ(EncodeCatchUp({true, "reconnect"}), R"({"state":"begin","reason":"reconnect"})");
  EXPECT_FALSE(DecodeCatchUp(R"({"state":"maybe"})", &error));
  EXPECT_NE(error.find("begin"), std::string::npos);
  const record::RawMessage m = CatchUpMessage({false, "timeout"}, kT0);
  EXPECT_EQ(m.topic, "$needlewatch/catchup");
  EXPECT_EQ(m.receive_ns, kT0);
}

TEST(ApplyRecord, CatchUpRecordsBeginAndEndTheEnginesCatchUp) {
  engine::Engine eng(config::DefaultConfig().limits);
  Alarms sink;
  const record::RawMessage begin = CatchUpMessage({true, "restore"}, kT0);
  Applied a = ApplyRecord({begin.receive_ns, begin.topic, begin.payload}, eng, sink);
  EXPECT_EQ(a.kind, RecordKind::kCatchUp);
  ASSERT_TRUE(a.catch_up);
  EXPECT_TRUE(eng.catching_up());
  const record::RawMessage end = CatchUpMessage({false, "synced"}, kT0 + engine::kNsPerSec);
  a = ApplyRecord({end.receive_ns, end.topic, end.payload}, eng, sink);
  EXPECT_FALSE(eng.catching_up());
  EXPECT_EQ(eng.now(), kT0 + engine::kNsPerSec);
  a = ApplyRecord({kT0 + 2 * engine::kNsPerSec, kCatchUpTopic, "{}"}, eng, sink);
  EXPECT_EQ(a.kind, RecordKind::kCatchUp);
  EXPECT_FALSE(a.catch_up);
  EXPECT_FALSE(a.error.empty());
  EXPECT_FALSE(eng.catching_up());
  EXPECT_EQ(eng.now(), kT0 + 2 * engine::kNsPerSec);
}

}  // namespace
}  // namespace needlewatch::control
