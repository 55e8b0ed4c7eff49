// The live monitor with a hand-set clock and outputs that keep what it publishes, audits and
// records: what the daemon does around the engine, tested without a broker.
#include "live_monitor.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "needlewatch/config/config.h"
#include "needlewatch/control/apply.h"
#include "needlewatch/state/journal.h"
#include "needlewatch/state/snapshot.h"
#include "test_fleet.h"

namespace needlewatch::daemon {
namespace {

using engine::kNsPerMs;
using engine::kNsPerSec;
using engine::TimeNs;
using nlohmann::json;
using testing::kT0;

class FakeClock : public Clock {
 public:
  TimeNs Now() override { return now; }
  TimeNs now = kT0;
};

class FakeOutputs : public Outputs {
 public:
  bool Publish(const Publication& p) override {
    if (p.expiry_seconds > 0 && !connected) return false;
    published.push_back(p);
    return true;
  }
  bool Audit(std::string_view line) override {
    if (audit_fails) return false;
    audit.emplace_back(line);
    return true;
  }
  void Record(record::RawMessage&& m) override { recorded.push_back(std::move(m)); }
  bool SyncAudit() override {
    syncs_at.push_back({audit.size(), published.size()});
    return !sync_fails;
  }
  bool Journal(std::string_view frames) override {
    journal.append(frames);
    return true;
  }

  std::vector<Publication> published;
  std::string journal;  // every frame handed over
  // Per SyncAudit call: how many audit lines and publications there were at that moment.
  std::vector<std::pair<std::size_t, std::size_t>> syncs_at;
  bool sync_fails = false;
  std::vector<std::string> audit;
  std::vector<record::RawMessage> recorded;
  bool audit_fails = false;
  bool connected = true;  // messages with an expiry are taken only while connected

  std::vector<json> AuditOfType(const std::string& type) const {
    std::vector<json> out;
    for (const std::string& l : audit) {
      json j = json::parse(l);
      if (j["type"] == type) out.push_back(std::move(j));
    }
    return out;
  }
  std::vector<Publication> On(const std::string& topic) const {
    std::vector<Publication> out;
    for (const Publication& p : published) {
      if (p.topic == topic) out.push_back(p);
    }
    return out;
  }
};

const std::string kTopic = testing::TelemetryTopic("c1", "d1");
const std::string kAlarmTopic = "clinic/c1/device/d1/alarm/depth_exceeded";

struct Fixture : ::testing::Test {
  config::Config cfg = config::DefaultConfig();
  FakeClock clock;
  FakeOutputs out;

