// What `needlewatch run` starts with: the configuration file (or the built-in defaults) with
// the command-line flags over it, and the HTTP access settings. Errors are logged with what to
// fix. Reads files; no other I/O.
#ifndef NEEDLEWATCH_DAEMON_RUN_CONFIG_H_
#define NEEDLEWATCH_DAEMON_RUN_CONFIG_H_

#include <string>
#include <vector>

#include "alarm_output.h"
#include "mqtt_client.h"
#include "needlewatch/config/config.h"
#include "needlewatch/daemon/run_command.h"
#include "needlewatch/mqtt/broker_url.h"
#include "routes.h"

namespace needlewatch::daemon {

// The file named by --config.file (else DefaultConfig()), then each flag given over it. `path`
// is the file ("" for the defaults). False after logging why (invalid file, bad instance).
bool LoadRunConfig(const RunCommandOptions& options, config::Config* cfg, std::string* path);

// HTTP Basic authentication from http.basic_auth_username and its password file (none when
// the username is empty). False after logging why.
bool LoadWebAccess(const config::Config& cfg, WebAccess* access);

// The MQTT client's options from the `mqtt:` section: session kept for a day (clean_session
// false), reconnect backoff, TLS, credentials (files or environment), the default filters
// (the three device channels under the topic root) and `will` as the Last Will. False with
// `error` when a credential file cannot be read.
bool MqttOptionsFor(const config::Config& cfg, const broker::BrokerUrl& url,
                    const Publication& will, MqttOptions* o, std::string* error);

// The alarm-topic filters that match the devices of `subscriptions`: "clinic/c017/device/+/+"
// watches "clinic/c017/device/+/alarm/+"; a filter of another shape watches every alarm topic
// under the root. Without duplicates, in order.
std::vector<std::string> AlarmWatchFilters(const std::vector<std::string>& subscriptions,
                                           const std::string& root);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_RUN_CONFIG_H_
