// How needlewatch connects to a broker, as plain data: the daemon, `replay --publish` and the
// simulator fill one ConnectSettings and let paho.h turn it into Paho's options, so the three
// share one set of connect, TLS and session rules. Credentials are never on a command line or
// in a URL: they come from files or from the environment. Pure; thread-safe.
#ifndef NEEDLEWATCH_MQTT_CONNECT_H_
#define NEEDLEWATCH_MQTT_CONNECT_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "needlewatch/mqtt/broker_url.h"

namespace needlewatch::broker {

// Environment variables read when no file is named.
inline constexpr char kUsernameEnv[] = "NEEDLEWATCH_MQTT_USERNAME";
inline constexpr char kPasswordEnv[] = "NEEDLEWATCH_MQTT_PASSWORD";
inline constexpr char kCaFileEnv[] = "NEEDLEWATCH_MQTT_CA_FILE";

struct TlsSettings {
  std::string ca_file;    // CA bundle for the broker's certificate ("" = system trust store)
  std::string cert_file;  // client certificate, for mutual TLS (optional)
  std::string key_file;   // its private key
  bool verify = true;     // verify the broker's certificate and host name
};

struct Credentials {
  std::string username;  // "" = anonymous
  std::string password;
};

// One message the client sends itself: a Last Will, or a status published on connect.
struct WillMessage {
  std::string topic;
  std::string payload;
  int qos = 1;
  bool retain = true;
};

struct ConnectSettings {
  BrokerUrl url;
  // Every node of a broker cluster, in order (the first is `url`). With more than one, each
  // connect and automatic reconnect tries them in turn (Paho's server list), so a monitor whose
  // node dies resumes its persistent session on another. Empty or one = `url` only.
  std::vector<BrokerUrl> servers;
  int version = 5;           // 5, or 4 for MQTT 3.1.1
  bool clean_start = true;   // false: the broker keeps the session and its QoS 1 messages
  // MQTT 5 with clean_start false: how long the broker keeps the session after a disconnect.
  std::chrono::seconds session_expiry{0};
  std::chrono::seconds keepalive{10};
  std::chrono::seconds connect_timeout{10};
  // Paho's automatic reconnect after a lost connection, with this backoff; none when unset.
  std::optional<std::pair<std::chrono::seconds, std::chrono::seconds>> reconnect;
  // Outgoing QoS 1/2 messages in flight before Paho queues (0: Paho's default).
  int max_inflight = 0;
  // MQTT 5: the largest packet the client accepts (0: no limit asked for). A broker does not
  // send us anything larger (MQTT 5 §3.1.2.11.4).
  std::uint32_t maximum_packet_size = 0;
  Credentials credentials;
  TlsSettings tls;
  std::optional<WillMessage> will;
};

// Reads a secret file: its content without trailing newlines and spaces. False with `error`
// ("<key>: cannot read \"<path>\"") when it cannot be read.
bool ReadSecretFile(const std::string& path, std::string_view key, std::string* out,
                    std::string* error);

// Username and password: from the files when named (config keys mqtt.username_file and
// mqtt.password_file), else from $NEEDLEWATCH_MQTT_USERNAME / $NEEDLEWATCH_MQTT_PASSWORD, else
// empty (anonymous).
bool LoadCredentials(const std::string& username_file, const std::string& password_file,
                     Credentials* out, std::string* error);

}  // namespace needlewatch::broker

#endif  // NEEDLEWATCH_MQTT_CONNECT_H_
