// Republish against a real mosquitto on loopback: every publishable record arrives with its
// topic, payload, QoS and retain flag, in order; internal and unpublishable records never do;
// the recorded timing is respected (lower bounds only); loop, stop, and broker failures.
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "needlewatch/republish/republish.h"
#include "test_broker.h"

namespace needlewatch::republish {
namespace {

using testing::Received;
using testing::Subscriber;
using testing::TestBroker;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kT0 = 1795611133125000000;
constexpr std::int64_t kMs = 1'000'000;

record::RawMessage Msg(std::int64_t at_ms, std::string topic, std::string payload, int qos = 0,
                       bool retain = false) {
  record::RawMessage m;
  m.receive_ns = kT0 + at_ms * kMs;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = static_cast<std::uint8_t>(qos);
  m.retain = retain;
  return m;
}

// A `next` over an in-memory list; Rewind() starts it again.
class ListSource {
 public:
  explicit ListSource(std::vector<record::RawMessage> list) : list_(std::move(list)) {}
  std::function<bool(record::RawMessage&)> Next() {
    return [this](record::RawMessage& m) {
      if (i_ >= list_.size()) return false;
      m = list_[i_++];
      return true;
    };
  }
  bool Rewind() {
    i_ = 0;
    ++rewinds_;
    return true;
  }
  int rewinds() const { return rewinds_; }

 private:
  std::vector<record::RawMessage> list_;
  std::size_t i_ = 0;
  int rewinds_ = 0;
};

class RepublishBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.ok()) << broker_.Log(); }
  RepublishOptions Options(double speed) const {
    RepublishOptions o;
    o.url = broker_.url();
    o.speed = speed;
    o.connect_timeout = std::chrono::seconds(5);
    o.ack_timeout = std::chrono::seconds(10);
    return o;
  }
  TestBroker broker_;
  std::ostringstream out_, err_;
};

void ExpectSame(const std::vector<Received>& got, const std::vector<record::RawMessage>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].topic, want[i].topic) << "message " << i;
    EXPECT_EQ(got[i].payload, want[i].payload) << "message " << i;
    EXPECT_EQ(got[i].qos, want[i].qos) << "message " << i;
    EXPECT_EQ(got[i].retain, want[i].retain) << "message " << i;
  }
}

// A small incident: telemetry at QoS 0 and 1, a retained status, an event at QoS 2, an empty
// and a binary payload, an operator ack, and two records no broker would take.
std::vector<record::RawMessage> Incident() {
  const std::string dev = "clinic/c017/device/d00042/";
  return {
      Msg(0, dev + "status", R"({"v":1,"ts":1,"state":"online"})", 1, true),
      Msg(100, dev + "event", R"({"v":1,"seq":1,"ts":2,"event":"session_start"})", 2),
      Msg(200, dev + "telemetry", R"({"v":1,"seq":2,"depth_mm":1.25})", 0),
      Msg(300, dev + "telemetry", R"({"v":1,"seq":3,"depth_mm":1.5})", 1),
      Msg(400, record::kAckTopic, R"({"clinic":"c017","device":"d00042","alarm":"x"})", 0),
      Msg(500, dev + "telemetry", "", 0),
      Msg(600, "clinic/+/bad", "wildcards cannot be published", 0),
      Msg(650, "clinic/\xff/bad", "nor can a topic that is not UTF-8", 1),
      Msg(700, dev + "telemetry", std::string("\x00\xff\x01 binary", 10), 1),
      Msg(800, dev + "status", R"({"v":1,"ts":3,"state":"offline"})", 1, true),
  };
}

std::vector<record::RawMessage> Publishable(const std::vector<record::RawMessage>& list) {
  std::vector<record::RawMessage> out;
  for (const auto& m : list) {
    const bool utf8_problem = m.topic.find('\xff') != std::string::npos;
    if (!IsInternalTopic(m.topic) && TopicProblem(m.topic).empty() && !utf8_problem) {
      out.push_back(m);
    }
  }
  return out;
}

