#include "mqtt_client.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <future>
#include "log.h"
#include "needlewatch/mqtt/paho.h"
#include "needlewatch/mqtt/tcp_nodelay.h"

namespace needlewatch::daemon {
namespace {

namespace asio = boost::asio;

}  // namespace

// The first-connect retry backoff: Paho's automatic reconnect settings, at least 1 s.
std::chrono::milliseconds ReconnectMin(const MqttOptions& o) {
  return o.connect.reconnect ? std::chrono::milliseconds(o.connect.reconnect->first)
                             : std::chrono::milliseconds(1000);
}
std::chrono::milliseconds ReconnectMax(const MqttOptions& o) {
  return o.connect.reconnect ? std::chrono::milliseconds(o.connect.reconnect->second)
                             : std::chrono::milliseconds(30000);
}

class MqttClient::Impl : public std::enable_shared_from_this<MqttClient::Impl> {
 public:
  Impl(asio::io_context& io, MqttOptions options, MqttEvents events)
      : io_(io),
        retry_timer_(io),
        subscribe_retry_timer_(io),
        opts_(std::move(options)),
        events_(std::move(events)),
        backoff_(ReconnectMin(opts_)),
        connect_listener_(this),
        subscribe_listener_(this),
        publish_listener_(this) {}

  bool Start(std::string* error);
  bool Publish(const Publication& p);
  // Hands one publication to the Paho caller thread (counted in publishing_).
  bool Send(const Publication& p);
  // Loop thread: one of this client generation's publications completed (or failed).
  void OnPublishDone(std::uintptr_t generation);
  // Sends what waits, while fewer than kMaxPublishing are with Paho (all of it when `all`).
  void SendWaiting(bool all = false);
  // Publications with Paho at most: beyond it they wait in publish_fifo_/publish_latest_.
  static constexpr std::size_t kMaxPublishing = 1000;
  // No completion for this long while connected and at the limit: Paho lost track of some
  // (a buffered message dropped as oldest completes nothing); start counting afresh.
  static constexpr std::chrono::seconds kPublishStall{10};
  // Loop → the Paho caller thread. Paho C holds its client mutex while its receive thread runs
  // our message callback, and that callback waits for room in the inbox when it is full (flow
  // control): a loop that called Paho (publish, subscribe) then would wait for that mutex and
  // never drain the inbox — a deadlock seen under an alarm storm at 4,000 msg/s. So the loop
  // never calls into a connected Paho client itself: publish and subscribe run on this one
  // thread, in the order posted, and may wait there while the loop keeps draining.
  template <typename F>
  void OnPaho(F&& f) {
    asio::post(paho_, std::forward<F>(f));
  }
  void NotePublishFailure(const std::string& topic, const std::string& what);
  void Stop(const Publication& last, std::chrono::milliseconds timeout);

  // Paho thread → loop.
  template <typename F>
  void PostToLoop(F&& f) {
    asio::post(io_, [weak = weak_from_this(), f = std::forward<F>(f)]() mutable {
      if (auto self = weak.lock()) {
        if (!self->stopping_) f(*self);
      }
    });
  }

  // Paho thread: hands one message to the loop. Messages go into one inbox, and a drain is
  // posted only when none is pending, so a burst costs the loop one wake-up, not one per
  // message (and no handler allocation per message).
  void Enqueue(InboundMessage&& m);
  // Loop thread: delivers what the inbox holds, one batch at a time, so timers, HTTP and
  // connection events get their turn between batches.
  void DrainInbox();
  void PostDrain();
  // A batch ends after kDrainBatch messages or kDrainBudget, whichever comes first: under an
  // alarm storm 256 messages take ~20 ms, and an HTTP request needs several loop turns (accept,
  // read, write), each of which may wait for one batch: /healthz stays well within 100 ms.
  static constexpr std::size_t kDrainBatch = 256;
  static constexpr std::chrono::milliseconds kDrainBudget{4};

