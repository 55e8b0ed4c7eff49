// Shard assignment: which of N monitor shards watches a clinic, and the MQTT filters that
// shard subscribes to. Rendezvous (highest-random-weight) hashing over a stable, documented
// 64-bit hash, so every process, release and language computes the same plan (see
// docs/cluster.md, "Sharding"). Pure functions; thread-safe.
//
//   weight(clinic, i) = XXH64(clinic's bytes, seed = i)       (xxHash 64-bit, spec'd output)
//   ShardOf(clinic, N) = the i in [0, N) with the highest weight (ties: the lower i)
//
// Properties that follow and that tests pin: a clinic's shard depends only on its ID and N;
// going from N to N+1 shards moves a clinic only if the new shard outweighs its old one, so
// about 1/(N+1) of the clinics move, all of them to the new shard, and no clinic moves between
// two old shards.
#ifndef NEEDLEWATCH_CLUSTER_SHARD_H_
#define NEEDLEWATCH_CLUSTER_SHARD_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace needlewatch::cluster {

// Rendezvous costs O(shard count) per clinic; beyond a few thousand shards a plan of a large
// fleet gets slow, and no deployment needs that many.
inline constexpr std::uint32_t kMaxShards = 4096;

// XXH64 of `clinic` (its bytes as given) with seed `shard`.
std::uint64_t RendezvousWeight(std::string_view clinic, std::uint32_t shard);

// The shard in [0, shard_count) that owns `clinic`.
// REQUIRES: 1 <= shard_count <= kMaxShards.
std::uint32_t ShardOf(std::string_view clinic, std::uint32_t shard_count);

// The three device channels a monitor subscribes to for one clinic:
// {root}/{clinic}/device/+/telemetry, …/event, …/status (the daemon's default filters, narrowed
// to the clinic). Not `+/+`, which would also deliver the monitor's own `command` topics back.
// REQUIRES: `clinic` is a valid ID (protocol::IsValidId), `root` a topic prefix.
std::vector<std::string> ClinicFilters(std::string_view topic_root, std::string_view clinic);

// The daemon's default filters, every clinic: {root}/+/device/+/telemetry, …/event, …/status.
// A shard that subscribes to these relies on the daemon refusing clinics outside its share.
std::vector<std::string> WildcardFilters(std::string_view topic_root);

// The clinics of `clinics` that shard `index` of `count` owns: sorted, without duplicates.
// REQUIRES: index < count <= kMaxShards.
std::vector<std::string> ShardClinics(std::span<const std::string> clinics, std::uint32_t index,
                                      std::uint32_t count);

// ClinicFilters of every clinic ShardClinics returns, in that order.
// REQUIRES: as ShardClinics, and every clinic a valid ID.
std::vector<std::string> ShardFilters(std::span<const std::string> clinics, std::uint32_t index,
                                      std::uint32_t count, std::string_view topic_root);

// One shard of a plan.
struct ShardAssignment {
  std::uint32_t index = 0;
  std::vector<std::string> clinics;  // sorted, unique
  std::vector<std::string> filters;  // ClinicFilters of each clinic, in clinic order
};

// Every shard of `count`, index order; each clinic appears in exactly one shard.
// REQUIRES: 1 <= count <= kMaxShards, every clinic a valid ID.
std::vector<ShardAssignment> PlanShards(std::span<const std::string> clinics, std::uint32_t count,
                                        std::string_view topic_root);

}  // namespace needlewatch::cluster

#endif  // NEEDLEWATCH_CLUSTER_SHARD_H_
