// The daemon's configuration (one YAML file: mqtt, http, outputs, record, state, engine, log,
// limits)
// and its loader. Every key, its default and its meaning are documented in
// config/needlewatch.yaml at the top of the repository. Loading is a pure function of the text,
// except that engine.registry_file, when set, is read as part of it; thread-compatible.
#ifndef NEEDLEWATCH_CONFIG_CONFIG_H_
#define NEEDLEWATCH_CONFIG_CONFIG_H_

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "needlewatch/engine/engine.h"
#include "needlewatch/engine/limits.h"

namespace needlewatch::config {

struct TlsConfig {
  std::string ca_file;    // CA bundle that signs the broker's certificate ("" = system default)
  std::string cert_file;  // client certificate (optional, for mutual TLS)
  std::string key_file;   // client private key (with cert_file)
  bool verify = true;     // verify the broker's certificate and host name
};

struct MqttConfig {
  std::string url = "mqtt://127.0.0.1:1883";  // mqtt://host:port or mqtts://host:port
  // Several nodes of one broker cluster, tried in order on every (re)connect; when non-empty it
  // replaces `url` (the two keys are exclusive). All mqtt:// or all mqtts://.
  std::vector<std::string> urls;
  std::string instance = "default";           // names needlewatch/{instance}/status
  std::string client_id;                      // "" = "needlewatch-" + instance (stable)
  std::string topic_root = "clinic";
  // Subscription filters. Empty = {root}/+/device/+/+ (every device channel in one filter, so
  // a pen's messages stay in order). Shard instances by clinic with e.g.
  // ["clinic/c017/device/+/+"].
  std::vector<std::string> subscriptions;
  int qos = 1;
  int version = 5;               // 5 or 4 (MQTT 3.1.1); YAML accepts 5, "5", 3.1.1, "3.1.1"
  bool clean_session = false;    // false: the broker keeps QoS 1 messages while we restart
  engine::TimeNs keepalive = 10 * engine::kNsPerSec;
  engine::TimeNs reconnect_min = 1 * engine::kNsPerSec;
  engine::TimeNs reconnect_max = 30 * engine::kNsPerSec;
  // Messages received and not yet handled, at most (memory stays bounded under overload): when
  // full, QoS 1 messages wait at the broker (the client stops reading) and QoS 0 ones are
  // dropped and counted; either raises the monitor alarm ingest_overload.
  std::size_t inbox_capacity = 10000;
  // MQTT 5 Maximum Packet Size announced on connect: the broker does not send the monitor a
  // packet larger than this (a contract payload is at most 4096 bytes), so a 100 MB payload
  // never reaches its memory. 0 = no limit announced. Ignored on MQTT 3.1.1.
  std::uint32_t max_packet_size = 65536;
  // Credentials: never on the command line. From files, or else from the environment
  // variables NEEDLEWATCH_MQTT_USERNAME / NEEDLEWATCH_MQTT_PASSWORD.
  std::string username_file;
  std::string password_file;
  TlsConfig tls;
};

struct HttpConfig {
  std::string listen_address = "127.0.0.1:9464";  // host:port; port 0 picks a free port
  // Users (bcrypt), TLS and response headers in the Prometheus exporter toolkit's format
  // (SECURITY.md); "" = none. Re-read on SIGHUP. Also --web.config.file.
  std::string web_config_file;
  // Deprecated (use web_config_file): one user whose plain-text password is in a file.
  std::string basic_auth_username;                // "" = no authentication
  std::string basic_auth_password_file;
  // Origins ("https://floor.example:8443") besides the daemon's own whose pages may
  // acknowledge alarms (browser requests with another Origin are refused).
  std::vector<std::string> allowed_origins;
  // Host names (besides 127.0.0.1, [::1] and localhost) a loopback listener answers to; other
  // Host headers are refused (DNS rebinding).
  std::vector<std::string> allowed_hosts;
  // Connections open at once, and from one IP address. Over either, a new connection closes the
  // longest-idle one (never one being answered).
  std::size_t max_connections = 256;
  std::size_t max_connections_per_client = 32;
  // A connection must deliver a complete request header this soon after it opens (and, until it
  // has sent an authenticated request, after each response): slow senders are cut off.
  engine::TimeNs header_timeout = 5 * engine::kNsPerSec;
};

struct HaltConfig {
  bool enabled = false;  // publish `halt` on …/command when an alarm of these severities is raised
  std::vector<engine::Severity> severities = {engine::Severity::kHigh};
  // A halt older than this is never sent: MQTT 5 carries it as the message expiry (the broker
  // drops it undelivered), and the daemon drops a halt it could not hand to the broker in time.
  engine::TimeNs expiry = 5 * engine::kNsPerSec;
};

// When the audit log is fsync'ed (outputs.audit_fsync).
enum class AuditFsync : std::uint8_t {
  kNever,        // "never": flushed to the OS per line only
  kTransitions,  // "transitions": after each alarm transition and acknowledgement line
  kAlways,       // "always": after every line
};

struct OutputsConfig {
  bool alarm_topics = true;                          // retained QoS 1 …/alarm/{alarm}
  std::string audit_log = "needlewatch-audit.jsonl";  // append-only JSON lines; "" = off
  AuditFsync audit_fsync = AuditFsync::kTransitions;
  HaltConfig halt;
};

struct RecordConfig {
  bool enabled = false;
  std::string dir = "recordings";
  std::uint64_t segment_max_bytes = 64ULL << 20;
  engine::TimeNs segment_max_age = 3600LL * engine::kNsPerSec;
  std::uint64_t retention_max_bytes = 1ULL << 30;
  engine::TimeNs retention_max_age = 7LL * 24 * 3600 * engine::kNsPerSec;
  // Rejected messages (first 4 KiB + size) in their own segments, under this budget; 0 = off.
  std::uint64_t rejected_max_bytes = 64ULL << 20;
  std::size_t queue_capacity = 65536;  // messages waiting for the writer thread
  int zstd_level = 3;
};

// Durable state (monitor/state/README.md): alarms, sessions and presence survive a restart.
struct StateConfig {
  std::string dir;  // "" = no durable state (a restart starts empty)
  // A snapshot is written this often (and at a graceful stop); between snapshots every record
  // goes to the journal.
  engine::TimeNs snapshot_interval = 10 * engine::kNsPerSec;
};

// Sharded and paired monitors (docs/cluster.md).
struct ClusterConfig {
  // This monitor's shard, 0 to shard_count-1. With shard_count > 1 a device message whose clinic
  // belongs to another shard (cluster::ShardOf) is refused as not_assigned.
  std::uint32_t shard_index = 0;
  std::uint32_t shard_count = 1;  // 1 = no sharding; at most 4096
  // Replica letter within the shard ("" = no pair; else one of a-z, and mqtt.instance must end
  // with "-" + replica, e.g. shard0-a). A pair's replicas take turns as the writer of the
  // retained alarm topics and `halt`s through a lease on needlewatch/shard/{shard_index}/writer.
  std::string replica;
  // A pair's heartbeat timeout (0 = off): a writer whose heartbeats stop for this long is
  // deposed although its status still says online (a hung event loop; docs/cluster.md). Keep it
  // above the broker's longest stall of QoS 1 traffic; on NATS 2.9 (5-8 s elections that also
  // drop connections at a short keepalive) docs/cluster.md advises leaving it off.
  engine::TimeNs writer_timeout = 0;
};

struct LogConfig {
  std::string level = "info";   // trace, debug, info, warn, error
  std::string format = "json";  // json or text
};

struct Config {
  MqttConfig mqtt;
  HttpConfig http;
  OutputsConfig outputs;
  RecordConfig record;
  StateConfig state;
  ClusterConfig cluster;
  // engine.evict_idle_after, late_after, max_devices; the registry file's clinics and devices
  // (engine.registry_file) in known_clinics/known_devices. `assigned` is the daemon's to set.
  engine::EngineOptions engine;
  std::string registry_file;     // engine.registry_file as written ("" = none)
  LogConfig log;
  engine::Limits limits;         // built-in defaults (config/limits.yaml) unless `limits:` given
  std::string source;            // the file it came from ("" for built-in defaults)
  // The YAML document it was loaded from (for DefaultConfig(): the shipped limits document,
  // which loads to the same limits). Recordings keep it so that a replay applies the same limits.
  std::string text;
};

// What is wrong with the cluster keys together (shard_index < shard_count, and with
// `with_instance` replica against mqtt.instance), each as "key: expected …, got …"; empty when
// they are consistent. The loader checks it (the instance only when the file sets it: a flag
// may name it), `run` again after its flags.
std::vector<std::string> ClusterConfigErrors(const Config& c, bool with_instance = true);

// Every error names the file, the line, the key path and what was expected, e.g.
// "needlewatch.yaml:12: limits.zones.cheek.depth_mm.max: expected a number, got \"deep\"".
struct LoadResult {
  std::optional<Config> config;
  std::vector<std::string> errors;
  bool ok() const { return config.has_value(); }
};

// Loads a configuration file. Unknown keys, wrong types, min > max, warn > max, negative or
// unit-less durations are errors; all of them are collected. Never throws.
// A document without `limits:` gets DefaultConfig()'s limits; a `limits:` section replaces
// them entirely (keys it leaves out take engine::ZoneLimits' built-in values, i.e. protocol/README.md).
// `depth_mm.warn: null` and `session.warn_after: null` switch that rule off for a zone.
LoadResult LoadConfigFile(const std::string& path);
// The same from text; `name` stands for the file name in error messages.
LoadResult LoadConfigString(std::string_view yaml, std::string_view name);
// The built-in configuration: all defaults, limits from the shipped config/limits.yaml.
// Thread-safe (computed once).
Config DefaultConfig();
// The text of config/limits.yaml as embedded at build time.
std::string_view ShippedLimitsYaml();

// Parses "250ms", "3s", "50m", "1h", "1h30m" into ns; nullopt when malformed or negative.
std::optional<engine::TimeNs> ParseDuration(std::string_view text);
// "64MiB", "1GiB", "500KB", "4096" or "4096B" into bytes; nullopt when malformed or too big.
std::optional<std::uint64_t> ParseByteSize(std::string_view text);

// `needlewatch check-config FILE`: prints "FILE: OK …" and returns 0, or prints each error
// and returns 1.
int RunCheckConfig(const std::string& path, std::ostream& out, std::ostream& err);

}  // namespace needlewatch::config

#endif  // NEEDLEWATCH_CONFIG_CONFIG_H_
