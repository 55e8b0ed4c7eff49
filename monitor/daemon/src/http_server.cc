#include "http_server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <array>
#include <cctype>
#include <map>
#include <type_traits>
#include <vector>

#include "api.h"
#include "event_stream.h"
#include "http_auth.h"
#include "log.h"

namespace needlewatch::daemon {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using Parser = http::request_parser<http::string_body>;

constexpr std::chrono::seconds kLogEvery{10};
constexpr std::chrono::milliseconds kAcceptRetry{100};

void LimitParser(Parser& p) {
  p.body_limit(HttpServer::kMaxBodyBytes);
  p.header_limit(static_cast<std::uint32_t>(HttpServer::kMaxHeaderBytes));
}

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

// The subject CN of a client certificate that verified; "" when there is none.
std::string VerifiedPeerName(SSL* ssl) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) return {};
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return {};
  char cn[256] = {};
  const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                                          sizeof cn);
  X509_free(cert);
  return n > 0 ? std::string(cn, static_cast<std::size_t>(n)) : std::string();
}

// What a web configuration becomes in the server: the authenticator, the TLS context, headers.
struct Settings {
  BasicAuthenticator auth;
  std::shared_ptr<ssl::context> tls;  // null: plain HTTP
  std::vector<std::pair<std::string, std::string>> headers;
};

// Logs a warning at most every kLogEvery, with how many times it happened meanwhile.
class RateLimitedWarning {
 public:
  explicit RateLimitedWarning(const char* msg) : msg_(msg) {}
  void Note(const char* reason) {
    ++count_;
    const SteadyTime now = std::chrono::steady_clock::now();
    if (now - last_ < kLogEvery) return;
    last_ = now;
    log::Warn(msg_, {{"reason", reason}, {"count", static_cast<unsigned long long>(count_)}});
    count_ = 0;
  }

 private:
  const char* msg_;
  std::uint64_t count_ = 0;
  SteadyTime last_{};
};

}  // namespace

class HttpServer::Impl : public std::enable_shared_from_this<HttpServer::Impl> {
 public:
  class SessionBase;
  template <class Stream>
  class Session;

  Impl(asio::io_context& io, HttpHandler handler, HttpServerOptions options)
      : io_(io),
        acceptor_(io),
        accept_retry_(io),
        handler_(std::move(handler)),
        options_(options),
        settings_(std::make_shared<Settings>()) {}

  bool Configure(const WebConfig& web, std::string* error);
  bool Start(const std::string& address, std::string* bound, std::string* error);
  void Stop();
  bool loopback() const { return loopback_; }
  void JoinWorkers() {
    worker_.join();
    auth_worker_.join();
  }

  // Called by sessions, on the loop.
  const HttpServerOptions& options() const { return options_; }
  const std::shared_ptr<Settings>& settings() const { return settings_; }
  bool tls_enabled() const { return settings_->tls != nullptr; }
  // Fills req.user, then calls done(req, overloaded) on the loop (at once, or after bcrypt).
  void Authenticate(HttpRequest req, const std::string& cert_user,
                    std::function<void(HttpRequest, bool)> done);
  HttpResponse Handle(const HttpRequest& req);
  // Runs r.render on the worker thread, then done(r) on the loop.
  void RenderOffLoop(HttpResponse r, std::function<void(HttpResponse)> done);
  void Forget(std::uint64_t id) {
    sessions_.erase(id);
    streams_.erase(id);
  }

  // Event streams, on the loop. AdmitStream: false (counted) when one more from `ip` would
  // exceed a stream bound; else the caller must AddStream.
  bool AdmitStream(const std::string& ip);
  void AddStream(std::uint64_t id, std::weak_ptr<SessionBase> s) {
    streams_[id] = std::move(s);
    ++streams_opened_;
  }
  void NoteSlowStream(const char* why) {
    ++streams_dropped_slow_;
    slow_stream_.Note(why);
  }
  void Broadcast(const SharedText& frame);
  StreamStats stream_stats() const;
  bool has_streams() const;

