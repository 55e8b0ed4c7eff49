#include "routes.h"

#include <memory>
#include <optional>
#include <string_view>

#include "api.h"
#include "event_stream.h"
#include "floor_model.h"
#include "gzip.h"
#include "http_auth.h"
#include "needlewatch/control/records.h"
#include "needlewatch/protocol/json_writer.h"
#include "web_assets.h"

namespace needlewatch::daemon {
namespace {

HttpResponse Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse NotAllowed(const char* allow) {
  HttpResponse r = Json(405, ErrorJson(std::string("method not allowed; use ") + allow));
  r.headers.emplace_back("Allow", allow);
  return r;
}

bool IsRead(const HttpRequest& req) { return req.method == "GET" || req.method == "HEAD"; }

HttpResponse Ready(const DaemonStatus& status) {
  std::string body;
  protocol::JsonWriter w(body);
  if (status.ready) {
    w.BeginObject().Field("status", "ready").EndObject();
    return Json(200, std::move(body));
  }
  w.BeginObject().Field("status", "not ready").Field("reason", status.not_ready).EndObject();
  return Json(503, std::move(body));
}

HttpResponse Scrape(const HttpRequest& req, const LiveMonitor& monitor,
                    const DaemonStatus& status) {
  HttpResponse r;
  r.content_type = kMetricsContentType;
  // Copy on the loop (~1 ms for 10,000 devices), render (and compress) on the HTTP worker.
  const bool gzip = AcceptsGzip(req.Header("accept-encoding"));
  r.headers.emplace_back("Vary", "Accept-Encoding");
  if (gzip) r.headers.emplace_back("Content-Encoding", "gzip");
  r.render = [gzip, snap = std::make_shared<const MetricsSnapshot>(
                        monitor.metrics().Snapshot(monitor.engine(), status.stats))] {
    std::string text = Metrics::RenderSnapshot(*snap);
    return gzip ? GzipCompress(text) : text;
  };
  return r;
}

HttpResponse Forbidden(std::string_view why) { return Json(403, ErrorJson(why)); }

// Who an acknowledgement from this request is made (and audited) as: the authenticated user,
// else "local" on a loopback-only listener; none where acknowledgements need a user.
std::optional<std::string> AckUser(const HttpRequest& req, const WebAccess& access) {
  if (!req.user.empty()) return req.user;
  if (access.loopback_only) return std::string("local");
  return std::nullopt;
}

// GET /, /index.html, /floor.js, …: the embedded floor page, revalidated by ETag.
HttpResponse ServeAsset(const HttpRequest& req, const web::Asset& asset) {
  HttpResponse r;
  r.content_type = std::string(asset.content_type);
  for (const auto& [name, value] : web::kAssetHeaders) {
    r.headers.emplace_back(std::string(name), std::string(value));
  }
  r.headers.emplace_back("ETag", std::string(asset.etag));
  if (web::EtagMatches(req.Header("if-none-match"), asset.etag)) {
    r.status = 304;
    return r;
  }
  r.body = std::string(asset.content);
  return r;
}

HttpResponse History(const HttpRequest& req, LiveMonitor& monitor) {
  engine::TimeNs since = 0;
  if (const std::optional<std::string_view> q = QueryParam(req.query, "since")) {
    std::string error;
    const std::optional<engine::TimeNs> s = ParseSince(*q, &error);
    if (!s) return Json(400, ErrorJson(error));
    since = *s;
  } else {
    since = StartOfLocalDay(monitor.Stamp());
  }
  return Json(200, monitor.floor().HistoryJson(since));
}

// GET /api/v1/events: the missed events (or a reset) first, then live frames.
HttpResponse Events(const HttpRequest& req, LiveMonitor& monitor) {
  std::string error;
  const std::optional<ResumePoint> from = ResumePointFor(req, &error);
  if (!from) return Json(400, ErrorJson(error));
  HttpResponse r;
  r.event_stream = true;
  r.frames.push_back(std::make_shared<const std::string>(FloorModel::StreamPreamble()));
  FloorModel::Resume resume = monitor.floor().ResumeFrom(*from, monitor.engine(), monitor.Stamp());
  for (SharedText& f : resume.frames) r.frames.push_back(std::move(f));
  return r;
}

// CORS for an allowed foreign origin: the browser may read the answer (with credentials).
void AllowCors(HttpResponse& r, std::string_view origin) {
  r.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  r.headers.emplace_back("Access-Control-Allow-Credentials", "true");
  r.headers.emplace_back("Vary", "Origin");
}

// OPTIONS /api/v1/alarms/ack: the preflight a browser sends before a cross-origin JSON POST.
// Only http.allowed_origins get a positive answer; it carries no credentials, so it is not
// authenticated.
HttpResponse Preflight(const HttpRequest& req, const WebAccess& access) {
  const std::string_view origin = req.Header("origin");
  if (origin.empty() || !IsAllowedOrigin(origin, "", req.tls, access.allowed_origins)) {
    return NotAllowed("POST");
  }
  HttpResponse r = Json(204, "");
  AllowCors(r, origin);
  r.headers.emplace_back("Access-Control-Allow-Methods", "POST");
  r.headers.emplace_back("Access-Control-Allow-Headers", "Authorization, Content-Type");
  r.headers.emplace_back("Access-Control-Max-Age", "600");
  return r;
}

// CONTRACT §3 v1.1: an acknowledgement names who made it, is JSON only, and comes from no web
// page but the daemon's own (or an allowed one) — so a cross-site form cannot make one.
HttpResponse Ack(const HttpRequest& req, LiveMonitor& monitor, const WebAccess& access) {
  const std::string_view origin = req.Header("origin");
  if (!origin.empty() &&
      !IsAllowedOrigin(origin, req.Header("host"), req.tls, access.allowed_origins)) {
    return Forbidden("Origin \"" + std::string(origin) + "\" may not acknowledge alarms: only "
                     "pages of this daemon or of http.allowed_origins may");
  }
  if (!IsJsonContentType(req.Header("content-type"))) {
    return Json(415, ErrorJson("acknowledgements must be sent as Content-Type: application/json"));
  }
  const std::optional<std::string> user = AckUser(req, access);
  if (!user) {
    return Forbidden("acknowledgements need an authenticated user on a listener that is not "
                     "loopback-only: add basic_auth_users to the web configuration file "
                     "(--web.config.file, see SECURITY.md)");
  }
  std::string error;
  const std::optional<AckRequest> ack = ParseAckBody(req.body, &error);
  if (!ack) return Json(400, ErrorJson(error));
  const AckOutcome outcome = monitor.Acknowledge(*ack, *user, req.remote);
  std::string body;
  protocol::JsonWriter w(body);
  w.BeginObject().Field("result", control::AckResultName(outcome.result));
  int status = 200;
  if (outcome.result == engine::AckResult::kNotFound) {
    w.Field("error", "no active or latched " + std::string(engine::AlarmName(ack->alarm)) +
                         " alarm on " + ack->clinic + "/" + ack->device);
    status = 404;
  }
  w.EndObject();
  HttpResponse r = Json(status, std::move(body));
  if (!origin.empty() && !IsAllowedOrigin(origin, req.Header("host"), req.tls, {})) {
    AllowCors(r, origin);  // an allowed foreign origin
  }
  return r;
}

}  // namespace

HttpResponse Route(const HttpRequest& req, LiveMonitor& monitor, const DaemonStatus& status,
                   const WebAccess& access) {
  if (req.target == "/healthz") {
    if (!IsRead(req)) return NotAllowed("GET");
    return Json(200, R"({"status":"ok"})");
  }
  if (req.target == "/api/v1/alarms/ack" && req.method == "OPTIONS") {
    return Preflight(req, access);
  }
  if (access.users && req.user.empty()) {
    HttpResponse r = Json(401, ErrorJson("authentication required"));
    r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"needlewatch\"");
    return r;
  }
  if (access.loopback_only && !IsLocalHost(req.Header("host"), access.allowed_hosts)) {
    return Forbidden("Host \"" + std::string(req.Header("host")) + "\" is not a name of this "
                     "loopback listener (add it to http.allowed_hosts if it is)");
  }
  if (req.target == "/readyz") return IsRead(req) ? Ready(status) : NotAllowed("GET");
  if (req.target == "/metrics") return IsRead(req) ? Scrape(req, monitor, status) : NotAllowed("GET");
  if (req.target == "/api/v1/alarms") {
    return IsRead(req) ? Json(200, AlarmsJson(monitor.engine())) : NotAllowed("GET");
  }
  if (req.target == "/api/v1/alarms/ack") {
    return req.method == "POST" ? Ack(req, monitor, access) : NotAllowed("POST");
  }
  if (req.target == "/api/v1/devices") {
    if (!IsRead(req)) return NotAllowed("GET");
    return Json(200, monitor.floor().DevicesJson(monitor.engine(), monitor.Stamp()));
  }
  if (req.target == "/api/v1/alarms/history") {
    return IsRead(req) ? History(req, monitor) : NotAllowed("GET");
  }
  if (req.target == "/api/v1/whoami") {
    if (!IsRead(req)) return NotAllowed("GET");
    const std::optional<std::string> user = AckUser(req, access);
    return Json(200, FloorModel::WhoamiJson(user.value_or(std::string()), user.has_value()));
  }
  if (req.target == "/api/v1/events") {
    return req.method == "GET" ? Events(req, monitor) : NotAllowed("GET");
  }
  if (const std::optional<web::Asset> asset = web::FindAsset(req.target)) {
    return IsRead(req) ? ServeAsset(req, *asset) : NotAllowed("GET");
  }
  return Json(404, ErrorJson("not found; endpoints: / (the floor page), /metrics, /healthz, "
                             "/readyz, /api/v1/alarms, /api/v1/alarms/ack, /api/v1/alarms/history, "
                             "/api/v1/devices, /api/v1/whoami, /api/v1/events"));
}

}  // namespace needlewatch::daemon
