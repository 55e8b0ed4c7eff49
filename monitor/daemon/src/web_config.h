// The web configuration file (`--web.config.file`, `http.web_config_file`) in the format of the
// Prometheus exporter toolkit (its docs/web-configuration.md): `basic_auth_users` with bcrypt
// hashes, `tls_server_config` (certificate, key, optional client CA for mutual TLS) and
// `http_server_config.headers`. Also the bcrypt check of a password (Debian's libcrypt) and
// BasicAuthenticator, which keeps a successful check from being paid again on every request.
//
// Loading and the free functions are pure apart from reading the file; thread-safe.
// BasicAuthenticator is not thread-safe (the HTTP server uses it on its loop thread), except its
// static Verify, which is.
#ifndef NEEDLEWATCH_DAEMON_WEB_CONFIG_H_
#define NEEDLEWATCH_DAEMON_WEB_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace needlewatch::daemon {

// tls_server_config.client_auth_type, named as in Go's crypto/tls. RequestClientCert and
// RequireAnyClientCert (which accept any certificate, verified or not) are refused at load.
enum class ClientAuth : std::uint8_t {
  kNone,              // NoClientCert (default)
  kVerifyIfGiven,     // VerifyClientCertIfGiven: a certificate, if sent, must verify
  kRequireAndVerify,  // RequireAndVerifyClientCert: mutual TLS
};

struct TlsServerConfig {
  std::string cert_file;       // PEM certificate (chain) the server presents
  std::string key_file;        // its PEM private key
  std::string client_ca_file;  // CA bundle that signs client certificates ("" = none)
  ClientAuth client_auth = ClientAuth::kNone;
  std::string min_version = "TLS12";  // TLS12 or TLS13
  std::string max_version = "TLS13";
};

struct WebConfig {
  // basic_auth_users: user name -> bcrypt hash ($2a$, $2b$ or $2y$). Empty = no authentication.
  std::map<std::string, std::string> users;
  std::optional<TlsServerConfig> tls;  // set: the listener serves HTTPS only
  // http_server_config.headers: added to every response (e.g. Strict-Transport-Security).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string source;  // the file it came from; "" = built in (nothing configured)
};

struct WebConfigResult {
  std::optional<WebConfig> config;
  // Each names the file, the line, the key and what was expected, e.g.
  // "web.yml:4: basic_auth_users.alice: expected a bcrypt hash ($2y$10$…), got \"secret\"".
  std::vector<std::string> errors;
  bool ok() const { return config.has_value(); }
};

// Loads a web configuration file. Relative file names in it are taken relative to the file's
// directory (as the exporter toolkit does). Unknown keys and toolkit keys needlewatch does not
// implement (rate_limit, cipher_suites, inline cert/key, …) are errors: a security setting
// must never be ignored silently. Never throws.
WebConfigResult LoadWebConfigFile(const std::string& path);
// The same from text; `name` stands for the file in messages, `base_dir` resolves relative paths.
WebConfigResult LoadWebConfigString(std::string_view yaml, std::string_view name,
                                    std::string_view base_dir);

// True for a well-formed bcrypt hash: $2a$/$2b$/$2y$, cost 04–31, 53 characters of salt+hash.
bool IsBcryptHash(std::string_view hash);

// True when `password` matches the bcrypt `hash` (libcrypt's crypt_rn; the results are compared
// in constant time). Slow by design: about 70 ms at cost 10. Thread-safe.
bool VerifyBcrypt(std::string_view password, const std::string& hash);

// A new bcrypt ($2b$) hash of `password` at `cost` (4–31); nullopt if libcrypt fails.
std::optional<std::string> HashBcrypt(std::string_view password, int cost);

// Who sent a request, from its Authorization header, against basic_auth_users. A check that
// succeeded once is remembered (as a salted SHA-256 of user, password and hash, never the
// password), so only the first request of a user — or a wrong password — pays for bcrypt.
class BasicAuthenticator {
 public:
  // What Check found that still needs the slow bcrypt comparison.
  struct Attempt {
    std::string user;
    std::string password;
    std::string hash;         // the user's hash, or a decoy for an unknown user
    bool known_user = false;  // false: Verify runs the decoy (same time) and fails
  };
  enum class Result : std::uint8_t {
    kNoCredentials,  // no (or no well-formed) Basic Authorization header
    kAccepted,       // remembered success; *user is set
    kVerify,         // run Verify(*attempt) (off the loop), then Remember it on success
  };

  BasicAuthenticator() = default;
  explicit BasicAuthenticator(std::map<std::string, std::string> users);

  bool enabled() const { return !users_.empty(); }
  Result Check(std::string_view authorization, Attempt* attempt, std::string* user) const;
  // Slow (bcrypt); thread-safe.
  static bool Verify(const Attempt& attempt);
  void Remember(const Attempt& attempt);

 private:
  std::string Key(const Attempt& a) const;

  std::map<std::string, std::string> users_;
  std::string salt_;                 // random per authenticator
  std::set<std::string> remembered_;  // keys of successful checks (at most kMaxRemembered)
  static constexpr std::size_t kMaxRemembered = 256;
};

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_WEB_CONFIG_H_
