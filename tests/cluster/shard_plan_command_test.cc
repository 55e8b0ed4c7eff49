#include "needlewatch/cluster/shard_plan_command.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "needlewatch/cluster/shard.h"
#include "needlewatch/config/config.h"

namespace needlewatch::cluster {
namespace {

struct Run {
  int rc;
  std::string out, err;
};

Run Plan(ShardPlanOptions o, const std::string& stdin_text = "") {
  std::istringstream in(stdin_text);
  o.in = &in;
  std::ostringstream out, err;
  const int rc = RunShardPlan(o, out, err);
  return {rc, out.str(), err.str()};
}

ShardPlanOptions FromStdin(std::uint32_t shards, const std::string& format = "text") {
  ShardPlanOptions o;
  o.shards = shards;
  o.clinics_file = "-";
  o.format = format;
  return o;
}

const char* kClinics = "# clinics of the chain\nc001\n  c002  \n\nc003\nc004\r\nc005\nc001\n";

TEST(ShardPlanCommand, JsonListsEveryClinicOnceWithItsFilters) {
  const auto r = Plan(FromStdin(2, "json"), kClinics);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["shard_count"], 2);
  EXPECT_EQ(doc["mode"], "filters");
  EXPECT_EQ(doc["hash"], "xxh64-rendezvous");
  EXPECT_EQ(doc["clinics"], 5);
  ASSERT_EQ(doc["shards"].size(), 2u);
  std::size_t clinics = 0;
  for (const auto& s : doc["shards"]) {
    for (const auto& c : s["clinics"]) {
      EXPECT_EQ(ShardOf(c.get<std::string>(), 2), s["index"].get<std::uint32_t>());
    }
    EXPECT_EQ(s["filters"].size(), s["clinics"].size());
    clinics += s["clinics"].size();
  }
  EXPECT_EQ(clinics, 5u);
}

TEST(ShardPlanCommand, YamlFragmentOfOneShardLoadsAsItsSubscriptions) {
  for (std::uint32_t i = 0; i < 3; ++i) {
    auto o = FromStdin(3, "yaml");
    o.shard = i;
    o.topic_root = "acme";
    const auto r = Plan(o, kClinics);
    ASSERT_EQ(r.rc, 0) << r.err;
    const auto loaded = config::LoadConfigString(r.out, "fragment.yaml");
    ASSERT_TRUE(loaded.ok()) << r.out << (loaded.errors.empty() ? "" : loaded.errors[0]);
    const std::vector<std::string> clinics{"c001", "c002", "c003", "c004", "c005"};
    auto expected = ShardFilters(clinics, i, 3, "acme");
    if (expected.empty()) expected = {"needlewatch/no-clinic-assigned"};
    EXPECT_EQ(loaded.config->mqtt.subscriptions, expected) << r.out;
  }
}

TEST(ShardPlanCommand, YamlOfAllShardsNamesEachShardsConfig) {
  const auto r = Plan(FromStdin(2, "yaml"), kClinics);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("shard_count: 2\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  - index: 0\n"), std::string::npos);
  EXPECT_NE(r.out.find("  - index: 1\n"), std::string::npos);
  EXPECT_NE(r.out.find("        subscriptions:"), std::string::npos);
}

TEST(ShardPlanCommand, WithoutAClinicListEveryShardSubscribesToEverything) {
  ShardPlanOptions o;
  o.shards = 3;
  o.format = "json";
  const auto r = Plan(o);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["mode"], "admission");
  for (const auto& s : doc["shards"]) {
    EXPECT_EQ(s["filters"], nlohmann::json::array({"clinic/+/device/+/+"}));
  }
  o.format = "text";
  const auto t = Plan(o);
  EXPECT_NE(t.out.find("not_assigned"), std::string::npos) << t.out;
}

TEST(ShardPlanCommand, TextShowsClinicsAndFilters) {
  const auto r = Plan(FromStdin(1), kClinics);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("shard 0: 5 clinics"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  clinics: c001 c002 c003 c004 c005\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("    clinic/c005/device/+/+\n"), std::string::npos) << r.out;
}

TEST(ShardPlanCommand, InvalidClinicIdsAreNamedWithFileAndLine) {
  const auto r = Plan(FromStdin(2), "c001\nc 002\nc003\n" + std::string(65, 'x') + "\nc/4\n");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("<stdin>:2: clinic ID: expected [A-Za-z0-9_.-]{1,64}, got \"c 002\""),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("<stdin>:4: clinic ID"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("<stdin>:5: clinic ID"), std::string::npos) << r.err;
}

TEST(ShardPlanCommand, AnEmptyOrMissingListIsAnError) {
  auto r = Plan(FromStdin(2), "# nothing\n\n");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("no clinic IDs"), std::string::npos) << r.err;
  ShardPlanOptions o;
  o.shards = 2;
  o.clinics_file = "/nonexistent/clinics.txt";
  r = Plan(o);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("/nonexistent/clinics.txt: cannot open"), std::string::npos) << r.err;
}

TEST(ShardPlanCommand, OptionsOutOfRangeAreRefused) {
  ShardPlanOptions o;
  o.shards = 0;
  EXPECT_EQ(Plan(o).rc, 1);
  o.shards = kMaxShards + 1;
  EXPECT_NE(Plan(o).err.find("--shards: expected 1 to 4096"), std::string::npos);
  o.shards = 2;
  o.shard = 2;
  EXPECT_NE(Plan(o).err.find("--shard: expected 0 to 1, got 2"), std::string::npos);
  o.shard.reset();
  o.topic_root = "clinic/#";
  EXPECT_EQ(Plan(o).rc, 1);
  o.topic_root = "/clinic";
  EXPECT_EQ(Plan(o).rc, 1);
}

TEST(ShardPlanCommand, ClinicIdsWithADotAreAcceptedWithABrokerWarning) {
  const auto r = Plan(FromStdin(2), "c001\nberlin.mitte\n");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.err.find("1 clinic IDs contain '.'"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("clinic/berlin.mitte/device/+/+"), std::string::npos);
}

TEST(ShardPlanCommand, ReadsAClinicFile) {
  const std::string path = ::testing::TempDir() + "shard_plan_clinics.txt";
  std::ofstream(path) << kClinics;
  ShardPlanOptions o;
  o.shards = 2;
  o.clinics_file = path;
  o.format = "json";
  const auto r = Plan(o);
  std::remove(path.c_str());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["clinics"], 5);
}

}  // namespace
}  // namespace needlewatch::cluster
