// sd_notify.h against a real notification socket, as systemd would listen on it: each call
// sends its one datagram, and nothing is sent (false) without $NOTIFY_SOCKET.
#include "sd_notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace needlewatch::daemon::sd {
namespace {

class SdNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("nw-notify-" + std::to_string(::getpid()) + ".sock"))
                .string();
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(path_.size(), sizeof addr.sun_path);
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval timeout{2, 0};  // a missing datagram fails the test instead of hanging it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  std::string Receive() {
    char buf[256];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("<nothing>");
  }

  std::string path_;
  int fd_ = -1;
};

TEST_F(SdNotifyTest, EachCallSendsItsState) {
  EXPECT_TRUE(Ready());
  EXPECT_EQ(Receive(), "READY=1");
  EXPECT_TRUE(Watchdog());
  EXPECT_EQ(Receive(), "WATCHDOG=1");
  EXPECT_TRUE(Watchdog());  // the socket stays known: the environment is not cleared
  EXPECT_EQ(Receive(), "WATCHDOG=1");
  EXPECT_TRUE(Stopping());
  EXPECT_EQ(Receive(), "STOPPING=1");
}

TEST_F(SdNotifyTest, WithoutSystemdNothingIsSent) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(Ready());
  EXPECT_FALSE(Watchdog());
  EXPECT_FALSE(Stopping());
}

TEST_F(SdNotifyTest, WatchdogIntervalComesFromTheEnvironmentForThisProcessOnly) {
  EXPECT_EQ(WatchdogInterval(), std::nullopt);
  ::setenv("WATCHDOG_USEC", "30000000", 1);
  EXPECT_EQ(WatchdogInterval(), std::chrono::seconds(30));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(WatchdogInterval(), std::chrono::seconds(30));
  // Meant for another process (a parent that exec'd us without clearing it): not ours.
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_EQ(WatchdogInterval(), std::nullopt);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  ::setenv("WATCHDOG_USEC", "not-a-number", 1);
  EXPECT_EQ(WatchdogInterval(), std::nullopt);
}

}  // namespace
}  // namespace needlewatch::daemon::sd
