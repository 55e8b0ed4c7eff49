#include "http_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <map>
#include <optional>

#include "http_auth.h"
#include "log.h"

namespace needlewatch::daemon {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr std::chrono::seconds kIdleTimeout{30};
constexpr std::uint32_t kMaxHeaderBytes = 16 * 1024;

// The request as the routes see it: method, path, query, body and the headers they use.
HttpRequest Translate(const http::request<http::string_body>& req) {
  HttpRequest in;
  in.method = std::string(req.method_string());
  const std::string_view target(req.target().data(), req.target().size());
  const std::size_t q = target.find('?');
  in.target = std::string(target.substr(0, q));
  if (q != std::string_view::npos) in.query = std::string(target.substr(q + 1));
  in.body = req.body();
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    in.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  return in;
}

std::string EndpointString(const tcp::endpoint& ep) {
  const auto addr = ep.address();
  std::string host = addr.to_string();
  if (addr.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(ep.port());
}

}  // namespace

class HttpServer::Impl : public std::enable_shared_from_this<HttpServer::Impl> {
 public:
  class Session;

  Impl(asio::io_context& io, HttpHandler handler)
      : io_(io), acceptor_(io), handler_(std::move(handler)) {}

  bool Start(const std::string& address, std::string* bound, std::string* error);
  void Stop();
  void DoAccept();
  HttpResponse Handle(const HttpRequest& req);
  // Runs r.render on the worker thread, then done(r) on the loop.
  void RenderOffLoop(HttpResponse r, std::function<void(HttpResponse)> done);
  void JoinWorker() { worker_.join(); }
  void Forget(std::uint64_t id) { sessions_.erase(id); }

 private:
  asio::io_context& io_;
  asio::thread_pool worker_{1};
  tcp::acceptor acceptor_;
  HttpHandler handler_;
  bool stopped_ = false;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, std::weak_ptr<Session>> sessions_;  // open connections
};

// One keep-alive connection: read a request, answer it, repeat until the peer closes, the idle
// timeout passes, or the server stops.
class HttpServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::weak_ptr<Impl> server, std::uint64_t id)
      : stream_(std::move(socket)), server_(std::move(server)), id_(id) {
    beast::error_code ec;
    const tcp::endpoint ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = EndpointString(ep);
  }
  ~Session() {
    if (auto s = server_.lock()) s->Forget(id_);
  }

  void Begin() { DoRead(); }
  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

 private:
  void DoRead() {
    parser_.emplace();
    parser_->body_limit(HttpServer::kMaxBodyBytes);
    parser_->header_limit(kMaxHeaderBytes);
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->OnRead(ec);
                     });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      HttpResponse r;
      r.status = 413;
      r.body = "{\"error\":\"request too large\"}";
      Send(r, /*keep_alive=*/false, 11);
      return;
    }
    if (ec) {
      // end_of_stream, timeout, operation_aborted (Stop) and peer resets all end the session.
      if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
          ec != beast::error::timeout) {
        log::Debug("http read failed", {{"remote", remote_}, {"error", ec.message()}});
      }
      Close();
      return;
    }
    const http::request<http::string_body>& req = parser_->get();
    HttpRequest in = Translate(req);
    in.remote = remote_;
    auto server = server_.lock();
    if (!server) {
      Close();
      return;
    }
    HttpResponse out = server->Handle(in);
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();
    head_ = req.method() == http::verb::head;
    if (out.render) {
      server->RenderOffLoop(std::move(out),
                            [self = shared_from_this(), keep_alive, version](HttpResponse r) {
                              self->Send(std::move(r), keep_alive, version);
                            });
      return;
    }
    Send(std::move(out), keep_alive, version);
  }

  void Send(HttpResponse r, bool keep_alive, unsigned version) {
    res_ = {};
    res_.version(version);
    res_.result(static_cast<http::status>(r.status));
    res_.set(http::field::server, "needlewatch");
    res_.set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) res_.set(name, value);
    res_.body() = std::move(r.body);
    res_.keep_alive(keep_alive);
    res_.prepare_payload();
    // HEAD: the headers of a GET, Content-Length included, and no body (RFC 9110 §9.3.2).
    if (head_) res_.body().clear();
    stream_.expires_after(kIdleTimeout);
    http::async_write(stream_, res_,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        if (ec || !keep_alive) {
                          self->Close();
                          return;
                        }
                        self->DoRead();
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  bool head_ = false;  // the request being answered is a HEAD
  std::weak_ptr<Impl> server_;
  std::uint64_t id_;
  std::string remote_ = "unknown";
};

