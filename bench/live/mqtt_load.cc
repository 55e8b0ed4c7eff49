// nw-mqtt-load: an MQTT 3.1.1 load generator and counting subscriber on raw sockets, for the
// live and peer benchmarks (bench/live, bench/peers via scripts/bench). C++ because a Python
// generator topped out near 10,000 msg/s on the shared 2-core machine.
//
//   nw-mqtt-load pub --port P --devices N --rate R --qos Q --duration S [--inflight W]
//                    [--clinic C] [--prefix X]
//     N devices, one TCP connection each, publish CONTRACT §2 telemetry (seq +1 per device) to
//     clinic/{C}/device/{X}{i:05}/telemetry at R messages/s in total, round robin. QoS 1: at
//     most W unacknowledged per connection; a device at its window is skipped. Prints
//     {"sent","acked","skipped","seconds","rate"}.
//   nw-mqtt-load sub --port P [--topic F] [--qos Q] [--expect N] [--timeout S] [--idle S]
//     Counts PUBLISH packets (acknowledging QoS 1); prints "ready" after the SUBACK, then
//     {"received","seconds","rate"} (first to last message).
// Single-threaded; loopback only. Not a test.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "nw-mqtt-load: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

void AppendRemainingLength(std::string& out, std::size_t n) {
  do {
    unsigned char b = n % 128;
    n /= 128;
    if (n > 0) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (n > 0);
}

void AppendString(std::string& out, const std::string& s) {
  out.push_back(static_cast<char>(s.size() >> 8));
  out.push_back(static_cast<char>(s.size() & 0xff));
  out += s;
}

std::string ConnectPacket(const std::string& client_id) {
  std::string body;
  AppendString(body, "MQTT");
  body += std::string("\x04\x02\x00\x00", 4);  // level 4, clean session, keepalive 0
  AppendString(body, client_id);
  std::string p = "\x10";
  AppendRemainingLength(p, body.size());
  return p + body;
}

void SendAll(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        fd_set set;  // the broker is behind: wait for room (backpressure)
        FD_ZERO(&set);
        FD_SET(fd, &set);
        select(fd + 1, nullptr, &set, nullptr, nullptr);
        continue;
      }
      Die("send");
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
}

void RecvExact(int fd, char* buf, std::size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, buf, n, 0);
    if (r <= 0) Die("recv (broker closed?)");
    buf += r;
    n -= static_cast<std::size_t>(r);
  }
}

int Connect(int port, const std::string& client_id) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) Die("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) Die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string c = ConnectPacket(client_id);
  SendAll(fd, c.data(), c.size());
  return fd;
}

void ExpectConnack(int fd) {
  char ack[4];
  RecvExact(fd, ack, 4);
  if (ack[0] != 0x20 || ack[3] != 0) {
    errno = ECONNREFUSED;
    Die("CONNACK");
  }
}

std::map<std::string, std::string> ParseFlags(int argc, char** argv) {
  std::map<std::string, std::string> f;
  for (int i = 2; i + 1 < argc; i += 2) f[argv[i]] = argv[i + 1];
  return f;
}

std::string Flag(const std::map<std::string, std::string>& f, const std::string& k,
                 const std::string& def) {
  auto it = f.find(k);
  return it == f.end() ? def : it->second;
}

