// Republish(): the Paho side. One thread does everything: read a record, sleep until it is due,
// publish it, and keep at most max_in_flight deliveries outstanding (the oldest is awaited
// before a new one is started), so memory stays bounded however fast the input is.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>

#include "needlewatch/mqtt/connect.h"
#include "needlewatch/mqtt/paho.h"
#include "needlewatch/republish/republish.h"

namespace needlewatch::republish {

namespace {

using Clock = Schedule::Clock;
constexpr auto kPollSlice = std::chrono::milliseconds(100);
constexpr int kMaxReportedProblems = 10;

// Set by SIGINT/SIGTERM while a SignalGuard is installed.
std::atomic<bool> g_signal_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnStopSignal(int /*signo*/) { g_signal_stop.store(true); }

// Installs OnStopSignal for SIGINT and SIGTERM; puts the previous handlers back when destroyed.
class SignalGuard {
 public:
  explicit SignalGuard(bool enable) : enabled_(enable) {
    if (!enabled_) return;
    g_signal_stop.store(false);
    struct sigaction sa {};
    sa.sa_handler = OnStopSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~SignalGuard() {
    if (!enabled_) return;
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  bool enabled_;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

std::string OrEnv(const std::string& value, const char* env) {
  if (!value.empty()) return value;
  const char* v = std::getenv(env);
  return v != nullptr ? v : "";
}

std::string Seconds(std::int64_t ns, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, static_cast<double>(ns) / 1e9);
  return buf;
}

std::string SpeedText(double speed) {
  if (speed <= 0) return "max";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%gx", speed);
  return buf;
}

struct Pending {
  mqtt::delivery_token_ptr token;
  std::size_t bytes = 0;
  std::uint64_t record = 0;  // 1-based index of the record, for error messages
  std::string topic;         // kept only for the error message of a failed delivery
};

// The state of one Republish() call.
class Run {
 public:
  Run(const RepublishOptions& options, std::ostream& out, std::ostream& err, RepublishStats& st)
      : options_(options), out_(out), err_(err), st_(st) {}

  int Execute(const std::function<bool(record::RawMessage&)>& next,
              const std::function<bool()>& rewind);

 private:
  bool Stopped() const {
    return (options_.stop != nullptr && options_.stop->load()) ||
           (options_.stop_on_signals && g_signal_stop.load());
  }
  int QosOf(const record::RawMessage& m) const {
    return options_.qos_override >= 0 ? options_.qos_override : m.qos;
  }
  int Fail(const std::string& message) {
    err_ << "republish: " << message << "\n";
    return 1;
  }
  void Problem(std::uint64_t record, std::string_view topic, std::string_view what,
               std::string_view outcome) {
    if (problems_reported_++ == kMaxReportedProblems) {
      err_ << "republish: further problems are only counted\n";
    }
    if (problems_reported_ > kMaxReportedProblems) return;
    err_ << "republish: record " << record << " (\"" << topic.substr(0, 200) << "\"): " << what
         << "; " << outcome << "\n";
  }
  bool Connect(mqtt::async_client& client, const broker::BrokerUrl& url);
  // Sleeps until `due`, waking every kPollSlice to notice a stop or a lost connection.
  void SleepUntil(Clock::time_point due) const;
  // Waits for the oldest outstanding delivery and counts it. False (with fatal_ set) when the
  // connection is lost or the broker does not confirm within ack_timeout.
  bool SettleOldest();
  void Publish(mqtt::async_client& client, const record::RawMessage& m);
  void PrintSummary(const broker::BrokerUrl& url) const;

  const RepublishOptions& options_;
  std::ostream& out_;
  std::ostream& err_;
  RepublishStats& st_;
  std::deque<Pending> window_;
  int problems_reported_ = 0;
  std::optional<std::string> fatal_;
  std::atomic<bool> connection_lost_{false};
  std::mutex lost_mu_;
  std::string lost_cause_;  // guarded by lost_mu_ (written on Paho's thread)
};

bool Run::Connect(mqtt::async_client& client, const broker::BrokerUrl& url) {
  broker::ConnectSettings cs;
  cs.url = url;
  cs.version = options_.mqtt_version;
  cs.clean_start = true;
  cs.keepalive = std::chrono::seconds(30);
  cs.connect_timeout = options_.connect_timeout;
  cs.max_inflight = static_cast<int>(options_.max_in_flight);
  cs.credentials.username = OrEnv(options_.username, broker::kUsernameEnv);
  cs.credentials.password = OrEnv(options_.password, broker::kPasswordEnv);
  cs.tls.ca_file = OrEnv(options_.ca_file, broker::kCaFileEnv);
  mqtt::connect_options connect_options;
  broker::MakeConnectOptions(cs, &connect_options);
  client.set_connection_lost_handler([this](const std::string& cause) {
    {
      std::lock_guard<std::mutex> lock(lost_mu_);
      lost_cause_ = cause;
    }
    connection_lost_.store(true);
  });
  const std::string where = "cannot connect to " + url.display + ": ";
  try {
    if (!client.connect(connect_options)->wait_for(options_.connect_timeout + std::chrono::seconds(1))) {
      Fail(where + "no answer within " + std::to_string(options_.connect_timeout.count()) + " s");
      return false;
    }
  } catch (const mqtt::exception& e) {
    Fail(where + broker::ConnectFailureReason(e.get_return_code(), e.get_reason_code()));
    return false;
  }
  return true;
}

void Run::SleepUntil(Clock::time_point due) const {
  for (;;) {
    const auto now = Clock::now();
    if (now >= due || Stopped() || connection_lost_.load()) return;
    std::this_thread::sleep_until(std::min(due, now + kPollSlice));
  }
}

bool Run::SettleOldest() {
  Pending p = std::move(window_.front());
  window_.pop_front();
  const auto give_up = Clock::now() + options_.ack_timeout;
  try {
    while (!p.token->wait_for(kPollSlice)) {
      if (connection_lost_.load()) {
        ++st_.failed;
        return false;
      }
      if (Clock::now() >= give_up) {
        ++st_.failed;
        fatal_ = "no delivery confirmation from the broker within " +
                 std::to_string(options_.ack_timeout.count()) + " s";
        return false;
      }
    }
    ++st_.published;
    st_.payload_bytes += p.bytes;
  } catch (const mqtt::exception& e) {
    ++st_.failed;
    Problem(p.record, p.topic, "delivery failed: " + std::string(e.what()), "not delivered");
  }
  return true;
}

void Run::Publish(mqtt::async_client& client, const record::RawMessage& m) {
  const int qos = QosOf(m);
  const bool retain = options_.keep_retain && m.retain;
  try {
    auto token =
        client.publish(mqtt::make_message(m.topic, m.payload.data(), m.payload.size(), qos, retain));
    window_.push_back({std::move(token), m.payload.size(), st_.records, m.topic});
  } catch (const mqtt::exception& e) {
    if (e.get_return_code() == MQTTASYNC_BAD_UTF8_STRING) {
      ++st_.skipped_invalid;
      Problem(st_.records, m.topic, "topic is not valid UTF-8", "skipped");
    } else if (e.get_return_code() == MQTTASYNC_DISCONNECTED) {
      ++st_.failed;
      connection_lost_.store(true);
    } else {
      ++st_.failed;
      Problem(st_.records, m.topic, "publish refused: " + std::string(e.what()), "not delivered");
    }
  }
}

int Run::Execute(const std::function<bool(record::RawMessage&)>& next,
                 const std::function<bool()>& rewind) {
  if (!std::isfinite(options_.speed) || options_.speed < 0) {
    return Fail("speed must be a positive factor, or 0 for as fast as possible");
  }
  if (options_.qos_override < -1 || options_.qos_override > 2) {
    return Fail("qos override must be 0, 1 or 2 (or -1 to keep the recorded QoS)");
  }
  if (options_.mqtt_version != 4 && options_.mqtt_version != 5) {
    return Fail("mqtt version must be 4 (3.1.1) or 5");
  }
  if (options_.max_in_flight == 0 || options_.max_in_flight > 65535) {
    return Fail("max_in_flight must be from 1 to 65535");
  }
  std::string url_error;
  const auto url = broker::ParseBrokerUrl(options_.url, &url_error);
  if (!url) {
    // The parser names the daemon's config key; here the value came from --publish.
    constexpr std::string_view kKey = "mqtt.url: ";
    if (std::string_view(url_error).starts_with(kKey)) url_error.erase(0, kKey.size());
    return Fail("--publish: " + url_error);
  }

  const SignalGuard signals(options_.stop_on_signals);
  const std::string client_id = options_.client_id.empty()
                                    ? "needlewatch-republish-" + std::to_string(::getpid())
                                    : options_.client_id;
  std::optional<mqtt::async_client> client;
  try {
    // Paho refuses a publish (rc -12) once this many are queued inside it, connected or not
    // (default 100). It must hold the whole window plus the slack of Paho completing a QoS 0
    // token before it frees the command behind it; the window is what bounds memory.
    client.emplace(url->paho_uri, client_id,
                   broker::MakeCreateOptions(options_.mqtt_version,
                                             2 * static_cast<int>(options_.max_in_flight) + 16));
  } catch (const mqtt::exception& e) {
    return Fail("cannot create an MQTT client for " + url->display + ": " + e.what());
  }
  if (!Connect(*client, *url)) return 1;
  out_ << "republish: connected to " << url->display << "; speed " << SpeedText(options_.speed)
       << ", QoS "
       << (options_.qos_override >= 0 ? std::to_string(options_.qos_override) : "as recorded")
       << ", retain " << (options_.keep_retain ? "as recorded" : "cleared")
       << (options_.loop ? ", looping until stopped" : "") << std::endl;

  const auto start = Clock::now();
  Schedule schedule(options_.speed);
  record::RawMessage m;
  std::uint64_t sent_this_pass = 0;
  st_.passes = 1;
  while (!Stopped() && !connection_lost_.load() && !fatal_) {
    if (!next(m)) {
      if (!options_.loop || Stopped()) break;
      if (sent_this_pass == 0) {
        err_ << "republish: --loop: a pass over the input published nothing; stopping\n";
        break;
      }
      if (!rewind || !rewind()) {
        fatal_ = "--loop: cannot read the input again";
        break;
      }
      if (Stopped()) break;
      schedule.NewPass();
      sent_this_pass = 0;
      ++st_.passes;
      continue;
    }
    ++st_.records;
    if (IsInternalTopic(m.topic)) {
      ++st_.skipped_internal;
      continue;
    }
    if (const std::string_view why = TopicProblem(m.topic); !why.empty()) {
      ++st_.skipped_invalid;
      Problem(st_.records, m.topic, why, "skipped");
      continue;
    }
    if (options_.qos_override < 0 && m.qos > 2) {
      ++st_.skipped_invalid;
      Problem(st_.records, m.topic, "QoS " + std::to_string(m.qos) + " (0 to 2 only)", "skipped");
      continue;
    }
    const auto due = schedule.Due(m.receive_ns, Clock::now());
    SleepUntil(due);
    if (Stopped() || connection_lost_.load()) break;
    // Completed deliveries leave the window without blocking; a full window waits for its oldest.
    while (!window_.empty() && window_.front().token->is_complete()) SettleOldest();
    while (window_.size() >= options_.max_in_flight && SettleOldest()) {
    }
    if (fatal_ || connection_lost_.load()) break;
    const auto now = Clock::now();
    if (now > due) {
      st_.max_lag_ns = std::max<std::int64_t>(
          st_.max_lag_ns, std::chrono::duration_cast<std::chrono::nanoseconds>(now - due).count());
    }
    Publish(*client, m);
    ++sent_this_pass;
    // A broker may forward a QoS 2 message only on PUBREL (mosquitto does), so whatever is
    // published after it would overtake it: it is fully acknowledged before anything else goes.
    if (QosOf(m) == 2) {
      while (!window_.empty() && SettleOldest()) {
      }
    }
  }
  // Drain: every outstanding delivery (QoS 1 and 2: acknowledged by the broker) is awaited.
  while (!window_.empty()) {
    if (!SettleOldest()) {
      st_.failed += window_.size();
      window_.clear();
    }
  }
  st_.elapsed_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
  if (connection_lost_.load()) {
    std::lock_guard<std::mutex> lock(lost_mu_);
    fatal_ = "lost the connection to " + url->display +
             (lost_cause_.empty() ? std::string() : " (" + lost_cause_ + ")");
  } else {
    try {
      client->disconnect()->wait_for(std::chrono::seconds(5));
    } catch (const mqtt::exception&) {
      // Everything was delivered already; a failed DISCONNECT changes nothing.
    }
  }
  PrintSummary(*url);
  if (Stopped()) out_ << "republish: stopped on request" << std::endl;
  if (fatal_) return Fail(*fatal_);
  return st_.failed == 0 ? 0 : 1;
}

void Run::PrintSummary(const broker::BrokerUrl& url) const {
  const double secs = static_cast<double>(st_.elapsed_ns) / 1e9;
  const double rate = secs > 0 ? static_cast<double>(st_.published) / secs : 0.0;
  const double mbps = secs > 0 ? static_cast<double>(st_.payload_bytes) / secs / 1e6 : 0.0;
  char rates[96];
  std::snprintf(rates, sizeof rates, "%.0f msg/s, %.2f MB/s", rate, mbps);
  out_ << "republish: " << st_.published << " messages (" << st_.payload_bytes
       << " payload bytes) to " << url.display << " in " << Seconds(st_.elapsed_ns, 3) << " s ("
       << rates << "); " << st_.passes << (st_.passes == 1 ? " pass" : " passes") << ", "
       << st_.records << " records read, skipped " << st_.skipped_internal
       << " $needlewatch/ records (acks, limits) and " << st_.skipped_invalid << " unpublishable, "
       << st_.failed << " failed; worst lag behind schedule " << Seconds(st_.max_lag_ns, 3)
       << " s" << std::endl;
}

}  // namespace

int Republish(const RepublishOptions& options,
              const std::function<bool(record::RawMessage&)>& next,
              const std::function<bool()>& rewind, std::ostream& out, std::ostream& err,
              RepublishStats* stats) {
  RepublishStats local;
  RepublishStats& st = stats != nullptr ? *stats : local;
  st = RepublishStats{};
  Run run(options, out, err, st);
  return run.Execute(next, rewind);
}

}  // namespace needlewatch::republish
