#include "faults.h"

#include <charconv>
#include <cmath>

namespace needlewatch::sim {
namespace {

constexpr std::array<std::string_view, kFaultKindCount> kNames = {
    "over_depth", "speed", "overtime", "dropout", "offline", "seq_gap", "malformed",
    "spoofed_topic"};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view FaultName(FaultKind k) { return kNames[static_cast<std::size_t>(k)]; }

std::optional<FaultKind> ParseFaultName(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<FaultKind>(i);
  }
  return std::nullopt;
}

std::optional<FaultRates> ParseFaultRates(std::string_view spec, std::string* error) {
  FaultRates rates;
  spec = Trim(spec);
  if (spec.empty() || spec == "none") return rates;
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    const std::string_view item = Trim(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      *error = "--faults: \"" + std::string(item) + "\": expected NAME=RATE";
      return std::nullopt;
    }
    const std::string_view name = Trim(item.substr(0, eq));
    const std::string_view value = Trim(item.substr(eq + 1));
    const std::optional<FaultKind> kind = ParseFaultName(name);
    if (!kind) {
      std::string known;
      for (std::string_view n : kNames) known += (known.empty() ? "" : ", ") + std::string(n);
      *error = "--faults: unknown fault \"" + std::string(name) + "\"; expected one of " + known;
      return std::nullopt;
    }
    double rate = -1;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), rate);
    if (ec != std::errc() || ptr != value.data() + value.size() || !std::isfinite(rate) ||
        rate < 0 || rate > 1) {
      *error = "--faults: " + std::string(name) + ": expected a rate from 0 to 1, got \"" +
               std::string(value) + "\"";
      return std::nullopt;
    }
    rates.rate[static_cast<std::size_t>(*kind)] = rate;
  }
  double per_session = 0;
  for (std::size_t i = 0; i < kPerSessionFaultCount; ++i) per_session += rates.rate[i];
  if (per_session > 1.0 + 1e-9) {
    *error = "--faults: the per-session rates (over_depth, speed, overtime, dropout, offline, "
             "seq_gap) add up to more than 1";
    return std::nullopt;
  }
  return rates;
}

}  // namespace needlewatch::sim
