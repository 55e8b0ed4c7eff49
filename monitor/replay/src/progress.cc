#include "needlewatch/replay/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ostream>
#include <utility>

namespace needlewatch::replay {
namespace {

std::int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// 1234567 -> "1,234,567".
std::string Grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// Seconds as "M:SS" or "H:MM:SS".
std::string Clock(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

constexpr char kClearLine[] = "\r\x1b[K";

}  // namespace

bool StderrIsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::ostream& out, ProgressOptions options, std::uint64_t bytes_total)
    : out_(out), o_(std::move(options)), total_(bytes_total) {
  if (!o_.now_ns) o_.now_ns = SteadyNowNs;
  start_ns_ = o_.now_ns();
  // A big input shows the line at once, so that a long run is never silent at its start.
  if (o_.enabled && total_ >= o_.big_input_bytes) Update(0, 0);
}

std::string Progress::Line(std::uint64_t records, double rate, double fraction, double eta_s) {
  std::string line = "replay: " + Grouped(records) + " records";
  if (fraction >= 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, "  %3.0f%%", fraction * 100);
    line += pct;
  }
  line += "  " + Grouped(static_cast<std::uint64_t>(rate + 0.5)) + "/s";
  if (eta_s >= 0) line += "  ETA " + Clock(eta_s);
  return line;
}

void Progress::Update(std::uint64_t records, std::uint64_t bytes_done) {
  const std::int64_t now = o_.now_ns();
  const std::int64_t elapsed = now - start_ns_;
  if (!shown_ && total_ < o_.big_input_bytes && elapsed < o_.first_after_ns) return;
  if (shown_ && now - last_ns_ < o_.interval_ns) return;
  const double seconds = static_cast<double>(elapsed) / 1e9;
  const double rate = seconds > 0 ? static_cast<double>(records) / seconds : 0;
  double fraction = -1;
  double eta = -1;
  if (total_ > 0) {
    fraction = std::min(1.0, static_cast<double>(bytes_done) / static_cast<double>(total_));
    // Too early to say: the first percent gives a rate that is mostly start-up.
    if (fraction >= 0.01 && seconds > 0) eta = seconds * (1 - fraction) / fraction;
  }
  out_ << kClearLine << Line(records, rate, fraction, eta) << std::flush;
  shown_ = true;
  last_ns_ = now;
}

void Progress::Finish(std::uint64_t records) {
  if (finished_) return;
  finished_ = true;
  if (!shown_) return;
  const double seconds = static_cast<double>(o_.now_ns() - start_ns_) / 1e9;
  char took[32];
  std::snprintf(took, sizeof took, "%.1f", seconds);
  out_ << kClearLine << "replay: " << Grouped(records) << " records in " << took << " s ("
       << Grouped(static_cast<std::uint64_t>(seconds > 0 ? records / seconds : 0)) << "/s)\n"
       << std::flush;
}

}  // namespace needlewatch::replay
