// The YAML loader. One pass over the document collects every error (never just the first);
// a Config is returned only when there were none.
//
// Limits are read into "partial" zones (each key optional, with the line it came from), then
// resolved: built-in ZoneLimits <- limits.default <- limits.zones.NAME, key by key. Cross-key
// checks (min <= max, warn <= max, warn_after <= max_duration) run on the resolved values of
// every zone, and name the line of the key that made the pair inconsistent.
#include "needlewatch/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <unordered_set>
#include <utility>

#include "shipped_limits.h"
#include "values.h"

namespace needlewatch::config {
namespace {

using engine::RuleOptions;
using engine::Severity;
using engine::TimeNs;
using engine::ZoneLimits;

int LineOf(const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  return m.line < 0 ? 0 : m.line + 1;
}

std::optional<double> ScalarAsNumber(const std::string& s) {
  if (s.empty()) return std::nullopt;
  double d = 0;
  const char* begin = s.data();
  if (*begin == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), d);
  if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(d)) return std::nullopt;
  return d;
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

// How a node is shown after "got": numbers and booleans bare, other scalars quoted.
std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() != "!" && (ScalarAsNumber(s) || s == "true" || s == "false")) return s;
      return Quote(s);
    }
    default:
      return "nothing";
  }
}

std::string FormatNumber(double d) {
  std::ostringstream os;
  os << d;
  return os.str();
}

template <typename T>
struct Field {
  std::optional<T> value;
  int line = 0;
  void Set(T v, int l) {
    value = std::move(v);
    line = l;
  }
};

// One `limits.default` or `limits.zones.NAME` entry as written: every key optional.
struct PartialZone {
  int line = 0;
  Field<double> depth_max;
  Field<std::optional<double>> depth_warn;  // null: no warning rule
  Field<Severity> depth_severity, depth_warn_severity;
  Field<TimeNs> depth_for, depth_warn_for;
  Field<double> speed_min, speed_max;
  Field<Severity> speed_severity;
  Field<TimeNs> speed_for;
  Field<std::optional<TimeNs>> warn_after;  // null: no overtime warning
  Field<TimeNs> max_duration;
  Field<Severity> session_severity, session_warn_severity;
  Field<TimeNs> stale_after;
  Field<Severity> stale_severity;
  Field<Severity> offline_severity;
};

template <typename T, typename U>
void ApplyField(const Field<T>& f, U& target) {
  if (f.value) target = *f.value;
}

void Apply(const PartialZone& p, ZoneLimits& z) {
  ApplyField(p.depth_max, z.depth_max_mm);
  ApplyField(p.depth_severity, z.depth_exceeded.severity);
  ApplyField(p.depth_for, z.depth_exceeded.for_ns);
  ApplyField(p.depth_warn, z.depth_warn_mm);
  ApplyField(p.depth_warn_severity, z.depth_warning.severity);
  ApplyField(p.depth_warn_for, z.depth_warning.for_ns);
  ApplyField(p.speed_min, z.speed_min_hz);
  ApplyField(p.speed_max, z.speed_max_hz);
  ApplyField(p.speed_severity, z.speed.severity);
  ApplyField(p.speed_for, z.speed.for_ns);
  ApplyField(p.warn_after, z.session_warn_after);
  ApplyField(p.max_duration, z.session_max_duration);
  ApplyField(p.session_severity, z.session_overtime.severity);
  ApplyField(p.session_warn_severity, z.session_overtime_warning.severity);
  ApplyField(p.stale_after, z.stale_after);
  ApplyField(p.stale_severity, z.telemetry_stale.severity);
  ApplyField(p.offline_severity, z.device_offline.severity);
}

std::string FormatDuration(TimeNs ns) {
  if (ns % engine::kNsPerSec == 0) return std::to_string(ns / engine::kNsPerSec) + "s";
  return std::to_string(ns / engine::kNsPerMs) + "ms";
}

class Loader {
 public:
  explicit Loader(std::string name) : name_(std::move(name)) {}

