#include "cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "needlewatch/cluster/shard_plan_command.h"
#include "needlewatch/build_info.h"
#include "needlewatch/config/config.h"
#include "needlewatch/daemon/run_command.h"
#include "needlewatch/record/recordings_command.h"
#include "needlewatch/replay/replay_command.h"
#include "needlewatch/republish/republish_command.h"

namespace needlewatch::app {
namespace {

// CLI11 2.1 has no std::optional binding; bind a plain string and convert if it was given (on
// the command line or through its environment variable).
struct OptionalFlag {
  std::string value;
  CLI::Option* option = nullptr;
  std::optional<std::string> Get() const {
    if (option != nullptr && option->count() > 0) return value;
    return std::nullopt;
  }
};

// A flag whose absence means "the configuration file decides": its help shows the built-in
// default (`shown_default`, "" for none) without CLI11 ever assigning it.
CLI::Option* AddOptional(CLI::App* app, OptionalFlag& flag, const std::string& name,
                         const std::string& help, const std::string& shown_default = "") {
  flag.option = app->add_option(name, flag.value, help);
  if (!shown_default.empty()) flag.option->default_str(shown_default);
  return flag.option;
}

// `run` flags read NEEDLEWATCH_ + the flag's name in capitals, dots and dashes as underscores:
// --mqtt.url -> NEEDLEWATCH_MQTT_URL.
std::string EnvNameFor(const std::string& flag) {
  std::string env = "NEEDLEWATCH_";
  for (char c : flag.substr(flag.find_first_not_of('-'))) {
    env += (c == '.' || c == '-') ? '_'
                                  : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return env;
}

// argv[1..] with each "--flag=" (an empty value, e.g. --outputs.audit-log= to turn it off) as
// "--flag" "": CLI11 would otherwise take the next argument as the flag's value.
std::vector<std::string> SplitEmptyValues(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 3 && a.rfind("--", 0) == 0 && a.back() == '=' && a.find('=') == a.size() - 1) {
      a.pop_back();
      args.push_back(std::move(a));
      args.emplace_back();
    } else {
      args.push_back(std::move(a));
    }
  }
  return args;
}

// Shown in every help that can reach a broker. The variable names are those of
// monitor/mqtt/include/needlewatch/mqtt/connect.h; secrets are never flags.
constexpr char kCredentialsHelp[] =
    "  NEEDLEWATCH_MQTT_USERNAME, NEEDLEWATCH_MQTT_PASSWORD\n"
    "      broker credentials (never flags)";

constexpr char kTopFooter[] =
    "Examples:\n"
    "  needlewatch run --config.file=/etc/needlewatch/needlewatch.yaml\n"
    "  needlewatch check-config /etc/needlewatch/needlewatch.yaml\n"
    "  needlewatch replay --format=html recordings/*.mcap > incident.html\n"
    "  needlewatch recordings ls /var/lib/needlewatch/recordings\n"
    "\n"
    "`needlewatch COMMAND --help` shows each command's flags, defaults and examples;\n"
    "man needlewatch has them all.";

std::string RunFooter() {
  return std::string(
             "Precedence: a flag, then its environment variable (Env:), then the configuration\n"
             "file, then the built-in default shown.\n"
             "\n"
             "Environment:\n") +
         kCredentialsHelp +
         ", read when the configuration's\n"
         "      mqtt.username_file / mqtt.password_file are empty\n"
         "\n"
         "Signals: SIGHUP reloads the configuration file's limits (systemctl reload);\n"
         "SIGTERM and SIGINT stop gracefully.\n"
         "\n"
         "Examples:\n"
         "  needlewatch run --config.file=/etc/needlewatch/needlewatch.yaml\n"
         "  needlewatch run --mqtt.url=mqtts://broker.example:8883 --log.format=text\n"
         "  needlewatch run --log.format=text --record.dir=./recordings    # try it out locally";
}

std::string ReplayFooter() {
  return std::string(
             "Inputs: MCAP recordings (needlewatch run --record.dir) and mosquitto_sub\n"
             "captures (-F '%U %t %p' or -F %j), merged by receive time.\n"
             "\n"
             "Environment (with --publish):\n") +
         kCredentialsHelp +
         "\n"
         "  NEEDLEWATCH_MQTT_CA_FILE\n"
         "      CA bundle for an mqtts:// broker (default: the system's trust store)\n"
         "\n"
         "Examples:\n"
         "  needlewatch replay /var/lib/needlewatch/recordings/*.mcap\n"
         "  needlewatch replay --device=d00042 --from=2026-03-01T09:00:00Z --format=html \\\n"
         "      capture.txt > d00042.html\n"
         "  needlewatch replay --format=json --config.file=reviewed-limits.yaml session.mcap\n"
         "  needlewatch replay --publish=mqtt://127.0.0.1:1883 --speed=10 --loop session.mcap";
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"needlewatch: real-time safety monitor for microneedling devices"};
  app.set_version_flag("--version", build_info::VersionText("needlewatch"),
                       "Print the version and build information and exit");
  app.require_subcommand(1);
  const config::Config defaults = config::DefaultConfig();

