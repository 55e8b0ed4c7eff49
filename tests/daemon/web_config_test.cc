// The web configuration file (exporter-toolkit format), bcrypt through libcrypt, the
// authenticator's memory of successful checks, and the `http:`/`outputs:` keys that go with it.
#include "web_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "needlewatch/config/config.h"

namespace needlewatch::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// Cost 4: the cheapest bcrypt, so the tests stay fast; the daemon accepts any cost 4–31.
std::string Hash(const std::string& password) {
  std::optional<std::string> h = HashBcrypt(password, 4);
  EXPECT_TRUE(h.has_value());
  return h.value_or("");
}

std::string OnlyError(std::string_view yaml) {
  WebConfigResult r = LoadWebConfigString(yaml, "web.yml", "/etc/nw");
  EXPECT_FALSE(r.ok());
  return r.errors.size() == 1 ? r.errors[0] : "errors: " + std::to_string(r.errors.size());
}

TEST(Bcrypt, VerifiesTheRightPasswordOnlyAndAcceptsHtpasswdsPrefix) {
  const std::string h = Hash("correct horse");
  EXPECT_TRUE(IsBcryptHash(h));
  EXPECT_TRUE(VerifyBcrypt("correct horse", h));
  EXPECT_FALSE(VerifyBcrypt("correct horsf", h));
  EXPECT_FALSE(VerifyBcrypt("", h));
  EXPECT_FALSE(VerifyBcrypt(std::string("correct horse\0x", 15), h));
  // htpasswd -B writes $2y$: the same algorithm.
  EXPECT_TRUE(VerifyBcrypt("correct horse", "$2y$" + h.substr(4)));
  EXPECT_FALSE(VerifyBcrypt("correct horse", "correct horse"));
}

