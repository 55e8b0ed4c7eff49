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

// Heartbeats on: a pair whose replicas publish their heartbeats on every poll that has one
// due, each delivered to both (the broker), unless that replica is `hung`.
struct BeatingPair {
  static constexpr std::int64_t kTimeout = 5 * kS;
  WriterLease a{"shard0-a", 0, kS, kTimeout};
  WriterLease b{"shard0-b", 0, kS, kTimeout};
  bool a_hung = false;
  int claims = 0;

  void Deliver(const std::string& topic, const std::string& payload, std::int64_t now) {
    if (!a_hung) a.OnMessage(topic, payload, now);  // a hung loop reads nothing either
    b.OnMessage(topic, payload, now);
  }
  // What a hung replica missed reaches it when it resumes, in the broker's order.
  std::vector<std::pair<std::string, std::string>> a_backlog;
  void DeliverToA(const std::string& topic, const std::string& payload) {
    a_backlog.emplace_back(topic, payload);
  }
  void Step(std::int64_t now) {
    std::vector<std::pair<std::string, std::string>> out;
    for (WriterLease* l : {&a, &b}) {
      if (l == &a && a_hung) continue;
      if (auto c = l->Poll(now)) {
        out.emplace_back(l->lease_topic(), *c);
        ++claims;
      }
      if (auto h = l->Heartbeat(now)) out.emplace_back(l->heartbeat_topic(), *h);
    }
    for (const auto& [t, p] : out) {
      if (a_hung) DeliverToA(t, p);
      Deliver(t, p, now);
    }
  }
  void Run(std::int64_t from, std::int64_t to) {
    for (std::int64_t t = from; t <= to; t += kS / 10) Step(t);
  }
  void Up() {
    for (const char* i : {"shard0-a", "shard0-b"}) {
      Deliver(std::string("needlewatch/") + i + "/status", "{\"state\":\"online\"}", 0);
    }
    a.SetUp(true, 0);
    Run(0, 2 * kS);  // a alone first: a holds
    b.SetUp(true, 2 * kS);
    Run(2 * kS, 6 * kS);
  }
};

TEST(WriterLease, HeartbeatTopicsAndFilter) {
  WriterLease l("shard3-b", 3, kS, 5 * kS);
  EXPECT_EQ(l.heartbeat_topic(), "needlewatch/shard/3/heartbeat/shard3-b");
  EXPECT_EQ(l.heartbeat_filter(), "needlewatch/shard/3/heartbeat/+");
  EXPECT_FALSE(l.Heartbeat(0).has_value());  // not connected
  l.SetUp(true, 0);
  const auto h = l.Heartbeat(0);
  ASSERT_TRUE(h.has_value());
  EXPECT_NE(h->find("\"n\":1"), std::string::npos) << *h;
  EXPECT_FALSE(l.Heartbeat(kS / 2).has_value());  // one per timeout / 5
  EXPECT_TRUE(l.Heartbeat(kS).has_value());
  WriterLease off("shard3-b", 3, kS);
  off.SetUp(true, 0);
  EXPECT_FALSE(off.Heartbeat(0).has_value());
}

TEST(WriterLease, ALiveHolderWithHeartbeatsKeepsTheLease) {
  BeatingPair p;
  p.Up();
  ASSERT_TRUE(p.a.writer());
  const int claims = p.claims;
  p.Run(6 * kS, 60 * kS);
  EXPECT_TRUE(p.a.writer());
  EXPECT_FALSE(p.b.writer());
  EXPECT_EQ(p.claims, claims);
}

