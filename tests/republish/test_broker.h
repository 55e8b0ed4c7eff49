// Test fixtures for republish: a real mosquitto on a free loopback port in a temp dir, and a
// Paho MQTT 5 subscriber that records what arrives (with retain-as-published, so the retain
// flag a publisher set is visible) and when. Integration tests only: these open sockets.
#ifndef NEEDLEWATCH_TESTS_REPUBLISH_TEST_BROKER_H_
#define NEEDLEWATCH_TESTS_REPUBLISH_TEST_BROKER_H_

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mqtt {
class async_client;
}

namespace needlewatch::republish::testing {

// A loopback TCP port nobody listens on right now (bind to port 0, read it back, close).
int FreeLoopbackPort();

// mosquitto 2.0 as a child process: anonymous, no persistence, log in its temp dir. Stopped
// (SIGTERM, then SIGKILL after 5 s) by the destructor. Construction fails the current test
// (ADD_FAILURE) when mosquitto does not accept connections within 10 s; check ok().
// With `tls`, a second listener speaks TLS with a throwaway CA (openssl) whose certificate
// names IP 127.0.0.1 and localhost.
class TestBroker {
 public:
  explicit TestBroker(bool tls = false);
  ~TestBroker();
  TestBroker(const TestBroker&) = delete;
  TestBroker& operator=(const TestBroker&) = delete;

  bool ok() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string url() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }
  std::string tls_url() const { return "mqtts://127.0.0.1:" + std::to_string(tls_port_); }
  std::string ca_file() const { return dir_ + "/ca.crt"; }
  // SIGKILL now (to test a broker that goes away).
  void Kill();
  std::string Log() const;

 private:
  bool Start();
  bool MakeCertificates();
  std::string dir_;
  bool tls_ = false;
  int port_ = 0;
  int tls_port_ = 0;
  pid_t pid_ = -1;
};

struct Received {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retain = false;
  std::chrono::steady_clock::time_point at;  // when Paho handed it over
};

// Subscribes (QoS 2, retain as published) to each filter and waits for the SUBACK, so nothing
// published afterwards is missed.
class Subscriber {
 public:
  Subscriber(const std::string& url, const std::vector<std::string>& filters);
  ~Subscriber();
  bool ok() const { return ok_; }
  // Waits (bounded) until at least `n` messages have arrived; returns all received so far.
  std::vector<Received> WaitFor(std::size_t n, std::chrono::seconds timeout);

 private:
  std::unique_ptr<mqtt::async_client> client_;
  bool ok_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> received_;  // guarded by mu_
};

}  // namespace needlewatch::republish::testing

#endif  // NEEDLEWATCH_TESTS_REPUBLISH_TEST_BROKER_H_
