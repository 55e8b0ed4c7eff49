#include "runner.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ostream>
#include <thread>

#include "needlewatch/config/config.h"
#include "report.h"
#include "transport.h"

namespace needlewatch::sim {
namespace {

using SteadyClock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;
extern "C" void OnSignal(int) { g_stop = 1; }

std::int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One connection per device needs one descriptor each: lift the soft limit to the hard one.
void RaiseFileLimit(std::size_t wanted) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= wanted + 64) return;
  rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, wanted + 64);
  setrlimit(RLIMIT_NOFILE, &rl);
}

std::string Validate(const SimOptions& o) {
  if (o.clinics < 1 || o.clinics > 999) return "--clinics: expected 1 to 999";
  if (o.devices < 1 || o.devices > 9999) return "--devices: expected 1 to 9999";
  if (o.mqtt_version != 4 && o.mqtt_version != 5) return "--mqtt.version: expected 4 or 5";
  if (o.qos != 0 && o.qos != 1) return "--qos: expected 0 or 1";
  if (o.sample_rate_hz < 1 || o.sample_rate_hz > 1000) {
    return "--sample-rate: expected 1 to 1000 samples per second";
  }
  if (!(o.time_scale > 0) || o.time_scale > 1e6) return "--time-scale: expected > 0";
  if (o.rate < 0) return "--rate: expected >= 0 (0 = no cap)";
  if (o.duration < 0) return "--duration: expected >= 0";
  if (o.shared_connections < 1 || o.shared_connections > 256) {
    return "--shared-connections: expected 1 to 256";
  }
  if (o.max_inflight < 1 || o.max_inflight > 60000) return "--max-inflight: expected 1 to 60000";
  return {};
}

}  // namespace

int RunSim(const SimOptions& o, std::ostream& out, std::ostream& err) {
  if (const std::string e = Validate(o); !e.empty()) {
    err << "needlewatch-sim: " << e << "\n";
    return 2;
  }
  std::string fault_error;
  const std::optional<FaultRates> rates = ParseFaultRates(o.faults, &fault_error);
  if (!rates) {
    err << "needlewatch-sim: " << fault_error << "\n";
    return 2;
  }
  engine::Limits limits;
  if (o.config_file.empty()) {
    limits = config::DefaultConfig().limits;
  } else {
    config::LoadResult loaded = config::LoadConfigFile(o.config_file);
    if (!loaded.ok()) {
      for (const std::string& e : loaded.errors) err << "needlewatch-sim: " << e << "\n";
      return 2;
    }
    limits = loaded.config->limits;
  }

  FleetOptions fo;
  fo.clinics = o.clinics;
  fo.devices = o.devices;
  fo.sample_rate_hz = o.sample_rate_hz;
  fo.time_scale = o.time_scale;
  fo.faults = *rates;
  fo.seed = o.seed;
  fo.root = o.topic_root;
  fo.telemetry_qos = o.qos;
  fo.per_device_connections = o.per_device_connections;
  fo.run_duration = o.duration;
  Fleet fleet(fo, limits);

  std::vector<std::string> ids;
  for (int d = 0; d < fleet.device_count(); ++d) {
    ids.push_back(fleet.ClinicOf(d) + "-" + fleet.IdOf(d));
  }
  TransportOptions to;
  to.url = o.mqtt_url;
  to.mqtt_version = o.mqtt_version;
  to.per_device = o.per_device_connections;
  to.shared_connections = std::min(o.shared_connections, fleet.device_count());
  to.max_inflight = o.max_inflight;
  to.client_id_prefix =
      o.client_id_prefix.empty() ? "nwsim-" + std::to_string(getpid()) : o.client_id_prefix;
  if (o.per_device_connections) RaiseFileLimit(static_cast<std::size_t>(fleet.device_count()));
  Transport transport(to, std::move(ids));
  std::string error;
  if (!transport.Start(std::chrono::seconds(10), &error)) {
    err << "needlewatch-sim: " << error << "\n";
    return 1;
  }

  g_stop = 0;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  const double started_at = static_cast<double>(WallMs()) / 1e3;
  const SteadyClock::time_point start = SteadyClock::now();
  auto since_start = [&start] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - start)
        .count();
  };
  std::vector<Action> actions;
  std::vector<int> up;
  std::uint64_t executed = 0;
  // Token bucket for --rate, at most 50 ms of burst.
  double tokens = 0;
  const double burst = std::max(1.0, o.rate / 20);
  TimeNs last_refill = 0;
  TimeNs next_progress = 5 * kSec;

  auto execute = [&](const Action& a) {
    switch (a.kind) {
      case Action::Kind::kConnect:
        transport.Connect(a.device, a.topic, a.payload);
        break;
      case Action::Kind::kPublish:
        transport.Publish(a.device, a.topic, a.payload, a.qos, a.retain);
        ++executed;
        break;
      case Action::Kind::kDrop:
        transport.Drop(a.device);
        break;
    }
  };

  while (g_stop == 0) {
    TimeNs now = since_start();
    if (o.duration > 0 && now >= o.duration) break;
    up.clear();
    transport.Poll(up);
    for (int d : up) fleet.OnConnected(d, now);

    std::size_t budget = 4096;
    if (o.rate > 0) {
      tokens = std::min(burst, tokens + static_cast<double>(now - last_refill) / 1e9 * o.rate);
      last_refill = now;
      if (tokens < 1) {
        const auto wait = static_cast<TimeNs>((1 - tokens) / o.rate * 1e9);
        std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<TimeNs>(wait, 20'000)));
        continue;
      }
      budget = static_cast<std::size_t>(tokens);
    }
    actions.clear();
    const TimeNs next = fleet.Step(now, WallMs(), budget, actions);
    for (const Action& a : actions) execute(a);
    tokens -= static_cast<double>(actions.size());

    if (!o.quiet && now >= next_progress) {
      next_progress += 5 * kSec;
      const TransportStats ts = transport.stats();
      out << "needlewatch-sim: " << static_cast<double>(now) / 1e9 << " s, " << ts.published
          << " published (" << static_cast<std::uint64_t>(static_cast<double>(ts.published) /
                                                          (static_cast<double>(now) / 1e9))
          << "/s), " << fleet.faults().size() << " faults injected\n"
          << std::flush;
    }
    now = since_start();
    if (next > now) {
      // Sleep until the next due step, but wake often enough to see connections come up.
      const TimeNs wait = std::min<TimeNs>(next - now, 5 * kMs);
      std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
    }
  }
  const TimeNs elapsed = since_start();

  actions.clear();
  fleet.Finish(WallMs(), actions);
  for (const Action& a : actions) execute(a);
  transport.Shutdown(std::chrono::seconds(5));
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);

  const TransportStats ts = transport.stats();
  RunSummary summary;
  summary.started_at = started_at;
  summary.ended_at = static_cast<double>(WallMs()) / 1e3;
  summary.elapsed_s = static_cast<double>(elapsed) / 1e9;
  summary.fleet = fleet.stats();
  summary.transport = ts;
  if (!o.report_path.empty()) {
    std::string report_error;
    if (!WriteReport(o.report_path, o, summary, fleet.faults(), &report_error)) {
      err << "needlewatch-sim: " << report_error << "\n";
      return 1;
    }
  }
  if (!o.quiet) PrintSummary(out, o, summary, fleet.faults());
  return 0;
}

}  // namespace needlewatch::sim