 private:
  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  // Closes the longest-idle connection where a bound would be exceeded by one more from `ip`.
  // False when that is impossible (every connection there is answering a request).
  bool MakeRoom(const std::string& ip);
  // The connections of `sessions` still open (locked: none leaves while the caller holds them).
  static std::vector<std::shared_ptr<SessionBase>> Open(
      const std::map<std::uint64_t, std::weak_ptr<SessionBase>>& sessions);
  std::vector<std::shared_ptr<SessionBase>> OpenSessions() const { return Open(sessions_); }
  std::vector<std::shared_ptr<SessionBase>> OpenStreams() const { return Open(streams_); }

  asio::io_context& io_;
  asio::thread_pool worker_{1};       // renders bodies (/metrics)
  asio::thread_pool auth_worker_{1};  // bcrypt
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;   // after an accept error (e.g. out of file descriptors)
  HttpHandler handler_;
  HttpServerOptions options_;
  std::shared_ptr<Settings> settings_;
  bool stopped_ = false;
  bool loopback_ = false;
  std::size_t pending_auth_ = 0;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, std::weak_ptr<SessionBase>> sessions_;  // open connections
  std::map<std::uint64_t, std::weak_ptr<SessionBase>> streams_;   // those that are event streams
  std::uint64_t streams_opened_ = 0;
  std::uint64_t streams_dropped_slow_ = 0;
  std::uint64_t streams_refused_ = 0;
  RateLimitedWarning slow_stream_{"http event stream dropped: client too slow"};
  RateLimitedWarning stream_refused_{"http event stream refused"};
  RateLimitedWarning evicted_{"http connection closed to make room"};
  RateLimitedWarning refused_{"http connection refused"};
  RateLimitedWarning accept_failed_{"http accept failed"};
  RateLimitedWarning auth_busy_{"http authentication overloaded"};
};

// What the server needs to know of every connection, whatever its stream.
class HttpServer::Impl::SessionBase {
 public:
  SessionBase(std::weak_ptr<Impl> server, std::uint64_t id, std::string ip, std::string remote)
      : server_(std::move(server)), id_(id), ip_(std::move(ip)), remote_(std::move(remote)) {}
  virtual ~SessionBase() {
    if (auto s = server_.lock()) s->Forget(id_);
  }
  SessionBase(const SessionBase&) = delete;
  SessionBase& operator=(const SessionBase&) = delete;

  virtual void Begin() = 0;
  virtual void Close() = 0;
  // An event stream: queue one frame for writing (drops the client when it is too far behind).
  virtual void Push(const SharedText& frame) = 0;

  const std::string& ip() const { return ip_; }
  bool closed() const { return closed_; }
  // Not answering a request (waiting for one, or reading it): may be closed to make room.
  bool idle() const { return !busy_ && !closed_; }
  SteadyTime idle_since() const { return idle_since_; }
  // An event stream (never idle): outside the connection bounds, in the streams' own.
  bool streaming() const { return streaming_; }

 protected:
  std::weak_ptr<Impl> server_;
  std::uint64_t id_;
  std::string ip_;
  std::string remote_;  // "ip:port"
  bool busy_ = false;
  bool closed_ = false;
  bool streaming_ = false;
  SteadyTime idle_since_ = std::chrono::steady_clock::now();
};

