// The HTTP routes as a pure function: request in, response out, with a real live monitor.
#include "routes.h"

#include <gtest/gtest.h>

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
  WebAccess access;

  HttpResponse Call(std::string method, std::string target, std::string body = "",
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpRequest req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.body = std::move(body);
    req.remote = "127.0.0.1:40000";
    req.headers = std::move(headers);
    return Route(req, monitor, status, access);
  }
  void LatchDepthAlarm() {
    const std::string topic = testing::TelemetryTopic("c1", "d1");
    monitor.HandleMessage(topic, testing::Telemetry(1, "S1", "forehead", 3.0, 100), 1, false);
    monitor.HandleMessage(topic, testing::Telemetry(2, "S1", "forehead", 0.1, 100), 1, false);
  }
};

TEST_F(Routes, HealthzAnswersWithoutAuthenticationAndRefusesOtherMethods) {
  access = {"admin", "pw"};
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

TEST_F(Routes, BasicAuthGuardsEverythingButHealthz) {
  access = {"admin", "pw"};
  HttpResponse r = Call("GET", "/api/v1/alarms");
  EXPECT_EQ(r.status, 401);
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers[0].first, "WWW-Authenticate");
  // "admin:pw" in base64.
  r = Call("GET", "/api/v1/alarms", "", {{"authorization", "Basic YWRtaW46cHc="}});
  EXPECT_EQ(r.status, 200);
  r = Call("GET", "/metrics", "", {{"authorization", "Basic YWRtaW46d3Jvbmc="}});
  EXPECT_EQ(r.status, 401);
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
  access = {"admin", "pw"};
  const std::pair<std::string, std::string> auth{"authorization", "Basic YWRtaW46cHc="};
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
  HttpResponse r = Call("POST", "/api/v1/alarms/ack", R"({"clinic":"c1","device":"d1"})");
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

}  // namespace
}  // namespace needlewatch::daemon
