#include "http_auth.h"

#include <gtest/gtest.h>

namespace needlewatch::daemon {
namespace {

TEST(DecodeBase64, DecodesWithAndWithoutPadding) {
  EXPECT_EQ(DecodeBase64("YWxpY2U6cHc="), "alice:pw");
  EXPECT_EQ(DecodeBase64("YWxpY2U6cHc"), "alice:pw");
  EXPECT_EQ(DecodeBase64(""), "");
}

TEST(DecodeBase64, RejectsInvalidCharactersAndLengths) {
  EXPECT_FALSE(DecodeBase64("YWxp*2U6").has_value());
  EXPECT_FALSE(DecodeBase64("Y").has_value());
}

TEST(ParseBasicAuth, SplitsUserAndPasswordAtTheFirstColon) {
  // "bob:p:w" — the password may itself contain colons.
  auto c = ParseBasicAuth("Basic Ym9iOnA6dw==");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->user, "bob");
  EXPECT_EQ(c->password, "p:w");
}

TEST(ParseBasicAuth, SchemeIsCaseInsensitive) {
  EXPECT_TRUE(ParseBasicAuth("basic YWxpY2U6cHc=").has_value());
  EXPECT_TRUE(ParseBasicAuth("BASIC YWxpY2U6cHc=").has_value());
}

TEST(ParseBasicAuth, RejectsOtherSchemesMissingColonAndGarbage) {
  EXPECT_FALSE(ParseBasicAuth("").has_value());
  EXPECT_FALSE(ParseBasicAuth("Bearer YWxpY2U6cHc=").has_value());
  EXPECT_FALSE(ParseBasicAuth("Basic YWxpY2U=").has_value());  // "alice", no colon
  EXPECT_FALSE(ParseBasicAuth("Basic !!!").has_value());
  EXPECT_FALSE(ParseBasicAuth("Basic").has_value());
}

TEST(ParseListenAddress, AcceptsHostPortAndPortZero) {
  std::string error;
  auto a = ParseListenAddress("127.0.0.1:0", &error);
  ASSERT_TRUE(a.has_value()) << error;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 0);
  auto b = ParseListenAddress("[::1]:9464", &error);
  ASSERT_TRUE(b.has_value()) << error;
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 9464);
  auto c = ParseListenAddress(":9464", &error);
  ASSERT_TRUE(c.has_value()) << error;
  EXPECT_EQ(c->host, "");
}

TEST(ParseListenAddress, RejectsMissingOrBadPortWithAClearMessage) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000",
                          "::1:80", "[::1]9464"}) {
    std::string error;
    EXPECT_FALSE(ParseListenAddress(bad, &error).has_value()) << bad;
    EXPECT_NE(error.find("expected host:port"), std::string::npos) << error;
  }
}

TEST(IsJsonContentType, MediaTypeOnlyCaseInsensitiveParametersAllowed) {
  EXPECT_TRUE(IsJsonContentType("application/json"));
  EXPECT_TRUE(IsJsonContentType("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(IsJsonContentType(" application/json "));
  EXPECT_FALSE(IsJsonContentType("text/plain"));
  EXPECT_FALSE(IsJsonContentType("application/json-seq"));
  EXPECT_FALSE(IsJsonContentType("text/plain; x=application/json"));
  EXPECT_FALSE(IsJsonContentType(""));
}

TEST(HostName, DropsThePortAndLowersTheCase) {
  EXPECT_EQ(HostName("LocalHost:9464"), "localhost");
  EXPECT_EQ(HostName("[::1]:9464"), "[::1]");
  EXPECT_EQ(HostName("[::1]"), "[::1]");
  EXPECT_EQ(HostName("127.0.0.1"), "127.0.0.1");
}

TEST(IsLocalHost, LoopbackNamesAndConfiguredOnes) {
  EXPECT_TRUE(IsLocalHost("127.0.0.1:9464", {}));
  EXPECT_TRUE(IsLocalHost("127.255.0.9", {}));
  EXPECT_TRUE(IsLocalHost("localhost", {}));
  EXPECT_TRUE(IsLocalHost("grafana.localhost:3000", {}));
  EXPECT_TRUE(IsLocalHost("[::1]:1", {}));
  EXPECT_TRUE(IsLocalHost("", {}));
  EXPECT_FALSE(IsLocalHost("128.0.0.1", {}));
  EXPECT_FALSE(IsLocalHost("127.0.0.1.nip.io", {}));
  EXPECT_FALSE(IsLocalHost("127.0.0", {}));
  EXPECT_FALSE(IsLocalHost("127.0.0.1.", {}));
  EXPECT_FALSE(IsLocalHost("127.0.0.256", {}));
  EXPECT_FALSE(IsLocalHost("localhost.evil.example", {}));
  EXPECT_TRUE(IsLocalHost("Monitor.LAN:9464", {"monitor.lan"}));
}

TEST(IsAllowedOrigin, OwnOriginOrConfiguredNeverNull) {
  EXPECT_TRUE(IsAllowedOrigin("http://127.0.0.1:9464", "127.0.0.1:9464", false, {}));
  EXPECT_FALSE(IsAllowedOrigin("http://127.0.0.1:9464", "127.0.0.1:9464", true, {}));
  EXPECT_TRUE(IsAllowedOrigin("https://monitor.lan", "monitor.lan:443", true, {}));
  EXPECT_TRUE(IsAllowedOrigin("http://monitor.lan:80", "monitor.lan", false, {}));
  EXPECT_FALSE(IsAllowedOrigin("http://127.0.0.1:9465", "127.0.0.1:9464", false, {}));
  EXPECT_FALSE(IsAllowedOrigin("https://evil.example", "127.0.0.1:9464", false, {}));
  EXPECT_FALSE(IsAllowedOrigin("null", "127.0.0.1:9464", false, {"null"}));
  EXPECT_FALSE(IsAllowedOrigin("http://", "", false, {}));
  EXPECT_TRUE(IsAllowedOrigin("https://Floor.example", "127.0.0.1:9464", false,
                              {"https://floor.example/"}));
}

}  // namespace
}  // namespace needlewatch::daemon