  LoadResult Load(std::string_view text) {
    Config config;
    config.source = name_;
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      Error(e.mark.line < 0 ? 0 : e.mark.line + 1, "(document)", "valid YAML", e.msg);
      return Finish(std::move(config));
    }
    if (root.IsNull() || !root.IsDefined()) {
      config.limits = DefaultConfig().limits;
      return Finish(std::move(config));
    }
    if (!CheckMap(root, "(document)",
                  {"mqtt", "http", "outputs", "record", "state", "engine", "log", "limits",
                   "cluster"})) {
      return Finish(std::move(config));
    }
    if (auto n = root["mqtt"]) ReadMqtt(n, config.mqtt);
    if (auto n = root["http"]) ReadHttp(n, config.http);
    if (auto n = root["outputs"]) ReadOutputs(n, config.outputs);
    if (auto n = root["record"]) ReadRecord(n, config.record);
    if (auto n = root["state"]) ReadState(n, config.state);
    if (auto n = root["cluster"]) ReadCluster(n, config.cluster);
    if (root["cluster"]) {
      const bool instance_in_file = root["mqtt"] && root["mqtt"].IsMap() && root["mqtt"]["instance"];
      for (const std::string& e : ClusterConfigErrors(config, instance_in_file)) {
        errors_.push_back(name_ + ":" + std::to_string(LineOf(root["cluster"])) + ": " + e);
      }
    }
    std::string registry_file;
    if (auto n = root["engine"]) ReadEngine(n, config.engine, registry_file);
    if (auto n = root["log"]) ReadLog(n, config.log);
    if (auto n = root["limits"]) {
      ReadLimits(n, config.limits);
    } else {
      config.limits = DefaultConfig().limits;
    }
    config.engine.topic_root = config.mqtt.topic_root;
    if (!registry_file.empty()) LoadRegistry(registry_file, config.engine);
    config.registry_file = std::move(registry_file);
    return Finish(std::move(config));
  }

  // Reads engine.registry_file (relative to the working directory, like every other path in the
  // configuration); its errors name that file.
  void LoadRegistry(const std::string& path, engine::EngineOptions& c) {
    std::error_code ec;
    std::ifstream in(path, std::ios::binary);
    if (!in || std::filesystem::is_directory(path, ec)) {
      errors_.push_back(name_ + ": engine.registry_file: cannot read " + path + " (" +
                        (std::filesystem::exists(path, ec) ? "unreadable" : "no such file") +
                        ")");
      return;
    }
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Loader registry(path);
    registry.ReadRegistry(text, c);
    for (std::string& e : registry.TakeErrors()) errors_.push_back(std::move(e));
  }

 private:
  LoadResult Finish(Config config) {
    LoadResult r;
    r.errors = std::move(errors_);
    if (r.errors.empty()) r.config = std::move(config);
    return r;
  }

  void Error(int line, const std::string& path, const std::string& expected,
             const std::string& got) {
    errors_.push_back(name_ + ":" + std::to_string(line) + ": " + path + ": expected " +
                      expected + ", got " + got);
  }
  void Error(const YAML::Node& node, const std::string& path, const std::string& expected) {
    Error(LineOf(node), path, expected, Describe(node));
  }

  // A map whose keys are all in `allowed`, each once. Reports and returns false otherwise
  // (unknown keys are reported but the map is still read).
  bool CheckMap(const YAML::Node& node, const std::string& path,
                std::initializer_list<std::string_view> allowed) {
    if (!node.IsMap()) {
      Error(node, path, "a map");
      return false;
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;  // copy: `it->` yields a temporary proxy
      const std::string key_path = Join(path, key.IsScalar() ? key.Scalar() : "?");
      if (!key.IsScalar()) {
        Error(key, path, "string keys");
        continue;
      }
      if (!seen.insert(key.Scalar()).second) {
        Error(LineOf(key), key_path, "each key once", "a duplicate");
        continue;
      }
      if (allowed.size() == 0) continue;  // free-form names (zones)
      bool known = false;
      for (std::string_view a : allowed) known = known || a == key.Scalar();
      if (!known) {
        std::string list;
        for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        Error(LineOf(key), key_path, "one of the keys " + list, "an unknown key");
      }
    }
    return true;
  }

  static std::string Join(const std::string& path, const std::string& key) {
    return path == "(document)" ? key : path + "." + key;
  }

  // --- scalar readers: return nullopt (after reporting) on a bad value ---

  std::optional<std::string> GetString(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) {
      Error(n, path, "a string");
      return std::nullopt;
    }
    return n.Scalar();
  }

  std::optional<double> GetNumber(const YAML::Node& n, const std::string& path, double lo,
                                  double hi) {
    const std::string expected =
        "a number from " + FormatNumber(lo) + " to " + FormatNumber(hi);
    std::optional<double> d;
    if (n.IsScalar() && n.Tag() != "!") d = ScalarAsNumber(n.Scalar());
    if (!d || *d < lo || *d > hi) {
      Error(n, path, expected);
      return std::nullopt;
    }
    return d;
  }

  std::optional<std::int64_t> GetInt(const YAML::Node& n, const std::string& path,
                                     std::int64_t lo, std::int64_t hi) {
    std::int64_t v = 0;
    bool ok = n.IsScalar() && n.Tag() != "!";
    if (ok) {
      const std::string& s = n.Scalar();
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      ok = !s.empty() && ec == std::errc() && ptr == s.data() + s.size() && v >= lo && v <= hi;
    }
    if (!ok) {
      Error(n, path,
            "an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> GetBool(const YAML::Node& n, const std::string& path) {
    if (n.IsScalar() && n.Tag() != "!") {
      if (n.Scalar() == "true") return true;
      if (n.Scalar() == "false") return false;
    }
    Error(n, path, "true or false");
    return std::nullopt;
  }

  std::optional<TimeNs> GetDuration(const YAML::Node& n, const std::string& path,
                                    bool allow_zero) {
    std::optional<TimeNs> d;
    if (n.IsScalar()) d = ParseDuration(n.Scalar());
    if (!d || (!allow_zero && *d == 0)) {
      Error(n, path,
            std::string(allow_zero ? "a" : "a non-zero") +
                " duration with a unit (ms, s, m, h), e.g. 3s or 1h30m");
      return std::nullopt;
    }
    return d;
  }

  std::optional<std::uint64_t> GetSize(const YAML::Node& n, const std::string& path) {
    std::optional<std::uint64_t> b;
    if (n.IsScalar()) b = ParseByteSize(n.Scalar());
    if (!b || *b == 0) {
      Error(n, path, "a size in bytes, e.g. 64MiB, 1GiB or 1048576");
      return std::nullopt;
    }
    return b;
  }

  std::optional<Severity> GetSeverity(const YAML::Node& n, const std::string& path) {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s == "low") return Severity::kLow;
      if (s == "medium") return Severity::kMedium;
      if (s == "high") return Severity::kHigh;
    }
    Error(n, path, "a severity (low, medium or high)");
    return std::nullopt;
  }

  template <typename T>
  static void Assign(std::optional<T> v, T& target) {
    if (v) target = std::move(*v);
  }

  // --- sections ---

  void ReadMqtt(const YAML::Node& n, MqttConfig& c) {
    if (!CheckMap(n, "mqtt",
                  {"url", "urls", "instance", "client_id", "topic_root", "subscriptions", "qos",
                   "version", "clean_session", "keepalive", "reconnect_min", "reconnect_max",
                   "username_file", "password_file", "tls", "inbox_capacity",
                   "max_packet_size"})) {
      return;
    }
    if (auto v = n["url"]) {
      auto s = GetString(v, "mqtt.url");
      if (s && !IsMqttUrl(*s)) {
        Error(v, "mqtt.url", "a URL mqtt://HOST:PORT or mqtts://HOST:PORT");
      } else {
        Assign(s, c.url);
      }
    }
    if (auto v = n["urls"]) {
      if (n["url"]) Error(v, "mqtt.urls", "either mqtt.url or mqtt.urls, not both");
      if (!v.IsSequence() || v.size() == 0) {
        Error(v, "mqtt.urls", "a non-empty list of URLs mqtt://HOST:PORT or mqtts://HOST:PORT");
      } else {
        c.urls.clear();
        for (std::size_t i = 0; i < v.size(); ++i) {
          const std::string path = "mqtt.urls[" + std::to_string(i) + "]";
          auto s = GetString(v[i], path);
          if (s && !IsMqttUrl(*s)) {
            Error(v[i], path, "a URL mqtt://HOST:PORT or mqtts://HOST:PORT");
          } else if (s) {
            if (!c.urls.empty() && (s->rfind("mqtts", 0) == 0) != (c.urls[0].rfind("mqtts", 0) == 0)) {
              Error(v[i], path, "the same scheme as mqtt.urls[0] (all mqtt:// or all mqtts://)");
            }
            c.urls.push_back(*s);
          }
        }
      }
    }
    if (auto v = n["instance"]) ReadId(v, "mqtt.instance", c.instance);
    if (auto v = n["client_id"]) {
      auto s = GetString(v, "mqtt.client_id");
      if (s && s->size() > 128) {
        Error(v, "mqtt.client_id", "at most 128 characters");
      } else {
        Assign(s, c.client_id);
      }
    }
    if (auto v = n["topic_root"]) {
      auto s = GetString(v, "mqtt.topic_root");
      if (s && (s->empty() || s->find_first_of("+#") != std::string::npos ||
                s->front() == '/' || s->back() == '/')) {
        Error(v, "mqtt.topic_root", "a topic prefix without wildcards or outer slashes");
      } else {
        Assign(s, c.topic_root);
      }
    }
    if (auto v = n["subscriptions"]) {
      if (!v.IsSequence()) {
        Error(v, "mqtt.subscriptions", "a list of topic filters");
      } else {
        c.subscriptions.clear();
        for (std::size_t i = 0; i < v.size(); ++i) {
          const std::string path = "mqtt.subscriptions[" + std::to_string(i) + "]";
          auto s = GetString(v[i], path);
          if (s && s->empty()) Error(v[i], path, "a non-empty topic filter");
          if (s && !s->empty()) c.subscriptions.push_back(*s);
        }
      }
    }
    if (auto v = n["qos"]) {
      if (auto q = GetInt(v, "mqtt.qos", 0, 2)) c.qos = static_cast<int>(*q);
    }
    if (auto v = n["version"]) {
      const std::string s = v.IsScalar() ? v.Scalar() : "";
      if (s == "5") {
        c.version = 5;
      } else if (s == "4" || s == "3.1.1") {
        c.version = 4;
      } else {
        Error(v, "mqtt.version", "5, 4 or \"3.1.1\"");
      }
    }
    if (auto v = n["clean_session"]) Assign(GetBool(v, "mqtt.clean_session"), c.clean_session);
    if (auto v = n["keepalive"]) Assign(GetDuration(v, "mqtt.keepalive", false), c.keepalive);
    if (auto v = n["reconnect_min"]) {
      Assign(GetDuration(v, "mqtt.reconnect_min", false), c.reconnect_min);
    }
    if (auto v = n["reconnect_max"]) {
      Assign(GetDuration(v, "mqtt.reconnect_max", false), c.reconnect_max);
    }
    if (c.reconnect_min > c.reconnect_max) {
      Error(LineOf(n), "mqtt.reconnect_min",
            "reconnect_min <= reconnect_max",
            FormatDuration(c.reconnect_min) + " > " + FormatDuration(c.reconnect_max));
    }
    if (auto v = n["inbox_capacity"]) {
      if (auto q = GetInt(v, "mqtt.inbox_capacity", 16, 1 << 24)) {
        c.inbox_capacity = static_cast<std::size_t>(*q);
      }
    }
    if (auto v = n["max_packet_size"]) {
      // At least a contract payload (4096 bytes) with its topic and header; at most MQTT's
      // 268,435,455 (0 = announce none).
      if (auto q = GetInt(v, "mqtt.max_packet_size", 0, 268435455)) {
        if (*q != 0 && *q < 8192) {
          Error(LineOf(v), "mqtt.max_packet_size", "0 (no limit) or 8192 to 268435455 bytes",
                std::to_string(*q));
        } else {
          c.max_packet_size = static_cast<std::uint32_t>(*q);
        }
      }
    }
    if (auto v = n["username_file"]) Assign(GetString(v, "mqtt.username_file"), c.username_file);
    if (auto v = n["password_file"]) Assign(GetString(v, "mqtt.password_file"), c.password_file);
    if (auto t = n["tls"]) {
      if (CheckMap(t, "mqtt.tls", {"ca_file", "cert_file", "key_file", "verify"})) {
        if (auto v = t["ca_file"]) Assign(GetString(v, "mqtt.tls.ca_file"), c.tls.ca_file);
        if (auto v = t["cert_file"]) Assign(GetString(v, "mqtt.tls.cert_file"), c.tls.cert_file);
        if (auto v = t["key_file"]) Assign(GetString(v, "mqtt.tls.key_file"), c.tls.key_file);
        if (auto v = t["verify"]) Assign(GetBool(v, "mqtt.tls.verify"), c.tls.verify);
        if (c.tls.cert_file.empty() != c.tls.key_file.empty()) {
          Error(LineOf(t), "mqtt.tls", "cert_file and key_file together",
                "only one of them");
        }
      }
    }
  }

  void ReadCluster(const YAML::Node& n, ClusterConfig& c) {
    if (!CheckMap(n, "cluster", {"shard_index", "shard_count", "replica", "writer_timeout"})) {
      return;
    }
    if (auto v = n["writer_timeout"]) {
      Assign(GetDuration(v, "cluster.writer_timeout", true), c.writer_timeout);
    }
    if (auto v = n["shard_count"]) {
      if (auto i = GetInt(v, "cluster.shard_count", 1, 4096)) {
        c.shard_count = static_cast<std::uint32_t>(*i);
      }
    }
    if (auto v = n["shard_index"]) {
      if (auto i = GetInt(v, "cluster.shard_index", 0, 4095)) {
        c.shard_index = static_cast<std::uint32_t>(*i);
      }
    }
    if (auto v = n["replica"]) {
      auto s = GetString(v, "cluster.replica");
      if (s && !(s->empty() || (s->size() == 1 && (*s)[0] >= 'a' && (*s)[0] <= 'z'))) {
        Error(v, "cluster.replica", "one letter a-z, or \"\" for no pair");
      } else {
        Assign(s, c.replica);
      }
    }
  }

  void ReadId(const YAML::Node& v, const std::string& path, std::string& target) {
    auto s = GetString(v, path);
    if (!s) return;
    bool ok = !s->empty() && s->size() <= 64;
    for (char ch : *s) {
      ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-');
    }
    if (!ok) {
      Error(v, path, "an ID of 1 to 64 characters A-Z a-z 0-9 _ . -");
      return;
    }
    target = *s;
  }

  void ReadHttp(const YAML::Node& n, HttpConfig& c) {
    if (!CheckMap(n, "http",
                  {"listen_address", "basic_auth_username", "basic_auth_password_file",
                   "web_config_file", "allowed_origins", "allowed_hosts", "max_connections",
                   "max_connections_per_client", "header_timeout"})) {
      return;
    }
    ReadHttpSecurity(n, c);
    if (auto v = n["listen_address"]) {
      auto s = GetString(v, "http.listen_address");
      if (s && !IsHostPort(*s, /*allow_port_zero=*/true)) {
        Error(v, "http.listen_address", "HOST:PORT, e.g. 127.0.0.1:9464");
      } else {
        Assign(s, c.listen_address);
      }
    }
    if (auto v = n["basic_auth_username"]) {
      Assign(GetString(v, "http.basic_auth_username"), c.basic_auth_username);
    }
    if (auto v = n["basic_auth_password_file"]) {
      Assign(GetString(v, "http.basic_auth_password_file"), c.basic_auth_password_file);
    }
    if (!c.basic_auth_username.empty() && c.basic_auth_password_file.empty()) {
      Error(LineOf(n), "http.basic_auth_password_file",
            "a password file when basic_auth_username is set", "none");
    }
  }

  // http: the web configuration file, allowed origins and hosts, connection bounds.
  void ReadHttpSecurity(const YAML::Node& n, HttpConfig& c) {
    if (auto v = n["web_config_file"]) {
      if (!v.IsNull()) Assign(GetString(v, "http.web_config_file"), c.web_config_file);
    }
    auto read_list = [&](const char* key, const char* expected, auto valid,
                         std::vector<std::string>& out) {
      const YAML::Node v = n[key];
      if (!v) return;
      const std::string path = std::string("http.") + key;
      if (!v.IsSequence()) {
        Error(v, path, std::string("a list of ") + expected);
        return;
      }
      out.clear();
      for (std::size_t i = 0; i < v.size(); ++i) {
        const std::string item = path + "[" + std::to_string(i) + "]";
        auto s = GetString(v[i], item);
        if (s && !valid(*s)) {
          Error(v[i], item, expected);
        } else if (s) {
          out.push_back(*s);
        }
      }
    };
    read_list("allowed_origins", "origins like https://host or http://host:port (no path)",
              [](const std::string& s) {
                const std::size_t scheme = s.find("://");
                return (s.starts_with("http://") || s.starts_with("https://")) &&
                       s.size() > scheme + 3 && s.find('/', scheme + 3) == std::string::npos;
              },
              c.allowed_origins);
    read_list("allowed_hosts", "host names (no port, no scheme)",
              [](const std::string& s) {
                return !s.empty() && s.find_first_of(":/ ") == std::string::npos;
              },
              c.allowed_hosts);
    if (auto v = n["max_connections"]) {
      if (auto i = GetInt(v, "http.max_connections", 1, 100000)) {
        c.max_connections = static_cast<std::size_t>(*i);
      }
    }
    if (auto v = n["max_connections_per_client"]) {
      if (auto i = GetInt(v, "http.max_connections_per_client", 1, 100000)) {
        c.max_connections_per_client = static_cast<std::size_t>(*i);
      }
    }
    if (auto v = n["header_timeout"]) {
      Assign(GetDuration(v, "http.header_timeout", false), c.header_timeout);
    }
  }

  void ReadOutputs(const YAML::Node& n, OutputsConfig& c) {
    if (!CheckMap(n, "outputs", {"alarm_topics", "audit_log", "audit_fsync", "halt"})) return;
    if (auto v = n["audit_fsync"]) {
      const std::string s = v.IsScalar() ? v.Scalar() : "";
      if (s == "never") {
        c.audit_fsync = AuditFsync::kNever;
      } else if (s == "transitions") {
        c.audit_fsync = AuditFsync::kTransitions;
      } else if (s == "always") {
        c.audit_fsync = AuditFsync::kAlways;
      } else {
        Error(v, "outputs.audit_fsync", "never, transitions or always");
      }
    }
    if (auto v = n["alarm_topics"]) Assign(GetBool(v, "outputs.alarm_topics"), c.alarm_topics);
    if (auto v = n["audit_log"]) {
      if (v.IsNull()) {
        c.audit_log.clear();
      } else {
        Assign(GetString(v, "outputs.audit_log"), c.audit_log);
      }
    }
    if (auto h = n["halt"]) {
      if (!CheckMap(h, "outputs.halt", {"enabled", "severities", "expiry"})) return;
      if (auto v = h["enabled"]) Assign(GetBool(v, "outputs.halt.enabled"), c.halt.enabled);
      if (auto v = h["expiry"]) Assign(GetDuration(v, "outputs.halt.expiry", false), c.halt.expiry);
      if (auto v = h["severities"]) {
        if (!v.IsSequence() || v.size() == 0) {
          Error(v, "outputs.halt.severities", "a non-empty list of severities");
        } else {
          c.halt.severities.clear();
          for (std::size_t i = 0; i < v.size(); ++i) {
            auto s = GetSeverity(v[i], "outputs.halt.severities[" + std::to_string(i) + "]");
            if (s) c.halt.severities.push_back(*s);
          }
        }
      }
    }
  }

  void ReadRecord(const YAML::Node& n, RecordConfig& c) {
    if (!CheckMap(n, "record",
                  {"enabled", "dir", "segment_max_bytes", "segment_max_age",
                   "retention_max_bytes", "retention_max_age", "queue_capacity",
                   "zstd_level", "rejected_max_bytes"})) {
      return;
    }
    if (auto v = n["enabled"]) Assign(GetBool(v, "record.enabled"), c.enabled);
    if (auto v = n["dir"]) {
      auto s = GetString(v, "record.dir");
      if (s && s->empty()) {
        Error(v, "record.dir", "a directory path");
      } else {
        Assign(s, c.dir);
      }
    }
    if (auto v = n["segment_max_bytes"]) {
      Assign(GetSize(v, "record.segment_max_bytes"), c.segment_max_bytes);
    }
    if (auto v = n["segment_max_age"]) {
      Assign(GetDuration(v, "record.segment_max_age", false), c.segment_max_age);
    }
    if (auto v = n["retention_max_bytes"]) {
      Assign(GetSize(v, "record.retention_max_bytes"), c.retention_max_bytes);
    }
    if (auto v = n["retention_max_age"]) {
      Assign(GetDuration(v, "record.retention_max_age", false), c.retention_max_age);
    }
    if (auto v = n["rejected_max_bytes"]) {
      if (v.IsScalar() && v.Scalar() == "0") {
        c.rejected_max_bytes = 0;  // rejected messages are not recorded
      } else {
        Assign(GetSize(v, "record.rejected_max_bytes"), c.rejected_max_bytes);
      }
    }
    if (auto v = n["queue_capacity"]) {
      if (auto q = GetInt(v, "record.queue_capacity", 1, 1 << 24)) {
        c.queue_capacity = static_cast<std::size_t>(*q);
      }
    }
    if (auto v = n["zstd_level"]) {
      if (auto z = GetInt(v, "record.zstd_level", 1, 19)) c.zstd_level = static_cast<int>(*z);
    }
  }

  void ReadState(const YAML::Node& n, StateConfig& c) {
    if (!CheckMap(n, "state", {"dir", "snapshot_interval"})) return;
    if (auto v = n["dir"]) {
      if (!v.IsNull()) Assign(GetString(v, "state.dir"), c.dir);
    }
    if (auto v = n["snapshot_interval"]) {
      Assign(GetDuration(v, "state.snapshot_interval", false), c.snapshot_interval);
    }
  }

  void ReadEngine(const YAML::Node& n, engine::EngineOptions& c, std::string& registry_file) {
    if (!CheckMap(n, "engine",
                  {"evict_idle_after", "late_after", "max_devices", "registry_file"})) {
      return;
    }
    if (auto v = n["evict_idle_after"]) {
      Assign(GetDuration(v, "engine.evict_idle_after", false), c.evict_idle_after);
    }
    if (auto v = n["late_after"]) Assign(GetDuration(v, "engine.late_after", false), c.late_after);
    if (auto v = n["max_devices"]) {
      if (auto m = GetInt(v, "engine.max_devices", 1, 100'000'000)) {
        c.max_devices = static_cast<std::size_t>(*m);
      }
    }
    if (auto v = n["registry_file"]) {
      if (v.IsNull()) {
        registry_file.clear();
      } else {
        Assign(GetString(v, "engine.registry_file"), registry_file);
      }
    }
  }

 public:
  // The registry file (config/README: `clinics:` as a list of clinic IDs, or a map of clinic
  // ID to its device IDs) into `c`'s known clinics (and devices).
  void ReadRegistry(std::string_view text, engine::EngineOptions& c) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      Error(e.mark.line < 0 ? 0 : e.mark.line + 1, "(document)", "valid YAML", e.msg);
      return;
    }
    if (!root.IsDefined() || root.IsNull()) {
      Error(0, "clinics", "a registry with a `clinics:` list or map", "an empty file");
      return;
    }
    if (!CheckMap(root, "(document)", {"clinics"})) return;
    const YAML::Node clinics = root["clinics"];
    if (!clinics || !(clinics.IsMap() || clinics.IsSequence())) {
      Error(clinics ? clinics : root, "clinics",
            "a list of clinic IDs, or a map from clinic ID to a list of device IDs");
      return;
    }
    std::unordered_set<std::string> known_clinics;
    std::unordered_set<std::string> known_devices;
    auto id = [&](const YAML::Node& v, const std::string& path) -> std::optional<std::string> {
      std::string s;
      ReadId(v, path, s);
      if (s.empty()) return std::nullopt;
      return s;
    };
    if (clinics.IsSequence()) {
      for (std::size_t i = 0; i < clinics.size(); ++i) {
        if (auto cl = id(clinics[i], "clinics[" + std::to_string(i) + "]")) {
          known_clinics.insert(*cl);
        }
      }
    } else {
      if (!CheckMap(clinics, "clinics", {})) return;
      for (auto it = clinics.begin(); it != clinics.end(); ++it) {
        const YAML::Node key = it->first;
        const YAML::Node devices = it->second;
        const std::string path = "clinics." + (key.IsScalar() ? key.Scalar() : "?");
        const auto cl = id(key, path);
        if (!cl) continue;
        known_clinics.insert(*cl);
        if (!devices.IsSequence()) {
          Error(devices, path, "a list of device IDs");
          continue;
        }
        for (std::size_t i = 0; i < devices.size(); ++i) {
          if (auto dev = id(devices[i], path + "[" + std::to_string(i) + "]")) {
            known_devices.insert(*cl + "/" + *dev);
          }
        }
      }
      c.known_devices = std::move(known_devices);
    }
    c.known_clinics = std::move(known_clinics);
  }

  std::vector<std::string> TakeErrors() { return std::move(errors_); }

 private:

  void ReadLog(const YAML::Node& n, LogConfig& c) {
    if (!CheckMap(n, "log", {"level", "format"})) return;
    if (auto v = n["level"]) {
      auto s = GetString(v, "log.level");
      if (s && *s != "trace" && *s != "debug" && *s != "info" && *s != "warn" && *s != "error") {
        Error(v, "log.level", "trace, debug, info, warn or error");
      } else {
        Assign(s, c.level);
      }
    }
    if (auto v = n["format"]) {
      auto s = GetString(v, "log.format");
      if (s && *s != "json" && *s != "text") {
        Error(v, "log.format", "json or text");
      } else {
        Assign(s, c.format);
      }
    }
  }

  // --- limits ---

  void ReadLimits(const YAML::Node& n, engine::Limits& limits) {
    limits = engine::Limits{};
    if (n.IsNull()) return;  // `limits:` with nothing under it: built-in struct defaults
    if (!CheckMap(n, "limits", {"default", "zones"})) return;
    PartialZone def;
    if (auto d = n["default"]) ReadZone(d, "limits.default", def);
    Apply(def, limits.defaults);
    CheckZone(limits.defaults, def, /*is_zone=*/false, "limits.default");
    if (auto zones = n["zones"]) {
      if (zones.IsNull()) return;
      if (!CheckMap(zones, "limits.zones", {})) return;
      std::set<std::string> names;
      for (auto it = zones.begin(); it != zones.end(); ++it) {
        const YAML::Node key = it->first;  // copies: `it->` yields a temporary proxy
        const YAML::Node value = it->second;
        if (!key.IsScalar()) continue;
        const std::string name = key.Scalar();
        if (!names.insert(name).second) continue;  // duplicate, already reported
        const std::string path = "limits.zones." + name;
        if (name.empty() || name.size() > 64) {
          Error(key, path, "a zone name of 1 to 64 characters");
          continue;
        }
        PartialZone p;
        ReadZone(value, path, p);
        ZoneLimits z = limits.defaults;
        Apply(p, z);
        CheckZone(z, p, /*is_zone=*/true, path);
        limits.zones.emplace_back(name, z);
      }
    }
  }

  void ReadZone(const YAML::Node& n, const std::string& path, PartialZone& p) {
    p.line = LineOf(n);
    if (n.IsNull()) return;  // `zone:` with nothing: the defaults
    if (!CheckMap(n, path, {"depth_mm", "speed_hz", "session", "telemetry", "device"})) return;
    const double max_depth = protocol_max_depth_;
    const double max_speed = protocol_max_speed_;
    if (auto d = n["depth_mm"]) {
      const std::string dp = path + ".depth_mm";
      if (CheckMap(d, dp, {"max", "warn", "severity", "for", "warn_severity", "warn_for"})) {
        if (auto v = d["max"]) {
          if (auto x = GetNumber(v, dp + ".max", 0, max_depth)) p.depth_max.Set(*x, LineOf(v));
        }
        if (auto v = d["warn"]) {
          if (v.IsNull()) {
            p.depth_warn.Set(std::nullopt, LineOf(v));
          } else if (auto x = GetNumber(v, dp + ".warn", 0, max_depth)) {
            p.depth_warn.Set(*x, LineOf(v));
          }
        }
        ReadSeverity(d, "severity", dp, p.depth_severity);
        ReadSeverity(d, "warn_severity", dp, p.depth_warn_severity);
        ReadFor(d, "for", dp, p.depth_for);
        ReadFor(d, "warn_for", dp, p.depth_warn_for);
      }
    }
    if (auto s = n["speed_hz"]) {
      const std::string sp = path + ".speed_hz";
      if (CheckMap(s, sp, {"min", "max", "severity", "for"})) {
        if (auto v = s["min"]) {
          if (auto x = GetNumber(v, sp + ".min", 0, max_speed)) p.speed_min.Set(*x, LineOf(v));
        }
        if (auto v = s["max"]) {
          if (auto x = GetNumber(v, sp + ".max", 0, max_speed)) p.speed_max.Set(*x, LineOf(v));
        }
        ReadSeverity(s, "severity", sp, p.speed_severity);
        ReadFor(s, "for", sp, p.speed_for);
      }
    }
    if (auto s = n["session"]) {
      const std::string sp = path + ".session";
      if (CheckMap(s, sp, {"warn_after", "max_duration", "severity", "warn_severity"})) {
        if (auto v = s["warn_after"]) {
          if (v.IsNull()) {
            p.warn_after.Set(std::nullopt, LineOf(v));
          } else if (auto x = GetDuration(v, sp + ".warn_after", false)) {
            p.warn_after.Set(*x, LineOf(v));
          }
        }
        if (auto v = s["max_duration"]) {
          if (auto x = GetDuration(v, sp + ".max_duration", false)) {
            p.max_duration.Set(*x, LineOf(v));
          }
        }
        ReadSeverity(s, "severity", sp, p.session_severity);
        ReadSeverity(s, "warn_severity", sp, p.session_warn_severity);
      }
    }
    if (auto t = n["telemetry"]) {
      const std::string tp = path + ".telemetry";
      if (CheckMap(t, tp, {"stale_after", "severity"})) {
        if (auto v = t["stale_after"]) {
          if (auto x = GetDuration(v, tp + ".stale_after", false)) {
            p.stale_after.Set(*x, LineOf(v));
          }
        }
        ReadSeverity(t, "severity", tp, p.stale_severity);
      }
    }
    if (auto d = n["device"]) {
      const std::string dp = path + ".device";
      if (CheckMap(d, dp, {"offline_severity"})) {
        ReadSeverity(d, "offline_severity", dp, p.offline_severity);
      }
    }
  }

  void ReadSeverity(const YAML::Node& map, const char* key, const std::string& path,
                    Field<Severity>& f) {
    if (auto v = map[key]) {
      if (auto s = GetSeverity(v, path + "." + key)) f.Set(*s, LineOf(v));
    }
  }

  void ReadFor(const YAML::Node& map, const char* key, const std::string& path,
               Field<TimeNs>& f) {
    if (auto v = map[key]) {
      if (auto d = GetDuration(v, path + "." + key, true)) f.Set(*d, LineOf(v));
    }
  }

  // Cross-key checks on a resolved zone. A zone is blamed only for a pair it wrote at least one
  // key of (an inconsistency inherited from default is reported once, at default), on the line
  // of the later of those keys.
  void CheckZone(const ZoneLimits& z, const PartialZone& p, bool is_zone,
                 const std::string& path) {
    auto blame = [&](int line_a, int line_b) {
      const int line = std::max(line_a, line_b);
      return (is_zone && line == 0) ? -1 : (line == 0 ? p.line : line);
    };
    if (z.speed_min_hz > z.speed_max_hz) {
      if (int line = blame(p.speed_min.line, p.speed_max.line); line >= 0) {
        Error(line, path + ".speed_hz", "min <= max",
              "min " + FormatNumber(z.speed_min_hz) + " > max " +
                  FormatNumber(z.speed_max_hz));
      }
    }
    if (z.depth_warn_mm && *z.depth_warn_mm > z.depth_max_mm) {
      if (int line = blame(p.depth_warn.line, p.depth_max.line); line >= 0) {
        Error(line, path + ".depth_mm", "warn <= max",
              "warn " + FormatNumber(*z.depth_warn_mm) + " > max " +
                  FormatNumber(z.depth_max_mm));
      }
    }
    if (z.session_warn_after && *z.session_warn_after > z.session_max_duration) {
      if (int line = blame(p.warn_after.line, p.max_duration.line); line >= 0) {
        Error(line, path + ".session", "warn_after <= max_duration",
              "warn_after " + FormatDuration(*z.session_warn_after) + " > max_duration " +
                  FormatDuration(z.session_max_duration));
      }
    }
  }

  std::string name_;
  std::vector<std::string> errors_;
  double protocol_max_depth_ = 10.0;    // protocol/README.md, Payloads: depth_mm 0 to 10
  double protocol_max_speed_ = 1000.0;  // protocol/README.md, Payloads: speed_hz 0 to 1000
};

}  // namespace

