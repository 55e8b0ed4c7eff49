#include "web_config.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <sstream>

#include "http_auth.h"

namespace needlewatch::daemon {
namespace {

// The response headers the exporter toolkit allows in http_server_config.headers.
constexpr std::array<std::string_view, 5> kAllowedHeaders = {
    "Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "X-XSS-Protection",
    "Strict-Transport-Security"};

// Toolkit keys needlewatch does not implement: refused by name rather than ignored.
constexpr std::array<std::string_view, 7> kUnsupportedTlsKeys = {
    "cert", "key", "client_ca", "client_allowed_sans", "cipher_suites",
    "prefer_server_cipher_suites", "curve_preferences"};

class Loader {
 public:
  Loader(std::string_view name, std::string_view base_dir) : name_(name), base_dir_(base_dir) {}

  WebConfigResult Load(std::string_view text) {
    WebConfig web;
    web.source = name_;
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      Error(e.mark.line < 0 ? 0 : e.mark.line + 1, "(document)", "valid YAML", e.msg);
      return Finish(std::move(web));
    }
    if (root.IsNull() || !root.IsDefined()) return Finish(std::move(web));  // empty file: nothing
    if (!CheckMap(root, "", {"tls_server_config", "basic_auth_users", "http_server_config",
                             "rate_limit"})) {
      return Finish(std::move(web));
    }
    if (auto n = root["tls_server_config"]) ReadTls(n, web);
    if (auto n = root["basic_auth_users"]) ReadUsers(n, web);
    if (auto n = root["http_server_config"]) ReadHttpServer(n, web);
    if (auto n = root["rate_limit"]) {
      Error(n, "rate_limit", "no rate_limit (not supported by needlewatch; the HTTP listener "
                             "bounds connections per client instead)");
    }
    return Finish(std::move(web));
  }

 private:
  WebConfigResult Finish(WebConfig web) {
    WebConfigResult r;
    r.errors = std::move(errors_);
    if (r.errors.empty()) r.config = std::move(web);
    return r;
  }

