#include "needlewatch/mqtt/tcp_nodelay.h"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdlib>

namespace needlewatch::broker {
namespace {

bool IsConnectedTcpSocket(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return false;
  int listening = 0;
  len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening != 0) {
    return false;
  }
  sockaddr_storage addr{};
  len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  return addr.ss_family == AF_INET || addr.ss_family == AF_INET6;
}

}  // namespace

int DisableNagleOnConnectedTcpSockets() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  const int self_fd = dirfd(dir);
  int set = 0;
  while (const dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == self_fd) continue;
    const int ifd = static_cast<int>(fd);
    if (!IsConnectedTcpSocket(ifd)) continue;
    const int one = 1;
    if (setsockopt(ifd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) ++set;
  }
  closedir(dir);
  return set;
}

}  // namespace needlewatch::broker
