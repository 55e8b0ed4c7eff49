#include "audit_log.h"

#include <cerrno>
#include <cstring>

#include "json_util.h"
#include "needlewatch/protocol/encode.h"

namespace needlewatch::daemon {
namespace {

void AppendHead(std::string& out, std::string_view type, engine::TimeNs at) {
  out += "{\"type\":";
  protocol::AppendJsonString(out, type);
  AppendTimeFields(out, "at", at);
}

}  // namespace

std::string FormatAlarmAudit(const engine::AlarmEvent& e) {
  std::string out;
  out.reserve(400);
  AppendHead(out, "alarm", e.at);
  AppendStringField(out, "transition", engine::TransitionName(e.transition));
  AppendAlarmFields(out, e);
  out += '}';
  return out;
}

std::string FormatReloadAudit(engine::TimeNs at, bool ok, std::string_view source,
                              const std::vector<std::string>& errors) {
  std::string out;
  AppendHead(out, "config_reload", at);
  AppendStringField(out, "result", ok ? "success" : "failure");
  AppendStringField(out, "source", source);
  out += ",\"errors\":[";
  for (std::size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) out += ',';
    protocol::AppendJsonString(out, errors[i]);
  }
  out += "]}";
  return out;
}

std::string FormatAckAudit(engine::TimeNs at, std::string_view clinic, std::string_view device,
                           std::string_view alarm, std::string_view result,
                           std::string_view user, std::string_view remote) {
  std::string out;
  AppendHead(out, "ack", at);
  AppendStringField(out, "clinic", clinic);
  AppendStringField(out, "device", device);
  AppendStringField(out, "alarm", alarm);
  AppendStringField(out, "result", result);
  if (user.empty()) {
    out += ",\"user\":null";
  } else {
    AppendStringField(out, "user", user);
  }
  AppendStringField(out, "remote", remote);
  out += '}';
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
