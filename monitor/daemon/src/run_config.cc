#include "run_config.h"

#include <algorithm>
#include <charconv>
#include <chrono>

#include "audit_log.h"
#include "log.h"
#include "needlewatch/mqtt/connect.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::daemon {

namespace {

// --cluster.* over the file, then the cluster keys checked together.
bool ApplyClusterFlags(const RunCommandOptions& options, config::Config* cfg) {
  std::vector<std::string> errors;
  const auto number = [&](const std::optional<std::string>& flag, const char* name,
                          std::uint32_t* out) {
    if (!flag) return;
    std::uint32_t v = 0;
    const auto [p, ec] = std::from_chars(flag->data(), flag->data() + flag->size(), v);
    if (flag->empty() || ec != std::errc() || p != flag->data() + flag->size()) {
      errors.push_back(std::string(name) + ": expected a non-negative integer, got \"" + *flag +
                       "\"");
      return;
    }
    *out = v;
  };
  number(options.shard_index, "--cluster.shard-index", &cfg->cluster.shard_index);
  number(options.shard_count, "--cluster.shard-count", &cfg->cluster.shard_count);
  if (options.replica) cfg->cluster.replica = *options.replica;
  for (std::string& e : config::ClusterConfigErrors(*cfg)) errors.push_back(std::move(e));
  for (const std::string& e : errors) log::Error("config error", {{"error", e}});
  if (errors.empty()) return true;
  log::Error("startup failed", {{"error", "invalid cluster settings"}});
  return false;
}

}  // namespace

bool LoadRunConfig(const RunCommandOptions& options, config::Config* cfg, std::string* path) {
  if (options.config_file) {
    *path = *options.config_file;
    config::LoadResult r = config::LoadConfigFile(*path);
    if (!r.ok()) {
      for (const std::string& e : r.errors) log::Error("config error", {{"error", e}});
      log::Error("startup failed", {{"error", "invalid configuration in " + *path}});
      return false;
    }
    *cfg = std::move(*r.config);
  } else {
    *cfg = config::DefaultConfig();
  }
  if (options.mqtt_url) {
    // One URL, or a broker cluster's nodes separated by commas (as mqtt.urls).
    cfg->mqtt.urls.clear();
    if (options.mqtt_url->find(',') == std::string::npos) {
      cfg->mqtt.url = *options.mqtt_url;
    } else {
      std::string_view rest = *options.mqtt_url;
      for (std::size_t comma; !rest.empty(); rest.remove_prefix(std::min(comma + 1, rest.size()))) {
        comma = rest.find(',');
        if (comma == std::string_view::npos) comma = rest.size();
        cfg->mqtt.urls.emplace_back(rest.substr(0, comma));
      }
    }
  }
  if (options.web_listen_address) cfg->http.listen_address = *options.web_listen_address;
  if (options.web_config_file) cfg->http.web_config_file = *options.web_config_file;
  if (options.instance) cfg->mqtt.instance = *options.instance;
  if (options.log_level) cfg->log.level = *options.log_level;
  if (options.log_format) cfg->log.format = *options.log_format;
  if (options.audit_log) cfg->outputs.audit_log = *options.audit_log;
  if (options.state_dir) cfg->state.dir = *options.state_dir;
  if (options.record_dir) {
    cfg->record.enabled = true;
    cfg->record.dir = *options.record_dir;
  }
  if (!ApplyClusterFlags(options, cfg)) return false;
  if (!protocol::IsValidId(cfg->mqtt.instance)) {
    log::Error("startup failed",
               {{"error", "mqtt.instance: expected an ID matching [A-Za-z0-9_.-]{1,64}, got \"" +
                              cfg->mqtt.instance + "\""}});
    return false;
  }
  return true;
}

bool LoadWebConfig(const config::HttpConfig& http, WebConfig* web,
                   std::vector<std::string>* errors) {
  if (!http.web_config_file.empty()) {
    if (!http.basic_auth_username.empty()) {
      errors->push_back("http.basic_auth_username: expected nothing when http.web_config_file "
                        "is set (move the user into basic_auth_users there, see SECURITY.md)");
      return false;
    }
    WebConfigResult r = LoadWebConfigFile(http.web_config_file);
    if (!r.ok()) {
      *errors = std::move(r.errors);
      return false;
    }
    *web = std::move(*r.config);
    return true;
  }
  *web = WebConfig{};
  if (http.basic_auth_username.empty()) return true;
  // Deprecated: the plain-text password file becomes one bcrypt user, so that one code path
  // checks every password.
  std::string password, error;
  if (http.basic_auth_password_file.empty()) {
    errors->push_back("http.basic_auth_password_file: required when http.basic_auth_username "
                      "is set");
    return false;
  }
  if (!broker::ReadSecretFile(http.basic_auth_password_file, "http.basic_auth_password_file",
                              &password, &error)) {
    errors->push_back(error);
    return false;
  }
  std::optional<std::string> hash = HashBcrypt(password, 10);
  if (!hash) {
    errors->push_back("http.basic_auth_password_file: cannot hash the password (libcrypt)");
    return false;
  }
  web->users[http.basic_auth_username] = *hash;
  web->source = http.basic_auth_password_file;
  return true;
}

