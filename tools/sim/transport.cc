#include "transport.h"

#include "needlewatch/mqtt/connect.h"
#include "needlewatch/mqtt/paho.h"

#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace needlewatch::sim {
namespace {

using Clock = std::chrono::steady_clock;

// QoS 1 publishes in flight per connection; below mosquitto's default receive maximum (20).
constexpr int kMaxQos1Inflight = 16;
// Paho C refuses a publish (MQTTASYNC_MAX_BUFFERED, -12) when this many wait in its command
// queue for one client; the default is only 100. Our own --max-inflight bound stays below it.
constexpr int kMaxBuffered = 1 << 16;

}  // namespace

struct Transport::Impl {
  struct Conn {
    std::unique_ptr<mqtt::async_client> client;
    std::string client_id;
    int device = -1;  // per-device mode: the device; shared: -1
    mqtt::connect_options options;
    std::atomic<int> inflight{0};       // all unfinished publishes
    std::atomic<int> inflight_qos1{0};  // of which QoS 1 (bounded by the broker's receive maximum)
    std::atomic<bool> connected{false};
    std::atomic<bool> dropped{false};  // the simulator dropped it on purpose
    std::atomic<bool> taking_over{false};  // a Drop() helper still holds the client ID
    // Guarded by Impl::mu:
    bool connecting = false;
    std::vector<int> waiting;  // shared mode: devices waiting for this connection
  };

  // Completes publishes: frees the in-flight slot(s), counts failures.
  class PublishListener : public mqtt::iaction_listener {
   public:
    PublishListener(Impl* impl, bool qos1) : impl_(impl), qos1_(qos1) {}
    void on_success(const mqtt::token& tok) override { Done(tok); }
    void on_failure(const mqtt::token& tok) override {
      Done(tok);
      impl_->failed.fetch_add(1);
      impl_->NoteError("publish failed, rc " + std::to_string(tok.get_return_code()));
    }

   private:
    void Done(const mqtt::token& tok) {
      Conn* c = static_cast<Conn*>(tok.get_user_context());
      c->inflight.fetch_sub(1);
      if (qos1_) c->inflight_qos1.fetch_sub(1);
    }
    Impl* impl_;
    bool qos1_;
  };

  class ConnectListener : public mqtt::iaction_listener {
   public:
    explicit ConnectListener(Impl* impl) : impl_(impl) {}
    void on_success(const mqtt::token& tok) override {
      impl_->OnConnected(static_cast<Conn*>(tok.get_user_context()));
    }
    void on_failure(const mqtt::token& tok) override {
      Conn* c = static_cast<Conn*>(tok.get_user_context());
      impl_->connect_failures.fetch_add(1);
      std::lock_guard lock(impl_->mu);
      c->connecting = false;
      impl_->retry.push_back({c, Clock::now()});
    }

   private:
    Impl* impl_;
  };

  Impl(TransportOptions o, std::vector<std::string> ids)
      : options(std::move(o)), device_ids(std::move(ids)),
        publish_listener(this, false), publish_qos1_listener(this, true),
        connect_listener(this) {}

  // Checks the URL and reads the credentials (from the environment, as the daemon does).
  bool Configure(std::string* error) {
    std::optional<broker::BrokerUrl> url = broker::ParseBrokerUrl(options.url, error);
    if (!url) return false;
    server = url->paho_uri;
    settings.url = *url;
    settings.version = options.mqtt_version;
    settings.clean_start = true;
    settings.keepalive = std::chrono::seconds(20);
    settings.connect_timeout = std::chrono::seconds(5);
    return broker::LoadCredentials("", "", &settings.credentials, error);
  }

  Conn& Make(const std::string& client_id, int device) {
    auto c = std::make_unique<Conn>();
    c->client_id = client_id;
    c->device = device;
    c->client = std::make_unique<mqtt::async_client>(
        server, client_id, broker::MakeCreateOptions(options.mqtt_version, kMaxBuffered));
    broker::MakeConnectOptions(settings, &c->options);
    Conn* raw = c.get();
    auto lost = [this, raw] {
      raw->connected.store(false);
      if (!raw->dropped.load()) connections_lost.fetch_add(1);
    };
    c->client->set_connection_lost_handler([lost](const std::string&) { lost(); });
    c->client->set_disconnected_handler([lost](const mqtt::properties&, mqtt::ReasonCode) {
      lost();
    });
    conns.push_back(std::move(c));
    return *raw;
  }

