// `needlewatch run`: the daemon's lifecycle. One io_context runs everything: the MQTT client's
// deliveries, the HTTP server, the deadline timer and the signals; the live monitor
// (live_monitor.h) does the work on each of them. See ARCHITECTURE.md for the threads and the
// route of one message.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "audit_log.h"
#include "floor_model.h"
#include "http_server.h"
#include "live_monitor.h"
#include "log.h"
#include "mqtt_client.h"
#include "needlewatch/cluster/shard.h"
#include "needlewatch/cluster/writer_lease.h"
#include "needlewatch/config/config.h"
#include "needlewatch/daemon/run_command.h"
#include "needlewatch/mqtt/connect.h"
#include "needlewatch/protocol/topic.h"
#include "needlewatch/record/recorder.h"
#include "needlewatch/state/state_dir.h"
#include "routes.h"
#include "sd_notify.h"
#include "run_config.h"

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
// A pair's writer lease: retained state's arrival time, and how long a claim stands first.
constexpr TimeNs kLeaseSettle = engine::kNsPerSec;

std::string JoinUrls(const std::vector<std::string>& urls) {
  std::string out;
  for (const std::string& u : urls) out += (out.empty() ? "" : ",") + u;
  return out;
}

class SystemClock : public Clock {
 public:
  TimeNs Now() override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// The live monitor's outputs: the broker, the audit log and the recorder.
class DaemonOutputs : public Outputs {
 public:
  bool Publish(const Publication& p) override { return mqtt != nullptr && mqtt->Publish(p); }
  bool Audit(std::string_view line) override { return audit.Append(line); }
  bool SyncAudit() override { return audit.Sync(); }
  void Record(record::RawMessage&& m) override {
    if (recorder) recorder->Submit(std::move(m));
  }
  bool Journal(std::string_view frames) override {
    std::string error;
    if (state == nullptr || state->Append(frames, &error)) return true;
    log::Error("state journal write failed", {{"error", error}});
    return false;
  }

  MqttClient* mqtt = nullptr;
  state::StateDir* state = nullptr;
  AuditLog audit;
  record::Recorder* recorder = nullptr;
};

class Daemon {
 public:
  Daemon(config::Config cfg, std::string config_path, WebConfig web)
      : signals_(io_),
        tick_(io_),
        watchdog_(io_),
        snapshot_timer_(io_),
        floor_frames_(io_),
        floor_pings_(io_),
        cfg_(std::move(cfg)),
        config_path_(std::move(config_path)),
        web_(std::move(web)),
        monitor_(cfg_, config_path_, clock_, outputs_) {}

  int Run();

 private:
  bool StartRecorder();
  // Durable state (state.dir): opens the directory and restores from it (before the monitor's
  // Start), SaveState writes a snapshot (after Start, every state.snapshot_interval, at stop).
  bool StartState();
  bool SaveState();
  void ArmSnapshot();
  bool StartHttp();
  // The floor page's live stream: the model's frames to every open event stream, a devices
  // frame every kFrameInterval while pens change, a ping every kPingInterval.
  void StartFloor();
  void ArmFloorTimer(asio::steady_timer& timer, std::chrono::milliseconds every,
                     std::function<void()> fn);
  bool StartMqtt(const broker::BrokerUrl& url);
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
  // What the HTTP routes need to know about the daemon, now.
  DaemonStatus CurrentStatus() const;
  // A pair (cluster.replica): claims the writer lease when due and hands the live monitor its
  // role; called on every lease/status message, connection change and tick.
  void PollLease();

