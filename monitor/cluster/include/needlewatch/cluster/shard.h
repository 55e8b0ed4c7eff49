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

// The filter a monitor subscribes to for one clinic: {root}/{clinic}/device/+/+ (every
// device topic of the clinic; the monitor ignores its own `command` topics, uncounted). One
// filter, not one per channel: on NATS each QoS 1 subscription is a separate JetStream
// consumer, and a pen's event and telemetry messages split over two of them reach the monitor
// out of order (docs/cluster.md, "Ordering"). One filter per clinic also keeps a shard's
// consumers and in-flight windows to the number of its clinics.
// REQUIRES: `clinic` is a valid ID (protocol::IsValidId), `root` a topic prefix.
std::string ClinicFilter(std::string_view topic_root, std::string_view clinic);

// Every device topic of every clinic, one filter: {root}/+/device/+/+. A shard that subscribes
// to it relies on the daemon refusing clinics outside its share (admission mode).
std::string WildcardFilter(std::string_view topic_root);

// The clinics of `clinics` that shard `index` of `count` owns: sorted, without duplicates.
// REQUIRES: index < count <= kMaxShards.
std::vector<std::string> ShardClinics(std::span<const std::string> clinics, std::uint32_t index,
                                      std::uint32_t count);

// ClinicFilter of every clinic ShardClinics returns, in that order.
// REQUIRES: as ShardClinics, and every clinic a valid ID.
std::vector<std::string> ShardFilters(std::span<const std::string> clinics, std::uint32_t index,
                                      std::uint32_t count, std::string_view topic_root);

// One shard of a plan.
struct ShardAssignment {
  std::uint32_t index = 0;
  std::vector<std::string> clinics;  // sorted, unique
  std::vector<std::string> filters;  // ClinicFilter of each clinic, in clinic order
};

// Every shard of `count`, index order; each clinic appears in exactly one shard.
// REQUIRES: 1 <= count <= kMaxShards, every clinic a valid ID.
std::vector<ShardAssignment> PlanShards(std::span<const std::string> clinics, std::uint32_t count,
                                        std::string_view topic_root);

}  // namespace needlewatch::cluster

#endif  // NEEDLEWATCH_CLUSTER_SHARD_H_
