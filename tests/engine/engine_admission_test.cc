// Duplicates (QoS 1 redeliveries, issue 12 item 3), admission (shard filter, registry, bound on
// devices: issue 13 item 4) and the bounded name tables.
#include "needlewatch/engine/engine.h"
#include "needlewatch/engine/state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "engine_test_util.h"

namespace needlewatch::engine::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::uint64_t Rejected(const Engine& e, protocol::Reject r) {
  return e.counters().rejected[static_cast<std::size_t>(r)];
}

std::string Tel(std::uint32_t seq, double depth = 0.2, std::string_view session = "S1",
                std::string_view zone = "cheek") {
  return TelemetryPayload(seq, session, zone, depth, 100);
}

const std::string kTopic = DeviceTopic("c1", "d1", "telemetry");
const std::string kEventTopic = DeviceTopic("c1", "d1", "event");

TEST(EngineDuplicates, ARedeliveredSampleChangesNothing) {
  Harness h;
  h.Raw(Sec(0), kTopic, Tel(10, 1.6));  // cheek max 1.5: raised (high), warning too
  h.Raw(Sec(0.1), kTopic, Tel(11, 0.2));  // latched; warning cleared
  h.sink.Clear();
  h.Raw(Sec(0.2), kTopic, Tel(10, 1.6));  // the broker delivers #10 again
  EXPECT_THAT(h.sink.lines, ElementsAre("reject duplicate/telemetry"));
  EXPECT_EQ(Rejected(h.engine, protocol::Reject::kDuplicate), 1u);
  EXPECT_EQ(h.engine.counters().accepted, 2u);
  EXPECT_EQ(h.engine.counters().seq_gaps, 0u);
  EXPECT_EQ(h.StateOf(AlarmKind::kDepthExceeded), AlarmState::kLatched);
  std::vector<SessionEvent> open;
  h.engine.ForEachOpenSession([&](const SessionEvent& e) { open.push_back(e); });
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].samples, 2u);
  h.engine.ForEachDevice([&](const DeviceView& v) {
    EXPECT_EQ(v.last_message_at, Sec(0.1));
    EXPECT_EQ(v.depth_mm, 0.2);
  });
  // The next real one follows #11 without a gap.
  h.Raw(Sec(0.3), kTopic, Tel(12));
  EXPECT_EQ(h.engine.counters().seq_gaps, 0u);
  EXPECT_EQ(h.engine.counters().accepted, 3u);
}

TEST(EngineDuplicates, SerialNumberArithmeticDecidesWhatIsAfter) {
  Harness h;
  h.Raw(Sec(0), kTopic, Tel(0xFFFFFFFEu));
  h.Raw(Sec(0.1), kTopic, Tel(0xFFFFFFFFu));
  h.Raw(Sec(0.2), kTopic, Tel(3));  // after 0xFFFFFFFF (wrapped): a gap of 3, accepted
  EXPECT_EQ(h.engine.counters().seq_gaps, 1u);
  h.Raw(Sec(0.3), kTopic, Tel(0xFFFFFFFFu));  // before 3, handled: a redelivery
  h.Raw(Sec(0.4), kTopic, Tel(2));            // before 3, never handled: reordered, accepted
  h.Raw(Sec(0.5), kTopic, Tel(3));            // 3 again
  h.Raw(Sec(0.55), kTopic, Tel(2));           // 2 again: handled now
  EXPECT_EQ(Rejected(h.engine, protocol::Reject::kDuplicate), 3u);
  EXPECT_EQ(h.engine.counters().reordered, 1u);
  // Exactly 2^31 ahead is undefined in RFC 1982: kept, as a gap.
  h.Raw(Sec(0.6), kTopic, Tel(3 + 0x80000000u));
  EXPECT_EQ(Rejected(h.engine, protocol::Reject::kDuplicate), 3u);
  EXPECT_EQ(h.engine.counters().seq_gaps, 2u);
  // More than 2^31 ahead is behind, further than the engine remembers: a redelivery.
  h.Raw(Sec(0.7), kTopic, Tel(3 + 0x80000000u + 0x80000001u));
  EXPECT_EQ(Rejected(h.engine, protocol::Reject::kDuplicate), 4u);
  EXPECT_EQ(h.engine.counters().accepted, 5u);
}

