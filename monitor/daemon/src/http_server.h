// The daemon's single HTTP listener (Boost.Beast) on the daemon's io_context: HTTP/1.1 with
// keep-alive, or HTTPS (and mutual TLS) on the same listener when the web configuration has
// `tls_server_config`. Each request is authenticated against `basic_auth_users` (bcrypt, run on
// a worker thread so it never holds up the loop; a success is remembered) and then handed to
// one handler function (in the daemon: routes.h) on the io_context thread, so the handler may
// read engine state without locks. HEAD is answered without a body. A response may leave its
// body to be rendered off the loop (HttpResponse::render): the server runs that on its own
// worker thread and writes the response when it is done, so a large body never holds up the
// io_context.
//
// Hostile clients are bounded (SECURITY.md): request size (16 KiB header, 64 KiB body); a
// complete request header within `header_timeout` of connecting (and after each response,
// until a request was authenticated); at most `max_connections_per_client` connections per IP
// address and `max_connections` in all. A new connection over a bound closes the longest-idle
// connection (of that address, or of all) instead of being refused, so idle or slow
// connections can never lock out a scrape or an acknowledgement; a connection whose request
// is being answered is never closed for another.
//
// Server-Sent Events (a route answering with HttpResponse::event_stream): the connection then
// leaves the pool above for the streams' own, bounded by `max_streams` and
// `max_streams_per_client` (over either: 503 with Retry-After), so long-lived pages never take
// the room of API clients nor are closed to make room for them. Each stream has its own bounded
// queue (FrameQueue); Broadcast() appends a frame to every stream's queue, and a client that
// falls behind its queue's bound or does not take a write within `idle_timeout` is dropped
// (counted; it reconnects and resumes from its Last-Event-ID). A new web configuration (SIGHUP)
// closes every stream, so each reconnects under the users now in force.
//
// Not thread-safe: construct, Configure, Start and Stop on the io_context thread (or before
// run()).
#ifndef NEEDLEWATCH_DAEMON_HTTP_SERVER_H_
#define NEEDLEWATCH_DAEMON_HTTP_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http_types.h"
#include "web_config.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace needlewatch::daemon {

// Must not throw; HttpServer turns an escaping exception into a 500 anyway.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::size_t max_connections = 256;            // open at once (http.max_connections)
  std::size_t max_connections_per_client = 32;  // from one IP address
  // From accept (TLS handshake included) to a complete request header; also between requests
  // until the connection has sent an authenticated one (http.header_timeout).
  std::chrono::milliseconds header_timeout{5000};
  // To read a body, to write a response, and between requests on a trusted connection (one
  // that sent an authenticated request, or any complete request when there are no users).
  std::chrono::milliseconds idle_timeout{30000};
  // bcrypt checks waiting for the worker; more get 503 until it catches up.
  std::size_t max_pending_auth = 16;
  // Event streams (GET /api/v1/events), outside max_connections: open at once, and from one
  // IP address (a wall of displays behind one NAT, or the benchmark, shares an address).
  std::size_t max_streams = 128;
  std::size_t max_streams_per_client = 64;
  // Per stream: frames and bytes waiting to be written before the client is dropped as slow.
  std::size_t stream_queue_frames = 4096;
  std::size_t stream_queue_bytes = 8 << 20;
};

// The event streams' figures (metrics).
struct StreamStats {
  std::size_t open = 0;            // streams open now
  std::uint64_t opened = 0;        // streams started
  std::uint64_t dropped_slow = 0;  // closed because the client fell behind
  std::uint64_t refused = 0;       // refused over max_streams / max_streams_per_client
};

class HttpServer {
 public:
  static constexpr std::size_t kMaxBodyBytes = 64 * 1024;
  static constexpr std::size_t kMaxHeaderBytes = 16 * 1024;

  HttpServer(boost::asio::io_context& io, HttpHandler handler, HttpServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Applies a web configuration: users from the next request on (also on open connections:
  // a removed user or a changed password stops working at once), TLS for connections accepted
  // from now on (open connections of the other kind are closed after their current request),
  // response headers. False with `error` (a certificate or key that cannot be loaded, naming
  // the key and the file): the previous settings stay.
  bool Configure(const WebConfig& web, std::string* error);

  // Binds and listens on `address` ("host:port", port 0 = any free port). Returns false with
  // `error` naming the address and the reason. On success `bound` is the actual "ip:port".
  bool Start(const std::string& address, std::string* bound, std::string* error);

  // After Start: the listener is bound to a loopback address (127.0.0.0/8 or ::1).
  bool loopback() const;

  // Stops accepting and closes every open connection. Idempotent.
  void Stop();

  // Queues `frame` on every open event stream (on the io_context thread).
  void Broadcast(const SharedText& frame);
  StreamStats stream_stats() const;
  // Some event stream is open (cheaper than stream_stats().open > 0).
  bool has_streams() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

// One request from raw bytes, as the routes see it: Beast's parser with the server's size
// limits, then the same translation the server uses. nullopt with `error` when `bytes` do not
// start with one complete, valid request. For the fuzzer and tests; thread-safe.
std::optional<HttpRequest> ParseHttpRequest(std::string_view bytes, std::string* error);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_HTTP_SERVER_H_
