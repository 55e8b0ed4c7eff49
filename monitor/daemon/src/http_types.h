// An HTTP request as the daemon's routes see it, and the response they give: plain data, so the
// routes (routes.h) are a pure function the tests call without a socket. The Beast server
// (http_server.h) fills one and writes the other. Thread-compatible.
#ifndef NEEDLEWATCH_DAEMON_HTTP_TYPES_H_
#define NEEDLEWATCH_DAEMON_HTTP_TYPES_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace needlewatch::daemon {

// Text written unchanged to many connections (an event-stream frame): made once, shared.
using SharedText = std::shared_ptr<const std::string>;

struct HttpRequest {
  std::string method;         // "GET", "POST", ...
  std::string target;         // path, query string removed
  std::string query;          // after '?', "" when none
  std::string body;
  std::string remote;         // "ip:port" of the client
  // Who sent it, as the server verified: a basic_auth_users name whose password matched, or
  // (without users) the subject CN of a verified client certificate. "" = nobody.
  std::string user;
  bool tls = false;           // came over HTTPS (the daemon's own origin is https://Host)
  // Request headers the routes look at, names lower-case.
  std::vector<std::pair<std::string, std::string>> headers;

  // The value of header `name` (lower-case), "" when absent.
  std::string_view Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return {};
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  // When set, the body is render()'s result, computed on the server's worker thread (it must
  // not touch loop-thread state: give it a copy of what it needs). An exception from it
  // becomes a 500.
  std::function<std::string()> render;
  // A Server-Sent Events stream (GET only): the server answers 200 text/event-stream with these
  // headers, writes `frames` in order, and then every frame it is asked to broadcast, until the
  // client goes, falls too far behind, or the server stops. `body`, `render` and
  // `content_type` are not used. The server registers the stream before it handles anything
  // else, so nothing broadcast after the route ran is missed.
  bool event_stream = false;
  std::vector<SharedText> frames;
};

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_HTTP_TYPES_H_