  // The broker for the log: its URL, or every node of mqtt.urls.
  std::string Where() const {
    if (opts_.connect.servers.size() <= 1) return opts_.connect.url.display;
    std::string out;
    for (const broker::BrokerUrl& u : opts_.connect.servers) {
      out += (out.empty() ? "" : ",") + u.display;
    }
    return out;
  }

  // Loop-thread handlers.
  void OnConnected(bool session_present);
  void OnConnectFailed(int rc, int reason);
  void OnConnectionLost(const std::string& cause);
  void OnSubscribed(bool ok, const std::string& why, std::vector<std::string> filters = {});
  // Subscribes `filter` with the options of the list it belongs to (devices, watch, control).
  void SubscribeOne(const std::string& filter);
  // Subscribes the refused filters again after the backoff, while connected.
  void RetryRefused();
  void DoConnect();
  void CreateClient();
  // Subscribes the watched filters, and the device filters too when `devices`.
  void DoSubscribe(bool devices);

  // Listeners live as long as Impl, which outlives the Paho client (cli_ is reset in Stop
  // and destroyed first in ~Impl).
  class ConnectListener : public mqtt::iaction_listener {
   public:
    explicit ConnectListener(Impl* impl) : impl_(impl) {}
    void on_success(const mqtt::token& tok) override {
      try {
        impl_->session_present_ = tok.get_connect_response().is_session_present();
      } catch (...) {
        impl_->session_present_ = false;
      }
    }
    void on_failure(const mqtt::token& tok) override {
      const int rc = tok.get_return_code();
      const int reason = static_cast<int>(tok.get_reason_code());
      impl_->PostToLoop([rc, reason](Impl& self) { self.OnConnectFailed(rc, reason); });
    }

   private:
    Impl* impl_;
  };

  class SubscribeListener : public mqtt::iaction_listener {
   public:
    explicit SubscribeListener(Impl* impl) : impl_(impl) {}
    void on_success(const mqtt::token& tok) override {
      std::string why;
      try {
        const mqtt::subscribe_response rsp = tok.get_subscribe_response();
        for (mqtt::ReasonCode rc : rsp.get_reason_codes()) {
          if (static_cast<int>(rc) >= 0x80) why = "broker refused a subscription (reason " +
                                                  std::to_string(static_cast<int>(rc)) + ")";
        }
      } catch (...) {
        // No per-filter codes available (MQTT 3.1.1): success as reported.
      }
      impl_->PostToLoop([why, filters = Filters(tok)](Impl& self) mutable {
        self.OnSubscribed(why.empty(), why, std::move(filters));
      });
    }
    void on_failure(const mqtt::token& tok) override {
      // MQTT 3.1.1: Paho reports a SUBACK 0x80 as a failure with rc 0x80.
      const std::string why = "subscribe failed (rc " + std::to_string(tok.get_return_code()) +
                              ", reason " +
                              std::to_string(static_cast<int>(tok.get_reason_code())) + ")";
      impl_->PostToLoop([why, filters = Filters(tok)](Impl& self) mutable {
        self.OnSubscribed(false, why, std::move(filters));
      });
    }
    // The filters a SUBSCRIBE token was for (one per token: DoSubscribe sends them one by one).
    static std::vector<std::string> Filters(const mqtt::token& tok) {
      std::vector<std::string> out;
      try {
        if (auto topics = tok.get_topics()) {
          for (std::size_t i = 0; i < topics->size(); ++i) out.push_back((*topics)[i]);
        }
      } catch (...) {
      }
      return out;
    }

   private:
    Impl* impl_;
  };

  // Completions of publications: the user context carries the client generation they were
  // sent with.
  class PublishListener : public mqtt::iaction_listener {
   public:
    explicit PublishListener(Impl* impl) : impl_(impl) {}
    void on_success(const mqtt::token& tok) override { Done(tok); }
    void on_failure(const mqtt::token& tok) override {
      const std::string topic = TopicOf(tok);
      const std::string what = "not delivered (rc " + std::to_string(tok.get_return_code()) + ")";
      impl_->PostToLoop([topic, what](Impl& s) { s.NotePublishFailure(topic, what); });
      Done(tok);
    }

