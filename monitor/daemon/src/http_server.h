// The daemon's single HTTP listener (Boost.Beast) on the daemon's io_context: HTTP/1.1 with
// keep-alive, requests bounded in size, at most kMaxConnections at once. Each request is
// handed to one handler function (in the daemon: routes.h), called on the io_context thread,
// so the handler may read engine state without locks. HEAD is answered without a body. A response may leave its body to be rendered off the loop
// (HttpResponse::render): the server runs that on its own worker thread and writes the
// response when it is done, so a large body never holds up the io_context.
//
// Not thread-safe: construct, Start and Stop on the io_context thread (or before run()).
#ifndef NEEDLEWATCH_DAEMON_HTTP_SERVER_H_
#define NEEDLEWATCH_DAEMON_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "http_types.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace needlewatch::daemon {

// Must not throw; HttpServer turns an escaping exception into a 500 anyway.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  static constexpr std::size_t kMaxBodyBytes = 64 * 1024;
  static constexpr std::size_t kMaxConnections = 256;

  HttpServer(boost::asio::io_context& io, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens on `address` ("host:port", port 0 = any free port). Returns false with
  // `error` naming the address and the reason. On success `bound` is the actual "ip:port".
  bool Start(const std::string& address, std::string* bound, std::string* error);

  // Stops accepting and closes every open connection. Idempotent.
  void Stop();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_HTTP_SERVER_H_