// One connection: (TLS handshake,) read a request, authenticate it, answer it, repeat until
// the peer closes, a deadline passes, the server needs the room or stops.
template <class Stream>
class HttpServer::Impl::Session : public SessionBase,
                                  public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Session(tcp::socket socket, std::shared_ptr<ssl::context> tls, std::weak_ptr<Impl> server,
          std::uint64_t id, std::string ip, std::string remote)
      : SessionBase(std::move(server), id, std::move(ip), std::move(remote)),
        stream_(MakeStream(std::move(socket), tls.get())),
        tls_(std::move(tls)) {}

  void Begin() override {
    auto server = server_.lock();
    if (!server) return;
    Lowest().expires_after(server->options().header_timeout);
    if constexpr (kTls) {
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                self->OnHandshake(ec);
                              });
    } else {
      DoRead();
    }
  }

  void Close() override {
    closed_ = true;
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    Lowest().socket().close(ec);
  }

 private:
  static Stream MakeStream(tcp::socket socket, ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(PlainStream(std::move(socket)), *tls);
    } else {
      (void)tls;
      return Stream(std::move(socket));
    }
  }
  PlainStream& Lowest() { return beast::get_lowest_layer(stream_); }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      log::Debug("http tls handshake failed", {{"remote", remote_}, {"error", ec.message()}});
      Close();
      return;
    }
    if constexpr (kTls) cert_user_ = VerifiedPeerName(stream_.native_handle());
    DoRead();
  }

  void DoRead() {
    auto server = server_.lock();
    if (!server || closed_) return;
    busy_ = false;
    idle_since_ = std::chrono::steady_clock::now();
    parser_.emplace();
    LimitParser(*parser_);
    const HttpServerOptions& o = server->options();
    Lowest().expires_after(trusted_ ? o.idle_timeout : o.header_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code e, std::size_t) {
                              self->OnHeader(e);
                            });
  }

  void OnHeader(beast::error_code ec) {
    auto server = server_.lock();
    if (ec || !server) {
      OnReadError(ec);
      return;
    }
    Lowest().expires_after(server->options().idle_timeout);  // for the body
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code e, std::size_t) {
                       self->OnRead(e);
                     });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      Reply(413, "request too large");
      return;
    }
    if (ec && ec.category() == beast::http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      Reply(400, "malformed request: " + ec.message());
      return;
    }
    // end_of_stream, timeout, operation_aborted (Stop, eviction) and resets end the session.
    if (ec && ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
        ec != beast::error::timeout) {
      log::Debug("http read failed", {{"remote", remote_}, {"error", ec.message()}});
    }
    Close();
  }

  // An error answer that ends the connection.
  void Reply(int status, std::string_view error) {
    busy_ = true;
    keep_alive_ = false;
    head_ = false;
    HttpResponse r;
    r.status = status;
    r.body = ErrorJson(error);
    Send(std::move(r));
  }

  void OnRead(beast::error_code ec) {
    auto server = server_.lock();
    if (ec || !server) {
      OnReadError(ec);
      return;
    }
    busy_ = true;
    const http::request<http::string_body>& req = parser_->get();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    head_ = req.method() == http::verb::head;
    HttpRequest in = Translate(req);
    in.remote = remote_;
    in.tls = kTls;
    server->Authenticate(std::move(in), cert_user_,
                         [self = this->shared_from_this()](HttpRequest r, bool overloaded) {
                           self->Dispatch(std::move(r), overloaded);
                         });
  }

  void Dispatch(HttpRequest req, bool overloaded) {
    auto server = server_.lock();
    if (!server || closed_) {
      Close();
      return;
    }
    if (overloaded) {
      HttpResponse r;
      r.status = 503;
      r.body = R"({"error":"too many authentications in progress; retry"})";
      r.headers.emplace_back("Retry-After", "1");
      Send(std::move(r));
      return;
    }
    trusted_ = trusted_ || !req.user.empty() || !server->settings()->auth.enabled();
    HttpResponse out = server->Handle(req);
    if (out.event_stream) {
      BeginStream(std::move(out));
      return;
    }
    if (out.render) {
      server->RenderOffLoop(std::move(out), [self = this->shared_from_this()](HttpResponse r) {
        self->Send(std::move(r));
      });
      return;
    }
    Send(std::move(out));
  }

  void Send(HttpResponse r) {
    auto server = server_.lock();
    if (!server || closed_) {
      Close();
      return;
    }
    res_ = {};
    res_.version(version_);
    res_.result(static_cast<http::status>(r.status));
    res_.set(http::field::server, "needlewatch");
    if (r.status != 204) res_.set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : server->settings()->headers) res_.set(name, value);
    for (const auto& [name, value] : r.headers) res_.set(name, value);
    res_.body() = std::move(r.body);
    res_.keep_alive(keep_alive_);
    res_.prepare_payload();
    // HEAD: the headers of a GET, Content-Length included, and no body (RFC 9110 §9.3.2).
    if (head_) res_.body().clear();
    Lowest().expires_after(server->options().idle_timeout);
    http::async_write(stream_, res_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        self->OnWrite(ec);
                      });
  }

  void OnWrite(beast::error_code ec) {
    auto server = server_.lock();
    // After TLS was switched on or off, connections of the old kind end with this answer.
    if (ec || !keep_alive_ || !server || server->tls_enabled() != kTls) {
      Close();
      return;
    }
    DoRead();
  }

  // --- Event stream: from here on the connection only writes frames (and reads only to
  // notice the client going). Everything below runs on the loop.

  // Registered in the same handler as the route that made r.frames, so no broadcast frame
  // falls in between.
  void BeginStream(HttpResponse r) {
    auto server = server_.lock();
    if (!server || closed_) {
      Close();
      return;
    }
    if (!server->AdmitStream(ip_)) {
      HttpResponse busy;
      busy.status = 503;
      busy.body = ErrorJson("too many event streams open; retry later");
      busy.headers.emplace_back("Retry-After", "5");
      Send(std::move(busy));
      return;
    }
    const HttpServerOptions& o = server->options();
    streaming_ = true;
    busy_ = true;
    queue_ = FrameQueue(o.stream_queue_frames, o.stream_queue_bytes);
    std::vector<std::pair<std::string, std::string>> headers = server->settings()->headers;
    headers.insert(headers.end(), r.headers.begin(), r.headers.end());
    // The head and the first frames go out in one write, whatever their size.
    in_flight_.clear();
    in_flight_.push_back(std::make_shared<const std::string>(EventStreamHead(headers)));
    for (SharedText& f : r.frames) in_flight_.push_back(std::move(f));
    server->AddStream(id_, this->weak_from_this());
    Lowest().expires_never();  // no read deadline; each write sets its own (WriteInFlight)
    WatchClose();
    WriteInFlight();
  }

  void Push(const SharedText& frame) override {
    if (closed_ || !streaming_) return;
    if (!queue_.Push(frame)) {
      DropSlow("its queue is full");
      return;
    }
    if (!writing_) {
      in_flight_ = queue_.TakeAll();
      WriteInFlight();
    }
  }

  void WriteInFlight() {
    auto server = server_.lock();
    if (!server || closed_) return;
    writing_ = true;
    buffers_.clear();
    for (const SharedText& f : in_flight_) buffers_.push_back(asio::buffer(*f));
    // Only the write is timed (a read is pending): a client that takes nothing for this long
    // is gone or stuck.
    Lowest().expires_after(server->options().idle_timeout);
    asio::async_write(stream_, buffers_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        self->OnStreamWrite(ec);
                      });
  }

  void OnStreamWrite(beast::error_code ec) {
    writing_ = false;
    in_flight_.clear();
    if (ec) {
      if (ec == beast::error::timeout) DropSlow("a write timed out");
      Close();
      return;
    }
    if (closed_ || queue_.empty()) return;
    in_flight_ = queue_.TakeAll();
    WriteInFlight();
  }

  // Reads (and discards) until the client closes or the connection fails.
  void WatchClose() {
    stream_.async_read_some(asio::buffer(discard_),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) {
                                self->Close();
                                return;
                              }
                              self->WatchClose();
                            });
  }

  void DropSlow(const char* why) {
    if (closed_) return;
    if (auto server = server_.lock()) server->NoteSlowStream(why);
    log::Debug("http event stream dropped", {{"remote", remote_}, {"reason", why}});
    Close();
  }

  Stream stream_;
  std::shared_ptr<ssl::context> tls_;  // keeps the context of this connection alive
  beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  http::response<http::string_body> res_;
  std::string cert_user_;  // CN of a verified client certificate
  bool trusted_ = false;   // sent an authenticated request: the longer idle timeout applies
  bool keep_alive_ = false;
  unsigned version_ = 11;
  bool head_ = false;  // the request being answered is a HEAD
  // Event stream.
  FrameQueue queue_;
  std::vector<SharedText> in_flight_;  // being written
  std::vector<asio::const_buffer> buffers_;
  std::array<char, 512> discard_{};
  bool writing_ = false;
};

