#include "needlewatch/protocol/time_format.h"

#include <chrono>
#include <cstdio>
#include <limits>

namespace needlewatch::protocol {
namespace {

namespace chr = std::chrono;
using SysNs = chr::sys_time<chr::nanoseconds>;

struct Civil {
  chr::year_month_day date;
  chr::hh_mm_ss<chr::nanoseconds> time;
};

Civil Split(std::int64_t ns) {
  const SysNs t{chr::nanoseconds(ns)};
  const chr::sys_days day = chr::floor<chr::days>(t);
  return {chr::year_month_day(day), chr::hh_mm_ss<chr::nanoseconds>(t - day)};
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at `pos`.
bool Digits(std::string_view s, std::size_t& pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  out = v;
  return true;
}

// The zone after the time: Z (mosquitto adds "+0000" after it), or ±hh[:]mm. Seconds east.
std::optional<int> ParseOffset(std::string_view s, std::size_t p) {
  if (p >= s.size()) return std::nullopt;
  if (s[p] == 'Z' || s[p] == 'z') {
    const std::string_view rest = s.substr(p + 1);
    if (rest.empty() || rest == "+0000") return 0;
    return std::nullopt;
  }
  if (s[p] != '+' && s[p] != '-') return std::nullopt;
  const int sign = s[p] == '-' ? -1 : 1;
  ++p;
  int oh = 0, om = 0;
  if (!Digits(s, p, 2, oh)) return std::nullopt;
  if (p < s.size() && s[p] == ':') ++p;
  if (!Digits(s, p, 2, om) || oh > 23 || om > 59 || p != s.size()) return std::nullopt;
  return sign * (oh * 3600 + om * 60);
}

}  // namespace

std::string FormatRfc3339(std::int64_t ns, int digits) {
  const Civil c = Split(ns);
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d",
                        static_cast<int>(c.date.year()), static_cast<unsigned>(c.date.month()),
                        static_cast<unsigned>(c.date.day()), static_cast<int>(c.time.hours().count()),
                        static_cast<int>(c.time.minutes().count()),
                        static_cast<int>(c.time.seconds().count()));
  if (digits > 0) {
    if (digits > 9) digits = 9;
    long long frac = c.time.subseconds().count();
    for (int i = digits; i < 9; ++i) frac /= 10;
    n += std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), ".%0*lld", digits, frac);
  }
  std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), "Z");
  return buf;
}

std::string FormatCompactUtc(std::int64_t ns) {
  const Civil c = Split(ns);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(c.date.year()),
                static_cast<unsigned>(c.date.month()), static_cast<unsigned>(c.date.day()),
                static_cast<int>(c.time.hours().count()),
                static_cast<int>(c.time.minutes().count()),
                static_cast<int>(c.time.seconds().count()));
  return buf;
}

std::optional<std::int64_t> ParseRfc3339(std::string_view s) {
  std::size_t p = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Digits(s, p, 4, year) || p >= s.size() || s[p++] != '-' || !Digits(s, p, 2, month) ||
      p >= s.size() || s[p++] != '-' || !Digits(s, p, 2, day) || p >= s.size() ||
      (s[p] != 'T' && s[p] != 't' && s[p] != ' ')) {
    return std::nullopt;
  }
  ++p;
  if (!Digits(s, p, 2, hour) || p >= s.size() || s[p++] != ':' || !Digits(s, p, 2, minute) ||
      p >= s.size() || s[p++] != ':' || !Digits(s, p, 2, second)) {
    return std::nullopt;
  }
  const chr::year_month_day date{chr::year(year), chr::month(static_cast<unsigned>(month)),
                                 chr::day(static_cast<unsigned>(day))};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  std::int64_t frac = 0;
  if (p < s.size() && s[p] == '.') {
    ++p;
    std::size_t n = 0;
    while (p < s.size() && IsDigit(s[p])) {
      if (n < 9) frac = frac * 10 + (s[p] - '0');
      ++n;
      ++p;
    }
    if (n == 0) return std::nullopt;
    for (std::size_t k = n; k < 9; ++k) frac *= 10;
  }
  const std::optional<int> offset = ParseOffset(s, p);
  if (!offset) return std::nullopt;
  // In whole seconds first: a year beyond 2262 (or before 1677) does not fit in int64 ns.
  const std::int64_t secs = (chr::sys_days(date) + chr::hours(hour) + chr::minutes(minute) +
                             chr::seconds(second) - chr::seconds(*offset))
                                .time_since_epoch()
                                .count();
  constexpr std::int64_t kMaxSecs = std::numeric_limits<std::int64_t>::max() / 1'000'000'000 - 1;
  if (secs > kMaxSecs || secs < -kMaxSecs) return std::nullopt;
  return secs * 1'000'000'000 + frac;
}

}  // namespace needlewatch::protocol
