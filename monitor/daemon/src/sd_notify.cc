#include "sd_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdint>

namespace needlewatch::daemon::sd {
namespace {

// sd_notify: > 0 sent, 0 no $NOTIFY_SOCKET, < 0 -errno. The environment is left as it is
// (unset_environment = 0) so that every later call still finds the socket.
bool Notify(const char* state) { return sd_notify(0, state) > 0; }

}  // namespace

bool Ready() { return Notify("READY=1"); }
bool Stopping() { return Notify("STOPPING=1"); }
bool Watchdog() { return Notify("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> WatchdogInterval() {
  std::uint64_t usec = 0;
  // > 0 only when $WATCHDOG_USEC is set and $WATCHDOG_PID, if set, names this process.
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

}  // namespace needlewatch::daemon::sd
