#include "cli.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "needlewatch/config/config.h"
#include "needlewatch/daemon/run_command.h"
#include "needlewatch/record/recordings_command.h"
#include "needlewatch/replay/replay_command.h"
#include "needlewatch/republish/republish_command.h"

namespace needlewatch::app {
namespace {

// CLI11 2.1 has no std::optional binding; bind a plain string and convert if it was given.
struct OptionalFlag {
  std::string value;
  CLI::Option* option = nullptr;
  std::optional<std::string> Get() const {
    if (option != nullptr && option->count() > 0) return value;
    return std::nullopt;
  }
};

void AddOptional(CLI::App* app, OptionalFlag& flag, const std::string& name,
                 const std::string& help) {
  flag.option = app->add_option(name, flag.value, help);
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"needlewatch: real-time safety monitor for microneedling devices"};
  app.set_version_flag("--version", std::string("needlewatch ") + NEEDLEWATCH_VERSION);
  app.require_subcommand(1);

  // needlewatch run
  CLI::App* run = app.add_subcommand("run", "Run the live monitor daemon");
  OptionalFlag run_config, mqtt_url, web_addr, instance, log_level, log_format, audit_log,
      record_dir;
  AddOptional(run, run_config, "--config.file", "YAML configuration file");
  AddOptional(run, mqtt_url, "--mqtt.url", "Broker URL, mqtt://host:port or mqtts://host:port");
  AddOptional(run, web_addr, "--web.listen-address", "HTTP listen address (metrics, API)");
  AddOptional(run, instance, "--mqtt.instance", "Instance name for needlewatch/{instance}/status");
  AddOptional(run, log_level, "--log.level", "trace, debug, info, warn or error");
  AddOptional(run, log_format, "--log.format", "json or text");
  AddOptional(run, audit_log, "--outputs.audit-log", "Audit log path (JSON lines); empty = off");
  AddOptional(run, record_dir, "--record.dir", "Record every message into this directory");

  // needlewatch replay
  CLI::App* replay = app.add_subcommand("replay", "Replay captures or recordings and report");
  replay::ReplayCommandOptions ro;
  OptionalFlag replay_config, clinic, device, from, to, publish;
  AddOptional(replay, replay_config, "--config.file",
              "YAML file with limits (default: those the daemon recorded, else built-in)");
  replay->add_option("--format", ro.format, "Report format")
      ->check(CLI::IsMember({"text", "json", "csv", "html"}));
  AddOptional(replay, clinic, "--clinic", "Only this clinic");
  AddOptional(replay, device, "--device", "Only this device");
  AddOptional(replay, from, "--from", "Start time (RFC 3339 or epoch seconds)");
  AddOptional(replay, to, "--to", "End time (RFC 3339 or epoch seconds)");
  AddOptional(replay, publish, "--publish", "Republish to mqtt://HOST:PORT instead of reporting");
  replay->add_option("--speed", ro.speed, "Republish speed factor, or max");
  replay->add_flag("--loop", ro.loop, "Republish in a loop");
  OptionalFlag fail_on, mcap_max_memory;
  AddOptional(replay, fail_on, "--fail-on",
              "Exit 3 when an alarm of this severity or higher was raised (low, medium, high)");
  fail_on.option->check(CLI::IsMember({"low", "medium", "high"}));
  AddOptional(replay, mcap_max_memory, "--mcap.max-memory",
              "Memory budget for reading recordings, e.g. 512MiB (default 256MiB)");
  replay->add_option("FILE", ro.files, "Capture or recording files")->required();

  // needlewatch check-config
  CLI::App* check = app.add_subcommand("check-config", "Validate a configuration file");
  std::string check_file;
  check->add_option("FILE", check_file, "Configuration file")->required();

  // needlewatch recordings ls|export
  CLI::App* recordings = app.add_subcommand("recordings", "Inspect and export recordings");
  recordings->require_subcommand(1);
  CLI::App* rec_ls = recordings->add_subcommand("ls", "List segments in a directory");
  std::string rec_dir;
  rec_ls->add_option("DIR", rec_dir, "Recording directory")->required();
  CLI::App* rec_export = recordings->add_subcommand("export", "Export messages");
  std::string export_format = "jsonl";
  std::vector<std::string> export_paths;
  rec_export->add_option("--format", export_format, "Output format")
      ->check(CLI::IsMember({"jsonl"}));
  rec_export->add_option("PATH", export_paths, "Segments or directories")->required();

  try {
    app.parse(argc, argv);
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
  return 2;
}

}  // namespace needlewatch::app
