#include "needlewatch/protocol/topic.h"

#include <gtest/gtest.h>

#include <string>

namespace needlewatch::protocol {
namespace {

struct TopicCase {
  const char* topic;
  TopicKind kind;
  Channel channel;
  const char* clinic;
  const char* device;
};

const std::string kId64(64, 'a');
const std::string kId65(65, 'a');

using K = TopicKind;
using C = Channel;
const TopicCase kTopicCases[] = {
    // Device channels.
    TopicCase{"clinic/c017/device/d00042/telemetry", K::kDevice, C::kTelemetry, "c017", "d00042"},
    TopicCase{"clinic/c017/device/d00042/event", K::kDevice, C::kEvent, "c017", "d00042"},
    TopicCase{"clinic/c017/device/d00042/status", K::kDevice, C::kStatus, "c017", "d00042"},
    TopicCase{"clinic/A-Z_a.z-09/device/x/telemetry", K::kDevice, C::kTelemetry, "A-Z_a.z-09", "x"},
    // The monitor's own topics: ignored.
    TopicCase{"clinic/c017/device/d00042/alarm/depth_exceeded", K::kOwn, C::kUnknown, "", ""},
    TopicCase{"clinic/c017/device/d00042/command", K::kOwn, C::kUnknown, "", ""},
    TopicCase{"needlewatch/nw-1/status", K::kOwn, C::kUnknown, "", ""},
    TopicCase{"needlewatch/anything/else", K::kOwn, C::kUnknown, "", ""},
    // Bad: wrong root, levels, IDs. Channel still taken from the last level.
    TopicCase{"clinics/c017/device/d00042/telemetry", K::kBad, C::kTelemetry, "", ""},
    TopicCase{"Clinic/c017/device/d00042/telemetry", K::kBad, C::kTelemetry, "", ""},
    TopicCase{"/clinic/c017/device/d00042/telemetry", K::kBad, C::kTelemetry, "", ""},
    TopicCase{"clinic/c017/devices/d00042/telemetry", K::kBad, C::kTelemetry, "", ""},
    TopicCase{"clinic/c017/device/d00042", K::kBad, C::kUnknown, "", ""},
    TopicCase{"clinic/c017/device/d00042/telemetry/x", K::kBad, C::kUnknown, "", ""},
    TopicCase{"clinic/c017/device/d00042/telemetry/", K::kBad, C::kUnknown, "", ""},
    TopicCase{"clinic/c017/device/d00042/x/telemetry", K::kBad, C::kTelemetry, "", ""},
    TopicCase{"clinic//device/d00042/telemetry", K::kBad, C::kTelemetry, "", ""},
    TopicCase{"clinic/c017/device//telemetry", K::kBad, C::kTelemetry, "", ""},
    TopicCase{"clinic/+/device/d00042/telemetry", K::kBad, C::kTelemetry, "", ""},
    TopicCase{"clinic/c017/device/#/telemetry", K::kBad, C::kTelemetry, "", ""},
    TopicCase{"clinic/c017/device/d+/status", K::kBad, C::kStatus, "", ""},
    TopicCase{"clinic/c 17/device/d00042/event", K::kBad, C::kEvent, "", ""},
    TopicCase{"clinic/c017/device/d\xc3\xa9/event", K::kBad, C::kEvent, "", ""},
    TopicCase{"clinic/c017/device/d00042/Telemetry", K::kBad, C::kUnknown, "", ""},
    TopicCase{"clinic/c017/device/d00042/alarm", K::kBad, C::kUnknown, "", ""},
    TopicCase{"clinic/c017/device/d00042/alarm/x/y", K::kBad, C::kUnknown, "", ""},
    TopicCase{"clinic/c017/device/d00042/command/x", K::kBad, C::kUnknown, "", ""},
    TopicCase{"clinic", K::kBad, C::kUnknown, "", ""},
    TopicCase{"clinic/", K::kBad, C::kUnknown, "", ""}, TopicCase{"", K::kBad, C::kUnknown, "", ""},
    TopicCase{"telemetry", K::kBad, C::kTelemetry, "", ""},
    TopicCase{"needlewatch", K::kBad, C::kUnknown, "", ""}};

TEST(ParseTopic, TableOfDeviceOwnAndBadTopics) {
  for (const TopicCase& c : kTopicCases) {
    SCOPED_TRACE(c.topic);
    const Topic t = ParseTopic(c.topic);
    EXPECT_EQ(t.kind, c.kind);
    EXPECT_EQ(t.channel, c.channel);
    if (c.kind == TopicKind::kDevice) {
      EXPECT_EQ(t.clinic, c.clinic);
      EXPECT_EQ(t.device, c.device);
    }
  }
}

TEST(ParseTopic, AcceptsIdsOf64CharsAndRejects65) {
  EXPECT_EQ(ParseTopic("clinic/" + kId64 + "/device/" + kId64 + "/telemetry").kind, K::kDevice);
  EXPECT_EQ(ParseTopic("clinic/" + kId65 + "/device/d/telemetry").kind, K::kBad);
  EXPECT_EQ(ParseTopic("clinic/c/device/" + kId65 + "/telemetry").kind, K::kBad);
}

TEST(ParseTopic, HonoursAConfiguredRootOfOneOrMoreLevels) {
  EXPECT_EQ(ParseTopic("acme/c/device/d/event", "acme").kind, K::kDevice);
  EXPECT_EQ(ParseTopic("clinic/c/device/d/event", "acme").kind, K::kBad);
  const Topic t = ParseTopic("eu/west/c/device/d/event", "eu/west");
  EXPECT_EQ(t.kind, K::kDevice);
  EXPECT_EQ(t.clinic, "c");
  EXPECT_EQ(ParseTopic("eu/westc/device/d/event", "eu/west").kind, K::kBad);
}

TEST(ParseTopic, ViewsPointIntoTheTopic) {
  const std::string topic = "clinic/c1/device/d1/status";
  const Topic t = ParseTopic(topic);
  EXPECT_EQ(t.clinic.data(), topic.data() + 7);
  EXPECT_EQ(t.device.data(), topic.data() + 17);
}

TEST(IsValidId, AcceptsTheCharsetFrom1To64) {
  EXPECT_TRUE(IsValidId("a"));
  EXPECT_TRUE(IsValidId("S-7f3a91"));
  EXPECT_TRUE(IsValidId("AZaz09_.-"));
  EXPECT_TRUE(IsValidId(kId64));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId(kId65));
  for (const char* bad : {"a b", "a/b", "a+b", "a#b", "a\"b", "\xc3\xa9", "a\tb", "a:b"}) {
    EXPECT_FALSE(IsValidId(bad)) << bad;
  }
  EXPECT_FALSE(IsValidId(std::string_view("a\0b", 3)));
}

TEST(TopicFormatters, ProduceTheContractTopicsThatParseBack) {
  EXPECT_EQ(DeviceTopic("clinic", "c017", "d42", Channel::kTelemetry),
            "clinic/c017/device/d42/telemetry");
  EXPECT_EQ(AlarmTopic("clinic", "c017", "d42", "depth_exceeded"),
            "clinic/c017/device/d42/alarm/depth_exceeded");
  EXPECT_EQ(CommandTopic("clinic", "c017", "d42"), "clinic/c017/device/d42/command");
  EXPECT_EQ(MonitorStatusTopic("nw-1"), "needlewatch/nw-1/status");
  EXPECT_EQ(MonitorAlarmTopic("nw-1", "recorder_dropping"), "needlewatch/nw-1/alarm/recorder_dropping");
  for (Channel c : {Channel::kTelemetry, Channel::kEvent, Channel::kStatus}) {
    const std::string s = DeviceTopic("clinic", "c017", "d42", c);
    const Topic t = ParseTopic(s);
    EXPECT_EQ(t.kind, K::kDevice);
    EXPECT_EQ(t.channel, c);
  }
  EXPECT_EQ(ParseTopic(AlarmTopic("clinic", "c", "d", "x")).kind, K::kOwn);
  EXPECT_EQ(ParseTopic(CommandTopic("clinic", "c", "d")).kind, K::kOwn);
  EXPECT_EQ(ParseTopic(MonitorStatusTopic("nw")).kind, K::kOwn);
  EXPECT_EQ(ParseTopic(MonitorAlarmTopic("nw", "state_lost")).kind, K::kOwn);
}

TEST(ChannelName, NamesEveryChannel) {
  EXPECT_EQ(ChannelName(Channel::kTelemetry), "telemetry");
  EXPECT_EQ(ChannelName(Channel::kEvent), "event");
  EXPECT_EQ(ChannelName(Channel::kStatus), "status");
  EXPECT_EQ(ChannelName(Channel::kUnknown), "unknown");
}

}  // namespace
}  // namespace needlewatch::protocol

namespace needlewatch::protocol {
namespace {

TEST(ParseAlarmTopic, ReadsTheMonitorsAlarmTopicsOnly) {
  const auto p = ParseAlarmTopic("clinic/c017/device/d00042/alarm/depth_exceeded", "clinic");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->clinic, "c017");
  EXPECT_EQ(p->device, "d00042");
  EXPECT_EQ(p->alarm, "depth_exceeded");
  EXPECT_TRUE(ParseAlarmTopic(AlarmTopic("site", "a", "b", "x"), "site"));
  for (const char* bad : {"clinic/c017/device/d00042/telemetry", "clinic/c017/device/d00042/alarm",
                          "clinic/c017/device/d00042/alarm/", "clinic/c 1/device/d/alarm/x",
                          "clinic/c/device/d/alarm/x/y", "other/c/device/d/alarm/x",
                          "clinic/c/pen/d/alarm/x"}) {
    EXPECT_FALSE(ParseAlarmTopic(bad, "clinic")) << bad;
  }
}

}  // namespace
}  // namespace needlewatch::protocol
