// `needlewatch shard-plan`: prints which clinics and MQTT filters each of N monitor shards
// takes (shard.h), as text, YAML (a shard's `mqtt.subscriptions`) or JSON. Thread-compatible.
#ifndef NEEDLEWATCH_CLUSTER_SHARD_PLAN_COMMAND_H_
#define NEEDLEWATCH_CLUSTER_SHARD_PLAN_COMMAND_H_

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

namespace needlewatch::cluster {

struct ShardPlanOptions {
  // Number of shards, 1 to kMaxShards.
  std::uint32_t shards = 0;
  // One clinic ID per line ('#' comments and blank lines skipped; "-" reads `in`). Without it
  // every shard subscribes to every clinic and the daemon admits only its own share.
  std::optional<std::string> clinics_file;
  // First topic level of device topics (mqtt.topic_root).
  std::string topic_root = "clinic";
  // text | yaml | json.
  std::string format = "text";
  // Only this shard. With yaml the output is then that shard's config fragment
  // (`mqtt: {subscriptions: [...]}`), ready for its --config.file.
  std::optional<std::uint32_t> shard;
  // Where "-" reads from; null = std::cin.
  std::istream* in = nullptr;
};

// Returns the process exit code: 0 on success; 1 on bad options or an unreadable or invalid
// clinic list, with every problem named on `err` (FILE:LINE for bad IDs). Warnings (clinic IDs
// a broker may refuse in topics) go to `err` too and do not change the exit code.
int RunShardPlan(const ShardPlanOptions& options, std::ostream& out, std::ostream& err);

}  // namespace needlewatch::cluster

#endif  // NEEDLEWATCH_CLUSTER_SHARD_PLAN_COMMAND_H_