TEST_F(RepublishBrokerTest, MaxSpeedDeliversEveryPublishableRecordInOrder) {
  Subscriber sub(broker_.url(), {"#", "$needlewatch/#"});
  ASSERT_TRUE(sub.ok());
  const auto input = Incident();
  const auto want = Publishable(input);
  ListSource src(input);
  RepublishStats st;
  EXPECT_EQ(Republish(Options(0), src.Next(), nullptr, out_, err_, &st), 0) << err_.str();
  // Everything, and only that: the ack record (had it been sent) would sort before the last.
  ExpectSame(sub.WaitFor(want.size(), std::chrono::seconds(10)), want);
  EXPECT_EQ(st.records, input.size());
  EXPECT_EQ(st.published, want.size());
  EXPECT_EQ(st.skipped_internal, 1u);
  EXPECT_EQ(st.skipped_invalid, 2u);
  EXPECT_EQ(st.failed, 0u);
  EXPECT_EQ(st.passes, 1u);
  std::size_t bytes = 0;
  for (const auto& m : want) bytes += m.payload.size();
  EXPECT_EQ(st.payload_bytes, bytes);
  EXPECT_NE(err_.str().find("record 7 (\"clinic/+/bad\"): wildcard in topic; skipped"),
            std::string::npos)
      << err_.str();
  EXPECT_NE(err_.str().find("record 8 (\"clinic/\xff/bad\"): topic is not valid UTF-8; skipped"),
            std::string::npos)
      << err_.str();
  EXPECT_NE(out_.str().find("skipped 1 $needlewatch/ records (acks, limits) and 2 unpublishable"),
            std::string::npos)
      << out_.str();
  EXPECT_NE(out_.str().find("republish: 7 messages ("), std::string::npos) << out_.str();
}

TEST_F(RepublishBrokerTest, Speed10KeepsTheRecordedSpacingScaled) {
  Subscriber sub(broker_.url(), {"#"});
  ASSERT_TRUE(sub.ok());
  // 2 s of recording: at speed 10 the last message cannot go out before 0.2 s.
  std::vector<record::RawMessage> input;
  for (int i = 0; i <= 8; ++i) {
    input.push_back(Msg(i * 250, "clinic/c1/device/d1/telemetry", "m" + std::to_string(i), i % 2));
  }
  ListSource src(input);
  RepublishStats st;
  const auto before = Clock::now();
  EXPECT_EQ(Republish(Options(10), src.Next(), nullptr, out_, err_, &st), 0) << err_.str();
  const auto got = sub.WaitFor(input.size(), std::chrono::seconds(10));
  ExpectSame(got, input);
  ASSERT_EQ(got.size(), input.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    // Lower bound only: message i is not due before 25 ms * i after the call started.
    EXPECT_GE(got[i].at - before, std::chrono::milliseconds(25 * i)) << "message " << i;
  }
  EXPECT_GE(st.elapsed_ns, 200 * kMs);
}

TEST_F(RepublishBrokerTest, OverridesQosAndClearsRetainWhenAsked) {
  Subscriber sub(broker_.url(), {"#"});
  ASSERT_TRUE(sub.ok());
  auto want = Publishable(Incident());
  ListSource src(Incident());
  RepublishOptions o = Options(0);
  o.qos_override = 1;
  o.keep_retain = false;
  o.mqtt_version = 5;
  EXPECT_EQ(Republish(o, src.Next(), nullptr, out_, err_), 0) << err_.str();
  for (auto& m : want) {
    m.qos = 1;
    m.retain = false;
  }
  ExpectSame(sub.WaitFor(want.size(), std::chrono::seconds(10)), want);
}

TEST_F(RepublishBrokerTest, RetainedRecordsStayOnTheBroker) {
  ListSource src(Incident());
  EXPECT_EQ(Republish(Options(0), src.Next(), nullptr, out_, err_), 0) << err_.str();
  // A subscriber that comes later gets the last retained status, flagged retained.
  Subscriber late(broker_.url(), {"clinic/c017/device/d00042/status"});
  ASSERT_TRUE(late.ok());
  const auto got = late.WaitFor(1, std::chrono::seconds(10));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, R"({"v":1,"ts":3,"state":"offline"})");
  EXPECT_TRUE(got[0].retain);
}

TEST_F(RepublishBrokerTest, LoopRepeatsTheInputUntilStopped) {
  Subscriber sub(broker_.url(), {"#"});
  ASSERT_TRUE(sub.ok());
  std::vector<record::RawMessage> input = {Msg(0, "t/a", "1", 1), Msg(10, "t/b", "2", 1),
                                           Msg(20, "t/c", "3", 1)};
  ListSource src(input);
  std::atomic<bool> stop{false};
  RepublishOptions o = Options(0);
  o.loop = true;
  o.stop = &stop;
  RepublishStats st;
  const auto rewind = [&] {
    src.Rewind();
    if (src.rewinds() == 2) stop = true;  // after the second pass
    return true;
  };
  EXPECT_EQ(Republish(o, src.Next(), rewind, out_, err_, &st), 0) << err_.str();
  std::vector<record::RawMessage> want = input;
  want.insert(want.end(), input.begin(), input.end());
  ExpectSame(sub.WaitFor(want.size(), std::chrono::seconds(10)), want);
  EXPECT_EQ(st.passes, 2u);
  EXPECT_EQ(st.published, 6u);
  EXPECT_NE(out_.str().find("stopped on request"), std::string::npos) << out_.str();
}