  asio::io_context io_;
  asio::signal_set signals_;
  // Fires engine deadlines: armed for min(next deadline, now + 100 ms).
  asio::steady_timer tick_;
  // systemd's watchdog (WatchdogSec=): fed from the loop, so a stuck loop gets the daemon
  // restarted. Half the interval systemd asks for.
  asio::steady_timer watchdog_;
  asio::steady_timer snapshot_timer_;
  std::chrono::microseconds watchdog_every_{0};
  asio::steady_timer floor_frames_;
  asio::steady_timer floor_pings_;
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
  std::unique_ptr<record::Recorder> recorder_;
  std::unique_ptr<state::StateDir> state_;
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
  std::string error;
  std::optional<broker::BrokerUrl> url = broker::ParseBrokerUrl(
      cfg_.mqtt.urls.empty() ? cfg_.mqtt.url : cfg_.mqtt.urls.front(), &error);
  if (!url) {
    log::Error("startup failed", {{"error", error}});
    return 1;
  }
  log::Info("needlewatch starting",
            {{"version", NEEDLEWATCH_VERSION},
             {"config", config_path_.empty() ? std::string("built-in defaults") : config_path_},
             {"broker", cfg_.mqtt.urls.size() > 1 ? JoinUrls(cfg_.mqtt.urls) : url->display},
             {"instance", cfg_.mqtt.instance},
             {"listen_address", cfg_.http.listen_address},
             {"audit_log", cfg_.outputs.audit_log},
             {"record", cfg_.record.enabled}});
  outputs_.audit.set_fsync(cfg_.outputs.audit_fsync);
  if (!outputs_.audit.Open(cfg_.outputs.audit_log, &error)) {
    log::Error("startup failed", {{"error", error}});
    return 1;
  }
  if (!StartRecorder() || !StartState()) return 1;
  monitor_.Start();
  if (state_ && !SaveState()) return 1;
  if (!StartHttp() || !StartMqtt(*url)) return 1;
  ArmSnapshot();
  StartFloor();

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
  if (state_) SaveState();  // a graceful stop restarts without replaying a journal
  if (recorder_) recorder_->Stop();
  outputs_.audit.Close();
  log::Info("stopped");
  log::Flush();
  return 0;
}

bool Daemon::StartRecorder() {
  if (!cfg_.record.enabled) return true;
  record::RecorderOptions ro;
  ro.dir = cfg_.record.dir;
  ro.segment_max_bytes = cfg_.record.segment_max_bytes;
  ro.segment_max_age = cfg_.record.segment_max_age;
  ro.retention_max_bytes = cfg_.record.retention_max_bytes;
  ro.retention_max_age = cfg_.record.retention_max_age;
  ro.queue_capacity = cfg_.record.queue_capacity;
  ro.zstd_level = cfg_.record.zstd_level;
  ro.rejected_max_bytes = cfg_.record.rejected_max_bytes;
  ro.topic_root = cfg_.mqtt.topic_root;
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

bool Daemon::StartState() {
  if (cfg_.state.dir.empty()) return true;
  std::string error;
  state_ = state::StateDir::Open(cfg_.state.dir, &error);
  if (!state_) {
    log::Error("startup failed", {{"error", error}});
    return false;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const LiveMonitor::RestoreOutcome r = monitor_.RestoreState(state_->Load());
  log::Info("state", {{"dir", cfg_.state.dir},
                      {"restored", r.restored},
                      {"journal_records", static_cast<unsigned long long>(r.journal_records)},
                      {"seconds", std::chrono::duration<double>(
                                      std::chrono::steady_clock::now() - t0).count()}});
  outputs_.state = state_.get();
  return true;
}

bool Daemon::SaveState() {
  const auto t0 = std::chrono::steady_clock::now();
  state::Snapshot snapshot = monitor_.SaveState();
  snapshot.journal_generation = state_->next_generation();
  std::string error;
  if (!state_->WriteSnapshot(state::EncodeSnapshot(snapshot), &error)) {
    log::Error("state snapshot not written", {{"error", error}});
    return false;
  }
  log::Debug("state snapshot written",
             {{"generation", snapshot.journal_generation},
              {"seconds", std::chrono::duration<double>(
                              std::chrono::steady_clock::now() - t0).count()}});
  return true;
}

void Daemon::ArmSnapshot() {
  if (!state_ || stopping_) return;
  snapshot_timer_.expires_after(std::chrono::nanoseconds(cfg_.state.snapshot_interval));
  snapshot_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    monitor_.Flush();  // the journal holds everything until the snapshot is safely written
    SaveState();
    ArmSnapshot();
  });
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

void Daemon::StartFloor() {
  monitor_.floor().set_listener([this](const FloorModel::Frame& f) {
    if (http_) http_->Broadcast(f);
  });
  ArmFloorTimer(floor_frames_, kFrameInterval, [this] {
    // Nobody watching: the changed pens wait (at most one entry each) for the first stream.
    FloorModel& floor = monitor_.floor();
    if (floor.has_pending_devices() && http_->has_streams()) {
      floor.FlushDevices(monitor_.engine(), monitor_.Stamp());
    }
  });
  ArmFloorTimer(floor_pings_, kPingInterval, [this] {
    http_->Broadcast(std::make_shared<const std::string>(FloorModel::PingFrame(monitor_.Stamp())));
  });
}

void Daemon::ArmFloorTimer(asio::steady_timer& timer, std::chrono::milliseconds every,
                           std::function<void()> fn) {
  timer.expires_after(every);
  timer.async_wait([this, &timer, every, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (ec || stopping_) return;  // cancelled at shutdown
    fn();
    ArmFloorTimer(timer, every, fn);
  });
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
    lease_.emplace(cfg_.mqtt.instance, cfg_.cluster.shard_index, kLeaseSettle);
    o.control = {lease_->lease_topic(), std::string(cluster::WriterLease::kStatusFilter)};
    monitor_.SetWriter(false);  // until the lease says otherwise
    log::Info("paired replica", {{"replica", cfg_.cluster.replica},
                                 {"lease", lease_->lease_topic()}});
  }
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
    PollLease();
  };
  ev.on_message = [this](InboundMessage&& m) {
    // Also while stopping: MqttClient::Stop drains what Paho acknowledged (issue 12 item 7).
    if (lease_ && lease_->OnMessage(m.topic, m.payload, clock_.Now())) {
      PollLease();
      return;
    }
    monitor_.HandleMessage(m.topic, m.payload, m.qos, m.retain);
  };
  ev.on_batch_end = [this] {
    monitor_.Flush();  // alarm topics: the latest state per topic of the whole batch
    ArmTick();
  };
  mqtt_ = std::make_unique<MqttClient>(io_, std::move(o), std::move(ev));
  outputs_.mqtt = mqtt_.get();
  if (!mqtt_->Start(&error)) {
    log::Error("startup failed", {{"error", error}});
    return false;
  }
  return true;
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
  // The web configuration: a rotated password stops working now; a bad file keeps the old one.
  const std::string& source = cfg_.http.web_config_file.empty()
                                  ? cfg_.http.basic_auth_password_file
                                  : cfg_.http.web_config_file;
  if (source.empty()) return;
  WebConfig web;
  std::vector<std::string> errors;
  if (LoadWebConfig(cfg_.http, &web, &errors) && http_->Configure(web, &error)) {
    web_ = std::move(web);
    access_.users = !web_.users.empty();
    log::Info("web configuration reloaded",
              {{"source", source}, {"users", static_cast<unsigned long long>(web_.users.size())}});
  } else {
    if (errors.empty()) errors.push_back(error);
    for (const std::string& e : errors) {
      log::Error("web configuration reload failed", {{"error", e}});
    }
    log::Error("web configuration kept", {{"source", source}});
  }
  outputs_.audit.Append(FormatReloadAudit(monitor_.Stamp(), errors.empty(), source, errors));
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
  snapshot_timer_.cancel();
  floor_frames_.cancel();
  floor_pings_.cancel();
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
    PollLease();
    ArmTick();
  });
}