bool HttpServer::Impl::Configure(const WebConfig& web, std::string* error) {
  auto s = std::make_shared<Settings>();
  s->auth = BasicAuthenticator(web.users);
  s->headers = web.headers;
  if (web.tls) {
    const TlsServerConfig& t = *web.tls;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    beast::error_code ec;
    auto fail = [&](const std::string& key, const std::string& file) {
      *error = web.source + ": tls_server_config." + key + " \"" + file +
               "\": cannot load: " + ec.message();
      return false;
    };
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                     ec);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native,
                                  t.min_version == "TLS13" ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(native,
                                  t.max_version == "TLS12" ? TLS1_2_VERSION : TLS1_3_VERSION);
    ctx->use_certificate_chain_file(t.cert_file, ec);
    if (ec) return fail("cert_file", t.cert_file);
    ctx->use_private_key_file(t.key_file, ssl::context::pem, ec);
    if (ec) return fail("key_file", t.key_file);
    if (SSL_CTX_check_private_key(native) != 1) {
      *error = web.source + ": tls_server_config.key_file \"" + t.key_file +
               "\": does not match the certificate in cert_file";
      return false;
    }
    if (!t.client_ca_file.empty()) {
      ctx->load_verify_file(t.client_ca_file, ec);
      if (ec) return fail("client_ca_file", t.client_ca_file);
      // Tell clients which CA we accept (the names go into the CertificateRequest).
      SSL_CTX_set_client_CA_list(native, SSL_load_client_CA_file(t.client_ca_file.c_str()));
    }
    ssl::verify_mode mode = ssl::verify_none;
    if (t.client_auth == ClientAuth::kVerifyIfGiven) mode = ssl::verify_peer;
    if (t.client_auth == ClientAuth::kRequireAndVerify) {
      mode = ssl::verify_peer | ssl::verify_fail_if_no_peer_cert;
    }
    ctx->set_verify_mode(mode, ec);
    if (ec) return fail("client_auth_type", "");
    s->tls = std::move(ctx);
  }
  const bool switched = (s->tls != nullptr) != tls_enabled();
  settings_ = std::move(s);
  // Streams were authenticated under the old users: they reconnect (and resume) under the new.
  for (auto& stream : OpenStreams()) stream->Close();
  if (switched) {
    // Open connections of the other kind: idle ones end now, busy ones after their answer.
    for (auto& session : OpenSessions()) {
      if (session->idle()) session->Close();
    }
  }
  return true;
}

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
  const tcp::endpoint local = acceptor_.local_endpoint(ec);
  loopback_ = local.address().is_loopback();
  *bound = EndpointString(local);
  DoAccept();
  return true;
}

