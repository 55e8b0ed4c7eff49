// Turns off Nagle's algorithm on the process's connected TCP sockets.
//
// Paho C 1.3 never sets TCP_NODELAY and exposes no socket handle. With Nagle on, an alarm
// published right after the PUBACK of the telemetry that raised it waits for the broker's
// delayed ACK: about 40 ms on Linux, measured as the whole of the daemon's alarm latency.
// Thread-safe (only system calls on file descriptors).
#ifndef NEEDLEWATCH_MQTT_TCP_NODELAY_H_
#define NEEDLEWATCH_MQTT_TCP_NODELAY_H_

namespace needlewatch::broker {

// Sets TCP_NODELAY on every connected (non-listening) IPv4/IPv6 stream socket of this process.
// Returns how many sockets it set; -1 when /proc/self/fd cannot be read.
int DisableNagleOnConnectedTcpSockets();

}  // namespace needlewatch::broker

#endif  // NEEDLEWATCH_MQTT_TCP_NODELAY_H_