   private:
    void Done(const mqtt::token& tok) {
      const auto gen = reinterpret_cast<std::uintptr_t>(tok.get_user_context());
      impl_->PostToLoop([gen](Impl& s) { s.OnPublishDone(gen); });
    }
    static std::string TopicOf(const mqtt::token& tok) {
      try {
        if (auto topics = tok.get_topics(); topics && topics->size() > 0) return (*topics)[0];
      } catch (...) {
      }
      return "";
    }
    Impl* impl_;
  };

  asio::io_context& io_;
  asio::steady_timer retry_timer_;
  asio::steady_timer subscribe_retry_timer_;
  std::vector<std::string> refused_;  // filters the broker refused, to subscribe again
  std::chrono::milliseconds subscribe_backoff_{1000};
  MqttOptions opts_;
  MqttEvents events_;
  std::shared_ptr<mqtt::async_client> cli_;  // shared with jobs on the Paho caller thread
  asio::thread_pool paho_{1};               // the Paho caller thread (OnPaho)
  mqtt::connect_options connect_options_;  // for cli_; see CreateClient
  std::uint64_t failed_connects_ = 0;

  // Shared with Paho's thread.
  std::mutex inbox_mu_;
  std::vector<InboundMessage> inbox_;  // guarded by inbox_mu_; oldest first
  bool drain_scheduled_ = false;       // guarded by inbox_mu_: a DrainInbox is pending
  std::atomic<std::int64_t> queue_depth_{0};  // in the inbox or taken and not yet delivered
  std::condition_variable room_;               // with inbox_mu_: the inbox has room again
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> throttled_{0};
  std::atomic<bool> session_present_{false};
  std::atomic<bool> stopping_{false};
  bool closed_ = false;  // loop thread: Stop has drained the inbox; nothing is delivered after

  // Loop-thread state.
  std::vector<InboundMessage> draining_;  // taken from inbox_, delivered from drain_pos_ on
  std::size_t drain_pos_ = 0;
  bool connected_ = false;
  bool subscribed_ = false;
  bool ever_connected_ = false;
  bool subscribed_once_ = false;
  std::size_t pending_subscriptions_ = 0;  // SUBACKs still awaited
  bool subscribe_failed_ = false;
  std::string reason_ = "connecting";
  std::chrono::milliseconds backoff_;
  std::uint64_t reconnects_ = 0;
  std::uint64_t lost_ = 0;
  std::atomic<std::uint64_t> publish_failures_{0};
  std::chrono::steady_clock::time_point last_publish_warning_{};

  // Outgoing flow control (loop thread). A storm of alarm transitions faster than the broker
  // takes them used to pile up in Paho's queue without bound (360 MiB at 15,000 transitions/s).
  // Now at most kMaxPublishing are with Paho; the rest wait: retained ones (alarm topics,
  // status) conflated per topic, the latest state wins (the audit log keeps every
  // transition); the others (halts, sync) in order, sent first.
  std::uintptr_t publish_generation_ = 0;  // one per Paho client (CreateClient)
  std::size_t publishing_ = 0;             // this generation's, with Paho, not completed
  std::chrono::steady_clock::time_point last_publish_done_{};
  std::deque<Publication> publish_fifo_;
  std::unordered_map<std::string, Publication> publish_latest_;  // by topic
  std::deque<std::string> publish_order_;  // publish_latest_'s topics, oldest first
  std::atomic<std::uint64_t> publish_conflated_{0};
  std::chrono::steady_clock::time_point last_conflation_log_{};

