// The pure parts of republishing: option parsing, topic checks, due times. No Paho here.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "needlewatch/republish/republish.h"

namespace needlewatch::republish {

namespace {
// A scaled offset is clamped here (about 31 years) so a tiny speed cannot overflow int64 ns.
constexpr double kMaxOffsetNs = 1e18;
}  // namespace

std::optional<double> ParseSpeed(std::string_view text) {
  if (text == "max") return 0.0;
  if (text.empty()) return std::nullopt;
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  if (!std::isfinite(value) || value <= 0) return std::nullopt;
  return value;
}

std::string_view TopicProblem(std::string_view topic) {
  if (topic.empty()) return "empty topic";
  if (topic.size() > 65535) return "topic longer than 65535 bytes";
  if (topic.find_first_of("+#") != std::string_view::npos) return "wildcard in topic";
  if (topic.find('\0') != std::string_view::npos) return "NUL in topic";
  return "";
}

bool IsInternalTopic(std::string_view topic) { return topic.starts_with("$needlewatch/"); }

Schedule::Clock::time_point Schedule::Due(std::int64_t receive_ns, Clock::time_point now) {
  if (!anchored_) {
    anchored_ = true;
    first_ns_ = receive_ns;
    anchor_ = now;
  }
  if (speed_ <= 0) return now;
  // Receive times are arbitrary input: their difference may overflow int64.
  std::int64_t diff = 0;
  if (__builtin_sub_overflow(receive_ns, first_ns_, &diff)) {
    diff = receive_ns > first_ns_ ? std::numeric_limits<std::int64_t>::max()
                                  : std::numeric_limits<std::int64_t>::min();
  }
  double offset = static_cast<double>(diff) / speed_;
  if (offset > kMaxOffsetNs) offset = kMaxOffsetNs;
  if (offset < -kMaxOffsetNs) offset = -kMaxOffsetNs;
  return anchor_ + std::chrono::duration_cast<Clock::duration>(
                       std::chrono::nanoseconds(static_cast<std::int64_t>(offset)));
}

}  // namespace needlewatch::republish