void RaiseFileLimit(rlim_t want) {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur < want) {
    r.rlim_cur = (r.rlim_max == RLIM_INFINITY || r.rlim_max > want) ? want : r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

int RunPub(const std::map<std::string, std::string>& f) {
  const int port = std::stoi(Flag(f, "--port", "1883"));
  const int devices = std::stoi(Flag(f, "--devices", "100"));
  const double rate = std::stod(Flag(f, "--rate", "1000"));
  const int qos = std::stoi(Flag(f, "--qos", "0"));
  const double duration = std::stod(Flag(f, "--duration", "10"));
  const int window = std::stoi(Flag(f, "--inflight", "20"));
  const std::string clinic = Flag(f, "--clinic", "bench");
  const std::string prefix = Flag(f, "--prefix", "d");
  RaiseFileLimit(static_cast<rlim_t>(devices) + 1000);

  std::vector<int> fds(devices);
  std::vector<std::string> topics(devices), sessions(devices);
  for (int i = 0; i < devices; i += 500) {
    const int end = std::min(devices, i + 500);
    for (int d = i; d < end; ++d) {
      char name[64];
      std::snprintf(name, sizeof name, "%s%05d", prefix.c_str(), d);
      topics[d] = "clinic/" + clinic + "/device/" + name + "/telemetry";
      sessions[d] = std::string("S-") + name;
      fds[d] = Connect(port, "load-" + clinic + "-" + name);
    }
    for (int d = i; d < end; ++d) ExpectConnack(fds[d]);
  }
  int ep = epoll_create1(0);
  for (int d = 0; d < devices; ++d) {
    fcntl(fds[d], F_SETFL, O_NONBLOCK);
    if (qos > 0) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = static_cast<std::uint32_t>(d);
      epoll_ctl(ep, EPOLL_CTL_ADD, fds[d], &ev);
    }
  }
  std::printf("connected\n");  // the rate (and the caller's CPU window) starts here
  std::fflush(stdout);
  std::vector<std::uint32_t> seq(devices, 0);
  std::vector<int> inflight(devices, 0);
  std::vector<std::uint64_t> rx_bytes(devices, 0);
  std::uint64_t sent = 0, acked = 0, skipped = 0;
  int next = 0;
  std::vector<epoll_event> events(1024);
  char buf[65536];
  auto drain = [&](int timeout_ms) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), timeout_ms);
    for (int k = 0; k < n; ++k) {
      const int d = static_cast<int>(events[k].data.u32);
      for (;;) {
        ssize_t r = recv(fds[d], buf, sizeof buf, 0);
        if (r <= 0) break;
        const std::uint64_t before = rx_bytes[d] / 4;  // PUBACKs only, 4 bytes each
        rx_bytes[d] += static_cast<std::uint64_t>(r);
        const auto got = static_cast<int>(rx_bytes[d] / 4 - before);
        inflight[d] -= got;
        acked += static_cast<std::uint64_t>(got);
      }
    }
  };
  std::string pkt;
  char payload[256];
  const auto start = Clock::now();
  for (;;) {
    const double t = SecondsSince(start);
    if (t >= duration) break;
    auto due = static_cast<std::int64_t>(t * rate) - static_cast<std::int64_t>(sent + skipped);
    due = std::min<std::int64_t>(due, 2LL * devices);
    for (std::int64_t k = 0; k < due; ++k) {
      const int d = next;
      next = (next + 1) % devices;
      if (qos > 0 && inflight[d] >= window) {
        ++skipped;
        continue;
      }
      ++seq[d];
      const long long ts = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();
      const int plen = std::snprintf(
          payload, sizeof payload,
          "{\"v\":1,\"seq\":%u,\"ts\":%lld,\"session\":\"%s\",\"zone\":\"cheek\","
          "\"depth_mm\":0.5,\"speed_hz\":100.0}",
          seq[d], ts, sessions[d].c_str());
      pkt.assign(1, static_cast<char>(0x30 | (qos << 1)));
      AppendRemainingLength(pkt, 2 + topics[d].size() + (qos > 0 ? 2 : 0) +
                                     static_cast<std::size_t>(plen));
      AppendString(pkt, topics[d]);
      if (qos > 0) {
        const std::uint16_t pid = static_cast<std::uint16_t>(seq[d] % 65535 + 1);
        pkt.push_back(static_cast<char>(pid >> 8));
        pkt.push_back(static_cast<char>(pid & 0xff));
      }
      pkt.append(payload, static_cast<std::size_t>(plen));
      SendAll(fds[d], pkt.data(), pkt.size());
      ++inflight[d];
      ++sent;
    }
    if (qos > 0) {
      drain(1);
    } else {
      usleep(1000);  // pacing
    }
  }
  const double elapsed = SecondsSince(start);
  if (qos > 0) {
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (acked < sent && Clock::now() < deadline) drain(100);
  }
  for (int fd : fds) {
    SendAll(fd, "\xe0\x00", 2);  // DISCONNECT
    close(fd);
  }
  std::printf("{\"sent\": %llu, \"acked\": %s, \"skipped\": %llu, \"seconds\": %.3f, "
              "\"rate\": %.1f}\n",
              static_cast<unsigned long long>(sent),
              qos > 0 ? std::to_string(acked).c_str() : "null",
              static_cast<unsigned long long>(skipped), elapsed, sent / elapsed);
  return 0;
}