HttpServerOptions HttpOptionsFor(const config::HttpConfig& http) {
  HttpServerOptions o;
  o.max_connections = http.max_connections;
  o.max_connections_per_client = http.max_connections_per_client;
  o.header_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::nanoseconds(http.header_timeout));
  return o;
}

WebAccess AccessFor(const config::HttpConfig& http, const WebConfig& web, bool loopback_only) {
  WebAccess a;
  a.users = !web.users.empty();
  a.loopback_only = loopback_only;
  a.allowed_hosts = http.allowed_hosts;
  a.allowed_origins = http.allowed_origins;
  return a;
}

void LogWebAccess(const WebAccess& access, const WebConfig& web, const std::string& bound) {
  const bool mtls = web.tls && web.tls->client_auth == ClientAuth::kRequireAndVerify;
  log::Info("http access",
            {{"address", bound},
             {"tls", web.tls.has_value()},
             {"client_certificates", mtls},
             {"users", static_cast<unsigned long long>(web.users.size())},
             {"loopback_only", access.loopback_only}});
  if (!access.loopback_only && !access.users && !mtls) {
    log::Warn("acknowledgements refused",
              {{"address", bound},
               {"reason", "the listener is not loopback-only and no users are configured: "
                          "add basic_auth_users to a web configuration file "
                          "(--web.config.file; SECURITY.md); read-only endpoints stay open"}});
  }
  if (!access.loopback_only && access.users && !web.tls) {
    log::Warn("passwords sent in clear",
              {{"address", bound},
               {"reason", "basic_auth_users without tls_server_config on a listener that is "
                          "not loopback-only"}});
  }
}

bool MqttOptionsFor(const config::Config& cfg, const broker::BrokerUrl& url,
                    const Publication& will, MqttOptions* o, std::string* error) {
  const config::MqttConfig& m = cfg.mqtt;
  if (!broker::LoadCredentials(m.username_file, m.password_file, &o->connect.credentials,
                               error)) {
    return false;
  }
  const auto seconds = [](engine::TimeNs ns) {
    return std::chrono::seconds(std::max<engine::TimeNs>(ns / engine::kNsPerSec, 1));
  };
  broker::ConnectSettings& c = o->connect;
  c.url = url;
  for (const std::string& u : m.urls) {
    std::optional<broker::BrokerUrl> node = broker::ParseBrokerUrl(u, error);
    if (!node) return false;
    c.servers.push_back(std::move(*node));
  }
  c.version = m.version;
  c.clean_start = m.clean_session;
  c.session_expiry = std::chrono::hours(24);
  c.keepalive = seconds(m.keepalive);
  const auto reconnect_min = seconds(m.reconnect_min);
  c.reconnect = {reconnect_min, std::max(reconnect_min, seconds(m.reconnect_max))};
  c.tls = {m.tls.ca_file, m.tls.cert_file, m.tls.key_file, m.tls.verify};
  c.will = broker::WillMessage{will.topic, will.payload, will.qos, will.retain};
  o->client_id = m.client_id.empty() ? "needlewatch-" + m.instance : m.client_id;
  o->qos = m.qos;
  o->subscriptions = m.subscriptions;
  // One filter for the three device channels: a broker may keep order only within one
  // subscription (NATS: one JetStream consumer per filter; docs/cluster.md), and a pen's
  // events and telemetry must reach the engine in the order it sent them.
  if (o->subscriptions.empty()) o->subscriptions.push_back(m.topic_root + "/+/device/+/+");
  if (cfg.outputs.alarm_topics) o->watch = AlarmWatchFilters(o->subscriptions, m.topic_root);
  o->inbox_capacity = m.inbox_capacity;
  c.maximum_packet_size = m.max_packet_size;
  return true;
}

