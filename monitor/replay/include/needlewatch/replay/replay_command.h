// `needlewatch replay`: read captures and recordings, drive the engine on the recorded clock,
// print a report (monitor/replay/README.md). Thread-compatible.
#ifndef NEEDLEWATCH_REPLAY_REPLAY_COMMAND_H_
#define NEEDLEWATCH_REPLAY_REPLAY_COMMAND_H_

#include <cstdint>
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
  // "low", "medium" or "high": exit kExitAlarm when an alarm of that severity or higher was
  // raised in the replay (for CI jobs).
  std::optional<std::string> fail_on;
  // The MCAP reader's memory budget (config size: "256MiB", "1GiB", …); default
  // record::McapReaderOptions.
  std::optional<std::string> mcap_max_memory;
  // The progress line on stderr (progress.h): by default only when stderr is a terminal.
  enum class Progress : std::uint8_t { kAuto, kAlways, kNever };
  Progress progress = Progress::kAuto;
};

// Exit code when --fail-on matched an alarm.
inline constexpr int kExitAlarm = 3;

// Returns the process exit code: 0 on success, 1 on unreadable input (including a recording
// that breaks the reader's memory budget) or bad options (with a message on `err`), kExitAlarm
// when `fail_on` matched (the report is written first). The report goes to `out`.
int RunReplayCommand(const ReplayCommandOptions& options, std::ostream& out, std::ostream& err);

}  // namespace needlewatch::replay

#endif  // NEEDLEWATCH_REPLAY_REPLAY_COMMAND_H_
