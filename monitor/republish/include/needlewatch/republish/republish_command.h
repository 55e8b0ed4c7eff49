// `needlewatch replay --publish URL`: the replay command's inputs and selection
// (monitor/replay/input.h), republished to a broker on their recorded timing instead of being
// reported. The app dispatches here when --publish is given, so the offline `replay` library
// never links an MQTT client. Thread-compatible.
#ifndef NEEDLEWATCH_REPUBLISH_REPUBLISH_COMMAND_H_
#define NEEDLEWATCH_REPUBLISH_REPUBLISH_COMMAND_H_

#include <iosfwd>

#include "needlewatch/replay/replay_command.h"

namespace needlewatch::republish {

// options.publish_url must be set. Returns the exit code (see Republish in republish.h).
int RunRepublishCommand(const replay::ReplayCommandOptions& options, std::ostream& out,
                        std::ostream& err);

}  // namespace needlewatch::republish

#endif  // NEEDLEWATCH_REPUBLISH_REPUBLISH_COMMAND_H_