int RunSub(const std::map<std::string, std::string>& f) {
  const int port = std::stoi(Flag(f, "--port", "1883"));
  const std::string topic = Flag(f, "--topic", "clinic/+/device/+/telemetry");
  const int qos = std::stoi(Flag(f, "--qos", "0"));
  const std::uint64_t expect = std::stoull(Flag(f, "--expect", "18446744073709551615"));
  const double timeout = std::stod(Flag(f, "--timeout", "120"));
  const double idle = std::stod(Flag(f, "--idle", "3"));
  int fd = Connect(port, "load-sub-" + std::to_string(getpid()));
  ExpectConnack(fd);
  std::string sub = "\x82";
  std::string body("\x00\x01", 2);
  AppendString(body, topic);
  body.push_back(static_cast<char>(qos));
  AppendRemainingLength(sub, body.size());
  sub += body;
  SendAll(fd, sub.data(), sub.size());
  char suback[5];
  RecvExact(fd, suback, 5);
  std::printf("ready\n");
  std::fflush(stdout);
  timeval tv{0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string buf, acks;
  std::uint64_t received = 0;
  const auto start = Clock::now();
  Clock::time_point first{}, last{};
  bool any = false;
  std::vector<char> chunk(1 << 20);
  while (received < expect && SecondsSince(start) < timeout) {
    if (any && SecondsSince(last) > idle) break;
    ssize_t r = recv(fd, chunk.data(), chunk.size(), 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (r <= 0) break;
    buf.append(chunk.data(), static_cast<std::size_t>(r));
    std::size_t pos = 0;
    while (pos < buf.size()) {
      const auto h = static_cast<unsigned char>(buf[pos]);
      std::size_t rl = 0, mult = 1, j = pos + 1;
      bool complete = false;
      while (j < buf.size()) {
        const auto b = static_cast<unsigned char>(buf[j++]);
        rl += (b & 0x7f) * mult;
        mult *= 128;
        if (!(b & 0x80)) {
          complete = true;
          break;
        }
      }
      if (!complete || j + rl > buf.size()) break;
      if ((h >> 4) == 3) {
        ++received;
        if ((h >> 1) & 3) {
          const std::size_t tl = (static_cast<unsigned char>(buf[j]) << 8) |
                                 static_cast<unsigned char>(buf[j + 1]);
          acks += std::string("\x40\x02", 2);
          acks.append(buf, j + 2 + tl, 2);
        }
      }
      pos = j + rl;
    }
    buf.erase(0, pos);
    if (!acks.empty()) {
      SendAll(fd, acks.data(), acks.size());
      acks.clear();
    }
    last = Clock::now();
    if (!any) first = last;
    any = true;
  }
  const double secs = any ? std::chrono::duration<double>(last - first).count() : 0.0;
  std::printf("{\"received\": %llu, \"seconds\": %.3f, \"rate\": %s}\n",
              static_cast<unsigned long long>(received), secs,
              secs > 0 ? std::to_string(received / secs).c_str() : "null");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (std::strcmp(argv[1], "pub") != 0 && std::strcmp(argv[1], "sub") != 0)) {
    std::fprintf(stderr, "usage: nw-mqtt-load pub|sub --flag value ...\n");
    return 2;
  }
  const auto flags = ParseFlags(argc, argv);
  return std::strcmp(argv[1], "pub") == 0 ? RunPub(flags) : RunSub(flags);
}
