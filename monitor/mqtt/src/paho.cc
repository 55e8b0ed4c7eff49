#include "needlewatch/mqtt/paho.h"

#include <memory>
#include <utility>

namespace needlewatch::broker {

int PahoVersion(int version) { return version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1; }

mqtt::create_options MakeCreateOptions(int version, int max_buffered) {
  return mqtt::create_options(PahoVersion(version), max_buffered);
}

void MakeConnectOptions(const ConnectSettings& s, mqtt::connect_options* out,
                        std::function<void(const std::string&)> on_tls_error) {
  const bool v5 = s.version == 5;
  mqtt::connect_options_builder b;
  b.mqtt_version(PahoVersion(s.version))
      .keep_alive_interval(s.keepalive)
      .connect_timeout(s.connect_timeout);
  // Paho: MQTT 5 takes clean_start; clean_session must then be false.
  if (v5) {
    b.clean_session(false).clean_start(s.clean_start);
  } else {
    b.clean_session(s.clean_start);
  }
  if (s.servers.size() > 1) {
    auto uris = std::make_shared<mqtt::string_collection>();
    for (const BrokerUrl& u : s.servers) uris->push_back(u.paho_uri);
    b.servers(uris);
  }
  if (s.reconnect) b.automatic_reconnect(s.reconnect->first, s.reconnect->second);
  if (s.max_inflight > 0) b.max_inflight(s.max_inflight);
  if (s.will) {
    b.will(mqtt::will_options(s.will->topic, s.will->payload, s.will->qos, s.will->retain));
  }
  if (!s.credentials.username.empty()) b.user_name(s.credentials.username);
  if (!s.credentials.password.empty()) b.password(s.credentials.password);
  if (s.url.tls) {
    mqtt::ssl_options_builder ssl;
    if (!s.tls.ca_file.empty()) ssl.trust_store(s.tls.ca_file);
    if (!s.tls.cert_file.empty()) ssl.key_store(s.tls.cert_file);
    if (!s.tls.key_file.empty()) ssl.private_key(s.tls.key_file);
    ssl.enable_server_cert_auth(s.tls.verify).verify(s.tls.verify);
    if (on_tls_error) ssl.error_handler(std::move(on_tls_error));
    b.ssl(ssl.finalize());
  }
  *out = b.finalize();
  if (v5) {
    mqtt::properties props;
    if (!s.clean_start && s.session_expiry.count() > 0) {
      props.add(mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL,
                               static_cast<int>(s.session_expiry.count())));
    }
    if (s.maximum_packet_size > 0) {
      props.add(mqtt::property(mqtt::property::MAXIMUM_PACKET_SIZE,
                               static_cast<int>(s.maximum_packet_size)));
    }
    if (!props.empty()) out->set_properties(props);
  }
}

}  // namespace needlewatch::broker
