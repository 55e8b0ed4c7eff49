// Placeholder until the daemon lands.
#include <iostream>

#include "needlewatch/daemon/run_command.h"

namespace needlewatch::daemon {
int RunDaemon(const RunCommandOptions& options) {
  (void)options;
  std::cerr << "run is not implemented yet\n";
  return 2;
}
}  // namespace needlewatch::daemon