TEST(Bcrypt, RecognisesOnlyWellFormedHashes) {
  EXPECT_TRUE(IsBcryptHash("$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
  EXPECT_FALSE(IsBcryptHash("$2y$03$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
  EXPECT_FALSE(IsBcryptHash("$2x$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
  EXPECT_FALSE(IsBcryptHash("$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPz"));
  EXPECT_FALSE(IsBcryptHash("$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPz!"));
  EXPECT_FALSE(IsBcryptHash("$6$salt$hash"));
}

TEST(LoadWebConfig, ReadsUsersTlsAndHeadersWithPathsRelativeToTheFile) {
  const std::string alice = Hash("a"), bob = Hash("b");
  WebConfigResult r = LoadWebConfigString(
      "tls_server_config:\n"
      "  cert_file: server.crt\n"
      "  key_file: /abs/server.key\n"
      "  client_ca_file: ca.crt\n"
      "  client_auth_type: RequireAndVerifyClientCert\n"
      "  min_version: TLS13\n"
      "http_server_config:\n"
      "  http2: false\n"
      "  headers:\n"
      "    Strict-Transport-Security: max-age=31536000\n"
      "basic_auth_users:\n"
      "  alice: " + alice + "\n"
      "  bob: '" + bob + "'\n",
      "web.yml", "/etc/nw");
  ASSERT_THAT(r.errors, IsEmpty());
  const WebConfig& w = *r.config;
  EXPECT_EQ(w.users.size(), 2u);
  EXPECT_EQ(w.users.at("alice"), alice);
  ASSERT_TRUE(w.tls.has_value());
  EXPECT_EQ(w.tls->cert_file, "/etc/nw/server.crt");
  EXPECT_EQ(w.tls->key_file, "/abs/server.key");
  EXPECT_EQ(w.tls->client_ca_file, "/etc/nw/ca.crt");
  EXPECT_EQ(w.tls->client_auth, ClientAuth::kRequireAndVerify);
  EXPECT_EQ(w.tls->min_version, "TLS13");
  ASSERT_EQ(w.headers.size(), 1u);
  EXPECT_EQ(w.headers[0].first, "Strict-Transport-Security");
  EXPECT_EQ(w.source, "web.yml");
}

TEST(LoadWebConfig, AnEmptyFileConfiguresNothing) {
  WebConfigResult r = LoadWebConfigString("", "web.yml", "");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.config->users.empty());
  EXPECT_FALSE(r.config->tls.has_value());
  r = LoadWebConfigString("basic_auth_users:\n", "web.yml", "");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.config->users.empty());
}

TEST(LoadWebConfig, APlainTextPasswordIsRefusedWithoutBeingRepeated) {
  const std::string e = OnlyError("basic_auth_users:\n  alice: hunter2\n");
  EXPECT_THAT(e, HasSubstr("web.yml:2: basic_auth_users.alice: expected a bcrypt hash"));
  EXPECT_THAT(e, Not(HasSubstr("hunter2")));
}

TEST(LoadWebConfig, SecuritySettingsItCannotHonourAreErrorsNotIgnored) {
  EXPECT_THAT(OnlyError("rate_limit: {interval: 1s, burst: 5}\n"),
              HasSubstr("rate_limit: expected no rate_limit"));
  EXPECT_THAT(OnlyError("tls_server_config: {cert_file: a, key_file: b, cipher_suites: [x]}\n"),
              HasSubstr("tls_server_config.cipher_suites: expected no such key"));
  EXPECT_THAT(OnlyError("tls_server_config: {cert_file: a, key_file: b, client_ca_file: c, "
                        "client_auth_type: RequireAnyClientCert}\n"),
              HasSubstr("tls_server_config.client_auth_type: expected NoClientCert, "
                        "VerifyClientCertIfGiven or RequireAndVerifyClientCert"));
  EXPECT_THAT(OnlyError("tls_server_config: {cert_file: a}\n"),
              HasSubstr("tls_server_config: expected both cert_file and key_file, "
                        "got no key_file"));
  EXPECT_THAT(OnlyError("tls_server_config: {cert_file: a, key_file: b, "
                        "client_auth_type: RequireAndVerifyClientCert}\n"),
              HasSubstr("tls_server_config.client_ca_file: expected a CA file"));
  EXPECT_THAT(OnlyError("tls_server_config: {cert_file: a, key_file: b, min_version: TLS10}\n"),
              HasSubstr("expected TLS12 or TLS13"));
  EXPECT_THAT(OnlyError("basic_auth_user: {}\n"),
              HasSubstr("web.yml:1: basic_auth_user: expected one of tls_server_config"));
  EXPECT_THAT(OnlyError("http_server_config: {headers: {Set-Cookie: x}}\n"),
              HasSubstr("http_server_config.headers.Set-Cookie: expected one of"));
  EXPECT_THAT(OnlyError("basic_auth_users: [\n"), HasSubstr("expected valid YAML"));
}

TEST(LoadWebConfig, AMissingFileIsNamed) {
  WebConfigResult r = LoadWebConfigFile("/nonexistent/web.yml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0], HasSubstr("/nonexistent/web.yml"));
}

TEST(BasicAuthenticator, RemembersASuccessOnlyForThatPasswordAndHash) {
  BasicAuthenticator auth({{"alice", Hash("pw")}});
  ASSERT_TRUE(auth.enabled());
  BasicAuthenticator::Attempt a;
  std::string user;
  EXPECT_EQ(auth.Check("", &a, &user), BasicAuthenticator::Result::kNoCredentials);
  EXPECT_EQ(auth.Check("Bearer x", &a, &user), BasicAuthenticator::Result::kNoCredentials);
  // "alice:pw"
  ASSERT_EQ(auth.Check("Basic YWxpY2U6cHc=", &a, &user), BasicAuthenticator::Result::kVerify);
  EXPECT_TRUE(a.known_user);
  ASSERT_TRUE(BasicAuthenticator::Verify(a));
  auth.Remember(a);
  EXPECT_EQ(auth.Check("Basic YWxpY2U6cHc=", &a, &user), BasicAuthenticator::Result::kAccepted);
  EXPECT_EQ(user, "alice");
  // "alice:pw2" is never accepted from memory, and fails verification.
  user.clear();
  ASSERT_EQ(auth.Check("Basic YWxpY2U6cHcy", &a, &user), BasicAuthenticator::Result::kVerify);
  EXPECT_FALSE(BasicAuthenticator::Verify(a));
  EXPECT_TRUE(user.empty());
  // A new authenticator (a reload with a rotated hash) remembers nothing.
  BasicAuthenticator rotated({{"alice", Hash("new")}});
  EXPECT_EQ(rotated.Check("Basic YWxpY2U6cHc=", &a, &user), BasicAuthenticator::Result::kVerify);
  EXPECT_FALSE(BasicAuthenticator::Verify(a));
}

TEST(BasicAuthenticator, AnUnknownUserIsVerifiedAgainstADecoyAndFails) {
  BasicAuthenticator auth({{"alice", Hash("pw")}});
  BasicAuthenticator::Attempt a;
  std::string user;
  // "mallory:pw"
  ASSERT_EQ(auth.Check("Basic bWFsbG9yeTpwdw==", &a, &user), BasicAuthenticator::Result::kVerify);
  EXPECT_FALSE(a.known_user);
  EXPECT_FALSE(BasicAuthenticator::Verify(a));
  auth.Remember(a);  // ignored
  EXPECT_EQ(auth.Check("Basic bWFsbG9yeTpwdw==", &a, &user), BasicAuthenticator::Result::kVerify);
}

// --- the `http:` and `outputs:` keys of the daemon's configuration ---

TEST(HttpConfigKeys, SecurityKeysLoadWithTheirDefaults) {
  config::LoadResult r = config::LoadConfigString(
      "http:\n"
      "  web_config_file: /etc/nw/web.yml\n"
      "  allowed_origins: [https://floor.example, 'http://10.0.0.5:8080']\n"
      "  allowed_hosts: [monitor.lan]\n"
      "  max_connections: 64\n"
      "  max_connections_per_client: 8\n"
      "  header_timeout: 2s\n"
      "outputs:\n"
      "  audit_fsync: always\n",
      "t.yaml");
  ASSERT_THAT(r.errors, IsEmpty());
  const config::HttpConfig& h = r.config->http;
  EXPECT_EQ(h.web_config_file, "/etc/nw/web.yml");
  EXPECT_EQ(h.allowed_origins.size(), 2u);
  EXPECT_EQ(h.allowed_hosts, std::vector<std::string>{"monitor.lan"});
  EXPECT_EQ(h.max_connections, 64u);
  EXPECT_EQ(h.max_connections_per_client, 8u);
  EXPECT_EQ(h.header_timeout, 2 * engine::kNsPerSec);
  EXPECT_EQ(r.config->outputs.audit_fsync, config::AuditFsync::kAlways);
  const config::Config d = config::DefaultConfig();
  EXPECT_EQ(d.outputs.audit_fsync, config::AuditFsync::kTransitions);
  EXPECT_EQ(d.http.header_timeout, 5 * engine::kNsPerSec);
  EXPECT_TRUE(d.http.web_config_file.empty());
}

TEST(HttpConfigKeys, BadValuesNameTheKey) {
  auto error = [](std::string_view yaml) {
    config::LoadResult r = config::LoadConfigString(yaml, "t.yaml");
    return r.errors.empty() ? std::string("no error") : r.errors[0];
  };
  EXPECT_THAT(error("http: {allowed_origins: ['https://floor.example/page']}\n"),
              HasSubstr("http.allowed_origins[0]: expected origins like https://host"));
  EXPECT_THAT(error("http: {allowed_hosts: ['monitor.lan:9464']}\n"),
              HasSubstr("http.allowed_hosts[0]: expected host names"));
  EXPECT_THAT(error("http: {max_connections: 0}\n"),
              HasSubstr("http.max_connections: expected an integer from 1"));
  EXPECT_THAT(error("http: {header_timeout: 5}\n"), HasSubstr("http.header_timeout"));
  EXPECT_THAT(error("outputs: {audit_fsync: sometimes}\n"),
              HasSubstr("outputs.audit_fsync: expected never, transitions or always"));
}

}  // namespace
}  // namespace needlewatch::daemon
