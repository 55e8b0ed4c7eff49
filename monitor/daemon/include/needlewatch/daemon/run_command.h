// `needlewatch run`: the live daemon. Flags override the config file (protocol/README.md, Command line).
#ifndef NEEDLEWATCH_DAEMON_RUN_COMMAND_H_
#define NEEDLEWATCH_DAEMON_RUN_COMMAND_H_

#include <optional>
#include <string>

namespace needlewatch::daemon {

struct RunCommandOptions {
  std::optional<std::string> config_file;         // --config.file
  std::optional<std::string> mqtt_url;            // --mqtt.url
  std::optional<std::string> web_listen_address;  // --web.listen-address
  std::optional<std::string> instance;            // --mqtt.instance
  std::optional<std::string> log_level;           // --log.level
  std::optional<std::string> log_format;          // --log.format
  std::optional<std::string> audit_log;           // --outputs.audit-log
  std::optional<std::string> record_dir;          // --record.dir (turns recording on)
  std::optional<std::string> web_config_file;     // --web.config.file
  std::optional<std::string> state_dir;           // --state.dir (durable state)
  std::optional<std::string> shard_index;         // --cluster.shard-index
  std::optional<std::string> shard_count;         // --cluster.shard-count
  std::optional<std::string> replica;             // --cluster.replica
};

// Runs until SIGTERM/SIGINT. Returns 0 after a graceful stop, non-zero on a startup error
// (logged with what to fix).
int RunDaemon(const RunCommandOptions& options);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_RUN_COMMAND_H_
