// MQTT side of the simulator: Paho C++ async clients, one per device (each with its own Last
// Will) or a few shared ones. Publishes are asynchronous with a bounded number in flight per
// connection. See README.md ("Connections").
// Not thread-safe: every member is called from the simulator's loop thread; Paho's callbacks
// only touch atomics and the mutex-guarded queues inside.
#ifndef NEEDLEWATCH_TOOLS_SIM_TRANSPORT_H_
#define NEEDLEWATCH_TOOLS_SIM_TRANSPORT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace needlewatch::sim {

struct TransportOptions {
  std::string url = "mqtt://127.0.0.1:1883";  // mqtt://host:port (tcp:// also accepted)
  int mqtt_version = 5;                       // 4 (3.1.1) or 5
  bool per_device = true;                     // false: devices share `shared_connections`
  int shared_connections = 4;
  int max_inflight = 512;                     // unacknowledged publishes per connection
  std::string client_id_prefix = "nwsim";     // client ID: prefix-{clinic}-{device} or prefix-s{n}
};

struct TransportStats {
  std::uint64_t published = 0;         // handed to Paho
  std::uint64_t failed = 0;            // not connected, rejected by Paho, or failed later
  std::uint64_t connect_failures = 0;
  std::uint64_t connections_lost = 0;  // besides the ones the simulator dropped on purpose
  std::uint64_t backpressure_waits = 0;
  std::string first_error;             // the first failure, for the summary ("" = none)
};

class Transport {
 public:
  // `device_ids[i]` is "{clinic}-{device}" of device i (for client IDs).
  Transport(TransportOptions options, std::vector<std::string> device_ids);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Shared mode: connects the shared connections and waits until they are up. Returns false
  // (with *error set) when the broker cannot be reached within `timeout`.
  // Per-device mode: checks the URL only.
  bool Start(std::chrono::milliseconds timeout, std::string* error);

  // Opens the device's connection with a retained QoS 1 Last Will (per-device mode), or
  // attaches the device to its shared connection. Completion shows in TakeConnected.
  void Connect(int device, const std::string& will_topic, const std::string& will_payload);

  // Publishes asynchronously. Blocks (briefly) while the connection has max_inflight
  // publishes outstanding. Returns false when the message could not be handed over.
  bool Publish(int device, const std::string& topic, const std::string& payload, int qos,
               bool retain);

  // Ends the device's connection without a DISCONNECT from it: a second client takes over the
  // client ID, so the broker closes the old network connection and publishes its Will
  // (MQTT 3.1.1 §3.1.4 and 5.0 §3.1.4). Per-device mode only.
  void Drop(int device);

  // Moves the devices whose connection came up since the last call into `out`, and retries
  // connections that failed more than a second ago.
  void Poll(std::vector<int>& out);

  // Waits up to `timeout` for in-flight publishes, then disconnects everything cleanly.
  void Shutdown(std::chrono::milliseconds timeout);

  TransportStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace needlewatch::sim

#endif  // NEEDLEWATCH_TOOLS_SIM_TRANSPORT_H_
