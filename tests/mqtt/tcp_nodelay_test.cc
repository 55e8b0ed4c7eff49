#include "needlewatch/mqtt/tcp_nodelay.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace needlewatch::broker {
namespace {

int NoDelay(int fd) {
  int v = -1;
  socklen_t len = sizeof v;
  EXPECT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
  return v;
}

TEST(TcpNoDelay, ConnectedSocketsGetNoDelayAndListenersAreLeftAlone) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const int accepted = accept(listener, nullptr, nullptr);
  ASSERT_GE(accepted, 0);
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);

  ASSERT_EQ(NoDelay(client), 0);  // the kernel's default: Nagle on
  EXPECT_GE(DisableNagleOnConnectedTcpSockets(), 2);
  EXPECT_EQ(NoDelay(client), 1);
  EXPECT_EQ(NoDelay(accepted), 1);
  EXPECT_EQ(NoDelay(listener), 0);

  for (int fd : {client, accepted, listener, pair[0], pair[1]}) close(fd);
}

}  // namespace
}  // namespace needlewatch::broker
