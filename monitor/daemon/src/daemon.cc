// `needlewatch run`: the daemon's lifecycle. One io_context runs everything: the MQTT client's
// deliveries, the HTTP server, the deadline timer and the signals; the live monitor
// (live_monitor.h) does the work on each of them. Its parts: run_config.h (what it starts
// with), daemon_outputs.h (clock and outputs), state_keeper.h (state.dir), floor_feed.h (the
// floor page's stream), pair_wiring.h (shards and the writer lease), daemon_status.h (what
// the routes report). See ARCHITECTURE.md for the threads and the route of one message.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <utility>
#include <memory>
#include <optional>
#include <string>

#include "daemon_outputs.h"
#include "daemon_status.h"
#include "floor_feed.h"
#include "http_server.h"
#include "live_monitor.h"
#include "log.h"
#include "mqtt_client.h"
#include "needlewatch/cluster/writer_lease.h"
#include "needlewatch/config/config.h"
#include "needlewatch/daemon/run_command.h"
#include "needlewatch/record/recorder.h"
#include "pair_wiring.h"
#include "routes.h"
#include "run_config.h"
#include "sd_notify.h"
#include "state_keeper.h"

#ifndef NEEDLEWATCH_VERSION
#define NEEDLEWATCH_VERSION "0.0.0"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define NEEDLEWATCH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NEEDLEWATCH_ASAN 1
#endif
#endif
#ifdef NEEDLEWATCH_ASAN
// LeakSanitizer (sanitizer builds only): Paho C's TLS layer leaves OpenSSL's per-connection
// allocations (CRYPTO_zalloc, ERR_vset_error) behind at exit. Not ours to free; without this
// every TLS run of the sanitizer build would exit non-zero.
extern "C" const char* __lsan_default_suppressions() {  // NOLINT(bugprone-reserved-identifier)
  return "leak:libcrypto.so\nleak:libssl.so\nleak:libpaho-mqtt3as.so\n";
}
#endif

namespace needlewatch::daemon {
namespace {

namespace asio = boost::asio;
using engine::TimeNs;

constexpr std::chrono::milliseconds kMaxTick{100};
constexpr std::chrono::milliseconds kStopTimeout{2000};

class Daemon {
 public:
  Daemon(config::Config cfg, std::string config_path, WebConfig web)
      : signals_(io_),
        tick_(io_),
        watchdog_(io_),
        cfg_(std::move(cfg)),
        config_path_(std::move(config_path)),
        web_(std::move(web)),
        monitor_(cfg_, config_path_, clock_, outputs_),
        state_(io_, cfg_.state, monitor_),
        floor_(io_, monitor_) {}

  int Run();

 private:
  bool Start();
  bool StartRecorder();
  bool StartHttp();
  bool StartMqtt(const broker::BrokerUrl& url);
  MqttEvents MqttEventsForMonitor();
  void AwaitSignal();
  void ArmTick();
  void ArmWatchdog();
  void Reload();
  // SIGHUP for the files: reopens the audit log (logrotate), re-reads the web configuration.
  void ReloadFiles();
  void Shutdown();
  // needlewatch/{instance}/status: online, or offline (also the Last Will).
  Publication StatusMessage(bool online) {
    return MonitorStatusPublication(cfg_.mqtt.instance, online, clock_.Now(), NEEDLEWATCH_VERSION);
  }
  DaemonStatus CurrentStatus() const {
    return CollectStatus({mqtt_.get(), &monitor_, &outputs_.audit, http_.get(), recorder_.get(),
                          start_time_seconds_, NEEDLEWATCH_VERSION});
  }
  void PollPair() {
    if (lease_ && mqtt_ && !stopping_) PollLease(*lease_, clock_.Now(), *mqtt_, monitor_);
  }

  asio::io_context io_;
  asio::signal_set signals_;
  // Fires engine deadlines: armed for min(next deadline, now + 100 ms).
  asio::steady_timer tick_;
  // systemd's watchdog (WatchdogSec=): fed from the loop, so a stuck loop gets the daemon
  // restarted. Half the interval systemd asks for.
  asio::steady_timer watchdog_;
  std::chrono::microseconds watchdog_every_{0};
  bool tick_armed_ = false;
  TimeNs tick_target_ = 0;
  bool stopping_ = false;

