// What the HTTP routes and /metrics need to know about the running daemon, collected from its
// parts at the moment of a request. Loop thread only.
#ifndef NEEDLEWATCH_DAEMON_DAEMON_STATUS_H_
#define NEEDLEWATCH_DAEMON_DAEMON_STATUS_H_

#include "audit_log.h"
#include "http_server.h"
#include "live_monitor.h"
#include "mqtt_client.h"
#include "needlewatch/record/recorder.h"
#include "routes.h"

namespace needlewatch::daemon {

// The parts a status is read from; a null part has not started (or is off).
struct StatusSources {
  const MqttClient* mqtt = nullptr;
  const LiveMonitor* monitor = nullptr;
  const AuditLog* audit = nullptr;
  const HttpServer* http = nullptr;
  const record::Recorder* recorder = nullptr;
  double start_time_seconds = 0;
  const char* version = "";
};

DaemonStatus CollectStatus(const StatusSources& from);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_DAEMON_STATUS_H_
