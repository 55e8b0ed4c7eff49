// Broker URL handling: mqtt://host[:port] and mqtts://host[:port] as the user writes them,
// turned into Paho's tcp:// and ssl:// URIs. Pure; thread-safe.
#ifndef NEEDLEWATCH_MQTT_BROKER_URL_H_
#define NEEDLEWATCH_MQTT_BROKER_URL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace needlewatch::broker {

struct BrokerUrl {
  bool tls = false;         // mqtts:// (or ssl://)
  std::string host;         // without brackets for IPv6
  std::uint16_t port = 0;   // 1883 / 8883 when not given
  std::string paho_uri;     // "tcp://host:port" or "ssl://host:port"
  std::string display;      // "mqtt://host:port", safe to log (credentials never appear)
};

// Accepts mqtt://, mqtts://, and Paho's own tcp:// and ssl://. User info in the URL
// ("user:pass@") is refused: credentials come from files or the environment only. Returns
// nullopt with `error` saying what was expected.
std::optional<BrokerUrl> ParseBrokerUrl(std::string_view url, std::string* error);

// Explains a failed connect for the log from Paho's token return code and, for MQTT 5, the
// CONNACK reason code (0 when none): rc 5 / reason 135 "not authorised (bad username or
// password?)", rc 4 / reason 134 "bad username or password", rc -1 "TCP/TLS connection
// failed", …
std::string ConnectFailureReason(int return_code, int reason_code);

}  // namespace needlewatch::broker

#endif  // NEEDLEWATCH_MQTT_BROKER_URL_H_