  ConnectListener connect_listener_;
  SubscribeListener subscribe_listener_;
  PublishListener publish_listener_;
};

bool MqttClient::Impl::Start(std::string* error) {
  if (opts_.connect.version != 5) {
    log::Info("mqtt 3.1.1: MQTT 5 features off",
              {{"no_local", "off: the monitor's own alarm publications come back and are "
                            "recognised as its own"},
               {"halt_expiry", "not carried: a halt is never handed over late by the monitor, "
                               "but a broker holding one for a disconnected pen may deliver "
                               "it late"},
               {"session_expiry", "none: the broker keeps the session until a clean connect"}});
  }
  try {
    CreateClient();
  } catch (const std::exception& e) {
    *error = "mqtt: cannot set up the client for " + opts_.connect.url.display + ": " + e.what();
    cli_.reset();
    return false;
  }
  DoConnect();
  return true;
}

// Creates the Paho client with its callbacks and the connect options. May throw.
void MqttClient::Impl::CreateClient() {
  ++publish_generation_;  // completions of an earlier client's publications no longer count
  publishing_ = 0;
  {
    mqtt::create_options create = broker::MakeCreateOptions(opts_.connect.version, kMaxBuffered);
    create.set_send_while_disconnected(true, true);
    create.set_delete_oldest_messages(true);
    // nullptr persistence: in-memory only, no files in the working directory.
    cli_ = std::make_shared<mqtt::async_client>(opts_.connect.url.paho_uri, opts_.client_id,
                                                create, nullptr);

    std::weak_ptr<Impl> weak = weak_from_this();
    cli_->set_connected_handler([weak](const std::string&) {
      // Paho's socket exists now (a new one after each reconnect): publish alarms without
      // waiting for the broker's delayed ACK (see tcp_nodelay.h).
      broker::DisableNagleOnConnectedTcpSockets();
      if (auto self = weak.lock()) {
        const bool sp = self->session_present_.exchange(false);
        self->PostToLoop([sp](Impl& s) { s.OnConnected(sp); });
      }
    });
    cli_->set_connection_lost_handler([weak](const std::string& cause) {
      if (auto self = weak.lock()) {
        self->PostToLoop([cause](Impl& s) { s.OnConnectionLost(cause); });
      }
    });
    cli_->set_message_callback([weak](mqtt::const_message_ptr msg) {
      auto self = weak.lock();
      if (!self || !msg) return;
      InboundMessage m;
      m.topic = msg->get_topic();
      m.payload = msg->get_payload();
      m.qos = msg->get_qos();
      m.retain = msg->is_retained();
      m.owner = std::move(msg);  // the views above point into it
      self->Enqueue(std::move(m));
    });
  }
  broker::MakeConnectOptions(opts_.connect, &connect_options_, [](const std::string& msg) {
    log::Warn("mqtt tls error", {{"error", msg}});
  });
}

void MqttClient::Impl::DoConnect() {
  if (stopping_ || !cli_) return;
  reason_ = "connecting";
  try {
    if (failed_connects_ > 0) {
      // A second connect() on the same Paho C++ 1.2 client crashes with MQTT 5 properties:
      // retry the first connect with a fresh client instead.
      cli_.reset();
      CreateClient();
    }
    cli_->connect(connect_options_, nullptr, connect_listener_);
  } catch (const mqtt::exception& e) {
    OnConnectFailed(e.get_return_code(), static_cast<int>(e.get_reason_code()));
  } catch (const std::exception& e) {
    log::Error("mqtt connect failed", {{"url", Where()}, {"error", e.what()}});
    OnConnectFailed(-1, 0);
  }
}

void MqttClient::Impl::Enqueue(InboundMessage&& m) {
  bool post = false;
  {
    std::unique_lock<std::mutex> lock(inbox_mu_);
    const auto full = [&] {
      return queue_depth_.load(std::memory_order_relaxed) >=
             static_cast<std::int64_t>(opts_.inbox_capacity);
    };
    if (full()) {
      if (m.qos == 0) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;  // releases Paho's message
      }
      // Hold Paho's receive thread: it stops reading the socket, TCP fills, and the broker
      // keeps the backlog (at most one message per stall was PUBACKed and not yet handled).
      throttled_.fetch_add(1, std::memory_order_relaxed);
      room_.wait(lock, [&] { return stopping_.load() || !full(); });
      // Stopping: take it anyway (one over capacity). Paho acknowledged it to the broker on
      // receipt, so it is handled by Stop's final drain or it is lost.
    }
    queue_depth_.fetch_add(1, std::memory_order_relaxed);  // before the loop can take it
    inbox_.push_back(std::move(m));
    post = !drain_scheduled_;
    drain_scheduled_ = true;
  }
  if (post) PostDrain();
}

