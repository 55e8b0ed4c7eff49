// The daemon's MQTT adapter over Paho C++ 1.2 (connect settings from needlewatch::mqtt). Paho's
// callbacks (on Paho's thread) only queue the message (a view into Paho's own message, no copy)
// or the event for the io_context; every MqttEvents callback runs on the io_context thread.
// Paho exceptions never leave this class.
//
// Session: stable client id, QoS 1 subscriptions, persistent session unless clean_session
// (MQTT 5: Session-Expiry-Interval of one day), Last Will = retained offline status, online
// status published (retained) on every connect, subscriptions renewed on every connect where
// the broker did not report a kept session. Reconnects after a loss are Paho's automatic
// reconnect; a failed first connect (broker down, bad credentials) is retried here with the
// same min/max backoff, forever, with the reason logged each time. A subscription the broker
// refuses (SUBACK 0x80: NATS while its JetStream leaders are elected) is subscribed again with
// the same backoff while connected; the client is not ready until every one is granted.
//
// MQTT 3.1.1 (connect.version 4, e.g. NATS): no no_local (our own alarm publications come back
// and match what the monitor holds), no message expiry (a `halt` is still never handed to the
// broker late, but a broker may deliver one it holds late), no session expiry (the broker keeps
// the session until a clean connect). Logged once at start.
//
// Outgoing messages are buffered in memory (up to kMaxBuffered) while disconnected; nothing is
// written to disk.
//
// Not thread-safe: call every method on the io_context thread (Start may also be called
// before run()).
#ifndef NEEDLEWATCH_DAEMON_MQTT_CLIENT_H_
#define NEEDLEWATCH_DAEMON_MQTT_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "alarm_output.h"
#include "needlewatch/mqtt/connect.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace needlewatch::daemon {

struct MqttOptions {
  // URL, version, session, keepalive, reconnect backoff, credentials, TLS and the Last Will
  // (the offline status). clean_start false: the broker keeps our session and QoS 1 messages.
  broker::ConnectSettings connect;
  std::string client_id;
  std::vector<std::string> subscriptions;
  // Filters watched on every connect, with the broker's retained messages each time and (MQTT 5)
  // without our own publications echoed back: the monitor's retained alarm topics.
  std::vector<std::string> watch;
  // Filters subscribed on every connect with the broker's retained messages each time and our
  // own publications included, always at QoS 1: a pair's writer lease, the monitors' status
  // topics and the pair's heartbeats.
  std::vector<std::string> control;
  int qos = 1;
  // Messages received and not yet handled on the loop, at most. When full, a QoS 0 message is
  // dropped (counted) and a QoS 1/2 one holds Paho's receive thread until there is room, so the
  // backlog stays with the broker (flow control) instead of in memory.
  std::size_t inbox_capacity = 10000;
  std::function<Publication()> online;     // the online status, built at each connect
};

// A received message without a copy: `topic` and `payload` view the MQTT library's own message,
// which `owner` keeps alive (copy the strings to keep them longer than the message).
struct InboundMessage {
  std::shared_ptr<const void> owner;
  std::string_view topic;
  std::string_view payload;
  int qos = 0;
  bool retain = false;
};

// All called on the io_context thread. Any may be empty.
struct MqttEvents {
  std::function<void(InboundMessage&&)> on_message;
  // After each batch of on_message calls (at most kDrainBatch), before other handlers run.
  std::function<void()> on_batch_end;
  std::function<void(bool reconnect)> on_connected;
  std::function<void()> on_subscribed;
  std::function<void(const std::string& reason)> on_connection_lost;
};

class MqttClient {
 public:
  static constexpr int kMaxBuffered = 10000;

  MqttClient(boost::asio::io_context& io, MqttOptions options, MqttEvents events);
  ~MqttClient();
  MqttClient(const MqttClient&) = delete;
  MqttClient& operator=(const MqttClient&) = delete;

  // Creates the Paho client and starts connecting. Returns false with `error` when Paho
  // refuses the options (malformed URI, unreadable TLS files); connection failures are not
  // errors here, they are retried.
  bool Start(std::string* error);

  // Sends one message (QoS/retain as given). Never throws; a refused publish is counted and
  // logged (rate-limited). A message with an expiry is sent only while connected (MQTT 5: with
  // its message expiry interval): false means it was not handed over. Without an expiry it is
  // buffered while disconnected (up to kMaxBuffered, oldest dropped first) and true is returned.
  // Flow control: at most 1,000 publications are with Paho (sent, not yet acknowledged by the
  // broker) at once; beyond that they wait in order, except retained ones, which wait
  // conflated per topic (the latest state wins). Stop() sends whatever still waits.
  bool Publish(const Publication& p);

  // Publishes `last` (the offline status), disconnects waiting at most `timeout`, and stops
  // delivering events. Idempotent.
  void Stop(const Publication& last, std::chrono::milliseconds timeout);

  bool connected() const;
  // Connected and every subscription acknowledged.
  bool ready() const;
  // Why not ready ("connecting", "connection lost: …", "subscribing", "bad username or
  // password", …); "" when ready.
  std::string not_ready_reason() const;

  std::int64_t queue_depth() const;  // messages received and not yet handled on the loop
  std::uint64_t inbox_dropped() const;    // QoS 0 messages dropped with the inbox full
  std::uint64_t inbox_throttled() const;  // times Paho's thread waited for room in the inbox
  std::uint64_t reconnects() const;
  std::uint64_t connection_lost() const;
  // Retained publications replaced by a later state of the same topic before their turn
  // (outgoing flow control: at most kMaxPublishing with Paho at once).
  std::uint64_t publications_conflated() const;
  std::uint64_t publish_failures() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_MQTT_CLIENT_H_
