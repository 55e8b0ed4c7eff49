// Paho C++ glue shared by the daemon, `replay --publish` and the simulator. Include it only from
// a .cc file that talks to Paho itself: it brings in <mqtt/async_client.h>.
#ifndef NEEDLEWATCH_MQTT_PAHO_H_
#define NEEDLEWATCH_MQTT_PAHO_H_

#include <functional>
#include <string>

#include <mqtt/async_client.h>

#include "needlewatch/mqtt/connect.h"

namespace needlewatch::broker {

// Fills `out` from `s`. Always sets SSL options for mqtts:// (Paho throws on ssl:// without
// them). `out` must live as long as the client that connects with it: Paho C++ 1.2's
// connect_options keeps its C struct pointing at the MQTT 5 properties of the object they were
// set on, so they are set here, on `out` itself. `on_tls_error` receives OpenSSL's messages.
void MakeConnectOptions(const ConnectSettings& s, mqtt::connect_options* out,
                        std::function<void(const std::string&)> on_tls_error = nullptr);

// Create options for `version` (4 or 5) with room for `max_buffered` messages queued inside
// Paho (its default, 100, is too small for anything but a trickle).
mqtt::create_options MakeCreateOptions(int version, int max_buffered);

// Paho's MQTT version constant for 4 or 5.
int PahoVersion(int version);

}  // namespace needlewatch::broker

#endif  // NEEDLEWATCH_MQTT_PAHO_H_