void MqttClient::Impl::PostDrain() {
  asio::post(io_, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->DrainInbox();
  });
}

void MqttClient::Impl::DrainInbox() {
  if (drain_pos_ == draining_.size()) {
    // The previous batch is done: take everything that arrived since, keeping both vectors'
    // capacity so a steady stream allocates nothing here.
    draining_.clear();
    drain_pos_ = 0;
    std::lock_guard<std::mutex> lock(inbox_mu_);
    draining_.swap(inbox_);
  }
  const std::size_t end = std::min(draining_.size(), drain_pos_ + kDrainBatch);
  const auto deadline = std::chrono::steady_clock::now() + kDrainBudget;
  while (drain_pos_ < end) {
    InboundMessage& m = draining_[drain_pos_++];
    queue_depth_.fetch_sub(1, std::memory_order_relaxed);
    if (!closed_ && events_.on_message) events_.on_message(std::move(m));
    m.owner.reset();  // release the library's message now, not at the next batch
    if (drain_pos_ % 32 == 0 && std::chrono::steady_clock::now() > deadline) break;
  }
  if (events_.on_batch_end) events_.on_batch_end();
  bool again = false;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    again = drain_pos_ < draining_.size() || !inbox_.empty();
    drain_scheduled_ = again;
  }
  room_.notify_all();  // Paho's thread may be waiting for room
  // More to deliver: go to the back of the loop's queue, so other handlers run in between.
  if (again) PostDrain();
}

void MqttClient::Impl::OnConnectFailed(int rc, int reason) {
  ++failed_connects_;
  reason_ = broker::ConnectFailureReason(rc, reason);
  if (ever_connected_) {
    // Paho's automatic reconnect is in charge; just say why this attempt failed.
    log::Warn("mqtt reconnect failed", {{"url", Where()}, {"reason", reason_}});
    return;
  }
  const auto delay = backoff_;
  backoff_ = std::min(backoff_ * 2, ReconnectMax(opts_));
  log::Error("mqtt connect failed",
             {{"url", Where()}, {"reason", reason_}, {"rc", rc},
              {"retry_in_seconds", static_cast<double>(delay.count()) / 1000.0}});
  retry_timer_.expires_after(delay);
  retry_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->DoConnect();
  });
}

void MqttClient::Impl::OnConnected(bool session_present) {
  connected_ = true;
  backoff_ = ReconnectMin(opts_);
  if (ever_connected_) {
    ++reconnects_;
    log::Info("mqtt reconnected", {{"url", Where()},
                                   {"session_present", session_present}});
  } else {
    log::Info("mqtt connected", {{"url", Where()},
                                 {"client_id", opts_.client_id},
                                 {"session_present", session_present}});
  }
  ever_connected_ = true;
  if (opts_.online) Publish(opts_.online());
  if (events_.on_connected) events_.on_connected(reconnects_ > 0);
  // The device filters are renewed only when the broker did not keep them; the watched topics
  // (the monitor's own retained alarm topics) every time, so the broker sends what it holds.
  DoSubscribe(/*devices=*/!session_present || !subscribed_once_);
}

