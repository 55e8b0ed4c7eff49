// Internal: scalar parsers of the configuration loader (byte sizes, ports, addresses).
// ParseDuration and ParseByteSize are public (config.h). Pure functions; thread-safe.
#ifndef NEEDLEWATCH_CONFIG_SRC_VALUES_H_
#define NEEDLEWATCH_CONFIG_SRC_VALUES_H_

#include <cstdint>
#include <optional>
#include <string_view>

namespace needlewatch::config {

// "0".."65535".
std::optional<int> ParsePort(std::string_view text);
// "host:port" with a non-empty host and a port 0..65535 (1..65535 unless allow_port_zero).
bool IsHostPort(std::string_view text, bool allow_port_zero);
// "mqtt://host[:port]" or "mqtts://host[:port]".
bool IsMqttUrl(std::string_view text);

}  // namespace needlewatch::config

#endif  // NEEDLEWATCH_CONFIG_SRC_VALUES_H_
