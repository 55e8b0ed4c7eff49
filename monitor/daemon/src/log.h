// The daemon's structured log: one line per event on stderr, JSON
// ({"ts":…,"level":…,"msg":…,<fields>}) by default or "ts LEVEL msg key=value" as text.
// A small facade so that spdlog is included by log.cc only.
//
// Thread-safe: may be called from any thread (Paho's included) after Init.
#ifndef NEEDLEWATCH_DAEMON_LOG_H_
#define NEEDLEWATCH_DAEMON_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace needlewatch::daemon::log {

enum class Level : std::uint8_t { kTrace, kDebug, kInfo, kWarn, kError };

// One key/value of a log line. The value is kept JSON-encoded.
struct Field {
  Field(std::string_view k, std::string_view v);
  Field(std::string_view k, const char* v) : Field(k, std::string_view(v)) {}
  Field(std::string_view k, const std::string& v) : Field(k, std::string_view(v)) {}
  Field(std::string_view k, bool v);
  Field(std::string_view k, int v) : Field(k, static_cast<long long>(v)) {}
  Field(std::string_view k, long v) : Field(k, static_cast<long long>(v)) {}
  Field(std::string_view k, long long v);
  Field(std::string_view k, unsigned v) : Field(k, static_cast<unsigned long long>(v)) {}
  Field(std::string_view k, unsigned long v) : Field(k, static_cast<unsigned long long>(v)) {}
  Field(std::string_view k, unsigned long long v);
  Field(std::string_view k, double v);

  std::string key;
  std::string json;  // the value, JSON-encoded
};

// Configures level ("trace".."error") and format ("json" or "text"). Returns false with
// `error` set when either is unknown; the previous settings stay.
bool Init(std::string_view level, std::string_view format, std::string* error);

// True when a line at `level` would be written.
bool Enabled(Level level);

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});
inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kDebug, m, f);
}
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, m, f);
}
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, m, f);
}
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kError, m, f);
}

void Flush();

// The line Write would emit (without the newline) at `ts_ns` since the Unix epoch. For tests.
std::string FormatJsonLine(std::int64_t ts_ns, Level level, std::string_view msg,
                           std::initializer_list<Field> fields);
std::string FormatTextLine(std::int64_t ts_ns, Level level, std::string_view msg,
                           std::initializer_list<Field> fields);

}  // namespace needlewatch::daemon::log

#endif  // NEEDLEWATCH_DAEMON_LOG_H_