void MqttClient::Impl::SubscribeOne(const std::string& filter) {
  const bool v5 = opts_.connect.version == 5;
  const auto in = [&](const std::vector<std::string>& list) {
    return std::find(list.begin(), list.end(), filter) != list.end();
  };
  using SO = mqtt::subscribe_options;
  // Devices: retained messages only for new subscriptions (a renewed one does not replay them).
  // Watched topics: retained messages on every subscribe, never our own publications back.
  // Control topics: retained messages every time, our own publications too (the lease claim).
  const bool control = in(opts_.control);
  const SO o = control            ? SO(false, false, SO::SEND_RETAINED_ON_SUBSCRIBE)
               : in(opts_.watch) ? SO(/*no_local=*/true, false, SO::SEND_RETAINED_ON_SUBSCRIBE)
                                 : SO(false, false, SO::SEND_RETAINED_ON_NEW);
  // Control topics always at QoS 1, whatever mqtt.qos says: the lease needs every replica to
  // see the claims in one order, and on a cluster that is the QoS 1 path's (on NATS, one
  // JetStream stream); QoS 0 deliveries of two nodes' claims can arrive in either order.
  const int qos = control ? 1 : opts_.qos;
  // On the Paho caller thread (OnPaho): never from the loop into a connected client.
  OnPaho([self = shared_from_this(), cli = cli_, filter, o, v5, qos] {
    try {
      if (v5) {
        cli->subscribe(filter, qos, nullptr, self->subscribe_listener_, o);
      } else {
        cli->subscribe(filter, qos, nullptr, self->subscribe_listener_);
      }
    } catch (const mqtt::exception& e) {
      const std::string why = "subscribe " + filter + " failed: " + e.what();
      self->PostToLoop([why, filter](Impl& s) { s.OnSubscribed(false, why, {filter}); });
    }
  });
}

void MqttClient::Impl::DoSubscribe(bool devices) {
  reason_ = "subscribing";
  // One SUBSCRIBE per filter: Paho C++ 1.2 crashes in subscribeMany when given MQTT 5
  // subscribe options, and per-filter tokens tell exactly which filter was refused.
  std::vector<std::string> filters;
  if (devices) filters = opts_.subscriptions;
  filters.insert(filters.end(), opts_.watch.begin(), opts_.watch.end());
  filters.insert(filters.end(), opts_.control.begin(), opts_.control.end());
  subscribe_retry_timer_.cancel();
  refused_.clear();
  pending_subscriptions_ = filters.size();
  subscribe_failed_ = false;
  for (const std::string& filter : filters) SubscribeOne(filter);
  if (pending_subscriptions_ == 0 && !subscribe_failed_) OnSubscribed(true, "");
}

void MqttClient::Impl::RetryRefused() {
  if (stopping_ || !connected_ || refused_.empty()) return;
  std::vector<std::string> filters;
  filters.swap(refused_);
  log::Info("mqtt subscribing again", {{"filters", static_cast<unsigned long long>(filters.size())},
                                       {"first", filters.front()}});
  pending_subscriptions_ = filters.size();
  subscribe_failed_ = false;
  for (const std::string& filter : filters) SubscribeOne(filter);
}

void MqttClient::Impl::OnSubscribed(bool ok, const std::string& why,
                                    std::vector<std::string> filters) {
  if (pending_subscriptions_ > 0) --pending_subscriptions_;
  if (!ok) {
    subscribe_failed_ = true;
    reason_ = why;
    log::Error("mqtt subscribe failed",
               {{"reason", why}, {"filter", filters.empty() ? std::string() : filters.front()}});
    refused_.insert(refused_.end(), filters.begin(), filters.end());
  }
  if (!connected_ || pending_subscriptions_ > 0) return;
  if (subscribe_failed_) {
    // Every answer is in and some were refused: ask again after the backoff.
    if (refused_.empty()) return;  // no filter names to retry: the next connect renews all
    const auto delay = subscribe_backoff_;
    subscribe_backoff_ = std::min(subscribe_backoff_ * 2, ReconnectMax(opts_));
    subscribe_retry_timer_.expires_after(delay);
    subscribe_retry_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->RetryRefused();
    });
    return;
  }
  subscribe_backoff_ = ReconnectMin(opts_);
  subscribed_ = true;
  subscribed_once_ = true;
  reason_.clear();
  std::string filters_text;
  for (const std::string& f : opts_.subscriptions) {
    if (!filters_text.empty()) filters_text += ' ';
    filters_text += f;
  }
  log::Info("subscribed", {{"filters", filters_text}, {"qos", opts_.qos}});
  if (events_.on_subscribed) events_.on_subscribed();
}

void MqttClient::Impl::OnConnectionLost(const std::string& cause) {
  connected_ = false;
  subscribed_ = false;
  ++lost_;
  reason_ = "connection lost: " + (cause.empty() ? std::string("unknown") : cause);
  log::Warn("mqtt connection lost",
            {{"url", Where()},
             {"cause", cause.empty() ? std::string("unknown") : cause},
             {"reconnecting", true}});
  if (events_.on_connection_lost) events_.on_connection_lost(reason_);
}

