#include "audit_log.h"

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

AuditLog::~AuditLog() { Close(); }

bool AuditLog::Open(const std::string& path, std::string* error) {
  Close();
  if (path.empty()) return true;
  file_ = std::fopen(path.c_str(), "ae");
  if (file_ == nullptr) {
    *error = "audit log \"" + path + "\": cannot open for appending: " + std::strerror(errno);
    return false;
  }
  return true;
}

bool AuditLog::Append(std::string_view line) {
  if (file_ == nullptr) return true;
  const bool ok = std::fwrite(line.data(), 1, line.size(), file_) == line.size() &&
                  std::fputc('\n', file_) != EOF && std::fflush(file_) == 0;
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
