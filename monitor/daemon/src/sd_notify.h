// The daemon's side of systemd's service protocol (sd_notify(3)), for the unit's Type=notify and
// WatchdogSec=: say when it is ready, when it is stopping, and that its event loop still turns.
// Without $NOTIFY_SOCKET (not started by systemd: a shell, a test, a container) every call
// does nothing and returns false. Thread-safe (each call is one datagram); the daemon calls them
// from its event loop only, so a watchdog ping proves that loop is alive.
#ifndef NEEDLEWATCH_DAEMON_SD_NOTIFY_H_
#define NEEDLEWATCH_DAEMON_SD_NOTIFY_H_

#include <chrono>
#include <optional>

namespace needlewatch::daemon::sd {

// READY=1: startup is complete (systemctl start returns; units ordered After= us start).
bool Ready();
// STOPPING=1: a graceful stop has begun.
bool Stopping();
// WATCHDOG=1: the keep-alive; systemd restarts the service when none arrives for WatchdogSec=.
bool Watchdog();
// The watchdog period systemd expects (WatchdogSec=, passed as $WATCHDOG_USEC for our PID), or
// nullopt when no watchdog is asked for. Ping at half of it.
std::optional<std::chrono::microseconds> WatchdogInterval();

}  // namespace needlewatch::daemon::sd

#endif  // NEEDLEWATCH_DAEMON_SD_NOTIFY_H_
