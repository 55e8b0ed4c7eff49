// libFuzzer harness for the HTTP request path: arbitrary bytes through Beast's request parser
// (with the server's size limits, ParseHttpRequest) into the authenticator's header check and
// Route(), against a real LiveMonitor holding a latched alarm that a request may acknowledge.
// Input: the first byte picks the access policy (users or not, loopback-only or not, TLS, an
// allowed origin, an authenticated user); the rest is the request as it came off the socket.
// Built as a real fuzzer with clang (NEEDLEWATCH_FUZZ) and replayed over corpus_http/ by
// fuzz_replay.cc in ordinary test builds (ctest label fuzz).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "http_auth.h"
#include "http_server.h"
#include "live_monitor.h"
#include "log.h"
#include "routes.h"
#include "web_config.h"

namespace {

namespace nw = needlewatch::daemon;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "fuzz_http invariant violated: %s\n", what);
  std::abort();
}

class FixedClock : public nw::Clock {
 public:
  needlewatch::engine::TimeNs Now() override { return 1'795'611'133'000'000'000; }
};

class CountingOutputs : public nw::Outputs {
 public:
  bool Publish(const nw::Publication&) override { return true; }
  bool Audit(std::string_view line) override {
    acks += line.starts_with(R"({"type":"ack")") ? 1 : 0;
    return true;
  }
  void Record(needlewatch::record::RawMessage&&) override {}
  int acks = 0;
};

// A hash nobody can match at fuzzing speed: the harness never runs bcrypt itself.
const std::map<std::string, std::string>& Users() {
  static const std::map<std::string, std::string> users = {
      {"alice", "$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"}};
  return users;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {  // the monitor logs every alarm: noise at fuzzing speed
    std::string e;
    return nw::log::Init("error", "json", &e);
  }();
  (void)quiet;
  if (size < 1) return 0;
  const std::uint8_t policy = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string error;
  std::optional<nw::HttpRequest> req = nw::ParseHttpRequest(bytes, &error);
  if (!req) {
    if (error.empty()) Fail("a refused request without a reason");
    return 0;
  }
  if (req->body.size() > nw::HttpServer::kMaxBodyBytes) Fail("body over the limit");

  nw::WebAccess access;
  access.users = (policy & 1) != 0;
  access.loopback_only = (policy & 2) == 0;
  if ((policy & 4) != 0) access.allowed_origins = {"https://floor.example"};
  if ((policy & 8) != 0) access.allowed_hosts = {"monitor.lan"};
  req->tls = (policy & 16) != 0;
  req->remote = "127.0.0.1:40000";
  if (access.users) {
    static nw::BasicAuthenticator auth(Users());
    nw::BasicAuthenticator::Attempt attempt;
    std::string user;
    if (auth.Check(req->Header("authorization"), &attempt, &user) ==
        nw::BasicAuthenticator::Result::kAccepted) {
      Fail("credentials accepted without a bcrypt check");
    }
  }
  if ((policy & 32) != 0) req->user = "alice";  // as if the server had verified her

  // A fresh monitor per input keeps runs reproducible; one latched alarm to acknowledge.
  static const needlewatch::config::Config cfg = needlewatch::config::DefaultConfig();
  FixedClock clock;
  CountingOutputs out;
  nw::LiveMonitor monitor(cfg, "", clock, out);
  const std::string topic = "clinic/c1/device/d1/telemetry";
  monitor.HandleMessage(
      topic, R"({"v":1,"seq":1,"ts":1,"session":"S1","zone":"forehead","depth_mm":3,"speed_hz":100})",
      1, false);
  monitor.HandleMessage(
      topic, R"({"v":1,"seq":2,"ts":2,"session":"S1","zone":"forehead","depth_mm":0.1,"speed_hz":100})",
      1, false);
  nw::DaemonStatus status;
  status.ready = (policy & 64) != 0;

  nw::HttpResponse r = nw::Route(*req, monitor, status, access);
  if (r.status < 200 || r.status > 599) Fail("status out of range");
  if (r.render) r.body = r.render();

  // What must hold whatever the bytes: an acknowledgement happened only by the contract.
  if (out.acks > 0) {
    if (req->method != "POST" || req->target != "/api/v1/alarms/ack") Fail("ack by another route");
    if (!nw::IsJsonContentType(req->Header("content-type"))) Fail("ack that was not JSON");
    if (access.users && req->user.empty()) Fail("ack without the required user");
    if (!access.loopback_only && req->user.empty()) Fail("anonymous ack off loopback");
    const std::string_view origin = req->Header("origin");
    if (!origin.empty() &&
        !nw::IsAllowedOrigin(origin, req->Header("host"), req->tls, access.allowed_origins)) {
      Fail("ack from a foreign origin");
    }
  }
  if (access.users && req->user.empty() && req->target != "/healthz" && r.status != 401 &&
      !(req->method == "OPTIONS" && req->target == "/api/v1/alarms/ack")) {
    Fail("an unauthenticated request got through");
  }
  return 0;
}