void HttpServer::Impl::DoAccept() {
  acceptor_.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    self->OnAccept(ec, std::move(socket));
  });
}

void HttpServer::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (stopped_ || !acceptor_.is_open()) return;
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    // Out of file descriptors or memory: accepting again at once would spin. Wait a moment.
    accept_failed_.Note(ec.message().c_str());
    accept_retry_.expires_after(kAcceptRetry);
    accept_retry_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e && !self->stopped_) self->DoAccept();
    });
    return;
  }
  beast::error_code peer_ec;
  const tcp::endpoint peer = socket.remote_endpoint(peer_ec);
  if (peer_ec) {  // already gone
    DoAccept();
    return;
  }
  std::string ip = peer.address().to_string();
  if (!MakeRoom(ip)) {
    refused_.Note("every connection is answering a request");
    beast::error_code ignored;
    socket.close(ignored);
  } else {
    const std::uint64_t id = next_id_++;
    std::shared_ptr<SessionBase> session;
    if (settings_->tls) {
      auto s = std::make_shared<Session<TlsStream>>(std::move(socket), settings_->tls,
                                                    weak_from_this(), id, std::move(ip),
                                                    EndpointString(peer));
      session = s;
    } else {
      auto s = std::make_shared<Session<PlainStream>>(std::move(socket), nullptr,
                                                      weak_from_this(), id, std::move(ip),
                                                      EndpointString(peer));
      session = s;
    }
    sessions_[id] = session;
    session->Begin();
  }
  DoAccept();
}

