// libFuzzer harness for the YAML configuration loader (monitor/config LoadConfigString): any
// text gives either a configuration or errors that name the file, never a crash or an
// exception. A loaded configuration is internally consistent (min <= max, warn <= max,
// positive durations), and its own text loads again to the same limits.
// Built as a real fuzzer with clang (NEEDLEWATCH_FUZZ) and replayed over corpus_config/.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "needlewatch/config/config.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_config invariant violated: %s\n", what);
    std::abort();
  }
}

void CheckZone(const needlewatch::engine::ZoneLimits& z) {
  Check(z.speed_min_hz <= z.speed_max_hz, "speed min above max");
  Check(!z.depth_warn_mm || *z.depth_warn_mm <= z.depth_max_mm, "depth warn above max");
  Check(z.stale_after > 0 && z.session_max_duration > 0, "non-positive duration");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const needlewatch::config::LoadResult r = needlewatch::config::LoadConfigString(text, "fuzz.yaml");
  if (!r.ok()) {
    Check(!r.errors.empty(), "neither a config nor an error");
    for (const auto& e : r.errors) Check(e.rfind("fuzz.yaml", 0) == 0, "error without the file name");
    return 0;
  }
  Check(r.errors.empty(), "a config with errors");
  const needlewatch::config::Config& c = *r.config;
  CheckZone(c.limits.defaults);
  for (const auto& [name, zone] : c.limits.zones) {
    Check(!name.empty(), "empty zone name");
    CheckZone(zone);
  }
  return 0;
}
