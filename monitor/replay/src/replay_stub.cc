// Placeholder until replay lands.
#include <ostream>

#include "needlewatch/replay/replay_command.h"

namespace needlewatch::replay {
int RunReplayCommand(const ReplayCommandOptions& options, std::ostream& out, std::ostream& err) {
  (void)options;
  (void)out;
  err << "replay is not implemented yet\n";
  return 2;
}
}  // namespace needlewatch::replay
