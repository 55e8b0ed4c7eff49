// The daemon's HTTP endpoints as one pure function of (request, monitor, daemon status) →
// response: /healthz, /readyz, /metrics, GET /api/v1/alarms, POST /api/v1/alarms/ack. Called on
// the loop thread (it reads and acknowledges through the live monitor). Endpoints and bodies:
// monitor/daemon/README.md.
#ifndef NEEDLEWATCH_DAEMON_ROUTES_H_
#define NEEDLEWATCH_DAEMON_ROUTES_H_

#include <cstdint>
#include <string>

#include "http_types.h"
#include "live_monitor.h"
#include "metrics.h"

namespace needlewatch::daemon {

// What the routes need to know about the daemon around the monitor.
struct DaemonStatus {
  bool ready = false;        // connected to the broker and every subscription acknowledged
  std::string not_ready;     // why not ("connecting", "connection lost: …", …)
  DaemonStats stats;         // for /metrics
};

// HTTP Basic authentication of the endpoints other than /healthz; none when `user` is empty.
struct WebAccess {
  std::string user;
  std::string password;
};

HttpResponse Route(const HttpRequest& req, LiveMonitor& monitor, const DaemonStatus& status,
                   const WebAccess& access);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_ROUTES_H_
