#include "audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "json_fields.h"

namespace needlewatch::daemon {
namespace {

// Opens the line's object with "type" and the time of what it records.
protocol::JsonWriter Head(std::string& out, std::string_view type, engine::TimeNs at) {
  protocol::JsonWriter w(out);
  w.BeginObject().Field("type", type);
  WriteTime(w, "at", at);
  return w;
}

}  // namespace

std::string FormatAlarmAudit(const engine::AlarmEvent& e) {
  std::string out;
  out.reserve(400);
  protocol::JsonWriter w = Head(out, "alarm", e.at);
  w.Field("transition", engine::TransitionName(e.transition));
  WriteAlarmFields(w, e);
  w.EndObject();
  return out;
}

std::string FormatReloadAudit(engine::TimeNs at, bool ok, std::string_view source,
                              const std::vector<std::string>& errors) {
  std::string out;
  protocol::JsonWriter w = Head(out, "config_reload", at);
  w.Field("result", ok ? "success" : "failure").Field("source", source).Key("errors").BeginArray();
  for (const std::string& e : errors) w.String(e);
  w.EndArray().EndObject();
  return out;
}

std::string FormatAckAudit(engine::TimeNs at, std::string_view clinic, std::string_view device,
                           std::string_view alarm, std::string_view result,
                           std::string_view user, std::string_view remote) {
  std::string out;
  Head(out, "ack", at)
      .Field("clinic", clinic)
      .Field("device", device)
      .Field("alarm", alarm)
      .Field("result", result)
      .StringOrNull("user", user)
      .Field("remote", remote)
      .EndObject();
  return out;
}

std::string FormatHaltAudit(engine::TimeNs at, std::string_view clinic, std::string_view device,
                            std::string_view session, std::string_view alarm,
                            std::string_view severity, std::string_view result,
                            std::uint32_t expiry_seconds) {
  std::string out;
  Head(out, "halt", at)
      .Field("clinic", clinic)
      .Field("device", device)
      .StringOrNull("session", session)
      .Field("alarm", alarm)
      .Field("severity", severity)
      .Field("result", result)
      .Field("expiry_seconds", expiry_seconds)
      .EndObject();
  return out;
}

namespace {

// The file at `path` for appending, created 0640 (the audit trail is not for every local user).
std::FILE* OpenAppend(const std::string& path, std::string* error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  std::FILE* f = fd < 0 ? nullptr : ::fdopen(fd, "a");
  if (f == nullptr) {
    *error = "audit log \"" + path + "\": cannot open for appending: " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
  }
  return f;
}

}  // namespace

bool AuditLineIsTransition(std::string_view line) {
  // Every line starts with the "type" member (Head above).
  return line.starts_with(R"({"type":"alarm")") || line.starts_with(R"({"type":"ack")") ||
         line.starts_with(R"({"type":"halt")");
}

AuditLog::~AuditLog() { Close(); }

bool AuditLog::Open(const std::string& path, std::string* error) {
  Close();
  path_ = path;
  if (path.empty()) return true;
  file_ = OpenAppend(path, error);
  return file_ != nullptr;
}

bool AuditLog::Reopen(std::string* error) {
  if (path_.empty()) return true;
  std::FILE* f = OpenAppend(path_, error);
  if (f == nullptr) return false;
  if (file_ != nullptr) std::fclose(file_);
  file_ = f;
  return true;
}

bool AuditLog::Sync() {
  if (file_ == nullptr || !sync_pending_) return true;
  sync_pending_ = false;
  if (::fsync(::fileno(file_)) != 0 && errno != EINVAL) {
    ++write_errors_;
    return false;
  }
  return true;
}

bool AuditLog::Append(std::string_view line) {
  if (file_ == nullptr) return true;
  bool ok = std::fwrite(line.data(), 1, line.size(), file_) == line.size() &&
            std::fputc('\n', file_) != EOF && std::fflush(file_) == 0;
  if (fsync_ == config::AuditFsync::kTransitions && AuditLineIsTransition(line)) {
    sync_pending_ = true;  // synced by Sync(), once per batch
  }
  // EINVAL: a file that cannot be synced (a pipe, /dev/stderr); nothing to wait for there.
  if (ok && fsync_ == config::AuditFsync::kAlways && ::fsync(::fileno(file_)) != 0 &&
      errno != EINVAL) {
    ok = false;
  }
  if (!ok) {
    ++write_errors_;
    std::clearerr(file_);
  }
  return ok;
}

void AuditLog::Close() {
  if (file_ != nullptr) {
    std::fclose(file_);
    file_ = nullptr;
  }
}

}  // namespace needlewatch::daemon
