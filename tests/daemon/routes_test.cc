// The HTTP routes as a pure function: request in, response out, with a real live monitor.
#include "routes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "http_auth.h"
#include "test_fleet.h"

namespace needlewatch::daemon {
namespace {

using engine::kNsPerMs;
using nlohmann::json;
using testing::kT0;

class FixedClock : public Clock {
 public:
  engine::TimeNs Now() override { return kT0; }
};

class NoOutputs : public Outputs {
 public:
  bool Publish(const Publication&) override { return true; }
  bool Audit(std::string_view line) override {
    audit.emplace_back(line);
    return true;
  }
  void Record(record::RawMessage&&) override {}
  std::vector<std::string> audit;
};

struct Routes : ::testing::Test {
  config::Config cfg = config::DefaultConfig();
  FixedClock clock;
  NoOutputs out;
  LiveMonitor monitor{cfg, "", clock, out};
  DaemonStatus status;
  WebAccess access;  // the defaults: loopback-only, no users
  std::string user;  // as the server authenticated it
  bool tls = false;
  int seq = 0;

  HttpResponse Call(std::string method, std::string target, std::string body = "",
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpRequest req;
    req.method = std::move(method);
    if (const std::size_t q = target.find('?'); q != std::string::npos) {
      req.query = target.substr(q + 1);
      target.resize(q);
    }
    req.target = std::move(target);
    req.body = std::move(body);
    req.remote = "127.0.0.1:40000";
    req.headers = std::move(headers);
    req.user = user;
    req.tls = tls;
    return Route(req, monitor, status, access);
  }
  int AckLines() const {
    int n = 0;
    for (const std::string& line : out.audit) n += json::parse(line)["type"] == "ack" ? 1 : 0;
    return n;
  }
  void LatchDepthAlarm() {
    const std::string topic = testing::TelemetryTopic("c1", "d1");
    monitor.HandleMessage(topic, testing::Telemetry(++seq, "S1", "forehead", 3.0, 100), 1, false);
    monitor.HandleMessage(topic, testing::Telemetry(++seq, "S1", "forehead", 0.1, 100), 1, false);
  }
};

TEST_F(Routes, HealthzAnswersWithoutAuthenticationAndRefusesOtherMethods) {
  access.users = true;
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  EXPECT_EQ(Call("HEAD", "/healthz").status, 200);
  const HttpResponse r = Call("POST", "/healthz");
  EXPECT_EQ(r.status, 405);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Allow", "GET"}));
}

TEST_F(Routes, ReadyzSaysWhyItIsNotReady) {
  status.ready = false;
  status.not_ready = "connection lost: broker went away";
  HttpResponse r = Call("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body)["reason"], "connection lost: broker went away");
  status.ready = true;
  r = Call("GET", "/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["status"], "ready");
}

TEST_F(Routes, WithUsersEverythingButHealthzNeedsTheUserTheServerAuthenticated) {
  access.users = true;
  HttpResponse r = Call("GET", "/api/v1/alarms");
  EXPECT_EQ(r.status, 401);
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers[0].first, "WWW-Authenticate");
  // The routes never look at the Authorization header themselves: the server verified it.
  r = Call("GET", "/metrics", "", {{"authorization", "Basic YWRtaW46cHc="}});
  EXPECT_EQ(r.status, 401);
  user = "admin";
  EXPECT_EQ(Call("GET", "/api/v1/alarms").status, 200);
}

TEST_F(Routes, MetricsRenderOffTheLoopInThePrometheusTextFormat) {
  LatchDepthAlarm();
  const HttpResponse r = Call("GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, kMetricsContentType);
  ASSERT_TRUE(r.render);
  const std::string text = r.render();
  EXPECT_NE(text.find("needlewatch_messages_received_total{channel=\"telemetry\"} 2"),
            std::string::npos);
}

TEST_F(Routes, MetricsAreGzippedForAScraperThatAcceptsIt) {
  LatchDepthAlarm();
  const HttpResponse plain = Call("GET", "/metrics");
  const HttpResponse gz = Call("GET", "/metrics", "", {{"accept-encoding", "gzip"}});
  ASSERT_TRUE(gz.render);
  const std::string body = gz.render();
  ASSERT_GE(body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(body[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(body[1]), 0x8b);
  EXPECT_LT(body.size(), plain.render().size());
  const auto has = [](const HttpResponse& r, const char* name, const char* value) {
    for (const auto& [k, v] : r.headers) {
      if (k == name && v == value) return true;
    }
    return false;
  };
  EXPECT_TRUE(has(gz, "Content-Encoding", "gzip"));
  EXPECT_TRUE(has(gz, "Vary", "Accept-Encoding"));
  EXPECT_FALSE(has(plain, "Content-Encoding", "gzip"));
}

TEST_F(Routes, AlarmsListsTheLatchedAlarmAndAckEndsItWithTheUserInTheAudit) {
  access.users = true;
  user = "admin";
  const std::pair<std::string, std::string> auth{"content-type", "application/json"};
  LatchDepthAlarm();
  HttpResponse r = Call("GET", "/api/v1/alarms", "", {auth});
  ASSERT_EQ(r.status, 200);
  const json alarms = json::parse(r.body)["alarms"];
  ASSERT_EQ(alarms.size(), 1u);
  EXPECT_EQ(alarms[0]["state"], "latched");
  r = Call("POST", "/api/v1/alarms/ack", R"({"clinic":"c1","device":"d1","alarm":"depth_exceeded"})",
           {auth});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["result"], "cleared");
  ASSERT_FALSE(out.audit.empty());
  const json line = json::parse(out.audit.back());
  EXPECT_EQ(line["type"], "ack");
  EXPECT_EQ(line["user"], "admin");
  EXPECT_EQ(line["remote"], "127.0.0.1:40000");
  r = Call("POST", "/api/v1/alarms/ack", R"({"clinic":"c1","device":"d1","alarm":"depth_exceeded"})",
           {auth});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["result"], "not_found");
}

TEST_F(Routes, ABadAckBodyIs400NamingTheFieldAndTheWrongMethodIs405) {
  HttpResponse r = Call("POST", "/api/v1/alarms/ack", R"({"clinic":"c1","device":"d1"})",
                        {{"content-type", "application/json"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(json::parse(r.body)["error"].get<std::string>().find("alarm"), std::string::npos);
  EXPECT_EQ(Call("GET", "/api/v1/alarms/ack").status, 405);
  EXPECT_EQ(Call("DELETE", "/api/v1/alarms").status, 405);
}

TEST_F(Routes, UnknownPathsAre404ListingTheEndpoints) {
  const HttpResponse r = Call("GET", "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("/api/v1/alarms"), std::string::npos);
}

// --- The floor page and its API ---

std::string HeaderOf(const HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return {};
}

TEST_F(Routes, TheFloorPageIsServedWithItsSecurityHeadersAndRevalidatedByETag) {
  HttpResponse r = Call("GET", "/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("<html"), std::string::npos);
  EXPECT_NE(HeaderOf(r, "Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(HeaderOf(r, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(HeaderOf(r, "Cache-Control"), "no-cache");
  const std::string etag = HeaderOf(r, "ETag");
  ASSERT_FALSE(etag.empty());

  r = Call("GET", "/", "", {{"if-none-match", etag}});
  EXPECT_EQ(r.status, 304);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(HeaderOf(r, "ETag"), etag);
  EXPECT_EQ(Call("GET", "/index.html", "", {{"if-none-match", etag}}).status, 304);
  EXPECT_EQ(Call("GET", "/", "", {{"if-none-match", "\"other\""}}).status, 200);

  r = Call("GET", "/floor.js");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.content_type.find("javascript"), std::string::npos);
  EXPECT_NE(HeaderOf(r, "ETag"), etag);
  EXPECT_EQ(Call("HEAD", "/floor.css").status, 200);
  EXPECT_EQ(Call("POST", "/").status, 405);
  EXPECT_EQ(Call("GET", "/floor.js.map").status, 404);
}

TEST_F(Routes, TheFloorPageAndItsApiHaveTheApisAuthenticationAndHostRules) {
  access.users = true;
  for (const char* path : {"/", "/floor.js", "/api/v1/devices", "/api/v1/alarms/history",
                           "/api/v1/whoami", "/api/v1/events"}) {
    EXPECT_EQ(Call("GET", path).status, 401) << path;
  }
  user = "nurse1";
  EXPECT_EQ(Call("GET", "/").status, 200);
  EXPECT_EQ(Call("GET", "/", "", {{"host", "evil.example"}}).status, 403);
  EXPECT_EQ(Call("GET", "/api/v1/events", "", {{"host", "evil.example"}}).status, 403);
}

TEST_F(Routes, WhoamiSaysWhoAcknowledgesAndWhetherItIsAccepted) {
  EXPECT_EQ(json::parse(Call("GET", "/api/v1/whoami").body),
            json::parse(R"({"user":"local","can_ack":true})"));
  access.loopback_only = false;  // no users, not loopback-only: acknowledgements are refused
  EXPECT_EQ(json::parse(Call("GET", "/api/v1/whoami").body),
            json::parse(R"({"user":null,"can_ack":false})"));
  user = "nurse1";  // e.g. the CN of a verified client certificate
  EXPECT_EQ(json::parse(Call("GET", "/api/v1/whoami").body),
            json::parse(R"({"user":"nurse1","can_ack":true})"));
  EXPECT_EQ(Call("POST", "/api/v1/whoami").status, 405);
}

TEST_F(Routes, DevicesListsEveryPenWithItsReading) {
  LatchDepthAlarm();
  const HttpResponse r = Call("GET", "/api/v1/devices");
  ASSERT_EQ(r.status, 200);
  const json body = json::parse(r.body);
  ASSERT_EQ(body["devices"].size(), 1u);
  EXPECT_EQ(body["devices"][0]["device"], "d1");
  EXPECT_EQ(body["devices"][0]["depth_mm"], 0.1);
  EXPECT_EQ(body["event_id"], monitor.floor().last_event_id());
  EXPECT_EQ(Call("DELETE", "/api/v1/devices").status, 405);
}

TEST_F(Routes, HistoryListsTodaysAlarmsWithWhoAcknowledgedAndRejectsABadSince) {
  LatchDepthAlarm();
  user = "nurse1";
  const char* ack = R"({"clinic":"c1","device":"d1","alarm":"depth_exceeded"})";
  ASSERT_EQ(Call("POST", "/api/v1/alarms/ack", ack, {{"content-type", "application/json"}}).status,
            200);
  // Default: since the start of the local day (the clock is fixed at kT0).
  json body = json::parse(Call("GET", "/api/v1/alarms/history").body);
  EXPECT_EQ(body["since_ns"], StartOfLocalDay(kT0));
  const auto depth = std::find_if(body["alarms"].begin(), body["alarms"].end(), [](const json& a) {
    return a["alarm"] == "depth_exceeded";
  });
  ASSERT_NE(depth, body["alarms"].end()) << body;
  EXPECT_EQ((*depth)["acknowledged_by"], "nurse1");
  EXPECT_FALSE((*depth)["ended_at"].is_null());
  // Ended before `since`: not listed.
  const std::string later = std::to_string(kT0 / engine::kNsPerSec + 60);
  body = json::parse(Call("GET", "/api/v1/alarms/history?since=" + later).body);
  EXPECT_TRUE(body["alarms"].empty());
  const HttpResponse bad = Call("GET", "/api/v1/alarms/history?since=yesterday");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("since"), std::string::npos);
}

std::string Joined(const HttpResponse& r) {
  std::string all;
  for (const SharedText& f : r.frames) all += *f;
  return all;
}

TEST_F(Routes, EventsStartsWithThePreambleAndResumesAfterTheGivenId) {
  HttpResponse r = Call("GET", "/api/v1/events");
  ASSERT_TRUE(r.event_stream);
  ASSERT_EQ(r.frames.size(), 1u);  // no id: live events only
  EXPECT_EQ(*r.frames[0], FloorModel::StreamPreamble());

  const std::uint64_t before = monitor.floor().last_event_id();
  LatchDepthAlarm();  // raised, then latched: two alarm events
  const std::string id = std::to_string(before);
  // The page's first connection names the id of the bodies it fetched.
  r = Call("GET", "/api/v1/events?last_event_id=" + id);
  ASSERT_TRUE(r.event_stream);
  std::string all = Joined(r);
  EXPECT_EQ(all.rfind(FloorModel::StreamPreamble(), 0), 0u);
  EXPECT_NE(all.find("\"transition\":\"raised\""), std::string::npos);
  EXPECT_NE(all.find("\"transition\":\"latched\""), std::string::npos);
  EXPECT_LT(all.find("\"transition\":\"raised\""), all.find("\"transition\":\"latched\""));
  EXPECT_NE(all.find("id: " + std::to_string(before + 1) + "\n"), std::string::npos);

  // A browser's reconnect sends Last-Event-ID, which wins over the (older) query parameter.
  const std::string newest = std::to_string(monitor.floor().last_event_id());
  r = Call("GET", "/api/v1/events?last_event_id=" + id, "", {{"last-event-id", newest}});
  EXPECT_EQ(Joined(r).find("event: alarm"), std::string::npos);

  // An id that is not one: a reset (refetch), never a silent gap.
  r = Call("GET", "/api/v1/events", "", {{"last-event-id", "garbage"}});
  EXPECT_NE(Joined(r).find("event: reset"), std::string::npos);
  r = Call("GET", "/api/v1/events?last_event_id=x1");
  EXPECT_FALSE(r.event_stream);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("last_event_id"), std::string::npos);
  EXPECT_EQ(Call("POST", "/api/v1/events").status, 405);
}

// --- Acknowledgements per CONTRACT §3 v1.1 ---

constexpr const char* kAck = R"({"clinic":"c1","device":"d1","alarm":"depth_exceeded"})";
using Headers = std::vector<std::pair<std::string, std::string>>;

TEST_F(Routes, ACrossSiteFormAckIsRefusedAndTheAlarmStaysLatched) {
  LatchDepthAlarm();
  // <form enctype="text/plain" method="post" action="http://127.0.0.1:9464/api/v1/alarms/ack">
  HttpResponse r = Call("POST", "/api/v1/alarms/ack", kAck,
                        {{"host", "127.0.0.1:9464"}, {"origin", "https://evil.example"},
                         {"content-type", "text/plain"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("evil.example"), std::string::npos) << r.body;
  // The same with JSON from that page (fetch with no-cors cannot even send it): still refused.
  r = Call("POST", "/api/v1/alarms/ack", kAck,
           {{"host", "127.0.0.1:9464"}, {"origin", "https://evil.example"},
            {"content-type", "application/json"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(AckLines(), 0);
  const json alarms = json::parse(Call("GET", "/api/v1/alarms").body)["alarms"];
  ASSERT_EQ(alarms.size(), 1u);
  EXPECT_EQ(alarms[0]["state"], "latched");
}

TEST_F(Routes, AnAckThatIsNotJsonIs415) {
  LatchDepthAlarm();
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded",
                           "multipart/form-data; boundary=x", ""}) {
    const HttpResponse r = Call("POST", "/api/v1/alarms/ack", kAck, {{"content-type", type}});
    EXPECT_EQ(r.status, 415) << type;
  }
  EXPECT_EQ(Call("POST", "/api/v1/alarms/ack", kAck,
                 {{"content-type", "Application/JSON; charset=utf-8"}})
                .status,
            200);
}

TEST_F(Routes, TheDaemonsOwnOriginAndConfiguredOriginsMayAcknowledge) {
  LatchDepthAlarm();
  const Headers own = {{"host", "127.0.0.1:9464"}, {"origin", "http://127.0.0.1:9464"},
                       {"content-type", "application/json"}};
  HttpResponse r = Call("POST", "/api/v1/alarms/ack", kAck, own);
  EXPECT_EQ(r.status, 200) << r.body;
  for (const auto& [k, v] : r.headers) EXPECT_NE(k, "Access-Control-Allow-Origin");
  // Over TLS the own origin is https://; http:// of the same host is another origin.
  tls = true;
  EXPECT_EQ(Call("POST", "/api/v1/alarms/ack", kAck, own).status, 403);
  tls = false;
  access.allowed_origins = {"https://floor.example"};
  LatchDepthAlarm();
  r = Call("POST", "/api/v1/alarms/ack", kAck,
           {{"host", "127.0.0.1:9464"}, {"origin", "https://FLOOR.example/"},
            {"content-type", "application/json"}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(std::find(r.headers.begin(), r.headers.end(),
                      std::pair<std::string, std::string>{"Access-Control-Allow-Origin",
                                                          "https://FLOOR.example/"}),
            r.headers.end());
}

TEST_F(Routes, OnlyAllowedOriginsGetAPreflightAnswerAndItNeedsNoCredentials) {
  access.users = true;
  access.allowed_origins = {"https://floor.example"};
  HttpResponse r = Call("OPTIONS", "/api/v1/alarms/ack", "", {{"origin", "https://floor.example"}});
  EXPECT_EQ(r.status, 204);
  EXPECT_NE(std::find(r.headers.begin(), r.headers.end(),
                      std::pair<std::string, std::string>{"Access-Control-Allow-Methods", "POST"}),
            r.headers.end());
  r = Call("OPTIONS", "/api/v1/alarms/ack", "", {{"origin", "https://evil.example"}});
  EXPECT_EQ(r.status, 405);
  for (const auto& [k, v] : r.headers) EXPECT_NE(k, "Access-Control-Allow-Origin");
}

TEST_F(Routes, WithoutUsersTheAckIsLocalOnALoopbackListenerAndRefusedOnAnyOther) {
  LatchDepthAlarm();
  const Headers json_type = {{"content-type", "application/json"}};
  access.loopback_only = false;
  HttpResponse r = Call("POST", "/api/v1/alarms/ack", kAck, json_type);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("basic_auth_users"), std::string::npos) << r.body;
  EXPECT_EQ(AckLines(), 0);
  // Read-only endpoints stay open, as exporters' do.
  EXPECT_EQ(Call("GET", "/api/v1/alarms").status, 200);
  EXPECT_EQ(Call("GET", "/metrics").status, 200);
  // An authenticated user (a client certificate, say) may.
  user = "cert-operator";
  EXPECT_EQ(Call("POST", "/api/v1/alarms/ack", kAck, json_type).status, 200);
  EXPECT_EQ(json::parse(out.audit.back())["user"], "cert-operator");
  user.clear();
  access.loopback_only = true;
  LatchDepthAlarm();
  EXPECT_EQ(Call("POST", "/api/v1/alarms/ack", kAck, json_type).status, 200);
  EXPECT_EQ(json::parse(out.audit.back())["user"], "local");
}

TEST_F(Routes, ALoopbackListenerRefusesForeignHostNamesAgainstDnsRebinding) {
  for (const char* host : {"127.0.0.1:9464", "localhost:9464", "LOCALHOST", "[::1]:9464",
                           "127.3.2.1", "app.localhost:80", ""}) {
    EXPECT_EQ(Call("GET", "/api/v1/alarms", "", {{"host", host}}).status, 200) << host;
  }
  for (const char* host : {"evil.example:9464", "127.0.0.1.evil.example", "10.0.0.5:9464",
                           "[::2]:9464"}) {
    const HttpResponse r = Call("GET", "/metrics", "", {{"host", host}});
    EXPECT_EQ(r.status, 403) << host;
  }
  access.allowed_hosts = {"monitor.clinic.lan"};
  EXPECT_EQ(Call("GET", "/metrics", "", {{"host", "Monitor.Clinic.LAN:9464"}}).status, 200);
  // /healthz is for probes of any name; a listener on all interfaces checks no Host.
  EXPECT_EQ(Call("GET", "/healthz", "", {{"host", "evil.example"}}).status, 200);
  access.loopback_only = false;
  EXPECT_EQ(Call("GET", "/metrics", "", {{"host", "evil.example"}}).status, 200);
}

}  // namespace
}  // namespace needlewatch::daemon