std::vector<std::string> ClusterConfigErrors(const Config& c, bool with_instance) {
  std::vector<std::string> out;
  const ClusterConfig& k = c.cluster;
  if (k.shard_count < 1 || k.shard_count > 4096) {
    out.push_back("cluster.shard_count: expected an integer from 1 to 4096, got " +
                  std::to_string(k.shard_count));
  } else if (k.shard_index >= k.shard_count) {
    out.push_back("cluster.shard_index: expected an integer from 0 to shard_count-1 (" +
                  std::to_string(k.shard_count - 1) + "), got " + std::to_string(k.shard_index));
  }
  if (k.writer_timeout != 0 &&
      (k.writer_timeout < 3 * engine::kNsPerSec || k.writer_timeout > 600 * engine::kNsPerSec)) {
    out.push_back("cluster.writer_timeout: expected 0 (off) or a duration from 3s to 10m, got " +
                  std::to_string(k.writer_timeout / 1'000'000) + "ms");
  }
  if (!k.replica.empty()) {
    const bool letter = k.replica.size() == 1 && k.replica[0] >= 'a' && k.replica[0] <= 'z';
    const std::string suffix = "-" + k.replica;
    const std::string& inst = c.mqtt.instance;
    if (!letter) {
      out.push_back("cluster.replica: expected one letter a-z, or \"\" for no pair, got \"" +
                    k.replica + "\"");
    } else if (!with_instance) {
      // checked by `run` once --mqtt.instance is applied
    } else if (inst.size() <= suffix.size() ||
               inst.compare(inst.size() - suffix.size(), suffix.size(), suffix) != 0) {
      out.push_back("mqtt.instance: expected a name ending in \"" + suffix +
                    "\" with cluster.replica " + k.replica +
                    " (the pair finds its peers by it, e.g. shard" +
                    std::to_string(k.shard_index) + suffix + "), got \"" + inst + "\"");
    }
  }
  return out;
}

