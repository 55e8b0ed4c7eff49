#include "cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
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

// One subcommand: its CLI11 node and what runs it once parsed (its flags live in the closure).
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command AddRun(CLI::App& app, const config::Config& defaults) {
  struct Flags {
    OptionalFlag config, mqtt_url, web_addr, instance, log_level, log_format, audit_log,
        record_dir, state_dir, web_config, shard_index, shard_count, replica;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* run = app.add_subcommand("run", "Run the live monitor daemon");
  run->footer(RunFooter());
  const auto flag = [run](OptionalFlag& into, const std::string& name, const std::string& help,
                          const std::string& shown_default) {
    AddOptional(run, into, name, help, shown_default)->envname(EnvNameFor(name));
  };
  flag(f->config, "--config.file",
       "YAML configuration file (config/needlewatch.yaml lists every key); none: built-in "
       "defaults",
       "");
  flag(f->mqtt_url, "--mqtt.url",
       "Broker URL, mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (config: mqtt.url)",
       defaults.mqtt.url);
  flag(f->web_addr, "--web.listen-address",
       "HTTP listen address for /metrics, /readyz and the alarm API (config: "
       "http.listen_address)",
       defaults.http.listen_address);
  flag(f->instance, "--mqtt.instance",
       "Instance name, published on needlewatch/{instance}/status (config: mqtt.instance)",
       defaults.mqtt.instance);
  flag(f->log_level, "--log.level", "trace, debug, info, warn or error (config: log.level)",
       defaults.log.level);
  flag(f->log_format, "--log.format", "json or text (config: log.format)", defaults.log.format);
  flag(f->audit_log, "--outputs.audit-log",
       "Audit log path, JSON lines; empty = off (config: outputs.audit_log)",
       defaults.outputs.audit_log);
  flag(f->record_dir, "--record.dir",
       "Record every message into this directory; giving it turns recording on (config: "
       "record.enabled, record.dir)",
       "");
  flag(f->state_dir, "--state.dir",
       "Keep alarms, sessions and presence across restarts in this directory (created "
       "when missing; config: state.dir)",
       "");
  flag(f->web_config, "--web.config.file",
       "Web configuration: users with bcrypt hashes, TLS, mutual TLS (Prometheus "
       "exporter-toolkit format; config: http.web_config_file)",
       "");
  flag(f->shard_index, "--cluster.shard-index",
       "This monitor's shard, 0 to shard-count-1 (config: cluster.shard_index)", "0");
  flag(f->shard_count, "--cluster.shard-count",
       "Number of shards; messages of other shards' clinics are refused as not_assigned "
       "(config: cluster.shard_count)",
       "1");
  flag(f->replica, "--cluster.replica",
       "Replica letter a-z within the shard's pair; empty = no pair (config: "
       "cluster.replica)",
       "");
  return {run, [f] {
            daemon::RunCommandOptions o;
            o.config_file = f->config.Get();
            o.mqtt_url = f->mqtt_url.Get();
            o.web_listen_address = f->web_addr.Get();
            o.instance = f->instance.Get();
            o.log_level = f->log_level.Get();
            o.log_format = f->log_format.Get();
            o.audit_log = f->audit_log.Get();
            o.record_dir = f->record_dir.Get();
            o.web_config_file = f->web_config.Get();
            o.state_dir = f->state_dir.Get();
            o.shard_index = f->shard_index.Get();
            o.shard_count = f->shard_count.Get();
            o.replica = f->replica.Get();
            return daemon::RunDaemon(o);
          }};
}

Command AddReplay(CLI::App& app) {
  struct Flags {
    replay::ReplayCommandOptions ro;
    OptionalFlag config, clinic, device, from, to, publish, fail_on, mcap_max_memory;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* replay =
      app.add_subcommand("replay", "Replay captures or recordings through the engine and report");
  replay->footer(ReplayFooter());
  AddOptional(replay, f->config, "--config.file",
              "YAML file with limits; none: the limits the daemon recorded, else built-in");
  replay->add_option("--format", f->ro.format, "Report format")
      ->check(CLI::IsMember({"text", "json", "csv", "html"}))
      ->capture_default_str();
  AddOptional(replay, f->clinic, "--clinic", "Only this clinic; none: every clinic");
  AddOptional(replay, f->device, "--device", "Only this device; none: every device");
  AddOptional(replay, f->from, "--from",
              "Start time, RFC 3339 or seconds since the epoch; none: from the first record");
  AddOptional(replay, f->to, "--to",
              "End time, RFC 3339 or seconds since the epoch; none: to the last record");
  AddOptional(replay, f->publish, "--publish",
              "Republish to mqtt://HOST:PORT (or mqtts://) instead of reporting");
  replay->add_option("--speed", f->ro.speed, "With --publish: speed factor (1, 2, …) or max")
      ->capture_default_str();
  replay->add_flag("--loop", f->ro.loop, "With --publish: start over at the end, until Ctrl-C");
  AddOptional(replay, f->fail_on, "--fail-on",
              "Exit 3 when an alarm of this severity or higher was raised (low, medium, high)");
  f->fail_on.option->check(CLI::IsMember({"low", "medium", "high"}));
  AddOptional(replay, f->mcap_max_memory, "--mcap.max-memory",
              "Memory budget for reading recordings, e.g. 512MiB (default 256MiB)");
  replay->add_option("FILE", f->ro.files, "Capture or recording files")->required();
  return {replay, [f] {
            replay::ReplayCommandOptions& ro = f->ro;
            ro.config_file = f->config.Get();
            ro.clinic = f->clinic.Get();
            ro.device = f->device.Get();
            ro.from = f->from.Get();
            ro.to = f->to.Get();
            ro.publish_url = f->publish.Get();
            ro.fail_on = f->fail_on.Get();
            ro.mcap_max_memory = f->mcap_max_memory.Get();
            if (ro.publish_url) return republish::RunRepublishCommand(ro, std::cout, std::cerr);
            return replay::RunReplayCommand(ro, std::cout, std::cerr);
          }};
}

Command AddCheckConfig(CLI::App& app) {
  auto file = std::make_shared<std::string>();
  CLI::App* check = app.add_subcommand("check-config", "Validate a configuration file");
  check->footer(
      "Exit status: 0 when the file is valid; 1 with one line per error\n"
      "(FILE:LINE: key: expected …, got …).\n"
      "\n"
      "Examples:\n"
      "  needlewatch check-config /etc/needlewatch/needlewatch.yaml\n"
      "  needlewatch check-config /etc/needlewatch/needlewatch.yaml && systemctl reload "
      "needlewatch");
  check->add_option("FILE", *file, "Configuration file")->required();
  return {check, [file] { return config::RunCheckConfig(*file, std::cout, std::cerr); }};
}

// `recordings ls` and `recordings export`: one command for each.
std::vector<Command> AddRecordings(CLI::App& app) {
  CLI::App* recordings = app.add_subcommand("recordings", "Inspect and export recordings");
  recordings->require_subcommand(1);
  recordings->footer(
      "Examples:\n"
      "  needlewatch recordings ls /var/lib/needlewatch/recordings\n"
      "  needlewatch recordings export /var/lib/needlewatch/recordings > messages.jsonl");
  CLI::App* ls = recordings->add_subcommand("ls", "List segments in a directory");
  ls->footer(
      "Example:\n"
      "  needlewatch recordings ls /var/lib/needlewatch/recordings");
  auto dir = std::make_shared<std::string>();
  ls->add_option("DIR", *dir, "Recording directory")->required();
  CLI::App* exp = recordings->add_subcommand("export", "Export messages, one JSON object per line");
  exp->footer(
      "Examples:\n"
      "  needlewatch recordings export /var/lib/needlewatch/recordings > messages.jsonl\n"
      "  needlewatch recordings export segment.mcap | grep '/device/d00042/'");
  struct ExportFlags {
    std::string format = "jsonl";
    std::vector<std::string> paths;
  };
  auto e = std::make_shared<ExportFlags>();
  exp->add_option("--format", e->format, "Output format")
      ->check(CLI::IsMember({"jsonl"}))
      ->capture_default_str();
  exp->add_option("PATH", e->paths, "Segments or directories")->required();
  return {{ls, [dir] { return record::RunRecordingsLs(*dir, std::cout, std::cerr); }},
          {exp, [e] { return record::RunRecordingsExport(e->paths, e->format, std::cout,
                                                         std::cerr); }}};
}

Command AddShardPlan(CLI::App& app) {
  struct Flags {
    cluster::ShardPlanOptions spo;
    OptionalFlag clinics;
    std::uint32_t shard = 0;
    CLI::Option* shard_opt = nullptr;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* plan = app.add_subcommand("shard-plan", "Assign clinics to monitor shards");
  plan->add_option("--shards", f->spo.shards, "Number of shards")->required();
  AddOptional(plan, f->clinics, "--clinics", "File with one clinic ID per line, - = stdin");
  plan->add_option("--topic-root", f->spo.topic_root, "First topic level (mqtt.topic_root)");
  plan->add_option("--format", f->spo.format, "Output format")
      ->check(CLI::IsMember({"text", "yaml", "json"}));
  f->shard_opt =
      plan->add_option("--shard", f->shard, "Only this shard (yaml: its config fragment)");
  return {plan, [f] {
            f->spo.clinics_file = f->clinics.Get();
            if (f->shard_opt->count() > 0) f->spo.shard = f->shard;
            return cluster::RunShardPlan(f->spo, std::cout, std::cerr);
          }};
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"needlewatch: real-time safety monitor for microneedling devices"};
  app.set_version_flag("--version", build_info::VersionText("needlewatch"),
                       "Print the version and build information and exit");
  app.require_subcommand(1);
  std::vector<Command> commands = {AddRun(app, config::DefaultConfig()), AddReplay(app),
                                   AddCheckConfig(app)};
  for (Command& c : AddRecordings(app)) commands.push_back(std::move(c));
  commands.push_back(AddShardPlan(app));
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
  for (const Command& c : commands) {
    if (c.app->parsed()) return c.run();
  }
  return 2;
}

}  // namespace needlewatch::app
