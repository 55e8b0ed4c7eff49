// The HTTP server's event streams over real loopback sockets (label integration): the head and
// first frames, broadcasts in order, a slow reader dropped and counted, and the streams' own
// connection bounds (they neither take API clients' room nor are closed for it). The server
// runs on its io_context on a thread of its own; the test talks to it with plain blocking
// sockets (receive timeouts bound every wait) and posts Broadcast to the loop.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "http_server.h"

namespace needlewatch::daemon {
namespace {

namespace asio = boost::asio;
using std::chrono::steady_clock;

constexpr auto kWait = std::chrono::seconds(10);

SharedText Text(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

// A blocking client socket; every read gives up after kWait.
class Client {
 public:
  explicit Client(int port, std::optional<int> rcvbuf = std::nullopt) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{static_cast<time_t>(kWait.count()), 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (rcvbuf) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &*rcvbuf, sizeof *rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  void Send(std::string_view s) { ASSERT_EQ(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size())); }
  void Get(std::string_view path) {
    Send("GET " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  }
  // Reads until `needle` is in what was read (returns all of it), or EOF/timeout (returns
  // what there is; the caller's expectation then fails).
  std::string ReadUntil(std::string_view needle) {
    while (got_.find(needle) == std::string::npos) {
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      got_.append(buf, static_cast<std::size_t>(n));
    }
    return got_;
  }
  // Reads (and discards) until the server closes; false on timeout.
  bool ReadToEof() {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return true;
      if (n < 0) return false;
    }
  }
  void Reset() { got_.clear(); }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string got_;
};

struct StreamServer : ::testing::Test {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
  std::unique_ptr<HttpServer> server;
  std::thread loop;
  int port = 0;

  void Start(HttpServerOptions o) {
    server = std::make_unique<HttpServer>(
        io,
        [](const HttpRequest& r) {
          HttpResponse res;
          if (r.target == "/events") {
            res.event_stream = true;
            res.frames = {Text("retry: 2000\n\n"), Text("id: 7\nevent: first\ndata: {}\n\n")};
          } else {
            res.body = R"({"ok":true})";
          }
          return res;
        },
        o);
    std::string bound, error;
    ASSERT_TRUE(server->Configure(WebConfig{}, &error)) << error;
    ASSERT_TRUE(server->Start("127.0.0.1:0", &bound, &error)) << error;
    port = std::stoi(bound.substr(bound.rfind(':') + 1));
    loop = std::thread([this] { io.run(); });
  }

  template <class F>
  auto OnLoop(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(io, [&task] { task(); });
    return result.get();
  }

  void TearDown() override {
    if (!loop.joinable()) return;
    OnLoop([this] {
      server->Stop();
      return 0;
    });
    guard.reset();
    io.stop();
    loop.join();
    server.reset();
  }

  void Broadcast(std::string frame) {
    OnLoop([this, f = Text(std::move(frame))] {
      server->Broadcast(f);
      return 0;
    });
  }
  StreamStats Stats() {
    return OnLoop([this] { return server->stream_stats(); });
  }
  // Bounded poll of the server's stream figures (the server notices a closed peer on its loop).
  bool WaitStats(const std::function<bool(const StreamStats&)>& pred) {
    const auto deadline = steady_clock::now() + kWait;
    while (steady_clock::now() < deadline) {
      if (pred(Stats())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
};

TEST_F(StreamServer, AStreamGetsItsHeadAndFirstFramesThenEveryBroadcastInOrder) {
  Start({});
  Client c(port);
  ASSERT_TRUE(c.connected());
  c.Get("/events");
  std::string got = c.ReadUntil("event: first\ndata: {}\n\n");
  ASSERT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("Content-Type: text/event-stream"), std::string::npos);
  const std::size_t body = got.find("\r\n\r\n") + 4;
  EXPECT_EQ(got.substr(body), "retry: 2000\n\nid: 7\nevent: first\ndata: {}\n\n");
  EXPECT_EQ(Stats().open, 1u);

  Broadcast("id: 8\nevent: a\ndata: 1\n\n");
  Broadcast("id: 9\nevent: b\ndata: 2\n\n");
  got = c.ReadUntil("data: 2\n\n");
  EXPECT_EQ(got.substr(body),
            "retry: 2000\n\nid: 7\nevent: first\ndata: {}\n\nid: 8\nevent: a\ndata: 1\n\n"
            "id: 9\nevent: b\ndata: 2\n\n");
}

TEST_F(StreamServer, AClosedClientLeavesTheStreams) {
  Start({});
  {
    Client c(port);
    c.Get("/events");
    c.ReadUntil("event: first");
    EXPECT_EQ(Stats().open, 1u);
    EXPECT_TRUE(OnLoop([this] { return server->has_streams(); }));
  }
  EXPECT_TRUE(WaitStats([](const StreamStats& s) { return s.open == 0; }));
  EXPECT_FALSE(OnLoop([this] { return server->has_streams(); }));
  const StreamStats s = Stats();
  EXPECT_EQ(s.opened, 1u);
  EXPECT_EQ(s.dropped_slow, 0u);
}

TEST_F(StreamServer, AClientThatStopsReadingIsDroppedAndCounted) {
  HttpServerOptions o;
  o.stream_queue_frames = 2;
  o.stream_queue_bytes = 1 << 20;
  Start(o);
  Client slow(port, 4096);  // a small receive buffer: the socket fills soon
  slow.Get("/events");
  slow.ReadUntil("event: first");  // then reads nothing more
  Client reader(port);
  reader.Get("/events");
  reader.ReadUntil("event: first");
  ASSERT_EQ(Stats().open, 2u);

  // Broadcast until the slow one is dropped: its socket buffers fill, then its queue (2 frames).
  // The other keeps reading, and stays.
  const std::string big(256 * 1024, 'x');
  int sent = 0;
  std::thread drain([&] { reader.ReadUntil("data: end\n\n"); });
  while (Stats().dropped_slow == 0 && sent < 400) {
    Broadcast("data: " + big + "\n\n");
    ++sent;
  }
  Broadcast("data: end\n\n");
  drain.join();
  const StreamStats s = Stats();
  EXPECT_EQ(s.dropped_slow, 1u) << "after " << sent << " frames of 256 KiB";
  EXPECT_EQ(s.open, 1u);
  EXPECT_NE(reader.ReadUntil("data: end\n\n").find("data: end\n\n"), std::string::npos);
  EXPECT_TRUE(slow.ReadToEof());  // what was in its buffers, then the end
}

TEST_F(StreamServer, StreamsHaveTheirOwnBoundsAndNeverTakeTheRoomOfApiClients) {
  HttpServerOptions o;
  o.max_connections = 2;
  o.max_connections_per_client = 2;
  o.max_streams = 2;
  o.max_streams_per_client = 2;
  Start(o);
  Client s1(port), s2(port);
  s1.Get("/events");
  s2.Get("/events");
  s1.ReadUntil("event: first");
  s2.ReadUntil("event: first");

  // A third stream is refused with 503 and a retry hint.
  Client s3(port);
  s3.Get("/events");
  const std::string refused = s3.ReadUntil("\r\n\r\n");
  EXPECT_EQ(refused.rfind("HTTP/1.1 503", 0), 0u) << refused;
  EXPECT_NE(refused.find("Retry-After: 5"), std::string::npos);
  EXPECT_EQ(Stats().refused, 1u);

  // API clients: two connections (max_connections) beside the two streams, then a third that
  // takes the room of the idle API connection, never of a stream.
  Client a1(port), a2(port);
  a1.Get("/api");
  a2.Get("/api");
  EXPECT_NE(a1.ReadUntil(R"({"ok":true})").find("200 OK"), std::string::npos);
  EXPECT_NE(a2.ReadUntil(R"({"ok":true})").find("200 OK"), std::string::npos);
  Client a3(port);
  a3.Get("/api");
  EXPECT_NE(a3.ReadUntil(R"({"ok":true})").find("200 OK"), std::string::npos);
  EXPECT_EQ(Stats().open, 2u);
  Broadcast("data: still\n\n");
  EXPECT_NE(s1.ReadUntil("data: still").find("data: still"), std::string::npos);
  EXPECT_NE(s2.ReadUntil("data: still").find("data: still"), std::string::npos);
}

TEST_F(StreamServer, ANewWebConfigurationClosesEveryStreamSoItReconnectsUnderIt) {
  Start({});
  Client c(port);
  c.Get("/events");
  c.ReadUntil("event: first");
  OnLoop([this] {
    std::string error;
    return server->Configure(WebConfig{}, &error);
  });
  EXPECT_TRUE(c.ReadToEof());
  EXPECT_TRUE(WaitStats([](const StreamStats& s) { return s.open == 0; }));
}

}  // namespace
}  // namespace needlewatch::daemon