  config::Config cfg_;
  std::string config_path_;  // "" = built-in defaults (SIGHUP has nothing to reload)
  WebConfig web_;      // users, TLS, headers in force (SIGHUP re-reads them)
  WebAccess access_;   // the routes' policy for it and the listener
  SystemClock clock_;
  DaemonOutputs outputs_;
  LiveMonitor monitor_;
  StateKeeper state_;
  FloorFeed floor_;
  std::unique_ptr<record::Recorder> recorder_;
  std::unique_ptr<MqttClient> mqtt_;
  std::optional<cluster::WriterLease> lease_;  // only with cluster.replica
  std::unique_ptr<HttpServer> http_;
  double start_time_seconds_ = 0;
};

int Daemon::Run() {
  start_time_seconds_ = engine::NsToSeconds(clock_.Now());
  // Signals first: from here on SIGTERM means a graceful stop, never a kill mid-startup.
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.add(SIGHUP);
  if (!Start()) return 1;
  AwaitSignal();
  ArmTick();
  sd::Ready();  // Type=notify: started when HTTP listens and the broker connection is under way
  if (auto every = sd::WatchdogInterval()) {
    watchdog_every_ = *every / 2;
    ArmWatchdog();
  }
  for (;;) {
    try {
      io_.run();
      break;
    } catch (const std::exception& e) {
      // A handler threw: log it and keep serving (handlers are written not to throw).
      log::Error("event loop handler failed", {{"error", e.what()}});
    }
  }
  state_.Save();  // a graceful stop restarts without replaying a journal
  if (recorder_) recorder_->Stop();
  outputs_.audit.Close();
  log::Info("stopped");
  log::Flush();
  return 0;
}

// Every part, in order: the audit log, the recorder, the state (restored before the monitor
// starts, saved right after), HTTP, MQTT, then the timers.
bool Daemon::Start() {
  std::string error;
  std::optional<broker::BrokerUrl> url = broker::ParseBrokerUrl(
      cfg_.mqtt.urls.empty() ? cfg_.mqtt.url : cfg_.mqtt.urls.front(), &error);
  if (!url) {
    log::Error("startup failed", {{"error", error}});
    return false;
  }
  LogStarting(cfg_, config_path_, *url, NEEDLEWATCH_VERSION);
  outputs_.audit.set_fsync(cfg_.outputs.audit_fsync);
  if (!outputs_.audit.Open(cfg_.outputs.audit_log, &error)) {
    log::Error("startup failed", {{"error", error}});
    return false;
  }
  if (!StartRecorder() || !state_.Open()) return false;
  outputs_.state = state_.dir();
  monitor_.Start();
  if (!state_.Save() || !StartHttp() || !StartMqtt(*url)) return false;
  state_.ArmSnapshots();
  floor_.Start(*http_);
  return true;
}

bool Daemon::StartRecorder() {
  if (!cfg_.record.enabled) return true;
  const record::RecorderOptions ro = RecorderOptionsFor(cfg_);
  std::string error;
  recorder_ = record::Recorder::Start(ro, &error);
  if (!recorder_) {
    log::Error("startup failed", {{"error", "record.dir \"" + ro.dir + "\": " + error}});
    return false;
  }
  outputs_.recorder = recorder_.get();
  log::Info("recording", {{"dir", ro.dir}});
  return true;
}

bool Daemon::StartHttp() {
  http_ = std::make_unique<HttpServer>(
      io_, [this](const HttpRequest& r) { return Route(r, monitor_, CurrentStatus(), access_); },
      HttpOptionsFor(cfg_.http));
  std::string bound, error;
  if (!http_->Configure(web_, &error) ||
      !http_->Start(cfg_.http.listen_address, &bound, &error)) {
    log::Error("startup failed", {{"error", error}});
    return false;
  }
  access_ = AccessFor(cfg_.http, web_, http_->loopback());
  log::Info("http listening", {{"address", bound}});
  LogWebAccess(access_, web_, bound);
  return true;
}

bool Daemon::StartMqtt(const broker::BrokerUrl& url) {
  std::string error;
  MqttOptions o;
  if (!MqttOptionsFor(cfg_, url, StatusMessage(false), &o, &error)) {
    log::Error("startup failed", {{"error", error}});
    return false;
  }
  o.online = [this] { return StatusMessage(true); };
  // The sync topic rides in the persistent session with the device filters (LiveMonitor).
  o.subscriptions.push_back(monitor_.sync_topic());
  if (!cfg_.cluster.replica.empty()) {
    // cluster.writer_timeout > 0: heartbeats, so a hung writer is deposed (WriterLease).
    lease_.emplace(cfg_.mqtt.instance, cfg_.cluster.shard_index, kLeaseSettle,
                   cfg_.cluster.writer_timeout);
    o.control = {lease_->lease_topic(), std::string(cluster::WriterLease::kStatusFilter)};
    if (cfg_.cluster.writer_timeout > 0) o.control.push_back(lease_->heartbeat_filter());
    monitor_.SetWriter(false);  // until the lease says otherwise
    log::Info("paired replica", {{"replica", cfg_.cluster.replica},
                                 {"writer_timeout_seconds",
                                  engine::NsToSeconds(cfg_.cluster.writer_timeout)},
                                 {"lease", lease_->lease_topic()}});
  }
  mqtt_ = std::make_unique<MqttClient>(io_, std::move(o), MqttEventsForMonitor());
  outputs_.mqtt = mqtt_.get();
  if (!mqtt_->Start(&error)) {
    log::Error("startup failed", {{"error", error}});
    return false;
  }
  return true;
}

MqttEvents Daemon::MqttEventsForMonitor() {
  MqttEvents ev;
  ev.on_connected = [this](bool reconnect) {
    // The broker may hand over what it kept for us: judge it on the devices' clocks.
    if (reconnect && !monitor_.catching_up()) monitor_.BeginCatchUp("reconnect");
    monitor_.SetConnected(true);
  };
  ev.on_subscribed = [this] {
    if (monitor_.catching_up()) mqtt_->Publish(monitor_.SyncPublication());
    if (lease_) lease_->SetUp(true, clock_.Now());
  };
  ev.on_connection_lost = [this](const std::string&) {
    monitor_.SetConnected(false);
    if (lease_) lease_->SetUp(false, clock_.Now());
    PollPair();
  };
  ev.on_message = [this](InboundMessage&& m) {
    // Also while stopping: MqttClient::Stop drains what Paho acknowledged (issue 12 item 7).
    if (lease_ && lease_->OnMessage(m.topic, m.payload, clock_.Now())) {
      PollPair();
      return;
    }
    // With heartbeats the writer checks its lease before each message: after a stall of its
    // loop it must not write from a backlog before reading the claim its peer may have made.
    if (lease_ && monitor_.writer() && cfg_.cluster.writer_timeout > 0) PollPair();
    monitor_.HandleMessage(m.topic, m.payload, m.qos, m.retain);
  };
  ev.on_batch_end = [this] {
    monitor_.Flush();  // alarm topics: the latest state per topic of the whole batch
    ArmTick();
  };
  return ev;
}

void Daemon::AwaitSignal() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;  // cancelled at shutdown
    if (signo == SIGHUP) {
      Reload();
      AwaitSignal();
      return;
    }
    log::Info("stopping", {{"signal", signo == SIGINT ? "SIGINT" : "SIGTERM"}});
    Shutdown();
  });
}

