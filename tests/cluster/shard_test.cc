#include "needlewatch/cluster/shard.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "needlewatch/protocol/topic.h"

namespace needlewatch::cluster {
namespace {

std::vector<std::string> Fleet(std::size_t n) {
  std::vector<std::string> v;
  v.reserve(n);
  char buf[32];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "c%07zu", i);
    v.emplace_back(buf);
  }
  return v;
}

// Split on '/'.
std::vector<std::string> Levels(const std::string& topic) {
  std::vector<std::string> out(1);
  for (char ch : topic) {
    if (ch == '/') {
      out.emplace_back();
    } else {
      out.back().push_back(ch);
    }
  }
  return out;
}

TEST(Shard, WeightIsXxh64WithTheShardIndexAsSeed) {
  // The XXH64 specification's value for empty input, seed 0, and two values computed with an
  // independent implementation (python3-xxhash 3.2): the plan is reproducible outside C++.
  EXPECT_EQ(RendezvousWeight("", 0), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(RendezvousWeight("c017", 0), 0x3A6FD80F6EF12A23ULL);
  EXPECT_EQ(RendezvousWeight("c017", 7), 0x70ABF60E69859F77ULL);
}

TEST(Shard, GoldenAssignmentsNeverChange) {
  // Computed with python3-xxhash by the same rule (tests/cluster/test_shard_plan.py checks the
  // command against it for a whole fleet). A change here re-shards every deployment.
  struct Case {
    const char* clinic;
    std::uint32_t shard_of_2, shard_of_3, shard_of_5, shard_of_16;
  };
  const Case cases[] = {
      {"a", 1, 1, 4, 4},
      {"c001", 1, 1, 3, 3},
      {"c017", 1, 1, 1, 5},
      {"c0000042", 0, 2, 4, 9},
      {"clinic-berlin-3", 1, 2, 4, 14},
      {"Z.9_x-y", 1, 1, 1, 6},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.clinic);
    EXPECT_EQ(ShardOf(c.clinic, 2), c.shard_of_2);
    EXPECT_EQ(ShardOf(c.clinic, 3), c.shard_of_3);
    EXPECT_EQ(ShardOf(c.clinic, 5), c.shard_of_5);
    EXPECT_EQ(ShardOf(c.clinic, 16), c.shard_of_16);
  }
}

TEST(Shard, OneShardOwnsEveryClinic) {
  for (const auto& c : Fleet(1000)) EXPECT_EQ(ShardOf(c, 1), 0u);
}

TEST(Shard, HundredThousandClinicsSpreadEvenlyWithinFourPercent) {
  const auto fleet = Fleet(100000);
  for (std::uint32_t n : {2u, 3u, 4u, 7u, 10u}) {
    std::vector<std::size_t> per(n);
    for (const auto& c : fleet) ++per[ShardOf(c, n)];
    const double ideal = static_cast<double>(fleet.size()) / n;
    for (std::uint32_t i = 0; i < n; ++i) {
      EXPECT_NEAR(per[i], ideal, 0.04 * ideal) << "shard " << i << " of " << n;
    }
  }
}

TEST(Shard, AddingAShardMovesAboutOneInNPlusOneAndOnlyToTheNewShard) {
  const auto fleet = Fleet(100000);
  std::vector<std::uint32_t> before(fleet.size());
  for (std::size_t k = 0; k < fleet.size(); ++k) before[k] = ShardOf(fleet[k], 1);
  for (std::uint32_t n = 1; n <= 12; ++n) {
    std::size_t moved = 0;
    for (std::size_t k = 0; k < fleet.size(); ++k) {
      const std::uint32_t after = ShardOf(fleet[k], n + 1);
      if (after != before[k]) {
        ++moved;
        ASSERT_EQ(after, n) << fleet[k] << " moved between two old shards going " << n << " -> "
                            << n + 1;
      }
      before[k] = after;
    }
    const double fraction = static_cast<double>(moved) / fleet.size();
    EXPECT_NEAR(fraction, 1.0 / (n + 1), 0.01) << n << " -> " << n + 1 << " shards";
  }
}

TEST(Shard, OneFilterPerClinicCoversEveryDeviceTopicOfIt) {
  EXPECT_EQ(ClinicFilter("clinic", "c017"), "clinic/c017/device/+/+");
  EXPECT_EQ(WildcardFilter("acme/eu"), "acme/eu/+/device/+/+");
}

TEST(Shard, ShardFiltersAreWellFormedAndCoverEveryClinicExactlyOnce) {
  auto fleet = Fleet(500);
  fleet.push_back("c0000001");  // a duplicate: still one shard, one filter
  const std::uint32_t n = 4;
  std::multiset<std::string> seen;
  for (std::uint32_t i = 0; i < n; ++i) {
    for (const auto& f : ShardFilters(fleet, i, n, "clinic")) {
      const auto l = Levels(f);
      ASSERT_EQ(l.size(), 5u) << f;
      EXPECT_EQ(l[0], "clinic");
      EXPECT_TRUE(protocol::IsValidId(l[1])) << f;
      EXPECT_EQ(ShardOf(l[1], n), i) << f;
      EXPECT_EQ(l[2], "device");
      EXPECT_EQ(l[3], "+");
      EXPECT_EQ(l[4], "+");
      EXPECT_EQ(f.find('#'), std::string::npos);
      seen.insert(l[1]);
    }
  }
  EXPECT_EQ(seen.size(), 500u);
  for (const auto& c : seen) EXPECT_EQ(seen.count(c), 1u) << c;
}

TEST(Shard, PlanListsEachShardsClinicsSortedWithoutDuplicates) {
  const std::vector<std::string> clinics{"c9", "c1", "c5", "c1", "c3", "c7", "c2"};
  const auto plan = PlanShards(clinics, 3, "clinic");
  ASSERT_EQ(plan.size(), 3u);
  std::size_t total = 0;
  for (std::uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(plan[i].index, i);
    EXPECT_TRUE(std::is_sorted(plan[i].clinics.begin(), plan[i].clinics.end()));
    EXPECT_EQ(plan[i].clinics, ShardClinics(clinics, i, 3));
    EXPECT_EQ(plan[i].filters, ShardFilters(clinics, i, 3, "clinic"));
    total += plan[i].clinics.size();
  }
  EXPECT_EQ(total, 6u);
}

}  // namespace
}  // namespace needlewatch::cluster