TEST_F(RepublishBrokerTest, LoopOverAnInputWithNothingToPublishEnds) {
  ListSource src({Msg(0, record::kAckTopic, "{}")});
  RepublishOptions o = Options(0);
  o.loop = true;
  RepublishStats st;
  const auto rewind = [&] { return src.Rewind(); };
  EXPECT_EQ(Republish(o, src.Next(), rewind, out_, err_, &st), 0) << err_.str();
  EXPECT_EQ(st.published, 0u);
  EXPECT_EQ(src.rewinds(), 0);
  EXPECT_NE(err_.str().find("published nothing; stopping"), std::string::npos) << err_.str();
}

TEST_F(RepublishBrokerTest, FailedRewindIsAnError) {
  ListSource src({Msg(0, "t/a", "1")});
  RepublishOptions o = Options(0);
  o.loop = true;
  EXPECT_EQ(Republish(o, src.Next(), [] { return false; }, out_, err_), 1);
  EXPECT_NE(err_.str().find("republish: --loop: cannot read the input again"), std::string::npos)
      << err_.str();
}

TEST_F(RepublishBrokerTest, SigintStopsCleanlyAndRestoresTheHandler) {
  Subscriber sub(broker_.url(), {"#"});
  ASSERT_TRUE(sub.ok());
  std::vector<record::RawMessage> input = {Msg(0, "t/a", "1", 1), Msg(10, "t/b", "2", 1),
                                           Msg(20, "t/c", "3", 1)};
  struct sigaction before {};
  sigaction(SIGINT, nullptr, &before);
  std::size_t i = 0;
  const auto next = [&](record::RawMessage& m) {
    if (i == input.size()) return false;
    if (i == 1) raise(SIGINT);  // Ctrl-C while the second record is read
    m = input[i++];
    return true;
  };
  RepublishOptions o = Options(0);
  o.stop_on_signals = true;
  RepublishStats st;
  EXPECT_EQ(Republish(o, next, nullptr, out_, err_, &st), 0) << err_.str();
  EXPECT_EQ(st.published, 1u);  // the first was delivered (drained), nothing after the signal
  ExpectSame(sub.WaitFor(1, std::chrono::seconds(10)), {input[0]});
  struct sigaction after {};
  sigaction(SIGINT, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
}

TEST_F(RepublishBrokerTest, MqttV5PublisherDeliversToo) {
  Subscriber sub(broker_.url(), {"#"});
  ASSERT_TRUE(sub.ok());
  const auto want = Publishable(Incident());
  ListSource src(Incident());
  RepublishOptions o = Options(0);
  o.mqtt_version = 5;
  EXPECT_EQ(Republish(o, src.Next(), nullptr, out_, err_), 0) << err_.str();
  ExpectSame(sub.WaitFor(want.size(), std::chrono::seconds(10)), want);
}

TEST_F(RepublishBrokerTest, ManyMessagesThroughASmallWindow) {
  Subscriber sub(broker_.url(), {"#"});
  ASSERT_TRUE(sub.ok());
  std::vector<record::RawMessage> input;
  for (int i = 0; i < 2000; ++i) {
    input.push_back(Msg(i, "clinic/c1/device/d" + std::to_string(i % 7) + "/telemetry",
                        R"({"v":1,"seq":)" + std::to_string(i) + "}", 1));
  }
  ListSource src(input);
  RepublishOptions o = Options(0);
  o.max_in_flight = 4;
  RepublishStats st;
  EXPECT_EQ(Republish(o, src.Next(), nullptr, out_, err_, &st), 0) << err_.str();
  EXPECT_EQ(st.published, input.size());
  ExpectSame(sub.WaitFor(input.size(), std::chrono::seconds(20)), input);
  std::cerr << out_.str();  // the summary, for the record (rate is not asserted)
}

// Regression: Paho's own queue (100 by default) once refused QoS 0 bursts with rc -12.
TEST_F(RepublishBrokerTest, QosZeroBurstThroughAWideWindowLosesNothing) {
  Subscriber sub(broker_.url(), {"#"});
  ASSERT_TRUE(sub.ok());
  std::vector<record::RawMessage> input;
  for (int i = 0; i < 5000; ++i) input.push_back(Msg(i, "t/burst", std::to_string(i), 0));
  ListSource src(input);
  RepublishOptions o = Options(0);
  o.max_in_flight = 1000;
  RepublishStats st;
  EXPECT_EQ(Republish(o, src.Next(), nullptr, out_, err_, &st), 0) << err_.str();
  EXPECT_EQ(st.failed, 0u);
  EXPECT_EQ(st.published, input.size());
  ExpectSame(sub.WaitFor(input.size(), std::chrono::seconds(30)), input);
  std::cerr << out_.str();  // the summary, for the record (rate is not asserted)
}

TEST_F(RepublishBrokerTest, BrokerGoneMidwayIsAnErrorNotAHang) {
  // The second is QoS 2, so both are confirmed before the third is read (and the broker killed).
  std::vector<record::RawMessage> input = {Msg(0, "t/a", "1", 1), Msg(50, "t/b", "2", 2),
                                           Msg(1000, "t/c", "3", 1), Msg(2000, "t/d", "4", 1)};
  std::size_t i = 0;
  const auto next = [&](record::RawMessage& m) {
    if (i == input.size()) return false;
    if (i == 2) broker_.Kill();
    m = input[i++];
    return true;
  };
  RepublishStats st;
  EXPECT_EQ(Republish(Options(1), next, nullptr, out_, err_, &st), 1);
  EXPECT_NE(err_.str().find("republish: lost the connection to " + broker_.url()),
            std::string::npos)
      << err_.str();
  EXPECT_EQ(st.published, 2u);
}

TEST(RepublishTls, MqttsWithTheBrokersCaDeliversWithoutItFailsClearly) {
  TestBroker broker(/*tls=*/true);
  ASSERT_TRUE(broker.ok()) << broker.Log();
  Subscriber sub(broker.url(), {"#"});  // plain listener of the same broker
  ASSERT_TRUE(sub.ok());
  const std::vector<record::RawMessage> input = {Msg(0, "t/tls", "over TLS", 1)};
  ListSource src(input);
  RepublishOptions o;
  o.url = broker.tls_url();
  o.ca_file = broker.ca_file();
  o.speed = 0;
  std::ostringstream out, err;
  EXPECT_EQ(Republish(o, src.Next(), nullptr, out, err), 0) << err.str();
  ExpectSame(sub.WaitFor(1, std::chrono::seconds(10)), input);

  // The CA can come from the environment instead.
  ASSERT_EQ(::setenv("NEEDLEWATCH_MQTT_CA_FILE", broker.ca_file().c_str(), 1), 0);
  ListSource from_env(input);
  o.ca_file.clear();
  std::ostringstream out2, err2;
  EXPECT_EQ(Republish(o, from_env.Next(), nullptr, out2, err2), 0) << err2.str();

  // Without it, the system trust store does not know the throwaway CA: verification fails, it
  // is not skipped.
  ASSERT_EQ(::unsetenv("NEEDLEWATCH_MQTT_CA_FILE"), 0);
  ListSource again(input);
  std::ostringstream out3, err3;
  EXPECT_EQ(Republish(o, again.Next(), nullptr, out3, err3), 1);
  EXPECT_NE(err3.str().find("republish: cannot connect to " + broker.tls_url() +
                            ": TCP/TLS connection failed"),
            std::string::npos)
      << err3.str();
  ExpectSame(sub.WaitFor(2, std::chrono::seconds(10)), {input[0], input[0]});
}

TEST(RepublishUnreachable, ClosedPortIsAClearErrorAndExitCode1) {
  const int port = testing::FreeLoopbackPort();
  ASSERT_GT(port, 0);
  RepublishOptions o;
  o.url = "mqtt://127.0.0.1:" + std::to_string(port);
  o.connect_timeout = std::chrono::seconds(5);
  std::ostringstream out, err;
  const int rc = Republish(
      o, [](record::RawMessage&) { return false; }, nullptr, out, err);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(err.str().find("republish: cannot connect to mqtt://127.0.0.1:" +
                           std::to_string(port) + ": TCP/TLS connection failed"),
            std::string::npos)
      << err.str();
}

}  // namespace
}  // namespace needlewatch::republish