  void Sample(LiveMonitor& m, TimeNs at, int seq, double depth, double speed = 100) {
    clock.now = at;
    const std::string payload = testing::Telemetry(seq, "S1", "forehead", depth, speed);
    m.HandleMessage(kTopic, payload, 1, false);
    m.Flush();  // the daemon flushes after each batch of messages
  }
};

TEST_F(Fixture, AnUnsafeSampleIsPublishedRetainedAuditedAndRecordedAtTheClocksTime) {
  LiveMonitor m(cfg, "", clock, out);
  m.Start();
  Sample(m, kT0 + 5 * kNsPerMs, 1, 3.0);
  const auto pubs = out.On(kAlarmTopic);
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_TRUE(pubs[0].retain);
  EXPECT_EQ(pubs[0].qos, 1);
  const json payload = json::parse(pubs[0].payload);
  EXPECT_EQ(payload["state"], "active");
  EXPECT_EQ(payload["severity"], "high");
  EXPECT_DOUBLE_EQ(payload["value"].get<double>(), 3.0);
  const auto alarms = out.AuditOfType("alarm");  // depth_exceeded, then depth_warning
  ASSERT_EQ(alarms.size(), 2u);
  EXPECT_EQ(alarms[0]["alarm"], "depth_exceeded");
  EXPECT_EQ(alarms[0]["at_ns"].get<TimeNs>(), kT0 + 5 * kNsPerMs);
  // The limits in force first, then the message, each at its stamp.
  ASSERT_EQ(out.recorded.size(), 2u);
  EXPECT_EQ(out.recorded[0].topic, control::kLimitsTopic);
  EXPECT_EQ(out.recorded[0].receive_ns, kT0);
  EXPECT_EQ(out.recorded[1].topic, kTopic);
  EXPECT_EQ(out.recorded[1].receive_ns, kT0 + 5 * kNsPerMs);
  EXPECT_EQ(out.recorded[1].qos, 1);
}

TEST_F(Fixture, AClockSteppedBackNeverMovesTheMonitorsTimeBackwards) {
  LiveMonitor m(cfg, "", clock, out);
  Sample(m, kT0 + 10 * kNsPerSec, 1, 0.1);
  Sample(m, kT0 + 2 * kNsPerSec, 2, 0.1);  // an NTP step of -8 s
  ASSERT_EQ(out.recorded.size(), 2u);
  EXPECT_EQ(out.recorded[1].receive_ns, kT0 + 10 * kNsPerSec);
  EXPECT_EQ(m.Stamp(), kT0 + 10 * kNsPerSec);
  clock.now = kT0 + 11 * kNsPerSec;
  EXPECT_EQ(m.Stamp(), kT0 + 11 * kNsPerSec);
}

TEST_F(Fixture, AcknowledgingALatchedAlarmEndsItAndIsAuditedWithTheUserAndRecorded) {
  LiveMonitor m(cfg, "", clock, out);
  Sample(m, kT0, 1, 3.0);
  Sample(m, kT0 + 200 * kNsPerMs, 2, 0.1);
  ASSERT_EQ(json::parse(out.On(kAlarmTopic).back().payload)["state"], "latched");
  clock.now = kT0 + kNsPerSec;
  const AckOutcome o =
      m.Acknowledge({"c1", "d1", engine::AlarmKind::kDepthExceeded}, "alice", "127.0.0.1:5000");
  EXPECT_EQ(o.result, engine::AckResult::kCleared);
  EXPECT_EQ(o.at, kT0 + kNsPerSec);
  EXPECT_EQ(json::parse(out.On(kAlarmTopic).back().payload)["state"], "cleared");
  const auto acks = out.AuditOfType("ack");
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0]["user"], "alice");
  EXPECT_EQ(acks[0]["remote"], "127.0.0.1:5000");
  EXPECT_EQ(acks[0]["result"], "cleared");
  ASSERT_EQ(out.recorded.back().topic, control::kAckTopic);
  std::string error;
  const auto rec = control::DecodeAck(out.recorded.back().payload, &error);
  ASSERT_TRUE(rec) << error;
  EXPECT_EQ(rec->user, "alice");
  EXPECT_TRUE(m.engine().counters().accepted == 2);
}

TEST_F(Fixture, AnAcknowledgementOfNothingChangesNothingAndLeavesNoTrace) {
  LiveMonitor m(cfg, "", clock, out);
  const AckOutcome o = m.Acknowledge({"c1", "d9", engine::AlarmKind::kDepthExceeded}, "", "x");
  EXPECT_EQ(o.result, engine::AckResult::kNotFound);
  EXPECT_TRUE(out.audit.empty());
  EXPECT_TRUE(out.recorded.empty());
  EXPECT_TRUE(out.published.empty());
}