void Daemon::PollLease() {
  if (!lease_ || stopping_) return;
  if (std::optional<std::string> claim = lease_->Poll(clock_.Now())) {
    log::Info("claiming the writer lease", {{"lease", lease_->lease_topic()},
                                            {"previous_holder", lease_->holder()}});
    mqtt_->Publish({lease_->lease_topic(), std::move(*claim), 1, true, 0});
  }
  if (lease_->writer() != monitor_.writer()) {
    log::Warn(lease_->writer() ? "writer: publishing alarm topics and halts"
                               : "follower: alarm topics and halts left to the writer",
              {{"holder", lease_->holder()}, {"lease", lease_->lease_topic()}});
    monitor_.SetWriter(lease_->writer());
  }
}

DaemonStatus Daemon::CurrentStatus() const {
  DaemonStatus s;
  DaemonStats& st = s.stats;
  if (mqtt_) {
    s.ready = mqtt_->ready();
    s.not_ready = mqtt_->not_ready_reason();
    st.mqtt_connected = mqtt_->connected();
    st.queue_depth = mqtt_->queue_depth();
    st.mqtt_reconnects = mqtt_->reconnects();
    st.mqtt_connection_lost = mqtt_->connection_lost();
    st.ingest_dropped = mqtt_->inbox_dropped();
    st.ingest_blocked = mqtt_->inbox_throttled();
  } else {
    s.not_ready = "starting";
  }
  st.config_reloads_success = monitor_.reloads_ok();
  st.config_reloads_failure = monitor_.reloads_failed();
  st.audit_write_errors = outputs_.audit.write_errors();
  st.alarm_topic_corrections = monitor_.alarm_topic_corrections();
  st.halts_expired = monitor_.halts_expired();
  st.state_lost = monitor_.state_lost();
  st.state_journal_write_errors = monitor_.journal_write_errors();
  if (http_) {
    const StreamStats streams = http_->stream_stats();
    st.event_streams_open = streams.open;
    st.event_streams_opened = streams.opened;
    st.event_streams_dropped_slow = streams.dropped_slow;
    st.event_streams_refused = streams.refused;
  }
  if (recorder_) {
    st.recorder_messages = recorder_->written();
    st.recorder_bytes = recorder_->bytes();
    st.recorder_dropped = recorder_->dropped();
  }
  st.start_time_seconds = start_time_seconds_;
  st.version = NEEDLEWATCH_VERSION;
  return s;
}

}  // namespace