  // needlewatch run
  CLI::App* run = app.add_subcommand("run", "Run the live monitor daemon");
  run->footer(RunFooter());
  OptionalFlag run_config, mqtt_url, web_addr, instance, log_level, log_format, audit_log,
      record_dir;
  const auto run_flag = [run](OptionalFlag& flag, const std::string& name, const std::string& help,
                              const std::string& shown_default) {
    AddOptional(run, flag, name, help, shown_default)->envname(EnvNameFor(name));
  };
  run_flag(run_config, "--config.file",
           "YAML configuration file (config/needlewatch.yaml lists every key); none: built-in "
           "defaults",
           "");
  run_flag(mqtt_url, "--mqtt.url",
           "Broker URL, mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (config: mqtt.url)",
           defaults.mqtt.url);
  run_flag(web_addr, "--web.listen-address",
           "HTTP listen address for /metrics, /readyz and the alarm API (config: "
           "http.listen_address)",
           defaults.http.listen_address);
  run_flag(instance, "--mqtt.instance",
           "Instance name, published on needlewatch/{instance}/status (config: mqtt.instance)",
           defaults.mqtt.instance);
  run_flag(log_level, "--log.level", "trace, debug, info, warn or error (config: log.level)",
           defaults.log.level);
  run_flag(log_format, "--log.format", "json or text (config: log.format)", defaults.log.format);
  run_flag(audit_log, "--outputs.audit-log",
           "Audit log path, JSON lines; empty = off (config: outputs.audit_log)",
           defaults.outputs.audit_log);
  run_flag(record_dir, "--record.dir",
           "Record every message into this directory; giving it turns recording on (config: "
           "record.enabled, record.dir)",
           "");
  OptionalFlag state_dir;
  run_flag(state_dir, "--state.dir",
           "Keep alarms, sessions and presence across restarts in this directory (created "
           "when missing; config: state.dir)",
           "");
  OptionalFlag web_config;
  run_flag(web_config, "--web.config.file",
           "Web configuration: users with bcrypt hashes, TLS, mutual TLS (Prometheus "
           "exporter-toolkit format; config: http.web_config_file)",
           "");

  OptionalFlag shard_index, shard_count, replica;
  run_flag(shard_index, "--cluster.shard-index",
           "This monitor's shard, 0 to shard-count-1 (config: cluster.shard_index)", "0");
  run_flag(shard_count, "--cluster.shard-count",
           "Number of shards; messages of other shards' clinics are refused as not_assigned "
           "(config: cluster.shard_count)",
           "1");
  run_flag(replica, "--cluster.replica",
           "Replica letter a-z within the shard's pair; empty = no pair (config: "
           "cluster.replica)",
           "");

  // needlewatch replay
  CLI::App* replay =
      app.add_subcommand("replay", "Replay captures or recordings through the engine and report");
  replay->footer(ReplayFooter());
  replay::ReplayCommandOptions ro;
  OptionalFlag replay_config, clinic, device, from, to, publish;
  AddOptional(replay, replay_config, "--config.file",
              "YAML file with limits; none: the limits the daemon recorded, else built-in");
  replay->add_option("--format", ro.format, "Report format")
      ->check(CLI::IsMember({"text", "json", "csv", "html"}))
      ->capture_default_str();
  AddOptional(replay, clinic, "--clinic", "Only this clinic; none: every clinic");
  AddOptional(replay, device, "--device", "Only this device; none: every device");
  AddOptional(replay, from, "--from",
              "Start time, RFC 3339 or seconds since the epoch; none: from the first record");
  AddOptional(replay, to, "--to",
              "End time, RFC 3339 or seconds since the epoch; none: to the last record");
  AddOptional(replay, publish, "--publish",
              "Republish to mqtt://HOST:PORT (or mqtts://) instead of reporting");
  replay->add_option("--speed", ro.speed, "With --publish: speed factor (1, 2, …) or max")
      ->capture_default_str();
  replay->add_flag("--loop", ro.loop, "With --publish: start over at the end, until Ctrl-C");
  OptionalFlag fail_on, mcap_max_memory;
  AddOptional(replay, fail_on, "--fail-on",
              "Exit 3 when an alarm of this severity or higher was raised (low, medium, high)");
  fail_on.option->check(CLI::IsMember({"low", "medium", "high"}));
  AddOptional(replay, mcap_max_memory, "--mcap.max-memory",
              "Memory budget for reading recordings, e.g. 512MiB (default 256MiB)");
  replay->add_option("FILE", ro.files, "Capture or recording files")->required();