// A restarted broker may deliver its saved queue after newer messages (seen with mosquitto
// 2.0 after a SIGKILL: #253, then #203-#252). What was never handled is accepted, not lost.
TEST(EngineDuplicates, AReorderedDeliveryIsAcceptedAndItsExcursionRaised) {
  Harness h;
  h.Raw(Sec(0), kTopic, Tel(1));
  h.Raw(Sec(0.1), kTopic, Tel(2));
  h.Raw(Sec(0.2), kTopic, Tel(5));  // 3 and 4 are still on their way: a gap
  EXPECT_EQ(h.engine.counters().seq_gaps, 1u);
  h.sink.Clear();
  h.Raw(Sec(0.3), kTopic, Tel(3));
  EXPECT_THAT(h.sink.lines, IsEmpty());  // older than #5: no condition changes
  // #4 was over the cheek's 1.5 mm: raised, and cleared at once since #5 is within; the high
  // alarm latches for acknowledgement.
  h.Raw(Sec(0.4), kTopic, Tel(4, 1.6));
  EXPECT_EQ(h.StateOf(AlarmKind::kDepthExceeded), AlarmState::kLatched);
  EXPECT_EQ(h.engine.counters().reordered, 2u);
  EXPECT_EQ(h.engine.counters().accepted, 5u);
  EXPECT_EQ(Rejected(h.engine, protocol::Reject::kDuplicate), 0u);
  // Now they are handled: again is a redelivery; so is anything further back than 256.
  h.Raw(Sec(0.5), kTopic, Tel(4, 1.6));
  h.Raw(Sec(0.6), kTopic, Tel(3));
  h.Raw(Sec(0.7), kTopic, Tel(400));
  h.Raw(Sec(0.8), kTopic, Tel(400 - 257));
  EXPECT_EQ(Rejected(h.engine, protocol::Reject::kDuplicate), 3u);
  h.Raw(Sec(0.9), kTopic, Tel(400 - 256));  // within the window, never handled
  EXPECT_EQ(h.engine.counters().reordered, 3u);
  std::vector<SessionEvent> open;
  h.engine.ForEachOpenSession([&](const SessionEvent& e) { open.push_back(e); });
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].samples, 7u);
  // The window survives Save/Restore.
  Harness r;
  r.engine.Restore(h.engine.Save());
  r.Raw(Sec(1.0), kTopic, Tel(400 - 256));
  r.Raw(Sec(1.1), kTopic, Tel(400 - 255));
  EXPECT_EQ(Rejected(r.engine, protocol::Reject::kDuplicate), 4u);
  EXPECT_EQ(r.engine.counters().reordered, 4u);
}

TEST(EngineDuplicates, OnlyTheOpenSessionWithAValidBaselineCounts) {
  Harness h;
  h.Raw(Sec(0), kTopic, Tel(5));
  // `online` resets the baseline: the device restarted its counter.
  h.Raw(Sec(0.1), DeviceTopic("c1", "d1", "status"), StatusPayload(true));
  h.Raw(Sec(0.2), kTopic, Tel(1));
  h.Raw(Sec(0.3), kTopic, Tel(2));
  // Another session with an earlier seq is not a redelivery of this one: a switch and a gap.
  h.Raw(Sec(0.4), kTopic, Tel(1, 0.2, "S2"));
  EXPECT_EQ(Rejected(h.engine, protocol::Reject::kDuplicate), 0u);
  EXPECT_EQ(h.engine.counters().accepted, 5u);
  EXPECT_EQ(h.engine.counters().seq_gaps, 1u);
  EXPECT_EQ(h.engine.counters().sessions_started, 2u);
}

TEST(EngineDuplicates, EventsToo) {
  Harness h;
  h.Raw(Sec(0), kEventTopic, StartPayload(1, "S1", "cheek"));
  h.Raw(Sec(0.1), kTopic, Tel(2));
  h.Raw(Sec(0.2), kEventTopic, StartPayload(1, "S1", "cheek"));  // the start again
  h.Raw(Sec(0.3), kEventTopic, EndPayload(3, "S1"));
  h.Raw(Sec(0.4), kEventTopic, EndPayload(3, "S1"));  // the end again: no open session now
  EXPECT_THAT(h.sink.rejects, ElementsAre("duplicate/event", "unknown_session_end/event"));
  EXPECT_EQ(h.engine.counters().sessions_started, 1u);
  EXPECT_EQ(h.engine.counters().sessions_ended, 1u);
}