TEST_F(Fixture, AReloadAppliesRecordsAndAuditsNewLimitsAndAFailedOneKeepsTheOld) {
  LiveMonitor m(cfg, "/etc/nw.yaml", clock, out);
  clock.now = kT0 + kNsPerSec;
  config::LoadResult good =
      config::LoadConfigString("limits:\n  default:\n    depth_mm: {max: 0.25}\n", "nw.yaml");
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(m.Reload(good));
  EXPECT_EQ(m.engine().limits().defaults.depth_max_mm, 0.25);
  ASSERT_EQ(out.recorded.size(), 1u);
  std::string error;
  const auto rec = control::DecodeLimits(out.recorded[0].payload, &error);
  ASSERT_TRUE(rec) << error;
  EXPECT_EQ(rec->reason, "reload");
  EXPECT_EQ(rec->source, "/etc/nw.yaml");
  config::LoadResult bad = config::LoadConfigString("limits: [", "nw.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_FALSE(m.Reload(bad));
  EXPECT_EQ(m.engine().limits().defaults.depth_max_mm, 0.25);
  const auto reloads = out.AuditOfType("config_reload");
  ASSERT_EQ(reloads.size(), 2u);
  EXPECT_EQ(reloads[0]["result"], "success");
  EXPECT_EQ(reloads[1]["result"], "failure");
  EXPECT_FALSE(reloads[1]["errors"].empty());
  EXPECT_EQ(m.reloads_ok(), 1u);
  EXPECT_EQ(m.reloads_failed(), 1u);
  EXPECT_EQ(out.recorded.size(), 1u);  // nothing recorded for the failure
}

// A pair's follower (cluster.replica, docs/cluster.md): same state, no MQTT outputs; on takeover
// every held alarm and the halts the old writer was not seen to send.
TEST_F(Fixture, AFollowerWritesNothingAndATakeoverPublishesWhatItHolds) {
  cfg.outputs.halt.enabled = true;
  LiveMonitor m(cfg, "", clock, out);
  m.SetWriter(false);
  Sample(m, kT0, 1, 3.0);  // depth_exceeded raised: the writer's to publish and halt
  EXPECT_TRUE(out.published.empty());
  EXPECT_TRUE(out.AuditOfType("halt").empty());
  EXPECT_EQ(m.engine().counters().accepted, 1u);
  // A stale retained state is not corrected by a follower.
  m.HandleMessage(kAlarmTopic, R"({"v":1,"state":"cleared"})", 1, true);
  EXPECT_TRUE(out.published.empty());

  clock.now = kT0 + 2 * kNsPerSec;  // within the halt's 5 s expiry
  m.SetWriter(true);
  const auto alarm = out.On(kAlarmTopic);
  ASSERT_EQ(alarm.size(), 1u);
  EXPECT_EQ(json::parse(alarm[0].payload)["state"], "active");
  ASSERT_EQ(out.On("clinic/c1/device/d1/command").size(), 1u);  // nobody was seen to halt it
  EXPECT_EQ(out.AuditOfType("halt").at(0)["result"], "sent");
}

TEST_F(Fixture, AFollowerDropsHaltsTheWriterSentOrThatExpired) {
  cfg.outputs.halt.enabled = true;
  LiveMonitor m(cfg, "", clock, out);
  m.SetWriter(false);
  // The writer's halt reaches the follower (its filter includes the command topics) before
  // or after its own raise: either way the follower does not send it again.
  m.HandleMessage("clinic/c1/device/d1/command", R"({"v":1,"command":"halt"})", 1, false);
  Sample(m, kT0 + 10 * kNsPerMs, 1, 3.0);
  clock.now = kT0 + 20 * kNsPerMs;
  m.SetWriter(true);
  EXPECT_TRUE(out.On("clinic/c1/device/d1/command").empty());
  EXPECT_EQ(out.On(kAlarmTopic).size(), 1u);

  EXPECT_EQ(m.halts_expired(), 0u);

  // A halt nobody was seen to send within its expiry is not sent late, and is audited.
  LiveMonitor late(cfg, "", clock, out);
  late.SetWriter(false);
  out.published.clear();
  out.audit.clear();
  Sample(late, kT0 + 30 * kNsPerSec, 1, 3.0);
  clock.now = kT0 + 36 * kNsPerSec;
  late.SetWriter(true);
  EXPECT_TRUE(out.On("clinic/c1/device/d1/command").empty());
  EXPECT_EQ(late.halts_expired(), 1u);
  ASSERT_EQ(out.AuditOfType("halt").size(), 1u);
  EXPECT_EQ(out.AuditOfType("halt")[0]["result"], "expired");
}

TEST_F(Fixture, HaltGoesOutOnTheRaiseOfAConfiguredSeverityOnly) {
  cfg.outputs.halt.enabled = true;
  LiveMonitor m(cfg, "", clock, out);
  Sample(m, kT0, 1, 3.0);                       // depth_exceeded, high: halt
  Sample(m, kT0 + 100 * kNsPerMs, 2, 0.1);      // latched: no halt
  Sample(m, kT0 + 200 * kNsPerMs, 3, 0.1, 10);  // speed (medium): pending, then no halt
  clock.now = kT0 + 5 * kNsPerSec;
  m.Tick();
  const auto halts = out.On("clinic/c1/device/d1/command");
  ASSERT_EQ(halts.size(), 1u);
  EXPECT_FALSE(halts[0].retain);
  EXPECT_EQ(halts[0].expiry_seconds, 5u);
  EXPECT_EQ(json::parse(halts[0].payload)["alarm"], "depth_exceeded");
  const auto audited = out.AuditOfType("halt");
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(audited[0]["result"], "sent");
  EXPECT_EQ(audited[0]["alarm"], "depth_exceeded");
  EXPECT_EQ(audited[0]["device"], "d1");
  EXPECT_EQ(audited[0]["session"], "S1");
}

TEST_F(Fixture, AHaltThatCannotBeSentWithinItsExpiryIsDroppedAndAudited) {
  cfg.outputs.halt.enabled = true;
  cfg.outputs.halt.expiry = 2 * kNsPerSec;
  LiveMonitor m(cfg, "", clock, out);
  const std::string command = "clinic/c1/device/d1/command";
  out.connected = false;
  m.SetConnected(false);
  Sample(m, kT0, 1, 3.0);  // raised while the broker is away: held
  EXPECT_TRUE(out.On(command).empty());
  EXPECT_EQ(m.halts_held(), 1u);
  out.connected = true;
  clock.now = kT0 + 1500 * kNsPerMs;  // back within the expiry: sent now
  m.SetConnected(true);
  ASSERT_EQ(out.On(command).size(), 1u);
  EXPECT_EQ(m.halts_held(), 0u);

  // A second raise (after an acknowledgement ended the first), the broker away for too long.
  Sample(m, kT0 + 1600 * kNsPerMs, 2, 0.1);
  m.Acknowledge({"c1", "d1", engine::AlarmKind::kDepthExceeded}, "", "");
  out.connected = false;
  m.SetConnected(false);
  Sample(m, kT0 + 1700 * kNsPerMs, 3, 3.0);
  out.connected = true;
  clock.now = kT0 + 3700 * kNsPerMs;  // 2.0 s later: expired
  m.SetConnected(true);
  EXPECT_EQ(out.On(command).size(), 1u);
  EXPECT_EQ(m.halts_expired(), 1u);
  const auto audited = out.AuditOfType("halt");
  ASSERT_EQ(audited.size(), 2u);
  EXPECT_EQ(audited[0]["result"], "sent");
  EXPECT_EQ(audited[1]["result"], "expired");
  EXPECT_EQ(audited[1]["alarm"], "depth_exceeded");
}

TEST_F(Fixture, TickFiresDeadlinesAtTheClocksTime) {
  LiveMonitor m(cfg, "", clock, out);
  Sample(m, kT0, 1, 0.1);
  ASSERT_TRUE(m.NextDeadline());
  clock.now = kT0 + 60 * kNsPerSec;
  m.Tick();
  const auto stale = out.On("clinic/c1/device/d1/alarm/telemetry_stale");
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(json::parse(stale[0].payload)["state"], "active");
}

TEST_F(Fixture, AFailingAuditLogRaisesTheMonitorsOwnAlarmUntilItWritesAgain) {
  cfg.mqtt.instance = "nw1";
  LiveMonitor m(cfg, "", clock, out);
  out.audit_fails = true;
  Sample(m, kT0, 1, 3.0);
  Sample(m, kT0 + kNsPerMs, 2, 0.1);
  const std::string topic = "needlewatch/nw1/alarm/audit_log_failing";
  ASSERT_EQ(out.On(topic).size(), 1u);
  EXPECT_EQ(json::parse(out.On(topic)[0].payload)["state"], "active");
  EXPECT_EQ(json::parse(out.On(topic)[0].payload)["severity"], "high");
  // raised depth_exceeded and depth_warning, latched one, cleared the other: 4 lines lost.
  EXPECT_EQ(m.audit_write_errors(), 4u);
  out.audit_fails = false;
  Sample(m, kT0 + 2 * kNsPerMs, 3, 3.0);
  ASSERT_EQ(out.On(topic).size(), 2u);
  EXPECT_EQ(json::parse(out.On(topic)[1].payload)["state"], "cleared");
}

TEST_F(Fixture, RecorderDropsRaiseAnAlarmThatClearsAfterThirtyQuietSeconds) {
  cfg.mqtt.instance = "nw1";
  LiveMonitor m(cfg, "", clock, out);
  const std::string topic = "needlewatch/nw1/alarm/recorder_dropping";
  m.NoteRecorderDropped(0);
  EXPECT_TRUE(out.On(topic).empty());
  m.NoteRecorderDropped(5);
  ASSERT_EQ(out.On(topic).size(), 1u);
  clock.now = kT0 + 29 * kNsPerSec;
  m.NoteRecorderDropped(5);
  EXPECT_EQ(out.On(topic).size(), 1u);
  clock.now = kT0 + 30 * kNsPerSec;
  m.NoteRecorderDropped(5);
  ASSERT_EQ(out.On(topic).size(), 2u);
  EXPECT_EQ(json::parse(out.On(topic)[1].payload)["state"], "cleared");
}

TEST_F(Fixture, AlarmTopicsAreConflatedPerBatchWhileTheAuditKeepsEveryTransition) {
  LiveMonitor m(cfg, "", clock, out);
  const std::string payload1 = testing::Telemetry(1, "S1", "forehead", 3.0, 100);
  const std::string payload2 = testing::Telemetry(2, "S1", "forehead", 0.1, 100);
  m.HandleMessage(kTopic, payload1, 1, false);  // raised
  clock.now = kT0 + kNsPerMs;
  m.HandleMessage(kTopic, payload2, 1, false);  // latched, in the same batch
  EXPECT_TRUE(out.On(kAlarmTopic).empty());
  m.Flush();
  const auto pubs = out.On(kAlarmTopic);
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(json::parse(pubs[0].payload)["state"], "latched");
  int depth_lines = 0;
  for (const json& j : out.AuditOfType("alarm")) depth_lines += j["alarm"] == "depth_exceeded";
  EXPECT_EQ(depth_lines, 2);  // raised and latched
}

TEST_F(Fixture, TheBatchsAuditLinesAreSyncedOnceBeforeItsAlarmTopicsGoOut) {
  cfg.mqtt.instance = "nw1";
  LiveMonitor m(cfg, "", clock, out);
  m.HandleMessage(kTopic, testing::Telemetry(1, "S1", "forehead", 3.0, 100), 1, false);
  m.HandleMessage(kTopic, testing::Telemetry(2, "S1", "forehead", 0.1, 100), 1, false);
  const std::size_t published_before = out.published.size();
  const std::size_t audited = out.audit.size();
  out.syncs_at.clear();
  m.Flush();
  // One group commit for the whole batch, with every line in it and nothing of it published.
  ASSERT_EQ(out.syncs_at.size(), 1u);
  EXPECT_EQ(out.syncs_at[0].first, audited);
  EXPECT_EQ(out.syncs_at[0].second, published_before);
  EXPECT_GT(out.published.size(), published_before);
  // A failed sync is a failing audit log: the monitor's own alarm says so.
  out.sync_fails = true;
  m.HandleMessage(kTopic, testing::Telemetry(3, "S1", "forehead", 3.0, 100), 1, false);
  m.Flush();
  const auto failing = out.On("needlewatch/nw1/alarm/audit_log_failing");
  ASSERT_EQ(failing.size(), 1u);
  EXPECT_EQ(json::parse(failing[0].payload)["state"], "active");
  EXPECT_EQ(m.audit_write_errors(), 1u);
}

TEST_F(Fixture, AnAcknowledgementIsSyncedBeforeItIsAnswered) {
  LiveMonitor m(cfg, "", clock, out);
  m.HandleMessage(kTopic, testing::Telemetry(1, "S1", "forehead", 3.0, 100), 1, false);
  m.HandleMessage(kTopic, testing::Telemetry(2, "S1", "forehead", 0.1, 100), 1, false);
  m.Flush();
  out.syncs_at.clear();
  const AckOutcome o = m.Acknowledge({"c1", "d1", engine::AlarmKind::kDepthExceeded}, "ana", "");
  ASSERT_NE(o.result, engine::AckResult::kNotFound);
  ASSERT_FALSE(out.syncs_at.empty());
  EXPECT_EQ(out.syncs_at.back().first, out.audit.size());  // the ack line included
}

TEST_F(Fixture, EveryConnectPublishesEveryHeldAlarmAgain) {
  LiveMonitor m(cfg, "", clock, out);
  Sample(m, kT0, 1, 3.0);
  Sample(m, kT0 + kNsPerMs, 2, 0.1);  // depth_exceeded latched, depth_warning cleared
  out.published.clear();
  m.SetConnected(true);
  ASSERT_EQ(out.published.size(), 1u);
  EXPECT_EQ(out.published[0].topic, kAlarmTopic);
  EXPECT_TRUE(out.published[0].retain);
  EXPECT_EQ(json::parse(out.published[0].payload)["state"], "latched");
}

TEST_F(Fixture, AForgedRetainedStateIsSetRightAndTheMonitorsOwnEchoIsNot) {
  LiveMonitor m(cfg, "", clock, out);
  Sample(m, kT0, 1, 3.0);
  const std::string ours = out.On(kAlarmTopic).back().payload;
  out.published.clear();
  m.HandleMessage(kAlarmTopic, ours, 1, true);  // our own state comes back: nothing to do
  EXPECT_TRUE(out.published.empty());
  EXPECT_EQ(m.alarm_topic_corrections(), 0u);
  std::string forged = ours;
  forged.replace(forged.find("\"active\""), 8, "\"cleared\"");
  m.HandleMessage(kAlarmTopic, forged, 1, true);
  ASSERT_EQ(out.On(kAlarmTopic).size(), 1u);
  EXPECT_EQ(out.On(kAlarmTopic)[0].payload, ours);
  EXPECT_EQ(m.alarm_topic_corrections(), 1u);
  EXPECT_EQ(m.engine().counters().ignored_own, 0u);  // not the engine's business
}

TEST_F(Fixture, AnActiveStateOnAnAlarmItDoesNotHoldBecomesCleared) {
  LiveMonitor m(cfg, "", clock, out);
  const std::string topic = "clinic/c9/device/d9/alarm/speed_out_of_range";
  m.HandleMessage(topic, R"({"v":1,"alarm":"speed_out_of_range","state":"active"})", 1, true);
  ASSERT_EQ(out.On(topic).size(), 1u);
  const json fixed = json::parse(out.On(topic)[0].payload);
  EXPECT_EQ(fixed["state"], "cleared");
  EXPECT_EQ(fixed["clinic"], "c9");
  EXPECT_EQ(fixed["device"], "d9");
  EXPECT_EQ(fixed["severity"], "medium");
  // A cleared one, or none, is left alone; an unknown alarm name is removed (empty retained).
  m.HandleMessage(topic, R"({"v":1,"alarm":"speed_out_of_range","state":"cleared"})", 1, true);
  m.HandleMessage(topic, "", 1, true);
  EXPECT_EQ(out.On(topic).size(), 1u);
  const std::string odd = "clinic/c9/device/d9/alarm/made_up";
  m.HandleMessage(odd, "garbage", 1, true);
  ASSERT_EQ(out.On(odd).size(), 1u);
  EXPECT_EQ(out.On(odd)[0].payload, "");
  EXPECT_EQ(m.alarm_topic_corrections(), 2u);
}

TEST_F(Fixture, IngestOverloadIsRaisedWhileDropsOrThrottlingGrowAndClearsWhenQuiet) {
  cfg.mqtt.instance = "nw1";
  LiveMonitor m(cfg, "", clock, out);
  const std::string topic = "needlewatch/nw1/alarm/ingest_overload";
  m.NoteIngest(0, 0);
  EXPECT_TRUE(out.On(topic).empty());
  m.NoteIngest(0, 3);
  ASSERT_EQ(out.On(topic).size(), 1u);
  EXPECT_EQ(json::parse(out.On(topic)[0].payload)["severity"], "high");
  clock.now = kT0 + 31 * kNsPerSec;
  m.NoteIngest(0, 3);
  ASSERT_EQ(out.On(topic).size(), 2u);
  EXPECT_EQ(json::parse(out.On(topic)[1].payload)["state"], "cleared");
}

TEST_F(Fixture, AnActiveMonitorAlarmIsPublishedAgainOnReconnectAndAClearedOneIsNot) {
  cfg.mqtt.instance = "nw1";
  LiveMonitor m(cfg, "", clock, out);
  const std::string overload = "needlewatch/nw1/alarm/ingest_overload";
  const std::string recorder = "needlewatch/nw1/alarm/recorder_dropping";
  m.NoteIngest(5, 0);
  ASSERT_EQ(out.On(overload).size(), 1u);
  m.SetConnected(false);
  clock.now = kT0 + 2 * kNsPerSec;
  m.SetConnected(true);  // the broker may have lost the retained message meanwhile
  ASSERT_EQ(out.On(overload).size(), 2u);
  const json again = json::parse(out.On(overload)[1].payload);
  EXPECT_EQ(again["state"], "active");
  EXPECT_EQ(again["raised_at"], json::parse(out.On(overload)[0].payload)["raised_at"]);
  EXPECT_EQ(again["value"], json::parse(out.On(overload)[0].payload)["value"]);
  EXPECT_TRUE(out.On(recorder).empty());  // never raised: nothing to repeat
  clock.now = kT0 + 40 * kNsPerSec;
  m.NoteIngest(5, 0);  // quiet for 30 s: cleared
  ASSERT_EQ(out.On(overload).size(), 3u);
  m.SetConnected(true);
  EXPECT_EQ(out.On(overload).size(), 3u);
}

// What the daemon records replays into the same alarms it raised live (the C++ half of
// tests/equality): every record through control::ApplyRecord into a fresh engine.
TEST_F(Fixture, ItsRecordingReplaysToTheSameAlarmsToTheNanosecond) {
  struct Collect : engine::Sink {
    void OnAlarm(const engine::AlarmEvent& e) override {
      lines.push_back(std::string(engine::TransitionName(e.transition)) + " " +
                      std::string(engine::AlarmName(e.alarm)) + " " + std::to_string(e.at));
    }
    std::vector<std::string> lines;
  };
  LiveMonitor m(cfg, "", clock, out);
  m.Start();
  Sample(m, kT0 + 1, 1, 3.0);
  Sample(m, kT0 + 100 * kNsPerMs + 7, 2, 0.1, 20);
  clock.now = kT0 + 250 * kNsPerMs;
  m.Acknowledge({"c1", "d1", engine::AlarmKind::kDepthExceeded}, "bob", "r");
  clock.now = kT0 + 300 * kNsPerMs;
  m.Reload(config::LoadConfigString("limits:\n  default:\n    speed_hz: {min: 10, for: 0s}\n",
                                    "x.yaml"));
  Sample(m, kT0 + 2 * kNsPerSec + 3, 3, 0.1, 12);
  clock.now = kT0 + 9 * kNsPerSec;
  m.Tick();
  std::vector<std::string> live;
  for (const json& j : out.AuditOfType("alarm")) {
    live.push_back(j["transition"].get<std::string>() + " " + j["alarm"].get<std::string>() +
                   " " + std::to_string(j["at_ns"].get<TimeNs>()));
  }
  engine::Engine replay(cfg.limits, cfg.engine);
  Collect replayed;
  for (const record::RawMessage& r : out.recorded) {
    control::ApplyRecord({r.receive_ns, r.topic, r.payload}, replay, replayed);
  }
  replay.AdvanceTo(kT0 + 9 * kNsPerSec, replayed);  // the live daemon's last tick
  EXPECT_GE(live.size(), 4u);
  EXPECT_EQ(replayed.lines, live);
}

// Durable state: a monitor restored from a snapshot and the journal after it holds what the
// first one held, re-does none of its effects, and continues like it.
TEST_F(Fixture, ARestoredMonitorHoldsTheSameAlarmsAndRepeatsNoEffect) {
  std::string error;
  LiveMonitor first(cfg, "", clock, out);
  first.RestoreState({});  // a first start: fresh, journaling on
  first.Start();
  Sample(first, kT0 + 1 * kNsPerSec, 1, 3.0);
  Sample(first, kT0 + 2 * kNsPerSec, 2, 0.1);  // depth_exceeded latched
  state::Snapshot snapshot = first.SaveState();
  out.journal.clear();
  Sample(first, kT0 + 3 * kNsPerSec, 3, 3.0);  // depth_exceeded active again (journal only)
  clock.now = kT0 + 4 * kNsPerSec;
  first.Acknowledge({"c1", "d1", engine::AlarmKind::kDepthExceeded}, "alice", "x");
  ASSERT_FALSE(out.journal.empty());

  FakeOutputs out2;
  LiveMonitor second(cfg, "", clock, out2);
  state::Loaded loaded;
  loaded.snapshot = state::DecodeSnapshot(state::EncodeSnapshot(snapshot), &error);
  ASSERT_TRUE(loaded.snapshot) << error;
  loaded.journal = state::DecodeJournal(out.journal).records;
  ASSERT_EQ(loaded.journal.size(), 2u);
  clock.now = kT0 + 10 * kNsPerSec;
  const LiveMonitor::RestoreOutcome r = second.RestoreState(std::move(loaded));
  EXPECT_TRUE(r.restored);
  EXPECT_EQ(r.lost, "");
  EXPECT_EQ(r.journal_records, 2u);
  EXPECT_EQ(AlarmsJson(second.engine()), AlarmsJson(first.engine()));
  EXPECT_NE(AlarmsJson(second.engine()).find(R"("acknowledged":true)"), std::string::npos);
  EXPECT_TRUE(out2.published.empty());
  EXPECT_TRUE(out2.audit.empty());
  // Catch-up begins (recorded, so a replay does the same); the limits follow.
  EXPECT_TRUE(second.catching_up());
  second.Start();
  ASSERT_EQ(out2.recorded.size(), 2u);
  EXPECT_EQ(out2.recorded[0].topic, control::kCatchUpTopic);
  EXPECT_EQ(out2.recorded[1].topic, control::kLimitsTopic);
  // On connect it publishes what it holds, exactly what the first one last published.
  second.SetConnected(true);
  ASSERT_EQ(out2.On(kAlarmTopic).size(), 1u);
  EXPECT_EQ(out2.On(kAlarmTopic)[0].payload, out.On(kAlarmTopic).back().payload);
  // The sync message coming back ends catch-up.
  const Publication sync = second.SyncPublication();
  EXPECT_EQ(sync.topic, "needlewatch/default/sync");
  second.HandleMessage(sync.topic, "not it", 1, false);
  EXPECT_TRUE(second.catching_up());
  second.HandleMessage(sync.topic, sync.payload, 1, false);
  EXPECT_FALSE(second.catching_up());
  EXPECT_EQ(out2.recorded.back().topic, control::kCatchUpTopic);
}

TEST_F(Fixture, ALostConnectionBeginsCatchUpSoTheOutageRaisesNoStale) {
  LiveMonitor m(cfg, "", clock, out);
  Sample(m, kT0, 1, 0.1);
  m.SetConnected(false);
  EXPECT_TRUE(m.catching_up());
  ASSERT_FALSE(out.recorded.empty());
  EXPECT_EQ(out.recorded.back().topic, control::kCatchUpTopic);
  clock.now = kT0 + 10 * kNsPerSec;  // well past stale_after: the pen's messages wait in the broker
  m.Tick();
  EXPECT_TRUE(m.catching_up());
  EXPECT_TRUE(out.AuditOfType("alarm").empty());
}

TEST_F(Fixture, CatchUpEndsByTimeoutWhenTheSyncNeverComesBack) {
  LiveMonitor m(cfg, "", clock, out);
  m.BeginCatchUp("reconnect");
  m.SyncPublication();
  clock.now = kT0 + LiveMonitor::kCatchUpTimeout - 1;
  m.Tick();
  EXPECT_TRUE(m.catching_up());
  clock.now = kT0 + LiveMonitor::kCatchUpTimeout;
  m.Tick();
  EXPECT_FALSE(m.catching_up());
}

TEST_F(Fixture, StateThatCannotBeRestoredRaisesStateLostAndStartsFresh) {
  LiveMonitor m(cfg, "", clock, out);
  state::Loaded loaded;
  loaded.snapshot.emplace();
  loaded.snapshot->engine.version = 99;  // Restore refuses it
  loaded.snapshot->limits_yaml = cfg.text;
  const LiveMonitor::RestoreOutcome r = m.RestoreState(std::move(loaded));
  EXPECT_FALSE(r.restored);
  EXPECT_NE(r.lost, "");
  EXPECT_TRUE(m.state_lost());
  const auto pubs = out.On("needlewatch/default/alarm/state_lost");
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_EQ(json::parse(pubs[0].payload)["state"], "active");
  EXPECT_EQ(json::parse(pubs[0].payload)["severity"], "high");
  m.SetConnected(true);  // published again: the broker may not have it
  EXPECT_EQ(out.On("needlewatch/default/alarm/state_lost").size(), 2u);
  EXPECT_EQ(m.engine().device_count(), 0u);
  // It is persisted, and clears after its hold.
  EXPECT_TRUE(m.SaveState().state_lost_since);
  clock.now = kT0 + LiveMonitor::kStateLostHold;
  m.Tick();
  EXPECT_FALSE(m.state_lost());
  EXPECT_EQ(json::parse(out.On("needlewatch/default/alarm/state_lost").back().payload)["state"],
            "cleared");
}

}  // namespace
}  // namespace needlewatch::daemon
