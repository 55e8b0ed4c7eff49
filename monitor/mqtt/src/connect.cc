#include "needlewatch/mqtt/connect.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace needlewatch::broker {

bool ReadSecretFile(const std::string& path, std::string_view key, std::string* out,
                    std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = std::string(key) + ": cannot read \"" + path + "\"";
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  *out = std::move(s);
  return true;
}

namespace {

// The file when named, else the environment variable, else empty.
bool Load(const std::string& file, std::string_view key, const char* env, std::string* out,
          std::string* error) {
  if (!file.empty()) return ReadSecretFile(file, key, out, error);
  const char* v = std::getenv(env);
  *out = v != nullptr ? v : "";
  return true;
}

}  // namespace

bool LoadCredentials(const std::string& username_file, const std::string& password_file,
                     Credentials* out, std::string* error) {
  return Load(username_file, "mqtt.username_file", kUsernameEnv, &out->username, error) &&
         Load(password_file, "mqtt.password_file", kPasswordEnv, &out->password, error);
}

}  // namespace needlewatch::broker
