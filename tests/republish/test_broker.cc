#include "test_broker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

namespace needlewatch::republish::testing {

namespace {

bool CanConnect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// Waits for `pid` to exit, at most `timeout`; true when it did.
bool Reap(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || r < 0) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // bounded poll on exit
  }
}

}  // namespace

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

TestBroker::TestBroker(bool tls) : tls_(tls) {
  char tmpl[] = "/tmp/nw-republish-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  if (tls_ && !MakeCertificates()) {
    ADD_FAILURE() << "openssl could not make the test certificates in " << dir_;
    return;
  }
  // Another process may take the port between FreeLoopbackPort() and mosquitto's bind: retry.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (Start()) return;
  }
  ADD_FAILURE() << "mosquitto did not start; log:\n" << Log();
}

bool TestBroker::MakeCertificates() {
  const std::string cd = "cd '" + dir_ + "' && ";
  const std::string quiet = " >>openssl.log 2>&1";
  const std::string steps[] = {
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=republish test CA' "
      "-keyout ca.key -out ca.crt",
      "openssl req -newkey rsa:2048 -nodes -subj '/CN=127.0.0.1' -keyout server.key "
      "-out server.csr",
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' "
      "> server.ext",
      "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
      "-extfile server.ext -out server.crt",
  };
  for (const std::string& step : steps) {
    if (std::system((cd + step + quiet).c_str()) != 0) return false;
  }
  return true;
}

bool TestBroker::Start() {
  port_ = FreeLoopbackPort();
  const std::string conf = dir_ + "/mosquitto.conf";
  {
    std::ofstream f(conf);
    f << "user root\nper_listener_settings true\npersistence false\nlog_dest stderr\n"
      << "log_type error\nlog_type warning\n"
      << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\n";
    if (tls_) {
      tls_port_ = FreeLoopbackPort();
      f << "listener " << tls_port_ << " 127.0.0.1\nallow_anonymous true\n"
        << "cafile " << dir_ << "/ca.crt\ncertfile " << dir_ << "/server.crt\nkeyfile " << dir_
        << "/server.key\n";
    }
  }
  const std::string log = dir_ + "/mosquitto.log";
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execlp("mosquitto", "mosquitto", "-c", conf.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;  // exited: port taken?
    if (CanConnect(port_) && (!tls_ || CanConnect(tls_port_))) {
      pid_ = pid;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // bounded readiness poll
  }
  ::kill(pid, SIGKILL);
  Reap(pid, std::chrono::seconds(5));
  return false;
}

void TestBroker::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  Reap(pid_, std::chrono::seconds(5));
  pid_ = -1;
}

TestBroker::~TestBroker() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    if (!Reap(pid_, std::chrono::seconds(5))) Kill();
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string TestBroker::Log() const {
  std::ifstream f(dir_ + "/mosquitto.log");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Subscriber::Subscriber(const std::string& url, const std::vector<std::string>& filters) {
  const std::string uri = "tcp://" + url.substr(url.find("://") + 3);
  client_ = std::make_unique<mqtt::async_client>(uri, "republish-test-sub",
                                                 mqtt::create_options(MQTTVERSION_5));
  client_->set_message_callback([this](mqtt::const_message_ptr m) {
    Received r{m->get_topic(), m->to_string(), m->get_qos(), m->is_retained(),
               std::chrono::steady_clock::now()};
    {
      std::lock_guard<std::mutex> lock(mu_);
      received_.push_back(std::move(r));
    }
    cv_.notify_all();
  });
  try {
    auto opts = mqtt::connect_options_builder()
                    .mqtt_version(MQTTVERSION_5)
                    .clean_start(true)
                    .connect_timeout(std::chrono::seconds(5))
                    .finalize();
    if (!client_->connect(opts)->wait_for(std::chrono::seconds(10))) return;
    for (const std::string& f : filters) {
      const mqtt::subscribe_options so(/*noLocal=*/false, /*retainAsPublished=*/true);
      if (!client_->subscribe(f, 2, so)->wait_for(std::chrono::seconds(10))) return;
    }
    ok_ = true;
  } catch (const mqtt::exception& e) {
    ADD_FAILURE() << "subscriber: " << e.what();
  }
}

Subscriber::~Subscriber() {
  try {
    if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(5));
  } catch (const mqtt::exception&) {
  }
}

std::vector<Received> Subscriber::WaitFor(std::size_t n, std::chrono::seconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return received_.size() >= n; });
  return received_;
}

}  // namespace needlewatch::republish::testing