  static int LineOf(const YAML::Node& n) { return n.Mark().line < 0 ? 0 : n.Mark().line + 1; }
  static std::string Describe(const YAML::Node& n) {
    if (n.IsNull()) return "null";
    if (n.IsScalar()) return "\"" + n.Scalar() + "\"";
    if (n.IsSequence()) return "a list";
    if (n.IsMap()) return "a map";
    return "nothing";
  }
  void Error(int line, const std::string& path, const std::string& expected,
             const std::string& got) {
    errors_.push_back(name_ + ":" + std::to_string(line) + ": " + path + ": expected " +
                      expected + ", got " + got);
  }
  void Error(const YAML::Node& n, const std::string& path, const std::string& expected) {
    Error(LineOf(n), path, expected, Describe(n));
  }
  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  bool CheckMap(const YAML::Node& n, const std::string& path,
                std::initializer_list<std::string_view> allowed) {
    if (!n.IsMap()) {
      Error(n, path.empty() ? "(document)" : path, "a map");
      return false;
    }
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        Error(key, path, "string keys");
        continue;
      }
      if (!seen.insert(key.Scalar()).second) {
        Error(LineOf(key), Join(path, key.Scalar()), "each key once", "a duplicate");
        continue;
      }
      if (allowed.size() == 0) continue;
      bool known = false;
      std::string list;
      for (std::string_view a : allowed) {
        known = known || a == key.Scalar();
        list += (list.empty() ? "" : ", ") + std::string(a);
      }
      if (!known) Error(LineOf(key), Join(path, key.Scalar()), "one of " + list, "an unknown key");
    }
    return true;
  }

  std::optional<std::string> GetString(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar() || n.Scalar().empty()) {
      Error(n, path, "a non-empty string");
      return std::nullopt;
    }
    return n.Scalar();
  }

  // A file name, relative ones taken from the web config file's directory.
  std::optional<std::string> GetFile(const YAML::Node& n, const std::string& path) {
    std::optional<std::string> s = GetString(n, path);
    if (s && s->front() != '/' && !base_dir_.empty()) *s = base_dir_ + "/" + *s;
    return s;
  }

  void ReadTls(const YAML::Node& n, WebConfig& web) {
    if (!CheckMap(n, "tls_server_config",
                  {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version",
                   "max_version", "cert", "key", "client_ca", "client_allowed_sans",
                   "cipher_suites", "prefer_server_cipher_suites", "curve_preferences"})) {
      return;
    }
    for (std::string_view k : kUnsupportedTlsKeys) {
      if (auto v = n[std::string(k)]) {
        Error(LineOf(v), "tls_server_config." + std::string(k),
              "no such key (not supported by needlewatch; use cert_file, key_file, "
              "client_ca_file, client_auth_type, min_version, max_version)",
              Describe(v));
      }
    }
    TlsServerConfig t;
    if (auto v = n["cert_file"]) {
      if (auto s = GetFile(v, "tls_server_config.cert_file")) t.cert_file = *s;
    }
    if (auto v = n["key_file"]) {
      if (auto s = GetFile(v, "tls_server_config.key_file")) t.key_file = *s;
    }
    if (auto v = n["client_ca_file"]) {
      if (auto s = GetFile(v, "tls_server_config.client_ca_file")) t.client_ca_file = *s;
    }
    if (t.cert_file.empty() || t.key_file.empty()) {
      Error(LineOf(n), "tls_server_config", "both cert_file and key_file",
            t.cert_file.empty() ? "no cert_file" : "no key_file");
    }
    if (auto v = n["client_auth_type"]) {
      const std::string s = v.IsScalar() ? v.Scalar() : "";
      if (s == "NoClientCert") {
        t.client_auth = ClientAuth::kNone;
      } else if (s == "VerifyClientCertIfGiven") {
        t.client_auth = ClientAuth::kVerifyIfGiven;
      } else if (s == "RequireAndVerifyClientCert") {
        t.client_auth = ClientAuth::kRequireAndVerify;
      } else {
        Error(v, "tls_server_config.client_auth_type",
              "NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert "
              "(RequestClientCert and RequireAnyClientCert accept unverified certificates)");
      }
    }
    if (t.client_auth != ClientAuth::kNone && t.client_ca_file.empty()) {
      Error(LineOf(n), "tls_server_config.client_ca_file",
            "a CA file when client_auth_type verifies client certificates", "none");
    }
    for (const char* key : {"min_version", "max_version"}) {
      if (auto v = n[key]) {
        const std::string s = v.IsScalar() ? v.Scalar() : "";
        if (s != "TLS12" && s != "TLS13") {
          Error(v, std::string("tls_server_config.") + key, "TLS12 or TLS13");
        } else {
          (std::string_view(key) == "min_version" ? t.min_version : t.max_version) = s;
        }
      }
    }
    if (t.min_version == "TLS13" && t.max_version == "TLS12") {
      Error(LineOf(n), "tls_server_config.min_version", "min_version <= max_version",
            "TLS13 > TLS12");
    }
    web.tls = std::move(t);
  }

  void ReadUsers(const YAML::Node& n, WebConfig& web) {
    if (n.IsNull()) return;  // `basic_auth_users:` with nothing under it: no users
    if (!CheckMap(n, "basic_auth_users", {})) return;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) continue;  // reported by CheckMap
      const std::string& user = key.Scalar();
      const std::string path = "basic_auth_users." + user;
      if (user.empty() || user.find(':') != std::string::npos) {
        Error(key, path, "a user name without ':' (HTTP Basic cannot carry one)");
        continue;
      }
      if (!value.IsScalar() || !IsBcryptHash(value.Scalar())) {
        // Never echo what might be a plain-text password back into a log.
        Error(LineOf(value), path,
              "a bcrypt hash ($2y$10$… from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)",
              value.IsScalar() ? "something else" : Describe(value));
        continue;
      }
      web.users[user] = value.Scalar();
    }
  }

  void ReadHttpServer(const YAML::Node& n, WebConfig& web) {
    if (!CheckMap(n, "http_server_config", {"http2", "headers"})) return;
    if (auto v = n["http2"]) {
      // HTTP/2 is a performance option of the Go server; needlewatch speaks HTTP/1.1 only.
      if (!v.IsScalar() || (v.Scalar() != "true" && v.Scalar() != "false")) {
        Error(v, "http_server_config.http2", "true or false (ignored: HTTP/1.1 only)");
      }
    }
    if (auto h = n["headers"]) {
      if (!CheckMap(h, "http_server_config.headers",
                    {kAllowedHeaders[0], kAllowedHeaders[1], kAllowedHeaders[2],
                     kAllowedHeaders[3], kAllowedHeaders[4]})) {
        return;
      }
      for (std::string_view name : kAllowedHeaders) {
        const YAML::Node v = h[std::string(name)];
        if (!v) continue;
        const std::string path = "http_server_config.headers." + std::string(name);
        std::optional<std::string> s = GetString(v, path);
        if (s && s->find_first_of("\r\n") != std::string::npos) {
          Error(v, path, "one line");
        } else if (s) {
          web.headers.emplace_back(name, *s);
        }
      }
    }
  }

  std::string name_;
  std::string base_dir_;
  std::vector<std::string> errors_;
};

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// A valid hash of a password nobody knows, so an unknown user costs what a known one does.
const std::string& DecoyHash() {
  static const std::string decoy = HashBcrypt("needlewatch-decoy", 10).value_or("");
  return decoy;
}

}  // namespace