  void StartConnect(Conn& c) {
    {
      std::lock_guard lock(mu);
      if (c.connecting) return;
      if (c.taking_over.load()) {  // reconnect once the takeover helper has left
        retry.push_back({&c, Clock::now()});
        return;
      }
      c.connecting = true;
    }
    try {
      c.client->connect(c.options, &c, connect_listener);
    } catch (const mqtt::exception&) {
      connect_failures.fetch_add(1);
      std::lock_guard lock(mu);
      c.connecting = false;
      retry.push_back({&c, Clock::now()});
    }
  }

  void OnConnected(Conn* c) {
    c->dropped.store(false);
    c->connected.store(true);
    std::lock_guard lock(mu);
    c->connecting = false;
    if (c->device >= 0) {
      up.push_back(c->device);
    } else {
      up.insert(up.end(), c->waiting.begin(), c->waiting.end());
      c->waiting.clear();
    }
  }

  // Waits (bounded to 5 s) until `counter` < `limit` while `c` stays connected.
  bool WaitBelow(const Conn& c, const std::atomic<int>& counter, int limit) {
    if (counter.load() < limit) return true;
    backpressure_waits.fetch_add(1);
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (counter.load() >= limit) {
      if (!c.connected.load() || Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    return true;
  }

  // Keeps the first error message for the summary.
  void NoteError(const std::string& what) {
    std::lock_guard lock(mu);
    if (first_error.empty()) first_error = what;
  }

  Conn* ConnOf(int device) {
    if (options.per_device) {
      const auto it = by_device.find(device);
      return it == by_device.end() ? nullptr : it->second;
    }
    return conns.empty() ? nullptr
                         : conns[static_cast<std::size_t>(device) % conns.size()].get();
  }

  TransportOptions options;
  std::string server;                 // Paho's URI of options.url
  broker::ConnectSettings settings;   // shared by every connection (Wills are set per device)
  std::vector<std::string> device_ids;
  std::vector<std::unique_ptr<Conn>> conns;
  std::unordered_map<int, Conn*> by_device;  // per-device mode
  PublishListener publish_listener;
  PublishListener publish_qos1_listener;
  ConnectListener connect_listener;

  std::mutex mu;  // guards `up`, `retry`, `first_error` and Conn::connecting/waiting
  std::string first_error;
  std::vector<int> up;
  std::vector<std::pair<Conn*, Clock::time_point>> retry;

  std::vector<std::thread> helpers;  // Drop() takeovers; joined in Shutdown

  std::atomic<std::uint64_t> published{0}, failed{0}, connect_failures{0}, connections_lost{0},
      backpressure_waits{0};
};

Transport::Transport(TransportOptions options, std::vector<std::string> device_ids)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(device_ids))) {}

Transport::~Transport() {
  for (std::thread& t : impl_->helpers) t.join();
}