TEST(EngineDuplicates, IsTheLastCheck) {
  Harness h;
  h.Raw(Sec(0), kEventTopic, StartPayload(7, "S1", "cheek"));
  // An earlier seq with a bad field is bad_field; a session_end of another session with an
  // earlier seq is unknown_session_end.
  h.Raw(Sec(0.1), kTopic, TelemetryPayload(3, "S1", "cheek", 11, 100));
  h.Raw(Sec(0.2), kEventTopic, EndPayload(3, "S0"));
  // A session_end of the open session with a seq already handled is a redelivery.
  h.Raw(Sec(0.3), kEventTopic, EndPayload(7, "S1"));
  EXPECT_THAT(h.sink.rejects,
              ElementsAre("bad_field/telemetry", "unknown_session_end/event", "duplicate/event"));
  EXPECT_EQ(h.engine.counters().sessions_ended, 0u);
}

TEST(EngineAdmission, ShardFilterRejectsOtherClinicsBeforeLookingAtThePayload) {
  EngineOptions o;
  o.assigned = [](std::string_view clinic) { return clinic != "c2"; };
  Harness h(TestLimits(), o);
  h.Raw(Sec(0), DeviceTopic("c2", "d1", "telemetry"), "{not json");
  h.Raw(Sec(0), DeviceTopic("c2", "d1", "telemetry"), Tel(1));
  h.Raw(Sec(0), "clinic/c2/device/bad id/telemetry", Tel(1));  // the topic comes first
  h.Raw(Sec(0), kTopic, Tel(1));
  EXPECT_THAT(h.sink.rejects, ElementsAre("not_assigned/telemetry", "not_assigned/telemetry",
                                          "bad_topic/telemetry"));
  EXPECT_EQ(h.engine.device_count(), 1u);
  EXPECT_EQ(Rejected(h.engine, protocol::Reject::kNotAssigned), 2u);
}

TEST(EngineAdmission, RegistryRejectsUnknownClinicsAndDevices) {
  EngineOptions o;
  o.known_clinics.emplace();
  o.known_clinics->insert("c1");
  o.known_devices.emplace();
  o.known_devices->insert("c1/d1");
  Harness h(TestLimits(), o);
  h.Raw(Sec(0), DeviceTopic("c1", "d2", "telemetry"), "{not json");
  h.Raw(Sec(0), DeviceTopic("c9", "d1", "status"), StatusPayload(true));
  h.Raw(Sec(0), kTopic, Tel(1));
  EXPECT_THAT(h.sink.rejects, ElementsAre("unknown_device/telemetry", "unknown_device/status"));
  EXPECT_EQ(h.engine.device_count(), 1u);
  EXPECT_EQ(h.engine.counters().accepted, 1u);
}

TEST(EngineAdmission, ClinicsOnlyRegistryAdmitsEveryDeviceOfThem) {
  EngineOptions o;
  o.known_clinics.emplace();
  o.known_clinics->insert("c1");
  Harness h(TestLimits(), o);
  h.Tel(Sec(0), 0.2, 100, "S1", "cheek", "d1");
  h.Tel(Sec(0), 0.2, 100, "S1", "cheek", "d77");
  h.Tel(Sec(0), 0.2, 100, "S1", "cheek", "d1", "c2");
  EXPECT_THAT(h.sink.rejects, ElementsAre("unknown_device/telemetry"));
  EXPECT_EQ(h.engine.device_count(), 2u);
}

TEST(EngineAdmission, NewDevicesBeyondTheBoundAreRejectedUntilOneIsEvicted) {
  EngineOptions o;
  o.max_devices = 2;
  o.evict_idle_after = 10 * kNsPerSec;
  Harness h(TestLimits(), o);
  h.Online(Sec(0), "d1");
  h.Online(Sec(1), "d2");
  h.Raw(Sec(2), DeviceTopic("c1", "d3", "telemetry"), "{not json");  // before the payload
  h.Online(Sec(2), "d3");
  h.Online(Sec(3), "d1");  // known devices keep working
  EXPECT_THAT(h.sink.rejects,
              ElementsAre("too_many_devices/telemetry", "too_many_devices/status"));
  EXPECT_EQ(h.engine.device_count(), 2u);
  h.Advance(Sec(11));  // d2 idle for 10 s: evicted
  h.Online(Sec(12), "d3");
  EXPECT_EQ(h.engine.device_count(), 2u);
  EXPECT_EQ(Rejected(h.engine, protocol::Reject::kTooManyDevices), 2u);
}