namespace {

// cluster.shard_count > 1: the engine admits only this shard's clinics (the rest are rejected
// not_assigned, counted), whatever the subscriptions let through. Logs the shard and its filters.
void ApplyShard(config::Config& cfg) {
  const config::ClusterConfig& k = cfg.cluster;
  std::string filters;
  for (const std::string& f : cfg.mqtt.subscriptions) filters += (filters.empty() ? "" : " ") + f;
  if (filters.empty()) filters = cluster::WildcardFilter(cfg.mqtt.topic_root);
  if (k.shard_count <= 1 && k.replica.empty()) return;
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

}  // namespace

int RunDaemon(const RunCommandOptions& options) {
  std::string error;
  // Flags first so that even config errors are logged in the requested format.
  if (!log::Init(options.log_level.value_or("info"), options.log_format.value_or("json"),
                 &error)) {
    log::Error("startup failed", {{"error", error}});
    return 1;
  }
  config::Config cfg;
  std::string path;
  if (!LoadRunConfig(options, &cfg, &path)) return 1;
  if (!log::Init(cfg.log.level, cfg.log.format, &error)) {
    log::Error("startup failed", {{"error", error}});
    return 1;
  }
  WebConfig web;
  std::vector<std::string> web_errors;
  if (!LoadWebConfig(cfg.http, &web, &web_errors)) {
    for (const std::string& e : web_errors) log::Error("web configuration error", {{"error", e}});
    log::Error("startup failed", {{"error", "invalid web configuration"}});
    return 1;
  }
  if (!cfg.http.basic_auth_username.empty()) {
    log::Warn("deprecated setting", {{"key", "http.basic_auth_username"},
                                     {"use", "basic_auth_users in http.web_config_file"}});
  }
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