std::vector<std::shared_ptr<HttpServer::Impl::SessionBase>> HttpServer::Impl::Open(
    const std::map<std::uint64_t, std::weak_ptr<SessionBase>>& sessions) {
  std::vector<std::shared_ptr<SessionBase>> open;
  open.reserve(sessions.size());
  for (const auto& [id, weak] : sessions) {
    if (auto s = weak.lock(); s && !s->closed()) open.push_back(std::move(s));
  }
  return open;
}

bool HttpServer::Impl::AdmitStream(const std::string& ip) {
  std::size_t total = 0;
  std::size_t from_ip = 0;
  for (const auto& s : OpenStreams()) {
    ++total;
    from_ip += s->ip() == ip ? 1 : 0;
  }
  if (total < options_.max_streams && from_ip < options_.max_streams_per_client) return true;
  ++streams_refused_;
  stream_refused_.Note(total >= options_.max_streams ? "max_streams" : "max_streams_per_client");
  return false;
}

void HttpServer::Impl::Broadcast(const SharedText& frame) {
  // Locked first: a stream closed by Push must not leave the map while it is walked.
  for (const auto& s : OpenStreams()) s->Push(frame);
}

StreamStats HttpServer::Impl::stream_stats() const {
  StreamStats st;
  st.open = OpenStreams().size();
  st.opened = streams_opened_;
  st.dropped_slow = streams_dropped_slow_;
  st.refused = streams_refused_;
  return st;
}

bool HttpServer::Impl::has_streams() const {
  for (const auto& [id, weak] : streams_) {
    if (auto s = weak.lock(); s && !s->closed()) return true;
  }
  return false;
}

bool HttpServer::Impl::MakeRoom(const std::string& ip) {
  const std::vector<std::shared_ptr<SessionBase>> open = OpenSessions();
  std::size_t total = open.size();
  std::size_t from_ip = 0;
  SessionBase* oldest_idle = nullptr;     // of all
  SessionBase* oldest_idle_ip = nullptr;  // of this address
  for (const auto& s : open) {
    if (s->streaming()) {  // in the streams' own bounds (AdmitStream)
      --total;
      continue;
    }
    const bool same = s->ip() == ip;
    from_ip += same ? 1 : 0;
    if (!s->idle()) continue;
    if (oldest_idle == nullptr || s->idle_since() < oldest_idle->idle_since()) {
      oldest_idle = s.get();
    }
    if (same && (oldest_idle_ip == nullptr || s->idle_since() < oldest_idle_ip->idle_since())) {
      oldest_idle_ip = s.get();
    }
  }
  if (from_ip >= options_.max_connections_per_client) {
    if (oldest_idle_ip == nullptr) return false;
    if (oldest_idle == oldest_idle_ip) oldest_idle = nullptr;
    oldest_idle_ip->Close();
    evicted_.Note("connections per client");
    --total;
  }
  if (total >= options_.max_connections) {
    if (oldest_idle == nullptr) {  // may have been the one closed above: look again
      for (const auto& s : open) {
        if (s->idle() && (oldest_idle == nullptr || s->idle_since() < oldest_idle->idle_since())) {
          oldest_idle = s.get();
        }
      }
    }
    if (oldest_idle == nullptr) return false;
    oldest_idle->Close();
    evicted_.Note("connections");
  }
  return true;
}

