// Connect settings shared by the daemon, republish and the simulator: credentials from files or
// the environment, and the Paho options built from them.
#include "needlewatch/mqtt/connect.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "needlewatch/mqtt/paho.h"

// Paho C++ 1.2 leaks the C properties of a connect_options it copies (a few dozen bytes per
// copy); the daemon makes one for its lifetime. Not ours to free.
extern "C" const char* __lsan_default_suppressions() {  // NOLINT(bugprone-reserved-identifier)
  return "leak:libpaho-mqtt3as.so\n";
}

namespace needlewatch::broker {
namespace {

std::string TempFile(const std::string& content) {
  char path[] = "/tmp/nw-secret-XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  std::FILE* f = fdopen(fd, "w");
  std::fputs(content.c_str(), f);
  std::fclose(f);
  return path;
}

TEST(LoadCredentials, FilesWinOverTheEnvironmentAndLoseTrailingNewlines) {
  const std::string user = TempFile("monitor\n");
  const std::string pass = TempFile("s3cret \r\n");
  ::setenv(kUsernameEnv, "from-env", 1);
  Credentials c;
  std::string error;
  ASSERT_TRUE(LoadCredentials(user, pass, &c, &error)) << error;
  EXPECT_EQ(c.username, "monitor");
  EXPECT_EQ(c.password, "s3cret");
  ::unsetenv(kUsernameEnv);
  std::remove(user.c_str());
  std::remove(pass.c_str());
}

TEST(LoadCredentials, TheEnvironmentWhenNoFileIsNamedElseAnonymous) {
  ::setenv(kUsernameEnv, "env-user", 1);
  ::setenv(kPasswordEnv, "env-pass", 1);
  Credentials c;
  std::string error;
  ASSERT_TRUE(LoadCredentials("", "", &c, &error));
  EXPECT_EQ(c.username, "env-user");
  EXPECT_EQ(c.password, "env-pass");
  ::unsetenv(kUsernameEnv);
  ::unsetenv(kPasswordEnv);
  ASSERT_TRUE(LoadCredentials("", "", &c, &error));
  EXPECT_EQ(c.username, "");
  EXPECT_EQ(c.password, "");
}

TEST(LoadCredentials, AnUnreadableFileNamesTheKeyAndThePath) {
  Credentials c;
  std::string error;
  EXPECT_FALSE(LoadCredentials("", "/nonexistent/pw", &c, &error));
  EXPECT_EQ(error, "mqtt.password_file: cannot read \"/nonexistent/pw\"");
}

TEST(MakeConnectOptions, CarriesVersionSessionCredentialsWillAndMqtt5Properties) {
  std::string error;
  ConnectSettings s;
  s.url = *ParseBrokerUrl("mqtt://127.0.0.1:1883", &error);
  s.version = 5;
  s.clean_start = false;
  s.session_expiry = std::chrono::seconds(86400);
  s.maximum_packet_size = 65536;
  s.keepalive = std::chrono::seconds(7);
  s.credentials = {"monitor", "pw"};
  s.will = WillMessage{"needlewatch/a/status", "{\"state\":\"offline\"}", 1, true};
  mqtt::connect_options o;
  MakeConnectOptions(s, &o);
  EXPECT_EQ(o.get_mqtt_version(), MQTTVERSION_5);
  EXPECT_EQ(o.get_keep_alive_interval(), std::chrono::seconds(7));
  EXPECT_EQ(o.get_user_name(), "monitor");
  ASSERT_TRUE(o.get_will_message());
  EXPECT_EQ(o.get_will_message()->get_topic(), "needlewatch/a/status");
  EXPECT_TRUE(o.get_will_message()->is_retained());
  const mqtt::properties& p = o.get_properties();
  EXPECT_EQ(mqtt::get<int>(p, mqtt::property::SESSION_EXPIRY_INTERVAL), 86400);
  EXPECT_EQ(mqtt::get<int>(p, mqtt::property::MAXIMUM_PACKET_SIZE), 65536);
}

TEST(MakeConnectOptions, Mqtt311HasNoPropertiesAndTlsAlwaysGetsSslOptions) {
  std::string error;
  ConnectSettings s;
  s.url = *ParseBrokerUrl("mqtts://broker.example:8883", &error);
  s.version = 4;
  s.tls.ca_file = "/etc/ssl/ca.pem";
  mqtt::connect_options o;
  MakeConnectOptions(s, &o);
  EXPECT_EQ(o.get_mqtt_version(), MQTTVERSION_3_1_1);
  EXPECT_TRUE(o.get_properties().empty());
  EXPECT_EQ(o.get_ssl_options().get_trust_store(), "/etc/ssl/ca.pem");
}

TEST(MakeConnectOptions, SeveralNodesBecomePahosServerListInOrder) {
  std::string error;
  ConnectSettings s;
  s.url = *ParseBrokerUrl("mqtt://n1:1883", &error);
  mqtt::connect_options one;
  MakeConnectOptions(s, &one);
  EXPECT_FALSE(one.get_servers());  // one URL: the client's own
  for (const char* u : {"mqtt://n1:1883", "mqtt://n2", "tcp://n3:2883"}) {
    s.servers.push_back(*ParseBrokerUrl(u, &error));
  }
  mqtt::connect_options o;
  MakeConnectOptions(s, &o);
  ASSERT_TRUE(o.get_servers());
  ASSERT_EQ(o.get_servers()->size(), 3u);
  EXPECT_EQ((*o.get_servers())[0], "tcp://n1:1883");
  EXPECT_EQ((*o.get_servers())[1], "tcp://n2:1883");
  EXPECT_EQ((*o.get_servers())[2], "tcp://n3:2883");
}

}  // namespace
}  // namespace needlewatch::broker
