// The append-only audit log: one JSON object per line for every alarm transition, every
// acknowledgement (who, from where) and every configuration reload. Times are given both as
// fractional seconds (`at`) and integer nanoseconds (`at_ns`), so a replay can be compared
// to the nanosecond.
//
// The Format* functions are pure and thread-safe. AuditLog is not thread-safe: used only on
// the daemon's io_context thread.
#ifndef NEEDLEWATCH_DAEMON_AUDIT_LOG_H_
#define NEEDLEWATCH_DAEMON_AUDIT_LOG_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "needlewatch/config/config.h"
#include "needlewatch/engine/events.h"

namespace needlewatch::daemon {

// {"type":"alarm","at":…,"at_ns":…,"transition":…,"alarm":…,"severity":…,"state":…,
//  "acknowledged":…,"clinic":…,"device":…,"session":…,"zone":…,"value":…,"limit":…,
//  "raised_at":…,"raised_at_ns":…,"cleared_at":…|null,"cleared_at_ns":…|null}
std::string FormatAlarmAudit(const engine::AlarmEvent& e);

// {"type":"config_reload","at":…,"at_ns":…,"result":"success"|"failure","source":…,
//  "errors":[…]}
std::string FormatReloadAudit(engine::TimeNs at, bool ok, std::string_view source,
                              const std::vector<std::string>& errors);

// {"type":"ack","at":…,"at_ns":…,"clinic":…,"device":…,"alarm":…,"result":…,
//  "user":…|null,"remote":…}. `user` empty: null (no authentication configured).
std::string FormatAckAudit(engine::TimeNs at, std::string_view clinic, std::string_view device,
                           std::string_view alarm, std::string_view result,
                           std::string_view user, std::string_view remote);

// {"type":"halt","at":…,"at_ns":…,"clinic":…,"device":…,"session":…,"alarm":…,"severity":…,
//  "result":"sent"|"expired","expiry_seconds":…}: a `halt` handed to the broker, or one dropped
// because it could not be sent within its expiry.
std::string FormatHaltAudit(engine::TimeNs at, std::string_view clinic, std::string_view device,
                            std::string_view session, std::string_view alarm,
                            std::string_view severity, std::string_view result,
                            std::uint32_t expiry_seconds);

// True when a line of this type is fsync'ed under AuditFsync::kTransitions: alarm transitions,
// acknowledgements and halts (the line's "type" is "alarm", "ack" or "halt").
bool AuditLineIsTransition(std::string_view line);

// An append-only file of lines. Each Append writes one line and flushes it to the OS, so a
// crash of the process loses at most the line being written; with fsync (set_fsync) a crash of
// the machine does not lose the lines that were synced either. Under kTransitions the fsync is
// a group commit: Append marks the file dirty and Sync() syncs once for every line since (the
// daemon calls it at the end of each batch, before the batch's alarm topics go out, and before
// answering an acknowledgement); under kAlways every Append syncs at once.
class AuditLog {
 public:
  AuditLog() = default;
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Opens `path` for appending (created mode 0640, less the umask, if missing). Returns false
  // with `error` naming the path and the OS reason. An empty path means "off": returns true
  // and Append does nothing.
  bool Open(const std::string& path, std::string* error);

  // Opens the path again and switches to the new file (after logrotate moved the old one).
  // On failure the old file stays in use and `error` says why. True when off.
  bool Reopen(std::string* error);

  // Which lines are fsync'ed after being written (default: transitions).
  void set_fsync(config::AuditFsync policy) { fsync_ = policy; }

  // Appends `line` and a newline. Returns false (and counts a write error) when the write,
  // flush or fsync fails; true when written or when the log is off.
  bool Append(std::string_view line);

  // fsyncs the file if a line that needs it was appended since the last Sync. False (and a
  // write error counted) when the fsync fails; true otherwise, and when the log is off.
  bool Sync();

  void Close();
  bool enabled() const { return file_ != nullptr; }
  std::uint64_t write_errors() const { return write_errors_; }

 private:
  std::FILE* file_ = nullptr;   // owned; null when off
  std::string path_;
  config::AuditFsync fsync_ = config::AuditFsync::kTransitions;
  std::uint64_t write_errors_ = 0;
  bool sync_pending_ = false;  // a line that needs an fsync was written since the last Sync
};

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_AUDIT_LOG_H_
