#include "needlewatch/mqtt/broker_url.h"

#include <charconv>

namespace needlewatch::broker {

std::optional<BrokerUrl> ParseBrokerUrl(std::string_view url, std::string* error) {
  auto fail = [&](std::string_view why) -> std::optional<BrokerUrl> {
    *error = "mqtt.url: " + std::string(why) + ", got \"" + std::string(url) + "\"";
    return std::nullopt;
  };
  BrokerUrl out;
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return fail("expected mqtt://host:port or mqtts://host:port");
  }
  const std::string_view scheme = url.substr(0, scheme_end);
  if (scheme == "mqtt" || scheme == "tcp") {
    out.tls = false;
  } else if (scheme == "mqtts" || scheme == "ssl") {
    out.tls = true;
  } else {
    return fail("expected scheme mqtt:// or mqtts://");
  }
  std::string_view rest = url.substr(scheme_end + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('@') != std::string_view::npos) {
    return fail("credentials in the URL are not accepted (use mqtt.username_file / "
                "mqtt.password_file or NEEDLEWATCH_MQTT_USERNAME / NEEDLEWATCH_MQTT_PASSWORD)");
  }
  if (rest.find('/') != std::string_view::npos) return fail("expected no path after host:port");
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return fail("unterminated IPv6 address");
    out.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("expected :port after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) return fail("empty port");
    }
  } else {
    const std::size_t colon = rest.find(':');
    out.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = rest.substr(colon + 1);
      if (port_text.empty()) return fail("empty port");
    }
  }
  if (out.host.empty()) return fail("expected a host name");
  if (port_text.empty()) {
    out.port = out.tls ? 8883 : 1883;
  } else {
    unsigned value = 0;
    const auto [ptr, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return fail("expected a port from 1 to 65535");
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  const bool v6 = out.host.find(':') != std::string::npos;
  const std::string host_port =
      (v6 ? "[" + out.host + "]" : out.host) + ":" + std::to_string(out.port);
  out.paho_uri = (out.tls ? "ssl://" : "tcp://") + host_port;
  out.display = (out.tls ? "mqtts://" : "mqtt://") + host_port;
  return out;
}

std::string ConnectFailureReason(int return_code, int reason_code) {
  std::string why;
  // MQTT 5: Paho reports the CONNACK reason code as the token's return code.
  if (return_code >= 128 && reason_code == 0) reason_code = return_code;
  if (return_code == 4 || reason_code == 134) {
    why = "bad username or password";
  } else if (return_code == 5 || reason_code == 135) {
    why = "bad username or password (not authorised)";
  } else if (return_code == 1 || reason_code == 132) {
    why = "broker refused the protocol version";
  } else if (return_code == 2 || reason_code == 133) {
    why = "broker refused the client id";
  } else if (return_code == 3 || reason_code == 136 || reason_code == 137) {
    why = "broker unavailable";
  } else if (return_code == -1) {
    why = "TCP/TLS connection failed (broker down, wrong port, or TLS verification failed)";
  } else if (reason_code >= 128) {
    why = "broker refused the connection";
  } else {
    why = "connect failed";
  }
  why += " (rc " + std::to_string(return_code);
  if (reason_code != 0) why += ", reason " + std::to_string(reason_code);
  why += ")";
  return why;
}

}  // namespace needlewatch::broker
