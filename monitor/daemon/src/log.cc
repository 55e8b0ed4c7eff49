#include "log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>

#include "needlewatch/protocol/json_writer.h"
#include "needlewatch/protocol/time_format.h"

namespace needlewatch::daemon::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<bool> g_json{true};

std::string_view LevelName(Level l) {
  switch (l) {
    case Level::kTrace: return "trace";
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

// spdlog only carries the finished line ("%v"): we format it ourselves so JSON stays valid.
spdlog::logger& Logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto l = std::make_shared<spdlog::logger>("needlewatch", sink);
    l->set_pattern("%v");
    l->set_level(spdlog::level::trace);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return *logger;
}

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Field::Field(std::string_view k, std::string_view v) : key(k) {
  protocol::AppendJsonString(json, v);
}
Field::Field(std::string_view k, bool v) : key(k), json(v ? "true" : "false") {}
Field::Field(std::string_view k, long long v) : key(k), json(std::to_string(v)) {}
Field::Field(std::string_view k, unsigned long long v) : key(k), json(std::to_string(v)) {}
Field::Field(std::string_view k, double v) : key(k) { protocol::AppendJsonNumber(json, v); }

bool Init(std::string_view level, std::string_view format, std::string* error) {
  Level l = Level::kInfo;
  if (level == "trace") {
    l = Level::kTrace;
  } else if (level == "debug") {
    l = Level::kDebug;
  } else if (level == "info") {
    l = Level::kInfo;
  } else if (level == "warn" || level == "warning") {
    l = Level::kWarn;
  } else if (level == "error") {
    l = Level::kError;
  } else {
    *error = "log.level: expected trace, debug, info, warn or error, got \"" +
             std::string(level) + "\"";
    return false;
  }
  if (format != "json" && format != "text") {
    *error = "log.format: expected json or text, got \"" + std::string(format) + "\"";
    return false;
  }
  g_level = l;
  g_json = format == "json";
  return true;
}

bool Enabled(Level level) { return level >= g_level.load(std::memory_order_relaxed); }

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  const std::int64_t now = NowNs();
  try {
    std::string line = g_json ? FormatJsonLine(now, level, msg, fields)
                              : FormatTextLine(now, level, msg, fields);
    Logger().log(spdlog::level::info, "{}", line);
  } catch (...) {
    // Logging never takes the daemon down (stderr closed, out of memory, ...).
  }
}

void Flush() {
  try {
    Logger().flush();
  } catch (...) {
  }
}


std::string FormatJsonLine(std::int64_t ts_ns, Level level, std::string_view msg,
                           std::initializer_list<Field> fields) {
  std::string out = "{\"ts\":\"";
  out += protocol::FormatRfc3339(ts_ns, 3);
  out += "\",\"level\":\"";
  out += LevelName(level);
  out += "\",\"msg\":";
  protocol::AppendJsonString(out, msg);
  for (const Field& f : fields) {
    out += ',';
    protocol::AppendJsonString(out, f.key);
    out += ':';
    out += f.json;
  }
  out += '}';
  return out;
}

std::string FormatTextLine(std::int64_t ts_ns, Level level, std::string_view msg,
                           std::initializer_list<Field> fields) {
  std::string out = protocol::FormatRfc3339(ts_ns, 3);
  out += ' ';
  for (char c : LevelName(level)) out += static_cast<char>(c - 'a' + 'A');
  out += ' ';
  out += msg;
  for (const Field& f : fields) {
    out += ' ';
    out += f.key;
    out += '=';
    out += f.json;  // strings stay quoted so values with spaces remain readable
  }
  return out;
}

}  // namespace needlewatch::daemon::log