WebConfigResult LoadWebConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    WebConfigResult r;
    r.errors.push_back(path + ": cannot read the web configuration file");
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
  return LoadWebConfigString(ss.str(), path, dir.empty() && slash == 0 ? "/" : dir);
}

WebConfigResult LoadWebConfigString(std::string_view yaml, std::string_view name,
                                    std::string_view base_dir) {
  return Loader(name, base_dir).Load(yaml);
}

bool IsBcryptHash(std::string_view h) {
  if (h.size() != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$') return false;
  if (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') return false;
  if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9') return false;
  const int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > 31) return false;
  for (char c : h.substr(7)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '/';
    if (!ok) return false;
  }
  return true;
}

bool VerifyBcrypt(std::string_view password, const std::string& hash) {
  // crypt takes C strings: a NUL inside the password would cut it short.
  if (password.find('\0') != std::string_view::npos || !IsBcryptHash(hash)) return false;
  auto data = std::make_unique<crypt_data>();
  const std::string phrase(password);
  const char* out =
      crypt_rn(phrase.c_str(), hash.c_str(), data.get(), static_cast<int>(sizeof(crypt_data)));
  return out != nullptr && ConstantTimeEqual(out, hash);
}

std::optional<std::string> HashBcrypt(std::string_view password, int cost) {
  if (password.find('\0') != std::string_view::npos || cost < 4 || cost > 31) return std::nullopt;
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, setting,
                       sizeof setting) == nullptr) {
    return std::nullopt;
  }
  auto data = std::make_unique<crypt_data>();
  const std::string phrase(password);
  const char* out =
      crypt_rn(phrase.c_str(), setting, data.get(), static_cast<int>(sizeof(crypt_data)));
  if (out == nullptr || !IsBcryptHash(out)) return std::nullopt;
  return std::string(out);
}

BasicAuthenticator::BasicAuthenticator(std::map<std::string, std::string> users)
    : users_(std::move(users)) {
  std::array<unsigned char, 16> salt{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    // No randomness: remembering stays correct (the key still binds user, password and hash),
    // only less opaque in a memory dump.
    salt.fill(0);
  }
  salt_.assign(reinterpret_cast<const char*>(salt.data()), salt.size());
}

BasicAuthenticator::Result BasicAuthenticator::Check(std::string_view authorization,
                                                     Attempt* attempt, std::string* user) const {
  std::optional<BasicCredentials> c = ParseBasicAuth(authorization);
  if (!c) return Result::kNoCredentials;
  attempt->user = std::move(c->user);
  attempt->password = std::move(c->password);
  auto it = users_.find(attempt->user);
  attempt->known_user = it != users_.end();
  attempt->hash = attempt->known_user ? it->second : std::string();
  if (!attempt->known_user) return Result::kVerify;
  if (const std::string key = Key(*attempt); !key.empty() && remembered_.count(key) != 0) {
    *user = attempt->user;
    return Result::kAccepted;
  }
  return Result::kVerify;
}

bool BasicAuthenticator::Verify(const Attempt& attempt) {
  if (!attempt.known_user) {
    VerifyBcrypt(attempt.password, DecoyHash());  // same cost as a real check
    return false;
  }
  return VerifyBcrypt(attempt.password, attempt.hash);
}

void BasicAuthenticator::Remember(const Attempt& attempt) {
  std::string key = Key(attempt);
  if (!attempt.known_user || key.empty()) return;
  if (remembered_.size() >= kMaxRemembered) remembered_.clear();
  remembered_.insert(std::move(key));
}

std::string BasicAuthenticator::Key(const Attempt& a) const {
  // Length-prefixed fields, so that no two different triples hash the same input.
  std::string in = salt_;
  for (const std::string* s : {&a.user, &a.password, &a.hash}) {
    in += std::to_string(s->size()) + ":" + *s;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(in.data(), in.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    return {};  // never remembered, never matched
  }
  OPENSSL_cleanse(in.data(), in.size());
  return std::string(reinterpret_cast<const char*>(md), len);
}

}  // namespace needlewatch::daemon