TEST(EngineAdmission, ChecksComeInTheirOrder) {
  EngineOptions o;
  o.max_devices = 0;
  o.known_devices.emplace();
  o.assigned = [](std::string_view clinic) { return clinic == "c1"; };
  Harness a(TestLimits(), o);
  a.Raw(Sec(0), DeviceTopic("c2", "d1", "telemetry"), Tel(1));  // fails all three
  a.Raw(Sec(0), kTopic, Tel(1));                                 // registry and bound
  o.known_devices->insert("c1/d1");
  Harness b(TestLimits(), o);
  b.Raw(Sec(0), kTopic, Tel(1));  // the bound only
  EXPECT_THAT(a.sink.rejects, ElementsAre("not_assigned/telemetry", "unknown_device/telemetry"));
  EXPECT_THAT(b.sink.rejects, ElementsAre("too_many_devices/telemetry"));
}

TEST(EngineBounds, AClinicWithoutDevicesIsForgotten) {
  EngineOptions o;
  o.evict_idle_after = 10 * kNsPerSec;
  Harness h(TestLimits(), o);
  for (int i = 0; i < 500; ++i) h.Online(Sec(0), "d1", "c" + std::to_string(i));
  h.Online(Sec(5), "d1", "keep");
  EXPECT_EQ(h.engine.table_sizes().clinics, 501u);
  h.Advance(Sec(11));
  EXPECT_EQ(h.engine.table_sizes().clinics, 1u);
  std::vector<std::string> names;
  h.engine.ForEachClinic([&](const ClinicStats& c) { names.push_back(c.clinic); });
  EXPECT_THAT(names, ElementsAre("keep"));
  // A forgotten clinic that comes back starts from zero.
  h.Online(Sec(12), "d1", "c7");
  h.engine.ForEachClinic([&](const ClinicStats& c) {
    if (c.clinic == "c7") {
      EXPECT_EQ(c.devices_online, 1u);
    }
  });
}

TEST(EngineBounds, InventedZoneNamesDoNotGrowTheTableWithoutBound) {
  Harness h;
  // One device, one session, a new zone name on every sample; an alarm raised in one of them.
  for (int i = 0; i < 5000; ++i) {
    const double depth = i == 2500 ? 1.2 : 0.2;  // 1.2 > default max 1.0
    h.Tel(Sec(i * 0.01), depth, 100, "S1", "z" + std::to_string(i));
  }
  EXPECT_LE(h.engine.table_sizes().zones, 2048u);
  std::vector<SessionEvent> open;
  h.engine.ForEachOpenSession([&](const SessionEvent& e) { open.push_back(e); });
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].zone, "z0");
  EXPECT_EQ(open[0].zones.size(), 32u);  // the first 32 distinct zones are listed
  EXPECT_EQ(open[0].zones.back(), "z31");
  std::string alarm_zone;
  h.engine.ForEachAlarm([&](const AlarmView& v) { alarm_zone = std::string(v.zone); });
  EXPECT_EQ(alarm_zone, "z2500");  // names in use survive the sweeps
  h.engine.ForEachDevice([&](const DeviceView& v) { EXPECT_EQ(v.zone, "z4999"); });
}

TEST(EngineBounds, InventedOperatorsDoNotGrowTheTableWithoutBound) {
  Harness h;
  for (int i = 0; i < 5000; ++i) {
    h.engine.OnMessage(kEventTopic,
                       StartPayload(static_cast<std::uint32_t>(i), "S" + std::to_string(i),
                                    "cheek", "op" + std::to_string(i)),
                       Sec(i * 0.01), h.sink);
  }
  EXPECT_LE(h.engine.table_sizes().operators, 2048u);
  std::vector<SessionEvent> open;
  h.engine.ForEachOpenSession([&](const SessionEvent& e) { open.push_back(e); });
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].op, "op4999");
}

}  // namespace
}  // namespace needlewatch::engine::testing
