// needlewatch-sim: command line (CLI11 lives only in this file). See README.md.
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "needlewatch/build_info.h"
#include "needlewatch/config/config.h"
#include "runner.h"

namespace {

// "60s", "2m", "500ms", "1h" (the daemon's duration syntax); "0" means no limit.
bool ParseDurationFlag(const std::string& text, needlewatch::sim::TimeNs* out) {
  if (text == "0") {
    *out = 0;
    return true;
  }
  const auto d = needlewatch::config::ParseDuration(text);
  if (!d) return false;
  *out = *d;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using needlewatch::sim::SimOptions;
  SimOptions o;
  CLI::App app{
      "needlewatch-sim: a simulated fleet of microneedling pens publishing telemetry, session "
      "events and status over MQTT, with fault injection"};
  app.set_version_flag("--version", needlewatch::build_info::VersionText("needlewatch-sim"),
                       "Print the version and build information and exit");
  app.footer(
      "Environment:\n"
      "  NEEDLEWATCH_MQTT_USERNAME, NEEDLEWATCH_MQTT_PASSWORD\n"
      "      broker credentials for every simulated pen (never flags)\n"
      "\n"
      "Examples:\n"
      "  needlewatch-sim                                      # 2 clinics x 3 pens for 60 s\n"
      "  needlewatch-sim --clinics=10 --devices=50 --duration=0 --connections=shared\n"
      "  needlewatch-sim --faults=over_depth=0.2,offline=0.05 --report=injected.json\n"
      "  needlewatch-sim --config.file=/etc/needlewatch/needlewatch.yaml --seed=7");
  std::string duration = "60s", connections = "per-device";
  app.add_option("--mqtt.url", o.mqtt_url, "Broker URL, mqtt://host:port")->capture_default_str();
  app.add_option("--mqtt.version", o.mqtt_version, "MQTT protocol version: 4 (3.1.1) or 5")
      ->capture_default_str();
  app.add_option("--qos", o.qos, "Telemetry QoS, 0 or 1 (events and status always use 1)")
      ->capture_default_str();
  app.add_option("--clinics", o.clinics, "Number of clinics")->capture_default_str();
  app.add_option("--devices", o.devices, "Devices per clinic")->capture_default_str();
  app.add_option("--duration", duration, "How long to run (60s, 2m, …; 0 = until Ctrl-C)")
      ->capture_default_str();
  app.add_option("--rate", o.rate, "Cap on total messages per second (0 = no cap)")
      ->capture_default_str();
  app.add_option("--sample-rate", o.sample_rate_hz,
                 "Telemetry samples per second per treating device (real time)")
      ->capture_default_str();
  app.add_option("--time-scale", o.time_scale,
                 "Session clock speed-up: 60 makes an hour-long session last a minute")
      ->capture_default_str();
  app.add_option("--faults", o.faults,
                 "Fault rates, e.g. over_depth=0.1,speed=0.05,overtime=0.02,dropout=0.05,"
                 "offline=0.02,seq_gap=0.01 (per session) and malformed=0.01,spoofed_topic=0.01 "
                 "(per telemetry message)")
      ->capture_default_str();
  app.add_option("--report", o.report_path,
                 "Write what was injected to this JSON file (default: no report)");
  app.add_option("--connections", connections,
                 "per-device (one connection and Last Will each) or shared")
      ->check(CLI::IsMember({"per-device", "shared"}))
      ->capture_default_str();
  app.add_option("--shared-connections", o.shared_connections,
                 "Connections in shared mode (devices are spread over them)")
      ->capture_default_str();
  app.add_option("--max-inflight", o.max_inflight, "Unfinished publishes per connection")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Random seed: the same seed gives the same fleet")
      ->capture_default_str();
  app.add_option("--config.file", o.config_file,
                 "The daemon's config file: its limits shape safe values and fault lengths "
                 "(default: the built-in limits)");
  app.add_option("--topic-root", o.topic_root, "Topic root")->capture_default_str();
  app.add_option("--client-id-prefix", o.client_id_prefix, "Client ID prefix (default: nwsim-PID)");
  app.add_flag("--quiet", o.quiet, "Print nothing but errors");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!ParseDurationFlag(duration, &o.duration)) {
    std::cerr << "needlewatch-sim: --duration: expected a duration such as 60s, 2m or 500ms, "
                 "got \""
              << duration << "\"\n";
    return 2;
  }
  o.per_device_connections = connections == "per-device";
  return needlewatch::sim::RunSim(o, std::cout, std::cerr);
}
