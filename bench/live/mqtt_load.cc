// nw-mqtt-load: an MQTT 3.1.1 load generator and counting subscriber on raw sockets, for the
// live and peer benchmarks (bench/live, bench/peers via scripts/bench). C++ because a Python
// generator topped out near 10,000 msg/s on the shared 2-core machine.
//
//   nw-mqtt-load pub --port P --devices N --rate R --qos Q --duration S [--inflight W]
//                    [--clinic C] [--prefix X] [--storm-depth D]
//     N devices, one TCP connection each, publish protocol/README.md, Payloads telemetry (seq +1 per device) to
//     clinic/{C}/device/{X}{i:05}/telemetry at R messages/s in total, round robin. QoS 1: at
//     most W unacknowledged per connection; a device at its window is skipped. Depth is
//     0.5 mm; with --storm-depth every odd seq carries D instead (an alarm storm: with a limit
//     between the two, every sample changes an alarm). Prints
//     {"sent","acked","skipped","seconds","rate"}.
//   nw-mqtt-load sub --port P [--topic F] [--qos Q] [--expect N] [--timeout S] [--idle S]
//     Counts PUBLISH packets (acknowledging QoS 1); prints "ready" after the SUBACK, then
//     {"received","seconds","rate"} (first to last message).
//   nw-mqtt-load probe --port P [--count N] [--interval-ms I] [--qos Q] [--wait S]
//     Alarm latency: N unsafe samples for fresh devices, I ms apart; times each until its
//     depth_exceeded alarm topic arrives, and a one-hop echo beside it (see RunProbe).
//     Prints {"probes","received","p50_ms","p90_ms","p99_ms","max_ms","hop_*"}.
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
#include <string_view>
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

// Splits complete MQTT packets off the front of `buf`; calls on_publish(header, topic, body
// offset, body end) for each PUBLISH and returns the QoS 1 PUBACKs to send.
template <typename F>
std::string TakePublishes(std::string& buf, F&& on_publish) {
  std::string acks;
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
      const std::size_t tl =
          (static_cast<unsigned char>(buf[j]) << 8) | static_cast<unsigned char>(buf[j + 1]);
      on_publish(h, std::string_view(buf).substr(j + 2, tl));
      if ((h >> 1) & 3) {
        acks += std::string("\x40\x02", 2);
        acks.append(buf, j + 2 + tl, 2);
      }
    }
    pos = j + rl;
  }
  buf.erase(0, pos);
  return acks;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto k = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(k, v.size() - 1)];
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
  const std::string storm_depth = Flag(f, "--storm-depth", "");
  const double odd_depth = storm_depth.empty() ? 0.5 : std::stod(storm_depth);
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
          "\"depth_mm\":%g,\"speed_hz\":100.0}",
          seq[d], ts, sessions[d].c_str(), seq[d] % 2 == 1 ? odd_depth : 0.5);
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
  std::string buf;
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
    const std::string acks = TakePublishes(buf, [&](unsigned char, std::string_view) {
      ++received;
    });
    if (!acks.empty()) SendAll(fd, acks.data(), acks.size());
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


