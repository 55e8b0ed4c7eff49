// The simulator's outputs after a run: the --report JSON file (every injected fault and the
// alarm it must raise) and the human summary. Format in README.md ("Report"). Thread-compatible.
#ifndef NEEDLEWATCH_TOOLS_SIM_REPORT_H_
#define NEEDLEWATCH_TOOLS_SIM_REPORT_H_

#include <iosfwd>
#include <string>
#include <vector>

#include "faults.h"
#include "fleet.h"
#include "runner.h"
#include "transport.h"

namespace needlewatch::sim {

struct RunSummary {
  double started_at = 0;  // wall clock, seconds since the epoch
  double ended_at = 0;
  double elapsed_s = 0;   // the simulation loop's own duration
  FleetStats fleet;
  TransportStats transport;
};

// The report as one JSON document (pretty-printed, stable key order).
std::string ReportJson(const SimOptions& options, const RunSummary& summary,
                       const std::vector<InjectedFault>& faults);

// Writes ReportJson to `path`. Returns false with *error naming the path on failure.
bool WriteReport(const std::string& path, const SimOptions& options, const RunSummary& summary,
                 const std::vector<InjectedFault>& faults, std::string* error);

// A few lines for a person: duration, rate, messages, sessions, faults per kind.
void PrintSummary(std::ostream& out, const SimOptions& options, const RunSummary& summary,
                  const std::vector<InjectedFault>& faults);

}  // namespace needlewatch::sim

#endif  // NEEDLEWATCH_TOOLS_SIM_REPORT_H_