bool MqttClient::Impl::Publish(const Publication& p) {
  if (!cli_ || stopping_) return false;
  if (p.expiry_seconds > 0 && !connected_) return false;  // never sent late from a buffer
  const bool waiting = !publish_fifo_.empty() || !publish_order_.empty();
  if (!waiting && publishing_ < kMaxPublishing) return Send(p);
  const auto now = std::chrono::steady_clock::now();
  if (connected_ && publishing_ >= kMaxPublishing && now - last_publish_done_ > kPublishStall) {
    log::Warn("mqtt publications not completing; counting afresh",
              {{"with_paho", static_cast<unsigned long long>(publishing_)}});
    ++publish_generation_;
    publishing_ = 0;
    last_publish_done_ = now;
  }
  if (!p.retain) {
    publish_fifo_.push_back(p);
  } else if (auto it = publish_latest_.find(p.topic); it != publish_latest_.end()) {
    it->second = p;  // the latest state wins; it keeps its place in line
    const std::uint64_t n = publish_conflated_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (now - last_conflation_log_ > std::chrono::seconds(10)) {
      last_conflation_log_ = now;
      log::Warn("mqtt publications conflated: the broker takes them slower than they change",
                {{"conflated", static_cast<unsigned long long>(n)},
                 {"waiting", static_cast<unsigned long long>(publish_latest_.size() +
                                                            publish_fifo_.size())}});
    }
  } else {
    publish_latest_.emplace(p.topic, p);
    publish_order_.push_back(p.topic);
  }
  SendWaiting();
  return true;
}

bool MqttClient::Impl::Send(const Publication& p) {
  try {
    auto msg = mqtt::make_message(p.topic, p.payload, p.qos, p.retain);
    if (p.expiry_seconds > 0 && opts_.connect.version == 5) {
      msg->set_properties(mqtt::properties{mqtt::property(
          mqtt::property::MESSAGE_EXPIRY_INTERVAL, static_cast<int>(p.expiry_seconds))});
    }
    if (publishing_++ == 0) last_publish_done_ = std::chrono::steady_clock::now();
    void* gen = reinterpret_cast<void*>(publish_generation_);  // NOLINT(performance-no-int-to-ptr)
    OnPaho([self = shared_from_this(), cli = cli_, msg = std::move(msg), gen] {
      try {
        cli->publish(msg, gen, self->publish_listener_);
      } catch (const std::exception& e) {
        const std::string topic = msg->get_topic();
        const std::string what = e.what();
        const auto g = reinterpret_cast<std::uintptr_t>(gen);
        self->PostToLoop([topic, what, g](Impl& s) {
          s.NotePublishFailure(topic, what);
          s.OnPublishDone(g);
        });
      }
    });
    return true;
  } catch (const std::exception& e) {
    NotePublishFailure(p.topic, e.what());
    return p.expiry_seconds == 0;
  }
}

void MqttClient::Impl::OnPublishDone(std::uintptr_t generation) {
  if (generation != publish_generation_ || publishing_ == 0) return;
  --publishing_;
  last_publish_done_ = std::chrono::steady_clock::now();
  SendWaiting();
}

void MqttClient::Impl::SendWaiting(bool all) {
  while (all || publishing_ < kMaxPublishing) {
    if (!publish_fifo_.empty()) {
      Publication p = std::move(publish_fifo_.front());
      publish_fifo_.pop_front();
      if (p.expiry_seconds > 0 && !connected_) {
        NotePublishFailure(p.topic, "not sent: disconnected before its turn");
        continue;
      }
      Send(p);
    } else if (!publish_order_.empty()) {
      auto it = publish_latest_.find(publish_order_.front());
      publish_order_.pop_front();
      Send(it->second);
      publish_latest_.erase(it);
    } else {
      return;
    }
  }
}

