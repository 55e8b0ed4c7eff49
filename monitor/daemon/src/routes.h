// The daemon's HTTP endpoints as one pure function of (request, monitor, daemon status, access
// policy) → response: /healthz, /readyz, /metrics, GET /api/v1/alarms, POST /api/v1/alarms/ack
// (JSON only, own or allowed Origin, an accountable user: CONTRACT §3 v1.1), and the floor
// page: `/` and its files (embedded, ETag, Content-Security-Policy), /api/v1/devices,
// /api/v1/alarms/history, /api/v1/whoami and the event stream /api/v1/events (an
// HttpResponse with event_stream set: its first frames; the server then writes the live ones).
// Every endpoint but /healthz has the same authentication and Host rules. Called on the loop
// thread (it reads and acknowledges through the live monitor). Endpoints and bodies:
// monitor/daemon/README.md.
#ifndef NEEDLEWATCH_DAEMON_ROUTES_H_
#define NEEDLEWATCH_DAEMON_ROUTES_H_

#include <cstdint>
#include <string>
#include <vector>

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

// Who may do what over HTTP (SECURITY.md). The server authenticates (HttpRequest::user); the
// routes decide with this.
struct WebAccess {
  // basic_auth_users are configured: every endpoint but /healthz needs an authenticated user.
  bool users = false;
  // The listener accepts loopback connections only. Then, without a user, an acknowledgement
  // is made as "local"; and the Host header must name this machine (127.0.0.0/8, [::1],
  // localhost or allowed_hosts), so a page on a rebound DNS name cannot reach the API.
  // Not loopback-only: acknowledgements need an authenticated user (403 otherwise).
  bool loopback_only = true;
  std::vector<std::string> allowed_hosts;    // more Host names for a loopback listener
  // Origins besides the daemon's own (scheme://Host of the request) that may acknowledge; they
  // get CORS answers (preflight and Access-Control-Allow-Origin).
  std::vector<std::string> allowed_origins;
};

HttpResponse Route(const HttpRequest& req, LiveMonitor& monitor, const DaemonStatus& status,
                   const WebAccess& access);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_ROUTES_H_