std::vector<std::string> AlarmWatchFilters(const std::vector<std::string>& subscriptions,
                                           const std::string& root) {
  std::vector<std::string> out;
  const auto add = [&](std::string f) {
    if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(std::move(f));
  };
  for (const std::string& filter : subscriptions) {
    // {root}/{clinic}/device/{device}/…: the alarm topics of the same clinics and devices.
    std::vector<std::string_view> levels;
    std::string_view rest = filter;
    for (std::size_t slash; (slash = rest.find('/')) != std::string_view::npos;) {
      levels.push_back(rest.substr(0, slash));
      rest.remove_prefix(slash + 1);
    }
    levels.push_back(rest);
    if (levels.size() >= 4 && levels[0] == root && levels[2] == "device" &&
        levels[1] != "#" && levels[3] != "#") {
      add(root + "/" + std::string(levels[1]) + "/device/" + std::string(levels[3]) + "/alarm/+");
    } else {
      add(root + "/+/device/+/alarm/+");
    }
  }
  return out;
}

record::RecorderOptions RecorderOptionsFor(const config::Config& cfg) {
  record::RecorderOptions ro;
  ro.dir = cfg.record.dir;
  ro.segment_max_bytes = cfg.record.segment_max_bytes;
  ro.segment_max_age = cfg.record.segment_max_age;
  ro.retention_max_bytes = cfg.record.retention_max_bytes;
  ro.retention_max_age = cfg.record.retention_max_age;
  ro.queue_capacity = cfg.record.queue_capacity;
  ro.zstd_level = cfg.record.zstd_level;
  ro.rejected_max_bytes = cfg.record.rejected_max_bytes;
  ro.topic_root = cfg.mqtt.topic_root;
  return ro;
}

bool PrepareRun(const RunCommandOptions& options, config::Config* cfg, std::string* path,
                WebConfig* web) {
  std::string error;
  // Flags first so that even config errors are logged in the requested format.
  if (!log::Init(options.log_level.value_or("info"), options.log_format.value_or("json"),
                 &error)) {
    log::Error("startup failed", {{"error", error}});
    return false;
  }
  if (!LoadRunConfig(options, cfg, path)) return false;
  if (!log::Init(cfg->log.level, cfg->log.format, &error)) {
    log::Error("startup failed", {{"error", error}});
    return false;
  }
  std::vector<std::string> web_errors;
  if (!LoadWebConfig(cfg->http, web, &web_errors)) {
    for (const std::string& e : web_errors) log::Error("web configuration error", {{"error", e}});
    log::Error("startup failed", {{"error", "invalid web configuration"}});
    return false;
  }
  if (!cfg->http.basic_auth_username.empty()) {
    log::Warn("deprecated setting", {{"key", "http.basic_auth_username"},
                                     {"use", "basic_auth_users in http.web_config_file"}});
  }
  return true;
}

std::string ReloadWebConfig(const config::HttpConfig& http, engine::TimeNs stamp,
                            HttpServer& server, WebConfig* web, WebAccess* access) {
  const std::string& source =
      http.web_config_file.empty() ? http.basic_auth_password_file : http.web_config_file;
  if (source.empty()) return "";
  WebConfig fresh;
  std::vector<std::string> errors;
  std::string error;
  if (LoadWebConfig(http, &fresh, &errors) && server.Configure(fresh, &error)) {
    *web = std::move(fresh);
    access->users = !web->users.empty();
    log::Info("web configuration reloaded",
              {{"source", source}, {"users", static_cast<unsigned long long>(web->users.size())}});
  } else {
    if (errors.empty()) errors.push_back(error);
    for (const std::string& e : errors) log::Error("web configuration reload failed", {{"error", e}});
    log::Error("web configuration kept", {{"source", source}});
  }
  return FormatReloadAudit(stamp, errors.empty(), source, errors);
}

void LogStarting(const config::Config& cfg, const std::string& path,
                 const broker::BrokerUrl& url, const char* version) {
  std::string brokers;
  for (const std::string& u : cfg.mqtt.urls) brokers += (brokers.empty() ? "" : ",") + u;
  log::Info("needlewatch starting",
            {{"version", version},
             {"config", path.empty() ? std::string("built-in defaults") : path},
             {"broker", cfg.mqtt.urls.size() > 1 ? brokers : url.display},
             {"instance", cfg.mqtt.instance},
             {"listen_address", cfg.http.listen_address},
             {"audit_log", cfg.outputs.audit_log},
             {"record", cfg.record.enabled}});
}

}  // namespace needlewatch::daemon
