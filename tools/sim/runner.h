// `needlewatch-sim`: runs a simulated fleet against a broker for a while and reports what it
// injected. The loop runs on the calling thread. See README.md.
#ifndef NEEDLEWATCH_TOOLS_SIM_RUNNER_H_
#define NEEDLEWATCH_TOOLS_SIM_RUNNER_H_

#include <cstdint>
#include <iosfwd>
#include <string>

#include "fleet.h"

namespace needlewatch::sim {

struct SimOptions {
  std::string mqtt_url = "mqtt://127.0.0.1:1883";
  int mqtt_version = 5;            // 4 or 5
  int qos = 0;                     // telemetry QoS (events and status always 1)
  int clinics = 2;
  int devices = 3;                 // per clinic
  TimeNs duration = 60 * kSec;     // 0: until SIGINT/SIGTERM
  double rate = 0;                 // cap on total messages per second; 0 = none
  double sample_rate_hz = 10;      // per device while treating (real time)
  double time_scale = 60;          // session clock / real clock
  std::string faults = "none";     // --faults spec (faults.h)
  std::string report_path;         // "" = no report
  bool per_device_connections = true;
  int shared_connections = 4;
  int max_inflight = 512;
  std::uint64_t seed = 1;
  bool quiet = false;
  std::string config_file;         // daemon config whose limits shape the sessions; "" = built-in
  std::string topic_root = "clinic";
  std::string client_id_prefix;    // "" = "nwsim-{pid}"
};

// Runs the simulation. Returns 0 on a completed run, 1 when the broker cannot be reached, and
// 2 for bad options (the message names the flag).
int RunSim(const SimOptions& options, std::ostream& out, std::ostream& err);

}  // namespace needlewatch::sim

#endif  // NEEDLEWATCH_TOOLS_SIM_RUNNER_H_