TEST(WriterLease, AHungHolderIsDeposedAndWritesNothingWhenItResumes) {
  BeatingPair p;
  p.Up();
  ASSERT_TRUE(p.a.writer());
  // a's loop hangs at 6 s: no polls, no heartbeats, nothing read; its status stays online
  // (the connection lives on in another thread: no Will).
  p.a_hung = true;
  p.Run(6 * kS, 11 * kS - kS / 10);
  EXPECT_FALSE(p.b.writer()) << "b waits for the whole timeout";
  p.Run(11 * kS, 13 * kS);
  EXPECT_TRUE(p.b.writer());
  EXPECT_EQ(p.b.holder(), "shard0-b");

  // a resumes at 20 s. Its first poll, before it has read its backlog: it stalled, so it is
  // no writer (it must not halt from the backlog on an old lease).
  p.Run(13 * kS, 20 * kS);
  p.a_hung = false;
  EXPECT_FALSE(p.a.Poll(20 * kS).has_value());
  EXPECT_FALSE(p.a.writer());
  // Its backlog, then the heartbeat it sends now: b's claim is read before its own echo.
  for (const auto& [t, m] : p.a_backlog) p.a.OnMessage(t, m, 20 * kS);
  p.Run(20 * kS, 30 * kS);
  EXPECT_FALSE(p.a.writer());
  EXPECT_EQ(p.a.holder(), "shard0-b");
  EXPECT_TRUE(p.b.writer());
}

TEST(WriterLease, AStalledHolderNobodyDeposedWritesAgainAfterItsEcho) {
  WriterLease l("shard0-a", 0, kS, 5 * kS);
  l.OnMessage("needlewatch/shard0-a/status", "{\"state\":\"online\"}", 0);
  l.SetUp(true, 0);
  std::vector<std::string> claims;
  for (std::int64_t t = 0; t <= 3 * kS; t += kS / 10) {
    if (auto c = l.Poll(t)) l.OnMessage(l.lease_topic(), *c, t);
  }
  ASSERT_TRUE(l.writer());
  // Stalled from 3 s to 10 s (no peer): settles again, then waits for its heartbeat's echo.
  EXPECT_FALSE(l.Poll(10 * kS).has_value());
  EXPECT_FALSE(l.writer());
  const auto beat = l.Heartbeat(10 * kS);
  ASSERT_TRUE(beat.has_value());
  l.Poll(11 * kS + kS / 10);
  EXPECT_FALSE(l.writer()) << "settled, but its heartbeat has not come back";
  l.OnMessage(l.heartbeat_topic(), *beat, 11 * kS + kS / 5);
  l.Poll(11 * kS + kS / 5);
  EXPECT_TRUE(l.writer());
}

// shard0-b with heartbeats on, connected at 0, finding shard0-a named and online.
WriterLease FollowerOfAnOnlineHolder() {
  WriterLease b("shard0-b", 0, kS, 5 * kS);
  b.OnMessage(b.lease_topic(), WriterLease::ClaimPayload("shard0-a", 0), 0);
  b.OnMessage("needlewatch/shard0-a/status", "{\"state\":\"online\"}", 0);
  b.SetUp(true, 0);
  return b;
}

TEST(WriterLease, WhereHeartbeatsDoNotFlowTheStatusAloneCounts) {
  // The broker refuses the heartbeat topic (an ACL): this replica never sees even its own, so
  // a holder's silence proves nothing; deposing it would flap the lease forever.
  WriterLease b = FollowerOfAnOnlineHolder();
  for (std::int64_t t = 0; t <= 60 * kS; t += kS / 10) {
    ASSERT_FALSE(b.Poll(t).has_value()) << t;
    b.Heartbeat(t);  // published, never delivered
  }
  EXPECT_FALSE(b.writer());
}

TEST(WriterLease, AFollowerDeposesAHolderItNeverHeardOnceItsOwnHeartbeatsFlow) {
  // b starts while a is already hung (or a is an older version that sends none).
  WriterLease b = FollowerOfAnOnlineHolder();
  std::optional<std::string> claim;
  std::int64_t claimed_at = 0;
  for (std::int64_t t = 0; t <= 10 * kS && !claim; t += kS / 10) {
    claim = b.Poll(t);
    claimed_at = t;
    if (auto h = b.Heartbeat(t)) b.OnMessage(b.heartbeat_topic(), *h, t);
  }
  ASSERT_TRUE(claim.has_value());
  EXPECT_EQ(claimed_at, 5 * kS);  // the timeout from its connect
}

}  // namespace
}  // namespace needlewatch::cluster
