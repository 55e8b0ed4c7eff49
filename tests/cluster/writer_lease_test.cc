#include "needlewatch/cluster/writer_lease.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace needlewatch::cluster {
namespace {

constexpr std::int64_t kS = 1'000'000'000;

// Two replicas and the broker between them: every publication reaches both, in one order.
struct Pair {
  WriterLease a{"shard0-a", 0, kS};
  WriterLease b{"shard0-b", 0, kS};
  std::string retained;  // the lease topic's retained message

  void Deliver(const std::string& topic, const std::string& payload, std::int64_t now) {
    if (topic == a.lease_topic()) retained = payload;
    a.OnMessage(topic, payload, now);
    b.OnMessage(topic, payload, now);
  }
  void Status(const std::string& instance, bool online, std::int64_t now) {
    Deliver("needlewatch/" + instance + "/status",
            std::string("{\"state\":\"") + (online ? "online" : "offline") + "\"}", now);
  }
  // Polls both; claims are delivered (to both) after both polled, as a broker would order them.
  void Poll(std::int64_t now) {
    std::vector<std::string> claims;
    if (auto c = a.Poll(now)) claims.push_back(*c);
    if (auto c = b.Poll(now)) claims.push_back(*c);
    for (const auto& c : claims) Deliver(a.lease_topic(), c, now);
  }
  // Both replicas online and connected at time 0.
  void BothUp() {
    Status("shard0-a", true, 0);
    Status("shard0-b", true, 0);
    a.SetUp(true, 0);
    b.SetUp(true, 0);
  }
  void Run(std::int64_t from, std::int64_t to) {
    for (std::int64_t t = from; t <= to; t += kS / 10) Poll(t);
  }
};

TEST(WriterLease, TopicsAndPayload) {
  WriterLease l("shard3-b", 3, kS);
  EXPECT_EQ(l.lease_topic(), "needlewatch/shard/3/writer");
  const std::string p = WriterLease::ClaimPayload("shard3-b", 5 * kS);
  EXPECT_EQ(p, "{\"v\":1,\"holder\":\"shard3-b\",\"ts\":5}");
  EXPECT_EQ(WriterLease::HolderOf(p), "shard3-b");
  EXPECT_EQ(WriterLease::HolderOf(""), "");
  EXPECT_FALSE(l.OnMessage("clinic/c1/device/d1/telemetry", "{}", 0));
  EXPECT_TRUE(l.OnMessage("needlewatch/other/status", "{\"state\":\"online\"}", 0));
}

TEST(WriterLease, NothingBeforeSettledAndConnected) {
  WriterLease l("shard0-a", 0, kS);
  EXPECT_FALSE(l.Poll(10 * kS));  // not up
  l.SetUp(true, 10 * kS);
  EXPECT_FALSE(l.Poll(10 * kS + kS / 2));  // retained state may still arrive
  EXPECT_FALSE(l.writer());
  EXPECT_TRUE(l.Poll(11 * kS).has_value());  // no lease: claim
}

TEST(WriterLease, BothStartingTogetherEndWithOneWriter) {
  Pair p;
  p.BothUp();
  p.Run(0, 5 * kS);
  EXPECT_NE(p.a.writer(), p.b.writer());
  EXPECT_EQ(p.a.holder(), p.b.holder());
  EXPECT_EQ(WriterLease::HolderOf(p.retained), p.a.holder());
}

TEST(WriterLease, NeitherWritesWhileClaimsAreUnsettled) {
  Pair p;
  p.BothUp();
  for (std::int64_t t = 0; t <= 5 * kS; t += kS / 10) {
    p.Poll(t);
    EXPECT_FALSE(p.a.writer() && p.b.writer()) << t;
  }
}

TEST(WriterLease, TheFollowerTakesOverWhenTheWritersWillSaysOffline) {
  Pair p;
  p.Status("shard0-a", true, 0);
  p.Status("shard0-b", true, 0);
  p.a.SetUp(true, 0);
  p.Run(0, 3 * kS);  // a alone: a writes
  ASSERT_TRUE(p.a.writer());
  p.b.SetUp(true, 3 * kS);
  p.Run(3 * kS, 8 * kS);
  EXPECT_TRUE(p.a.writer());
  EXPECT_FALSE(p.b.writer());  // sticky: b follows a live holder

  p.a.SetUp(false, 8 * kS);  // a's connection is gone; the broker publishes its Will
  p.Status("shard0-a", false, 8 * kS);
  p.Poll(8 * kS);
  EXPECT_FALSE(p.a.writer());
  p.Run(8 * kS, 11 * kS);
  EXPECT_TRUE(p.b.writer());
  EXPECT_EQ(p.a.holder(), "shard0-b");

  // a comes back: it finds b named and online, and follows (no hand-back).
  p.Status("shard0-a", true, 12 * kS);
  p.a.SetUp(true, 12 * kS);
  p.Run(12 * kS, 20 * kS);
  EXPECT_FALSE(p.a.writer());
  EXPECT_TRUE(p.b.writer());
}

TEST(WriterLease, AHolderThatReconnectsKeepsTheLeaseAfterSettling) {
  Pair p;
  p.BothUp();
  p.Run(0, 5 * kS);
  WriterLease& w = p.a.writer() ? p.a : p.b;
  w.SetUp(false, 5 * kS);  // its node died; no Will (the peer still sees it online)
  p.Poll(5 * kS);
  EXPECT_FALSE(p.a.writer() || p.b.writer());
  w.SetUp(true, 7 * kS);
  p.Poll(7 * kS + kS / 2);
  EXPECT_FALSE(w.writer());  // settling
  p.Run(7 * kS + kS / 2, 9 * kS);
  EXPECT_TRUE(w.writer());
  EXPECT_FALSE((&w == &p.a ? p.b : p.a).writer());
}

TEST(WriterLease, StatusesOfOtherShardsAndItsOwnAreIgnored) {
  WriterLease l("shard0-b", 0, kS);
  l.OnMessage(l.lease_topic(), WriterLease::ClaimPayload("shard0-a", 0), 0);
  l.OnMessage("needlewatch/shard0-a/status", "{\"state\":\"online\"}", 0);
  l.OnMessage("needlewatch/shard1-a/status", "{\"state\":\"offline\"}", 0);
  l.OnMessage("needlewatch/shard0-b/status", "{\"state\":\"offline\"}", 0);
  l.SetUp(true, 0);
  EXPECT_FALSE(l.Poll(2 * kS).has_value());  // shard0-a holds and is online
  l.OnMessage("needlewatch/shard0-a/status", "{\"state\":\"offline\"}", 3 * kS);
  EXPECT_TRUE(l.Poll(3 * kS).has_value());
  EXPECT_FALSE(l.Poll(4 * kS).has_value());  // at most one claim per 3 settle times
  EXPECT_TRUE(l.Poll(6 * kS).has_value());   // its claim never came back: again
}

}  // namespace
}  // namespace needlewatch::cluster