void HttpServer::Impl::Authenticate(HttpRequest req, const std::string& cert_user,
                                    std::function<void(HttpRequest, bool)> done) {
  std::shared_ptr<Settings> settings = settings_;
  if (!settings->auth.enabled()) {
    req.user = cert_user;
    done(std::move(req), false);
    return;
  }
  BasicAuthenticator::Attempt attempt;
  std::string user;
  switch (settings->auth.Check(req.Header("authorization"), &attempt, &user)) {
    case BasicAuthenticator::Result::kNoCredentials:
      done(std::move(req), false);
      return;
    case BasicAuthenticator::Result::kAccepted:
      req.user = std::move(user);
      done(std::move(req), false);
      return;
    case BasicAuthenticator::Result::kVerify:
      break;
  }
  if (pending_auth_ >= options_.max_pending_auth) {
    auth_busy_.Note("too many bcrypt checks waiting");
    done(std::move(req), true);
    return;
  }
  ++pending_auth_;
  // The worker holds no reference to this Impl (it must never be the one to destroy it).
  asio::post(auth_worker_, [&io = io_, server = weak_from_this(), settings = std::move(settings),
                            attempt = std::move(attempt), req = std::move(req),
                            done = std::move(done)]() mutable {
    const bool ok = BasicAuthenticator::Verify(attempt);
    asio::post(io, [server = std::move(server), settings = std::move(settings), ok,
                    attempt = std::move(attempt), req = std::move(req),
                    done = std::move(done)]() mutable {
      if (auto s = server.lock()) --s->pending_auth_;
      if (ok) {
        settings->auth.Remember(attempt);
        req.user = attempt.user;
      } else {
        log::Debug("http authentication failed", {{"user", attempt.user}, {"remote", req.remote}});
      }
      done(std::move(req), false);
    });
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
  accept_retry_.cancel();
  for (auto& s : OpenSessions()) s->Close();
}

HttpServer::HttpServer(asio::io_context& io, HttpHandler handler, HttpServerOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(handler), options)) {}

HttpServer::~HttpServer() {
  impl_->Stop();
  // A render or bcrypt check in progress finishes and posts its result to the loop (where it
  // is then never written).
  impl_->JoinWorkers();
}

bool HttpServer::Configure(const WebConfig& web, std::string* error) {
  return impl_->Configure(web, error);
}

bool HttpServer::Start(const std::string& address, std::string* bound, std::string* error) {
  return impl_->Start(address, bound, error);
}

bool HttpServer::loopback() const { return impl_->loopback(); }

void HttpServer::Stop() { impl_->Stop(); }

void HttpServer::Broadcast(const SharedText& frame) { impl_->Broadcast(frame); }

StreamStats HttpServer::stream_stats() const { return impl_->stream_stats(); }

bool HttpServer::has_streams() const { return impl_->has_streams(); }

std::optional<HttpRequest> ParseHttpRequest(std::string_view bytes, std::string* error) {
  Parser p;
  LimitParser(p);
  p.eager(true);
  beast::error_code ec;
  std::size_t used = 0;
  while (!p.is_done() && used < bytes.size()) {
    const std::size_t n = p.put(asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) {
      ec = {};
      if (n == 0) break;
      continue;
    }
    if (ec) break;
  }
  if (!ec && !p.is_done() && p.is_header_done()) p.put_eof(ec);  // a body that ends at EOF
  if (ec || !p.is_done()) {
    *error = ec ? ec.message() : "incomplete request";
    return std::nullopt;
  }
  return Translate(p.get());
}

}  // namespace needlewatch::daemon
