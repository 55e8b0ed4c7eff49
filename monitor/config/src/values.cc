// Scalar value parsers shared by the loader: durations, byte sizes, addresses.
#include "values.h"

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "needlewatch/config/config.h"

namespace needlewatch::config {
namespace {

// Reads a run of decimal digits at the front of `text` into `out`; false on none or overflow.
bool TakeDigits(std::string_view& text, std::uint64_t& out) {
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  const char* p = begin;
  while (p != end && *p >= '0' && *p <= '9') ++p;
  if (p == begin) return false;
  auto [ptr, ec] = std::from_chars(begin, p, out);
  if (ec != std::errc() || ptr != p) return false;
  text.remove_prefix(static_cast<std::size_t>(p - begin));
  return true;
}

bool MulAdd(std::int64_t& total, std::uint64_t count, std::int64_t unit) {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  if (count > static_cast<std::uint64_t>(kMax / unit)) return false;
  const auto add = static_cast<std::int64_t>(count) * unit;
  if (total > kMax - add) return false;
  total += add;
  return true;
}

}  // namespace

std::optional<engine::TimeNs> ParseDuration(std::string_view text) {
  // Components in strictly decreasing unit order, each unit at most once: "1h30m", "2s500ms".
  struct Unit {
    std::string_view name;
    engine::TimeNs ns;
  };
  static constexpr Unit kUnits[] = {{"h", 3600 * engine::kNsPerSec},
                                    {"m", 60 * engine::kNsPerSec},
                                    {"s", engine::kNsPerSec},
                                    {"ms", engine::kNsPerMs}};
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  int next_unit = 0;  // index of the largest unit still allowed
  while (!text.empty()) {
    std::uint64_t count = 0;
    if (!TakeDigits(text, count)) return std::nullopt;
    // "ms" before "m": the longest unit name that matches.
    int unit = -1;
    if (text.starts_with("ms")) {
      unit = 3;
    } else if (text.starts_with("h")) {
      unit = 0;
    } else if (text.starts_with("m")) {
      unit = 1;
    } else if (text.starts_with("s")) {
      unit = 2;
    }
    if (unit < next_unit) return std::nullopt;  // no unit, or out of order / repeated
    text.remove_prefix(kUnits[unit].name.size());
    if (!MulAdd(total, count, kUnits[unit].ns)) return std::nullopt;
    next_unit = unit + 1;
  }
  return total;
}

std::optional<std::uint64_t> ParseByteSize(std::string_view text) {
  struct Unit {
    std::string_view name;
    std::uint64_t bytes;
  };
  static constexpr Unit kUnits[] = {
      {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30}, {"TiB", 1ULL << 40},
      {"KB", 1000ULL},     {"MB", 1000000ULL},  {"GB", 1000000000ULL}, {"TB", 1000000000000ULL},
      {"B", 1ULL},         {"", 1ULL}};
  std::uint64_t count = 0;
  if (!TakeDigits(text, count)) return std::nullopt;
  for (const Unit& u : kUnits) {
    if (text == u.name) {
      if (count > std::numeric_limits<std::uint64_t>::max() / u.bytes) return std::nullopt;
      return count * u.bytes;
    }
  }
  return std::nullopt;
}

std::optional<int> ParsePort(std::string_view text) {
  std::uint64_t port = 0;
  if (!TakeDigits(text, port) || !text.empty() || port > 65535) return std::nullopt;
  return static_cast<int>(port);
}

bool IsHostPort(std::string_view text, bool allow_port_zero) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view host = text.substr(0, colon);
  if (host.find_first_of(" /") != std::string_view::npos) return false;
  if (host.front() == '[' && host.back() != ']') return false;
  const auto port = ParsePort(text.substr(colon + 1));
  return port.has_value() && (allow_port_zero || *port != 0);
}

bool IsMqttUrl(std::string_view text) {
  std::string_view rest;
  if (text.starts_with("mqtt://")) {
    rest = text.substr(7);
  } else if (text.starts_with("mqtts://")) {
    rest = text.substr(8);
  } else {
    return false;
  }
  if (rest.empty()) return false;
  if (rest.find('/') != std::string_view::npos) return false;
  // host alone, or host:port (1..65535)
  if (rest.find(':') == std::string_view::npos || rest.back() == ']') {
    return rest.find_first_of(" @") == std::string_view::npos;
  }
  return IsHostPort(rest, /*allow_port_zero=*/false);
}

}  // namespace needlewatch::config