void MqttClient::Impl::NotePublishFailure(const std::string& topic, const std::string& what) {
  const std::uint64_t failures = ++publish_failures_;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_publish_warning_ > std::chrono::seconds(10)) {
    last_publish_warning_ = now;
    log::Warn("mqtt publish failed", {{"topic", topic}, {"error", what}, {"failures", failures}});
  }
}

void MqttClient::Impl::Stop(const Publication& last, std::chrono::milliseconds timeout) {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);  // a waiting Paho thread sees stopping_
  }
  room_.notify_all();
  retry_timer_.cancel();
  subscribe_retry_timer_.cancel();
  if (!cli_) return;
  SendWaiting(/*all=*/true);  // what waited for its turn goes before the goodbye
  // After what the loop published so far (the Paho caller runs jobs in order): the offline
  // status, then the disconnect. The receive thread no longer waits for room (stopping_), so
  // Paho's mutex comes free and the loop may wait for this.
  std::promise<void> done;
  OnPaho([cli = cli_, &last, timeout, &done] {
    try {
      if (cli->is_connected()) {
        cli->publish(mqtt::make_message(last.topic, last.payload, last.qos, last.retain))
            ->wait_for(timeout);
        cli->disconnect(static_cast<int>(timeout.count()))->wait_for(timeout);
      }
    } catch (const std::exception& e) {
      log::Warn("mqtt disconnect failed", {{"error", e.what()}});
    }
    done.set_value();
  });
  done.get_future().wait();
  try {
    cli_->set_message_callback([](mqtt::const_message_ptr) {});
    cli_->set_connected_handler([](const std::string&) {});
    cli_->set_connection_lost_handler([](const std::string&) {});
  } catch (...) {
  }
  connected_ = false;
  subscribed_ = false;
  // A graceful stop handles everything Paho took: it acknowledged each QoS 1 message to the
  // broker on receipt, so what is still in the inbox exists nowhere else (issue 12 item 7).
  const std::int64_t drained = queue_depth_.load();
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(inbox_mu_);
      if (drain_pos_ == draining_.size() && inbox_.empty()) break;
    }
    DrainInbox();
  }
  if (drained > 0) {
    log::Info("mqtt inbox drained at stop", {{"messages", static_cast<unsigned long long>(drained)}});
  }
  closed_ = true;
}

MqttClient::MqttClient(asio::io_context& io, MqttOptions options, MqttEvents events)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(events))) {}

MqttClient::~MqttClient() {
  impl_->stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(impl_->inbox_mu_);
  }
  impl_->room_.notify_all();  // before Paho joins its thread, which may wait for room
  impl_->retry_timer_.cancel();
  impl_->paho_.join();  // jobs still queued run (they keep the client alive) before it goes
  impl_->subscribe_retry_timer_.cancel();
  try {
    impl_->cli_.reset();
  } catch (...) {
  }
}

bool MqttClient::Start(std::string* error) { return impl_->Start(error); }
bool MqttClient::Publish(const Publication& p) { return impl_->Publish(p); }
void MqttClient::Stop(const Publication& last, std::chrono::milliseconds timeout) {
  impl_->Stop(last, timeout);
}
bool MqttClient::connected() const { return impl_->connected_; }
bool MqttClient::ready() const { return impl_->connected_ && impl_->subscribed_; }
std::string MqttClient::not_ready_reason() const {
  if (ready()) return "";
  return impl_->reason_.empty() ? std::string("connecting") : impl_->reason_;
}
std::int64_t MqttClient::queue_depth() const { return impl_->queue_depth_.load(); }
std::uint64_t MqttClient::inbox_dropped() const { return impl_->dropped_.load(); }
std::uint64_t MqttClient::inbox_throttled() const { return impl_->throttled_.load(); }
std::uint64_t MqttClient::reconnects() const { return impl_->reconnects_; }
std::uint64_t MqttClient::connection_lost() const { return impl_->lost_; }
std::uint64_t MqttClient::publish_failures() const { return impl_->publish_failures_.load(); }
std::uint64_t MqttClient::publications_conflated() const {
  return impl_->publish_conflated_.load();
}

}  // namespace needlewatch::daemon
