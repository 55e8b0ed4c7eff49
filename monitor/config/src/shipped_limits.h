// Internal: the text of config/limits.yaml, embedded at build time (CMake generates
// shipped_limits.cc from the file). Thread-safe.
#ifndef NEEDLEWATCH_CONFIG_SRC_SHIPPED_LIMITS_H_
#define NEEDLEWATCH_CONFIG_SRC_SHIPPED_LIMITS_H_

#include <string_view>

namespace needlewatch::config::internal {

std::string_view ShippedLimitsText();

}  // namespace needlewatch::config::internal

#endif  // NEEDLEWATCH_CONFIG_SRC_SHIPPED_LIMITS_H_