  // needlewatch check-config
  CLI::App* check = app.add_subcommand("check-config", "Validate a configuration file");
  check->footer(
      "Exit status: 0 when the file is valid; 1 with one line per error\n"
      "(FILE:LINE: key: expected …, got …).\n"
      "\n"
      "Examples:\n"
      "  needlewatch check-config /etc/needlewatch/needlewatch.yaml\n"
      "  needlewatch check-config /etc/needlewatch/needlewatch.yaml && systemctl reload "
      "needlewatch");
  std::string check_file;
  check->add_option("FILE", check_file, "Configuration file")->required();

  // needlewatch recordings ls|export
  CLI::App* recordings = app.add_subcommand("recordings", "Inspect and export recordings");
  recordings->require_subcommand(1);
  recordings->footer(
      "Examples:\n"
      "  needlewatch recordings ls /var/lib/needlewatch/recordings\n"
      "  needlewatch recordings export /var/lib/needlewatch/recordings > messages.jsonl");
  CLI::App* rec_ls = recordings->add_subcommand("ls", "List segments in a directory");
  rec_ls->footer(
      "Example:\n"
      "  needlewatch recordings ls /var/lib/needlewatch/recordings");
  std::string rec_dir;
  rec_ls->add_option("DIR", rec_dir, "Recording directory")->required();
  CLI::App* rec_export =
      recordings->add_subcommand("export", "Export messages, one JSON object per line");
  rec_export->footer(
      "Examples:\n"
      "  needlewatch recordings export /var/lib/needlewatch/recordings > messages.jsonl\n"
      "  needlewatch recordings export segment.mcap | grep '/device/d00042/'");
  std::string export_format = "jsonl";
  std::vector<std::string> export_paths;
  rec_export->add_option("--format", export_format, "Output format")
      ->check(CLI::IsMember({"jsonl"}))
      ->capture_default_str();
  rec_export->add_option("PATH", export_paths, "Segments or directories")->required();

  // needlewatch shard-plan
  CLI::App* shard_plan = app.add_subcommand("shard-plan", "Assign clinics to monitor shards");
  cluster::ShardPlanOptions spo;
  OptionalFlag spo_clinics;
  std::uint32_t spo_shard = 0;
  shard_plan->add_option("--shards", spo.shards, "Number of shards")->required();
  AddOptional(shard_plan, spo_clinics, "--clinics", "File with one clinic ID per line, - = stdin");
  shard_plan->add_option("--topic-root", spo.topic_root, "First topic level (mqtt.topic_root)");
  shard_plan->add_option("--format", spo.format, "Output format")
      ->check(CLI::IsMember({"text", "yaml", "json"}));
  CLI::Option* spo_shard_opt =
      shard_plan->add_option("--shard", spo_shard, "Only this shard (yaml: its config fragment)");

  // Set last: CLI11 copies a parent's footer into subcommands created after it.
  app.footer(kTopFooter);

  try {
    std::vector<std::string> args = SplitEmptyValues(argc, argv);
    std::reverse(args.begin(), args.end());        // CLI11 takes the vector last argument first
    app.name(argc > 0 ? argv[0] : "needlewatch");  // for the usage line, as parse(argc, argv)
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (run->parsed()) {
    daemon::RunCommandOptions o;
    o.config_file = run_config.Get();
    o.mqtt_url = mqtt_url.Get();
    o.web_listen_address = web_addr.Get();
    o.instance = instance.Get();
    o.log_level = log_level.Get();
    o.log_format = log_format.Get();
    o.audit_log = audit_log.Get();
    o.record_dir = record_dir.Get();
    o.web_config_file = web_config.Get();
    o.state_dir = state_dir.Get();
    o.shard_index = shard_index.Get();
    o.shard_count = shard_count.Get();
    o.replica = replica.Get();
    return daemon::RunDaemon(o);
  }
  if (replay->parsed()) {
    ro.config_file = replay_config.Get();
    ro.clinic = clinic.Get();
    ro.device = device.Get();
    ro.from = from.Get();
    ro.to = to.Get();
    ro.publish_url = publish.Get();
    ro.fail_on = fail_on.Get();
    ro.mcap_max_memory = mcap_max_memory.Get();
    if (ro.publish_url) return republish::RunRepublishCommand(ro, std::cout, std::cerr);
    return replay::RunReplayCommand(ro, std::cout, std::cerr);
  }
  if (check->parsed()) return config::RunCheckConfig(check_file, std::cout, std::cerr);
  if (rec_ls->parsed()) return record::RunRecordingsLs(rec_dir, std::cout, std::cerr);
  if (rec_export->parsed()) {
    return record::RunRecordingsExport(export_paths, export_format, std::cout, std::cerr);
  }
  if (shard_plan->parsed()) {
    spo.clinics_file = spo_clinics.Get();
    if (spo_shard_opt->count() > 0) spo.shard = spo_shard;
    return cluster::RunShardPlan(spo, std::cout, std::cerr);
  }
  return 2;
}

}  // namespace needlewatch::app
