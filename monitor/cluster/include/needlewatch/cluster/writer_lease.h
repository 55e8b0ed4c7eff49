// The writer lease of a pair of monitor replicas (docs/cluster.md, "Paired monitors"): both
// replicas of a shard process everything, and exactly one of them — the lease holder — writes
// the shard's retained alarm topics and sends `halt`s. The lease is a retained message on
// needlewatch/shard/{shard}/writer naming the holder's instance; a replica's liveness is its
// retained needlewatch/{instance}/status (online, and the broker's Last Will `offline`).
//
//   - A replica claims (publishes itself as holder) when, connected and settled, the lease names
//     no one, or a peer whose status is not online. It re-claims at most every 3 settle times.
//   - It is the writer while the lease names it, unchanged for one settle time, and it is
//     connected and settled. Both replicas see every claim in the broker's order, so two claims at
//     once end with the same holder on both (the last one), and neither writes before settling.
//   - Sticky: a replica that comes back finds the other named and online, and follows.
//   - Heartbeats (heartbeat_timeout_ns > 0): each replica publishes one every timeout / 5 on
//     needlewatch/shard/{shard}/heartbeat/{instance}. A holder whose heartbeats stop for the
//     timeout counts as gone although its status still says online: its event loop hung while
//     the connection (kept by the MQTT library's own thread) keeps the Will from firing. Only
//     once this replica's own heartbeat has come back on its connection: where heartbeats do
//     not flow (a broker ACL refusing the topic), silence proves nothing and the status alone
//     counts. A peer that sends none (an older version) is deposed once, and then follows.
//   - A replica whose own Poll()s stopped for the timeout (its loop stalled) settles again, and a
//     holder then writes only once its next heartbeat has come back from the broker: everything
//     the broker ordered before it, such as the peer's claim made meanwhile, has been read.
//
// Peers are the instances that share this one's name up to its replica letter ("shard0-a" →
// "shard0-b", …). Pure: time is passed in (ns); no I/O. Not thread-safe.
#ifndef NEEDLEWATCH_CLUSTER_WRITER_LEASE_H_
#define NEEDLEWATCH_CLUSTER_WRITER_LEASE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace needlewatch::cluster {

class WriterLease {
 public:
  // `self`: this replica's instance, ending in "-{letter}". `settle_ns`: how long retained
  // state may take to arrive after subscribing, and how long a claim must stand before its
  // holder writes.
  // `heartbeat_timeout_ns`: 0 = no heartbeats (status and Will alone).
  WriterLease(std::string self, std::uint32_t shard, std::int64_t settle_ns,
              std::int64_t heartbeat_timeout_ns = 0);

  // needlewatch/shard/{shard}/writer, retained QoS 1.
  const std::string& lease_topic() const { return lease_topic_; }
  // The monitors' status topics: needlewatch/+/status.
  static constexpr std::string_view kStatusFilter = "needlewatch/+/status";
  // needlewatch/shard/{shard}/heartbeat/{self} (QoS 0, not retained), and the filter for the
  // shard's replicas' heartbeats, its own included.
  const std::string& heartbeat_topic() const { return heartbeat_topic_; }
  std::string heartbeat_filter() const;

  // Connected with the lease and status subscriptions granted (true), or the connection lost.
  void SetUp(bool up, std::int64_t now);
  // A message on the lease or a status topic. False when it is neither (not for the lease).
  bool OnMessage(std::string_view topic, std::string_view payload, std::int64_t now);
  // Re-evaluates at `now`: returns a claim to publish on lease_topic() (retained, QoS 1), if one
  // is due, and updates writer().
  std::optional<std::string> Poll(std::int64_t now);
  // A heartbeat to publish on heartbeat_topic(), when one is due (connected, heartbeats on).
  std::optional<std::string> Heartbeat(std::int64_t now);

  bool writer() const { return writer_; }
  const std::string& holder() const { return holder_; }

  // The payload of a claim, {"v":1,"holder":"…","ts":…}, and the holder it names ("" when the
  // payload is empty or not a claim).
  static std::string ClaimPayload(std::string_view holder, std::int64_t now);
  static std::string HolderOf(std::string_view payload);

 private:
  bool PeerOnline(const std::string& instance) const;
  bool PeerSilent(const std::string& instance, std::int64_t now) const;
  void OnHeartbeat(std::string_view instance, std::string_view payload, std::int64_t now);

  std::string self_;
  std::string peer_prefix_;  // self_ without its replica letter
  std::string lease_topic_;
  std::int64_t settle_;
  bool up_ = false;
  std::int64_t up_since_ = 0;
  std::string holder_;
  std::int64_t holder_since_ = 0;
  std::optional<std::int64_t> last_claim_;
  std::map<std::string, bool, std::less<>> online_;  // peers' last status
  bool writer_ = false;

  std::int64_t timeout_;  // heartbeats: 0 = off
  std::string heartbeat_topic_;
  std::map<std::string, std::int64_t, std::less<>> heard_;  // peers' last heartbeat, received at
  std::uint64_t beats_ = 0;                   // heartbeats published
  std::optional<std::int64_t> last_beat_;     // when the last one was
  std::optional<std::int64_t> last_poll_;
  bool echoed_ = false;  // its own heartbeat came back since it connected
  // After a stall: the heartbeat whose echo lets a holder write again, and until when at most.
  std::optional<std::uint64_t> resume_beat_;
  std::int64_t resume_deadline_ = 0;
};

}  // namespace needlewatch::cluster

#endif  // NEEDLEWATCH_CLUSTER_WRITER_LEASE_H_
