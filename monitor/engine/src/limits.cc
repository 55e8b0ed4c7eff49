// Zone lookup in a resolved limits table (limits.h). Linear in the number of zones: the engine
// caches the result per interned zone, so this runs once per distinct zone string.
#include "needlewatch/engine/limits.h"

namespace needlewatch::engine {

const ZoneLimits& Limits::ForZone(std::string_view zone) const {
  for (const auto& [name, limits] : zones) {
    if (name == zone) return limits;
  }
  return defaults;
}

bool Limits::HasZone(std::string_view zone) const {
  for (const auto& entry : zones) {
    if (entry.first == zone) return true;
  }
  return false;
}

}  // namespace needlewatch::engine
