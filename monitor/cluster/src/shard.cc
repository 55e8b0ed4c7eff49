#include "needlewatch/cluster/shard.h"

#include <algorithm>
#include <cassert>

#include "needlewatch/protocol/topic.h"  // IsValidId

// xxHash is used header-only (Debian libxxhash-dev): the functions are inlined here, so
// nothing is linked and no other file sees the header.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace needlewatch::cluster {
namespace {

std::vector<std::string> SortedUnique(std::span<const std::string> clinics) {
  std::vector<std::string> v(clinics.begin(), clinics.end());
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::string Filter(std::string_view root, std::string_view clinic_level) {
  std::string f;
  f.reserve(root.size() + clinic_level.size() + 12);
  f.append(root).append("/").append(clinic_level).append("/device/+/+");
  return f;
}

}  // namespace

std::uint64_t RendezvousWeight(std::string_view clinic, std::uint32_t shard) {
  return XXH64(clinic.data(), clinic.size(), static_cast<XXH64_hash_t>(shard));
}

std::uint32_t ShardOf(std::string_view clinic, std::uint32_t shard_count) {
  assert(shard_count >= 1 && shard_count <= kMaxShards);
  std::uint32_t best = 0;
  std::uint64_t best_weight = RendezvousWeight(clinic, 0);
  for (std::uint32_t i = 1; i < shard_count; ++i) {
    // Strictly greater: on a (64-bit, practically impossible) tie the lower index keeps it,
    // so adding a shard never moves a clinic on a tie.
    if (std::uint64_t w = RendezvousWeight(clinic, i); w > best_weight) {
      best = i;
      best_weight = w;
    }
  }
  return best;
}

std::string ClinicFilter(std::string_view topic_root, std::string_view clinic) {
  assert(protocol::IsValidId(clinic));
  return Filter(topic_root, clinic);
}

std::string WildcardFilter(std::string_view topic_root) { return Filter(topic_root, "+"); }

std::vector<std::string> ShardClinics(std::span<const std::string> clinics, std::uint32_t index,
                                      std::uint32_t count) {
  assert(index < count && count <= kMaxShards);
  std::vector<std::string> mine;
  for (auto& c : SortedUnique(clinics)) {
    if (ShardOf(c, count) == index) mine.push_back(std::move(c));
  }
  return mine;
}

std::vector<std::string> ShardFilters(std::span<const std::string> clinics, std::uint32_t index,
                                      std::uint32_t count, std::string_view topic_root) {
  std::vector<std::string> out;
  for (const auto& c : ShardClinics(clinics, index, count)) {
    out.push_back(ClinicFilter(topic_root, c));
  }
  return out;
}

std::vector<ShardAssignment> PlanShards(std::span<const std::string> clinics, std::uint32_t count,
                                        std::string_view topic_root) {
  assert(count >= 1 && count <= kMaxShards);
  std::vector<ShardAssignment> plan(count);
  for (std::uint32_t i = 0; i < count; ++i) plan[i].index = i;
  for (auto& c : SortedUnique(clinics)) {  // sorted input keeps each shard's list sorted
    plan[ShardOf(c, count)].clinics.push_back(std::move(c));
  }
  for (auto& s : plan) {
    for (const auto& c : s.clinics) s.filters.push_back(ClinicFilter(topic_root, c));
  }
  return plan;
}

}  // namespace needlewatch::cluster
