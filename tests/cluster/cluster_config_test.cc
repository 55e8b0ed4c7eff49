// The cluster.* keys and mqtt.urls of the configuration file.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "needlewatch/config/config.h"

namespace needlewatch::config {
namespace {

std::string Errors(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e + "\n";
  return out;
}

TEST(ClusterConfig, DefaultsAreOneShardNoPair) {
  const Config c = DefaultConfig();
  EXPECT_EQ(c.cluster.shard_index, 0u);
  EXPECT_EQ(c.cluster.shard_count, 1u);
  EXPECT_EQ(c.cluster.replica, "");
  EXPECT_TRUE(c.mqtt.urls.empty());
  EXPECT_TRUE(ClusterConfigErrors(c).empty());
}

TEST(ClusterConfig, ReadsShardReplicaAndUrls) {
  const LoadResult r = LoadConfigString(
      "mqtt:\n  instance: shard1-b\n  version: 4\n"
      "  urls: [mqtt://n1:1883, mqtt://n2:1883, mqtt://n3]\n"
      "cluster:\n  shard_index: 1\n  shard_count: 2\n  replica: b\n",
      "c.yaml");
  ASSERT_TRUE(r.ok()) << Errors(r);
  EXPECT_EQ(r.config->cluster.shard_index, 1u);
  EXPECT_EQ(r.config->cluster.shard_count, 2u);
  EXPECT_EQ(r.config->cluster.replica, "b");
  EXPECT_EQ(r.config->cluster.writer_timeout, 0);  // heartbeats off unless asked for
  EXPECT_EQ(r.config->mqtt.urls.size(), 3u);
}

TEST(ClusterConfig, WriterTimeoutIsADurationFromThreeSecondsToTenMinutes) {
  const LoadResult r = LoadConfigString(
      "mqtt:\n  instance: shard0-a\ncluster:\n  replica: a\n  writer_timeout: 15s\n", "c.yaml");
  ASSERT_TRUE(r.ok()) << Errors(r);
  EXPECT_EQ(r.config->cluster.writer_timeout, 15'000'000'000);
  for (const auto& [text, error] : std::vector<std::pair<std::string, std::string>>{
           {"cluster:\n  writer_timeout: 1s\n",
            "cluster.writer_timeout: expected 0 (off) or a duration from 3s to 10m, got 1000ms"},
           {"cluster:\n  writer_timeout: soon\n",
            "c.yaml:2: cluster.writer_timeout: expected a duration with a unit"}}) {
    const LoadResult bad = LoadConfigString(text, "c.yaml");
    EXPECT_FALSE(bad.ok()) << text;
    EXPECT_NE(Errors(bad).find(error), std::string::npos) << Errors(bad);
  }
}

TEST(ClusterConfig, TheInstanceIsCheckedWhenTheFileNamesIt) {
  // Without mqtt.instance in the file a flag may name it: `run` checks it after the flags.
  const LoadResult r = LoadConfigString("cluster:\n  replica: a\n", "c.yaml");
  ASSERT_TRUE(r.ok()) << Errors(r);
  EXPECT_FALSE(ClusterConfigErrors(*r.config).empty());  // "default" does not end in -a
  Config c = *r.config;
  c.mqtt.instance = "shard0-a";
  EXPECT_TRUE(ClusterConfigErrors(c).empty());
}

TEST(ClusterConfig, ErrorsNameFileKeyAndExpectation) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"cluster:\n  shard_count: 0\n",
       "c.yaml:2: cluster.shard_count: expected an integer from 1 to 4096, got 0"},
      {"cluster:\n  shard_count: 2\n  shard_index: 2\n",
       "cluster.shard_index: expected an integer from 0 to shard_count-1 (1), got 2"},
      {"cluster:\n  replica: A\n", "c.yaml:2: cluster.replica: expected one letter a-z"},
      {"mqtt:\n  instance: shard0-x\ncluster:\n  replica: a\n",
       "mqtt.instance: expected a name ending in \"-a\" with cluster.replica a"},
      {"cluster:\n  shards: 2\n", "c.yaml:2: cluster.shards: expected one of the keys"},
      {"mqtt:\n  url: mqtt://x\n  urls: [mqtt://y]\n",
       "mqtt.urls: expected either mqtt.url or mqtt.urls, not both"},
      {"mqtt:\n  urls: []\n", "mqtt.urls: expected a non-empty list"},
      {"mqtt:\n  urls: [mqtt://a, http://b]\n", "c.yaml:2: mqtt.urls[1]: expected a URL"},
      {"mqtt:\n  urls: [mqtt://a, mqtts://b]\n", "mqtt.urls[1]: expected the same scheme"},
  };
  for (const Case& c : cases) {
    const LoadResult r = LoadConfigString(c.yaml, "c.yaml");
    EXPECT_FALSE(r.ok()) << c.yaml;
    EXPECT_NE(Errors(r).find(c.error), std::string::npos) << c.yaml << "\n" << Errors(r);
  }
}

}  // namespace
}  // namespace needlewatch::config
