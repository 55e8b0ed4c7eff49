// The daemon's part in a cluster (docs/cluster.md): shard admission, and a paired replica's
// writer lease handed to the live monitor. Loop thread only.
#ifndef NEEDLEWATCH_DAEMON_PAIR_WIRING_H_
#define NEEDLEWATCH_DAEMON_PAIR_WIRING_H_

#include "live_monitor.h"
#include "mqtt_client.h"
#include "needlewatch/cluster/writer_lease.h"
#include "needlewatch/config/config.h"
#include "needlewatch/engine/types.h"

namespace needlewatch::daemon {

// A pair's writer lease: how long retained state may take to arrive, and how long a claim
// stands before its holder writes.
inline constexpr engine::TimeNs kLeaseSettle = engine::kNsPerSec;

// cluster.shard_count > 1: the engine admits only this shard's clinics (the rest are rejected
// not_assigned, counted), whatever the subscriptions let through. Logs the shard and its filters.
void ApplyShard(config::Config& cfg);

// A paired replica: publishes a claim on the lease topic and a heartbeat when one is due, and
// hands the live monitor the role the lease gives it (writer: alarm topics and halts; follower:
// neither). Called on every lease, status or heartbeat message, connection change and tick,
// and, with cluster.writer_timeout, by the writer before each message it handles (a stalled
// writer stops before it writes).
void PollLease(cluster::WriterLease& lease, engine::TimeNs now, MqttClient& mqtt,
               LiveMonitor& monitor);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_PAIR_WIRING_H_