// Alarm latency probe: every --interval-ms, one unsafe telemetry sample (depth 2.0 mm on the
// cheek) for a fresh device clinic/probe/device/{X}{i}, and right after it one message on
// nwprobe/echo/{i}; a second connection subscribed to both the depth_exceeded alarm topics and
// the echo topic timestamps what comes back. Alarm latency = sample sent -> alarm received;
// the echo is one broker hop on the same machine at the same moment, the floor to compare
// with (the alarm takes two hops plus the daemon). One thread, one epoll, steady_clock: no
// interpreter or extra thread between the wire and the timestamps.
int RunProbe(const std::map<std::string, std::string>& f) {
  const int port = std::stoi(Flag(f, "--port", "1883"));
  const int count = std::stoi(Flag(f, "--count", "100"));
  const double interval_ms = std::stod(Flag(f, "--interval-ms", "50"));
  const int qos = std::stoi(Flag(f, "--qos", "1"));
  const std::string prefix = Flag(f, "--prefix", "p") + std::to_string(getpid()) + "x";
  const double wait_s = std::stod(Flag(f, "--wait", "10"));
  const int sub_fd = Connect(port, "probe-sub-" + std::to_string(getpid()));
  ExpectConnack(sub_fd);
  {
    std::string body("\x00\x01", 2);
    AppendString(body, "clinic/probe/device/+/alarm/depth_exceeded");
    body.push_back(1);
    AppendString(body, "nwprobe/echo/#");
    body.push_back(static_cast<char>(qos));
    std::string sub = "\x82";
    AppendRemainingLength(sub, body.size());
    sub += body;
    SendAll(sub_fd, sub.data(), sub.size());
    char suback[6];
    RecvExact(sub_fd, suback, 6);
  }
  const int pub_fd = Connect(port, "probe-pub-" + std::to_string(getpid()));
  ExpectConnack(pub_fd);
  fcntl(sub_fd, F_SETFL, O_NONBLOCK);
  fcntl(pub_fd, F_SETFL, O_NONBLOCK);
  const int ep = epoll_create1(0);
  for (int fd : {sub_fd, pub_fd}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  std::vector<Clock::time_point> sent(count), alarm_at(count), echo_at(count);
  std::vector<bool> got_alarm(count, false), got_echo(count, false);
  int alarms = 0, echoes = 0;
  std::string sub_buf;
  char chunk[65536];
  auto index_after = [](std::string_view s, std::size_t from) {
    int v = 0;
    for (std::size_t k = from; k < s.size() && s[k] >= '0' && s[k] <= '9'; ++k) {
      v = v * 10 + (s[k] - '0');
    }
    return v;
  };
  auto on_publish = [&](unsigned char h, std::string_view topic) {
    const auto now = Clock::now();
    if (topic.rfind("nwprobe/echo/", 0) == 0) {
      const int i = index_after(topic, 13);
      if (i < count && !got_echo[i]) {
        got_echo[i] = true;
        echo_at[i] = now;
        ++echoes;
      }
      return;
    }
    if (h & 1) return;  // retained: from an earlier run, not a reply
    // clinic/probe/device/{prefix}{i}/alarm/depth_exceeded
    const std::size_t at = topic.find(prefix);
    if (at == std::string_view::npos) return;
    const int i = index_after(topic, at + prefix.size());
    if (i < count && !got_alarm[i]) {
      got_alarm[i] = true;
      alarm_at[i] = now;
      ++alarms;
    }
  };
  auto drain = [&](int timeout_ms) {
    epoll_event evs[2];
    const int n = epoll_wait(ep, evs, 2, timeout_ms);
    for (int k = 0; k < n; ++k) {
      const int fd = evs[k].data.fd;
      for (;;) {
        const ssize_t r = recv(fd, chunk, sizeof chunk, 0);
        if (r <= 0) break;
        if (fd == sub_fd) sub_buf.append(chunk, static_cast<std::size_t>(r));
        // pub_fd: PUBACKs only; nothing to do with them.
      }
      if (fd == sub_fd) {
        const std::string acks = TakePublishes(sub_buf, on_publish);
        if (!acks.empty()) SendAll(sub_fd, acks.data(), acks.size());
      }
    }
  };
  const auto t0 = Clock::now();
  const auto step = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, std::milli>(interval_ms));
  std::string pkt;
  for (int i = 0; i < count; ++i) {
    const auto due = t0 + i * step;
    while (Clock::now() < due) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now());
      drain(static_cast<int>(std::max<std::int64_t>(0, left.count())));
    }
    const std::string dev = prefix + std::to_string(i);
    char payload[200];
    const long long ts = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
    const int plen = std::snprintf(payload, sizeof payload,
                                   "{\"v\":1,\"seq\":1,\"ts\":%lld,\"session\":\"S-%s\","
                                   "\"zone\":\"cheek\",\"depth_mm\":2.0,\"speed_hz\":100.0}",
                                   ts, dev.c_str());
    auto publish = [&](const std::string& topic, std::string_view body) {
      pkt.assign(1, static_cast<char>(0x30 | (qos << 1)));
      AppendRemainingLength(pkt, 2 + topic.size() + (qos > 0 ? 2 : 0) + body.size());
      AppendString(pkt, topic);
      if (qos > 0) {
        const auto pid = static_cast<std::uint16_t>(pkt.size() % 65535 + 1);  // any non-zero
        pkt.push_back(static_cast<char>(pid >> 8));
        pkt.push_back(static_cast<char>(pid & 0xff));
      }
      pkt.append(body);
      SendAll(pub_fd, pkt.data(), pkt.size());
    };
    sent[i] = Clock::now();
    publish("clinic/probe/device/" + dev + "/telemetry",
            std::string_view(payload, static_cast<std::size_t>(plen)));
    publish("nwprobe/echo/" + std::to_string(i), "e");
  }
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(wait_s));
  while ((alarms < count || echoes < count) && Clock::now() < deadline) drain(50);
  std::vector<double> lat, hop;
  for (int i = 0; i < count; ++i) {
    if (got_alarm[i]) {
      lat.push_back(std::chrono::duration<double, std::milli>(alarm_at[i] - sent[i]).count());
    }
    if (got_echo[i]) {
      hop.push_back(std::chrono::duration<double, std::milli>(echo_at[i] - sent[i]).count());
    }
  }
  std::printf(
      "{\"probes\": %d, \"received\": %zu, \"p50_ms\": %.3f, \"p90_ms\": %.3f, "
      "\"p99_ms\": %.3f, \"max_ms\": %.3f, \"hop_received\": %zu, \"hop_p50_ms\": %.3f, "
      "\"hop_p99_ms\": %.3f, \"hop_max_ms\": %.3f}\n",
      count, lat.size(), Percentile(lat, 50), Percentile(lat, 90), Percentile(lat, 99),
      lat.empty() ? 0.0 : *std::max_element(lat.begin(), lat.end()), hop.size(),
      Percentile(hop, 50), Percentile(hop, 99),
      hop.empty() ? 0.0 : *std::max_element(hop.begin(), hop.end()));
  for (int fd : {sub_fd, pub_fd}) {
    SendAll(fd, "\xe0\x00", 2);
    close(fd);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc >= 2 ? argv[1] : "";
  if (mode != "pub" && mode != "sub" && mode != "probe") {
    std::fprintf(stderr, "usage: nw-mqtt-load pub|sub|probe --flag value ...\n");
    return 2;
  }
  const auto flags = ParseFlags(argc, argv);
  if (mode == "probe") return RunProbe(flags);
  return mode == "pub" ? RunPub(flags) : RunSub(flags);
}
