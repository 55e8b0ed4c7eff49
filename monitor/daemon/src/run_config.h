// What `needlewatch run` starts with: the configuration file (or the built-in defaults) with
// the command-line flags over it, and the HTTP settings (web configuration, access policy,
// connection bounds). Errors are logged with what to
// fix. Reads files; no other I/O.
#ifndef NEEDLEWATCH_DAEMON_RUN_CONFIG_H_
#define NEEDLEWATCH_DAEMON_RUN_CONFIG_H_

#include <string>
#include <vector>

#include "alarm_output.h"
#include "http_server.h"
#include "mqtt_client.h"
#include "needlewatch/config/config.h"
#include "needlewatch/daemon/run_command.h"
#include "needlewatch/mqtt/broker_url.h"
#include "needlewatch/record/recorder.h"
#include "routes.h"
#include "web_config.h"

namespace needlewatch::daemon {

// The file named by --config.file (else DefaultConfig()), then each flag given over it. `path`
// is the file ("" for the defaults). False after logging why (invalid file, bad instance).
bool LoadRunConfig(const RunCommandOptions& options, config::Config* cfg, std::string* path);

// Everything `run` reads before it starts: logging as the flags ask (then as the file asks),
// the configuration (LoadRunConfig), the web configuration (LoadWebConfig), with deprecated
// settings warned about. False after logging why.
bool PrepareRun(const RunCommandOptions& options, config::Config* cfg, std::string* path,
                WebConfig* web);

// SIGHUP for the web configuration: re-reads it and hands it to `server` (a rotated password
// stops working now); a bad file keeps the one in force. Logs either way; updates `web` and
// `access` on success. Returns the audit line for the reload, or "" when there is no web
// configuration file. `stamp`: the monitor's time for that line.
std::string ReloadWebConfig(const config::HttpConfig& http, engine::TimeNs stamp,
                            HttpServer& server, WebConfig* web, WebAccess* access);

// The web configuration `run` serves with: the file http.web_config_file (--web.config.file),
// or the deprecated http.basic_auth_username + basic_auth_password_file as one bcrypt user, or
// nothing. Read at start and on every SIGHUP. False with `errors` (file, key, what was
// expected); both ways at once are an error.
bool LoadWebConfig(const config::HttpConfig& http, WebConfig* web,
                   std::vector<std::string>* errors);

// The listener's bounds from the `http:` section.
HttpServerOptions HttpOptionsFor(const config::HttpConfig& http);

// The routes' access policy for a listener (loopback-only or not) serving `web`.
WebAccess AccessFor(const config::HttpConfig& http, const WebConfig& web, bool loopback_only);

// Logs what the listener allows, and why acknowledgements are refused where they are.
void LogWebAccess(const WebAccess& access, const WebConfig& web, const std::string& bound);

// The MQTT client's options from the `mqtt:` section: session kept for a day (clean_session
// false), reconnect backoff, TLS, credentials (files or environment), the default filters
// (the three device channels under the topic root) and `will` as the Last Will. False with
// `error` when a credential file cannot be read.
bool MqttOptionsFor(const config::Config& cfg, const broker::BrokerUrl& url,
                    const Publication& will, MqttOptions* o, std::string* error);

// The "needlewatch starting" log line: version, configuration, broker(s), instance, listener,
// audit log, recording.
void LogStarting(const config::Config& cfg, const std::string& path,
                 const broker::BrokerUrl& url, const char* version);

// The recorder's options from the `record:` section (and the topic root it records under).
record::RecorderOptions RecorderOptionsFor(const config::Config& cfg);

// The alarm-topic filters that match the devices of `subscriptions`: "clinic/c017/device/+/+"
// watches "clinic/c017/device/+/alarm/+"; a filter of another shape watches every alarm topic
// under the root. Without duplicates, in order.
std::vector<std::string> AlarmWatchFilters(const std::vector<std::string>& subscriptions,
                                           const std::string& root);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_RUN_CONFIG_H_