bool HttpServer::Impl::Start(const std::string& address, std::string* bound,
                             std::string* error) {
  std::optional<ListenAddress> la = ParseListenAddress(address, error);
  if (!la) return false;
  beast::error_code ec;
  tcp::endpoint endpoint;
  const std::string host = la->host.empty() ? "0.0.0.0" : la->host;
  const asio::ip::address ip = asio::ip::make_address(host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(ip, la->port);
  } else {
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(host, std::to_string(la->port), ec);
    if (ec || results.empty()) {
      *error = "web.listen-address \"" + address + "\": cannot resolve host: " +
               (ec ? ec.message() : std::string("no address"));
      return false;
    }
    endpoint = results.begin()->endpoint();
  }
  auto fail = [&](const char* what) {
    *error = "web.listen-address \"" + address + "\": " + what + ": " + ec.message();
    beast::error_code ignored;
    acceptor_.close(ignored);
    return false;
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("cannot open socket");
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("cannot set SO_REUSEADDR");
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("cannot bind");
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("cannot listen");
  *bound = EndpointString(acceptor_.local_endpoint(ec));
  DoAccept();
  return true;
}

void HttpServer::Impl::DoAccept() {
  acceptor_.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (self->stopped_) return;
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        log::Warn("http accept failed", {{"error", ec.message()}});
      }
    } else if (self->sessions_.size() >= HttpServer::kMaxConnections) {
      log::Warn("http connection refused: too many connections",
                {{"limit", HttpServer::kMaxConnections}});
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      const std::uint64_t id = self->next_id_++;
      auto session = std::make_shared<Session>(std::move(socket), self, id);
      self->sessions_[id] = session;
      session->Begin();
    }
    if (!self->stopped_ && self->acceptor_.is_open()) self->DoAccept();
  });
}

HttpResponse HttpServer::Impl::Handle(const HttpRequest& req) {
  try {
    return handler_(req);
  } catch (const std::exception& e) {
    log::Error("http handler failed", {{"target", req.target}, {"error", e.what()}});
  } catch (...) {
    log::Error("http handler failed", {{"target", req.target}});
  }
  HttpResponse r;
  r.status = 500;
  r.body = "{\"error\":\"internal error\"}";
  return r;
}

void HttpServer::Impl::RenderOffLoop(HttpResponse r, std::function<void(HttpResponse)> done) {
  asio::post(worker_, [&io = io_, r = std::move(r), done = std::move(done)]() mutable {
    try {
      r.body = r.render();
    } catch (const std::exception& e) {
      log::Error("http body rendering failed", {{"error", e.what()}});
      r.status = 500;
      r.content_type = "application/json";
      r.body = "{\"error\":\"internal error\"}";
    }
    r.render = nullptr;
    asio::post(io, [r = std::move(r), done = std::move(done)]() mutable { done(std::move(r)); });
  });
}

void HttpServer::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  beast::error_code ec;
  acceptor_.close(ec);
  // Copy: closing may destroy sessions, which erase themselves from the map.
  std::vector<std::shared_ptr<Session>> open;
  for (auto& [id, weak] : sessions_) {
    if (auto s = weak.lock()) open.push_back(std::move(s));
  }
  for (auto& s : open) s->Close();
}

HttpServer::HttpServer(asio::io_context& io, HttpHandler handler)
    : impl_(std::make_shared<Impl>(io, std::move(handler))) {}

HttpServer::~HttpServer() {
  impl_->Stop();
  // A render in progress finishes and posts its (then never written) response to the loop.
  impl_->JoinWorker();
}

bool HttpServer::Start(const std::string& address, std::string* bound, std::string* error) {
  return impl_->Start(address, bound, error);
}

void HttpServer::Stop() { impl_->Stop(); }

}  // namespace needlewatch::daemon
