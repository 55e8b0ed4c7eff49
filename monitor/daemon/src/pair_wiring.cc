#include "pair_wiring.h"

#include <optional>
#include <string>
#include <utility>

#include "log.h"
#include "needlewatch/cluster/shard.h"

namespace needlewatch::daemon {

void ApplyShard(config::Config& cfg) {
  const config::ClusterConfig& k = cfg.cluster;
  if (k.shard_count <= 1 && k.replica.empty()) return;
  std::string filters;
  for (const std::string& f : cfg.mqtt.subscriptions) filters += (filters.empty() ? "" : " ") + f;
  if (filters.empty()) filters = cluster::WildcardFilter(cfg.mqtt.topic_root);
  log::Info("shard", {{"shard_index", static_cast<unsigned long long>(k.shard_index)},
                      {"shard_count", static_cast<unsigned long long>(k.shard_count)},
                      {"replica", k.replica},
                      {"filters", filters},
                      {"admission", k.shard_count > 1 ? "own clinics only" : "every clinic"}});
  if (k.shard_count <= 1) return;
  // ShardOf hashes the clinic once per shard (XXH64 of a short ID: tens of ns each).
  cfg.engine.assigned = [index = k.shard_index, count = k.shard_count](std::string_view clinic) {
    return cluster::ShardOf(clinic, count) == index;
  };
}

void PollLease(cluster::WriterLease& lease, engine::TimeNs now, MqttClient& mqtt,
               LiveMonitor& monitor) {
  if (std::optional<std::string> claim = lease.Poll(now)) {
    log::Info("claiming the writer lease",
              {{"lease", lease.lease_topic()}, {"previous_holder", lease.holder()}});
    mqtt.Publish({lease.lease_topic(), std::move(*claim), 1, true, 0});
  }
  if (std::optional<std::string> beat = lease.Heartbeat(now)) {
    // QoS 1 like the claims (the control subscriptions are QoS 1: one delivery path, one
    // order), expiring: a heartbeat late by seconds would vouch for a loop that was stuck.
    mqtt.Publish({lease.heartbeat_topic(), std::move(*beat), 1, false, 2});
  }
  if (lease.writer() != monitor.writer()) {
    log::Warn(lease.writer() ? "writer: publishing alarm topics and halts"
                             : "follower: alarm topics and halts left to the writer",
              {{"holder", lease.holder()}, {"lease", lease.lease_topic()}});
    monitor.SetWriter(lease.writer());
  }
}

}  // namespace needlewatch::daemon
