#include "needlewatch/mqtt/broker_url.h"

#include <gtest/gtest.h>

namespace needlewatch::broker {
namespace {

TEST(ParseBrokerUrl, MapsMqttToPahoTcp) {
  std::string error;
  auto u = ParseBrokerUrl("mqtt://127.0.0.1:19883", &error);
  ASSERT_TRUE(u.has_value()) << error;
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 19883);
  EXPECT_EQ(u->paho_uri, "tcp://127.0.0.1:19883");
  EXPECT_EQ(u->display, "mqtt://127.0.0.1:19883");
}

TEST(ParseBrokerUrl, MapsMqttsToPahoSslWithDefaultPort) {
  std::string error;
  auto u = ParseBrokerUrl("mqtts://broker.example", &error);
  ASSERT_TRUE(u.has_value()) << error;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 8883);
  EXPECT_EQ(u->paho_uri, "ssl://broker.example:8883");
}

TEST(ParseBrokerUrl, DefaultPlainPortIs1883AndTrailingSlashIsAccepted) {
  std::string error;
  auto u = ParseBrokerUrl("mqtt://localhost/", &error);
  ASSERT_TRUE(u.has_value()) << error;
  EXPECT_EQ(u->paho_uri, "tcp://localhost:1883");
}

TEST(ParseBrokerUrl, KeepsIpv6Brackets) {
  std::string error;
  auto u = ParseBrokerUrl("mqtt://[::1]:1883", &error);
  ASSERT_TRUE(u.has_value()) << error;
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->paho_uri, "tcp://[::1]:1883");
}

TEST(ParseBrokerUrl, RefusesCredentialsInTheUrlWithoutEchoingThemBack) {
  std::string error;
  EXPECT_FALSE(ParseBrokerUrl("mqtt://alice:secret@127.0.0.1:1883", &error).has_value());
  EXPECT_NE(error.find("credentials"), std::string::npos) << error;
}

TEST(ParseBrokerUrl, RejectsBadSchemesPortsAndPaths) {
  for (const char* bad : {"127.0.0.1:1883", "http://127.0.0.1:1883", "mqtt://:1883",
                          "mqtt://host:0", "mqtt://host:99999", "mqtt://host:x",
                          "mqtt://host:1883/path", "mqtt://host:"}) {
    std::string error;
    EXPECT_FALSE(ParseBrokerUrl(bad, &error).has_value()) << bad;
    EXPECT_EQ(error.rfind("mqtt.url: ", 0), 0U) << error;
  }
}

TEST(ConnectFailureReason, ExplainsNotAuthorisedAsBadCredentials) {
  EXPECT_NE(ConnectFailureReason(5, 0).find("bad username or password"), std::string::npos);
  EXPECT_NE(ConnectFailureReason(-1, 135).find("bad username or password"), std::string::npos);
  EXPECT_NE(ConnectFailureReason(4, 0).find("bad username or password"), std::string::npos);
  EXPECT_NE(ConnectFailureReason(-1, 0).find("TCP/TLS"), std::string::npos);
  EXPECT_NE(ConnectFailureReason(5, 0).find("rc 5"), std::string::npos);
  // MQTT 5: Paho puts the CONNACK reason code in the return code.
  EXPECT_NE(ConnectFailureReason(135, 0).find("bad username or password"), std::string::npos);
  EXPECT_NE(ConnectFailureReason(134, 0).find("bad username or password"), std::string::npos);
}

}  // namespace
}  // namespace needlewatch::broker