LoadResult LoadConfigString(std::string_view yaml, std::string_view name) {
  LoadResult r = Loader(std::string(name)).Load(yaml);
  if (r.config) r.config->text.assign(yaml);
  return r;
}

LoadResult LoadConfigFile(const std::string& path) {
  std::error_code ec;
  std::ifstream in(path, std::ios::binary);
  std::string text;
  if (in && !std::filesystem::is_directory(path, ec)) {
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (!in || in.bad() || std::filesystem::is_directory(path, ec)) {
    LoadResult r;
    r.errors.push_back(path + ": cannot read the configuration file (" +
                       (std::filesystem::exists(path, ec) ? "unreadable" : "no such file") + ")");
    return r;
  }
  return LoadConfigString(text, path);
}

std::string_view ShippedLimitsYaml() { return internal::ShippedLimitsText(); }

Config DefaultConfig() {
  static const Config kDefault = [] {
    Config c;
    LoadResult r = LoadConfigString(ShippedLimitsYaml(), "config/limits.yaml");
    if (r.config) c.limits = std::move(r.config->limits);  // a unit test keeps this true
    c.source.clear();
    c.text.assign(ShippedLimitsYaml());
    c.engine.topic_root = c.mqtt.topic_root;
    return c;
  }();
  return kDefault;
}

int RunCheckConfig(const std::string& path, std::ostream& out, std::ostream& err) {
  LoadResult r = LoadConfigFile(path);
  if (!r.ok()) {
    for (const std::string& e : r.errors) err << e << "\n";
    return 1;
  }
  out << path << ": OK (" << r.config->limits.zones.size() << " zones)\n";
  return 0;
}

}  // namespace needlewatch::config
