// `needlewatch replay`: read captures and recordings, drive the engine on the recorded clock,
// print a report (monitor/replay/README.md). Thread-compatible.
#ifndef NEEDLEWATCH_REPLAY_REPLAY_COMMAND_H_
#define NEEDLEWATCH_REPLAY_REPLAY_COMMAND_H_

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace needlewatch::replay {

struct ReplayCommandOptions {
  std::optional<std::string> config_file;  // limits (and topic root) from here; else built-in
  std::string format = "text";             // text | json | csv | html
  std::vector<std::string> files;          // captures and/or recordings, merged by time
  std::optional<std::string> clinic;       // only this clinic's messages
  std::optional<std::string> device;       // only this device's messages
  std::optional<std::string> from;         // RFC 3339 time or seconds since the epoch
  std::optional<std::string> to;
  // Republish instead of reporting: mqtt://HOST:PORT, original timing scaled by `speed`
  // ("1", "2", … or "max"), repeated with `loop`.
  std::optional<std::string> publish_url;
  std::string speed = "1";
  bool loop = false;
};

// Returns the process exit code: 0 on success, 1 on unreadable input or bad options (with a
// message on `err`). The report goes to `out`.
int RunReplayCommand(const ReplayCommandOptions& options, std::ostream& out, std::ostream& err);

}  // namespace needlewatch::replay

#endif  // NEEDLEWATCH_REPLAY_REPLAY_COMMAND_H_