void Daemon::Reload() {
  ReloadFiles();
  if (config_path_.empty()) {
    log::Warn("reload ignored: no --config.file (running on built-in defaults)");
    return;
  }
  monitor_.Reload(config::LoadConfigFile(config_path_));
  ArmTick();
}

void Daemon::ReloadFiles() {
  std::string error;
  if (!outputs_.audit.Reopen(&error)) log::Error("audit log not reopened", {{"error", error}});
  std::string line = ReloadWebConfig(cfg_.http, monitor_.Stamp(), *http_, &web_, &access_);
  if (!line.empty()) outputs_.audit.Append(line);
}

void Daemon::ArmWatchdog() {
  sd::Watchdog();
  watchdog_.expires_after(watchdog_every_);
  watchdog_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) ArmWatchdog();
  });
}

void Daemon::Shutdown() {
  if (stopping_) return;
  stopping_ = true;
  sd::Stopping();
  watchdog_.cancel();
  state_.Stop();
  floor_.Stop();
  // Stop accepting first, then say goodbye on MQTT, then let run() return.
  if (http_) http_->Stop();
  tick_.cancel();
  boost::system::error_code ignored;
  signals_.cancel(ignored);
  if (mqtt_) mqtt_->Stop(StatusMessage(false), kStopTimeout);
  io_.stop();
}

void Daemon::ArmTick() {
  if (stopping_) return;
  const TimeNs now = clock_.Now();
  TimeNs target = now + std::chrono::duration_cast<std::chrono::nanoseconds>(kMaxTick).count();
  if (std::optional<TimeNs> d = monitor_.NextDeadline(); d && *d < target) {
    target = std::max(*d, now);
  }
  if (tick_armed_ && target >= tick_target_) return;
  tick_armed_ = true;
  tick_target_ = target;
  tick_.expires_after(std::chrono::nanoseconds(target - now));
  tick_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // re-armed earlier, or shutdown
    tick_armed_ = false;
    monitor_.Tick();
    if (recorder_) monitor_.NoteRecorderDropped(recorder_->dropped());
    if (mqtt_) monitor_.NoteIngest(mqtt_->inbox_dropped(), mqtt_->inbox_throttled());
    PollPair();
    ArmTick();
  });
}

}  // namespace

int RunDaemon(const RunCommandOptions& options) {
  config::Config cfg;
  std::string path;
  WebConfig web;
  if (!PrepareRun(options, &cfg, &path, &web)) return 1;
  ApplyShard(cfg);
  try {
    auto d = std::make_unique<Daemon>(std::move(cfg), path, std::move(web));
    return d->Run();
  } catch (const std::exception& e) {
    log::Error("startup failed", {{"error", e.what()}});
    return 1;
  }
}

}  // namespace needlewatch::daemon