bool Transport::Start(std::chrono::milliseconds timeout, std::string* error) {
  Impl& m = *impl_;
  if (!m.Configure(error)) {
    *error = "--" + *error;  // the parser names the key "mqtt.url"
    return false;
  }
  if (m.options.per_device) return true;
  try {
    for (int i = 0; i < m.options.shared_connections; ++i) {
      m.StartConnect(m.Make(m.options.client_id_prefix + "-s" + std::to_string(i), -1));
    }
  } catch (const mqtt::exception& e) {
    *error = std::string("MQTT client: ") + e.what();
    return false;
  }
  const auto deadline = Clock::now() + timeout;
  for (auto& c : m.conns) {
    while (!c->connected.load()) {
      if (Clock::now() > deadline) {
        *error = "cannot connect to " + m.options.url + " within " +
                 std::to_string(timeout.count()) + " ms";
        return false;
      }
      std::vector<int> ignored;
      Poll(ignored);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return true;
}

void Transport::Connect(int device, const std::string& will_topic,
                        const std::string& will_payload) {
  Impl& m = *impl_;
  if (!m.options.per_device) {
    Impl::Conn* c = m.ConnOf(device);
    std::lock_guard lock(m.mu);
    if (c->connected.load()) {
      m.up.push_back(device);
    } else {
      c->waiting.push_back(device);
    }
    return;
  }
  Impl::Conn* c = m.ConnOf(device);
  try {
    if (c == nullptr) {
      c = &m.Make(m.options.client_id_prefix + "-" +
                      m.device_ids[static_cast<std::size_t>(device)],
                  device);
      m.by_device[device] = c;
    }
    // The Will carries the time of this connect (protocol/README.md, Payloads: fixed at connect time).
    c->options.set_will(mqtt::will_options(will_topic, will_payload, 1, true));
  } catch (const mqtt::exception&) {
    m.connect_failures.fetch_add(1);
    return;
  }
  m.StartConnect(*c);
}

bool Transport::Publish(int device, const std::string& topic, const std::string& payload,
                        int qos, bool retain) {
  Impl& m = *impl_;
  Impl::Conn* c = m.ConnOf(device);
  if (c == nullptr || !c->connected.load()) {
    m.failed.fetch_add(1);
    m.NoteError("publish: not connected");
    return false;
  }
  // Bounded in flight: wait for Paho's send thread (and, for QoS 1, the broker's PUBACKs) to
  // catch up. QoS 1 has its own, smaller bound: the broker's receive maximum (mosquitto: 20
  // per client), beyond which Paho refuses the publish.
  if (!m.WaitBelow(*c, c->inflight, m.options.max_inflight) ||
      (qos > 0 && !m.WaitBelow(*c, c->inflight_qos1, kMaxQos1Inflight))) {
    m.failed.fetch_add(1);
    m.NoteError("publish: no progress on the connection for 5 s");
    return false;
  }
  c->inflight.fetch_add(1);
  if (qos > 0) c->inflight_qos1.fetch_add(1);
  try {
    c->client->publish(topic, payload.data(), payload.size(), qos, retain, c,
                       qos > 0 ? m.publish_qos1_listener : m.publish_listener);
  } catch (const mqtt::exception& e) {
    c->inflight.fetch_sub(1);
    if (qos > 0) c->inflight_qos1.fetch_sub(1);
    m.failed.fetch_add(1);
    m.NoteError(std::string("publish: ") + e.what());
    return false;
  }
  m.published.fetch_add(1);
  return true;
}

void Transport::Drop(int device) {
  Impl& m = *impl_;
  Impl::Conn* c = m.ConnOf(device);
  if (c == nullptr || !m.options.per_device) return;
  c->dropped.store(true);
  // Mark it down at once so no publish races the takeover; Paho reports the loss later.
  c->connected.store(false);
  c->taking_over.store(true);
  // The takeover runs on its own thread: a Paho connect can take a second, and the loop must
  // keep every other device on time meanwhile.
  m.helpers.emplace_back([&m, c, id = c->client_id] {
    try {
      mqtt::async_client helper(m.server, id,
                                broker::MakeCreateOptions(m.options.mqtt_version, kMaxBuffered));
      mqtt::connect_options takeover;
      broker::MakeConnectOptions(m.settings, &takeover);
      helper.connect(takeover)->wait_for(std::chrono::seconds(5));
      helper.disconnect()->wait_for(std::chrono::seconds(5));
    } catch (const mqtt::exception&) {
      m.connect_failures.fetch_add(1);
    }
    c->taking_over.store(false);
  });
}

void Transport::Poll(std::vector<int>& out) {
  Impl& m = *impl_;
  std::vector<Impl::Conn*> again;
  {
    std::lock_guard lock(m.mu);
    out.insert(out.end(), m.up.begin(), m.up.end());
    m.up.clear();
    const auto now = Clock::now();
    for (auto it = m.retry.begin(); it != m.retry.end();) {
      if (now - it->second >= std::chrono::seconds(1)) {
        again.push_back(it->first);
        it = m.retry.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Impl::Conn* c : again) m.StartConnect(*c);
}

void Transport::Shutdown(std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  for (std::thread& t : m.helpers) t.join();
  m.helpers.clear();
  const auto deadline = Clock::now() + timeout;
  for (auto& c : m.conns) {
    while (c->connected.load() && c->inflight.load() > 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  std::vector<mqtt::token_ptr> tokens;
  for (auto& c : m.conns) {
    if (!c->connected.load()) continue;
    c->dropped.store(true);  // an orderly end, not a lost connection
    try {
      tokens.push_back(c->client->disconnect());
    } catch (const mqtt::exception&) {
    }
  }
  for (auto& t : tokens) {
    try {
      t->wait_for(std::chrono::seconds(5));
    } catch (const mqtt::exception&) {
    }
  }
}

TransportStats Transport::stats() const {
  Impl& m = *impl_;
  TransportStats s;
  s.published = m.published.load();
  s.failed = m.failed.load();
  s.connect_failures = m.connect_failures.load();
  s.connections_lost = m.connections_lost.load();
  s.backpressure_waits = m.backpressure_waits.load();
  std::lock_guard lock(impl_->mu);
  s.first_error = m.first_error;
  return s;
}

}  // namespace needlewatch::sim
