// Placeholder until recordings land.
#include <ostream>

#include "needlewatch/record/recordings_command.h"

namespace needlewatch::record {
int RunRecordingsLs(const std::string& dir, std::ostream& out, std::ostream& err) {
  (void)out;
  err << dir << ": recordings are not implemented yet\n";
  return 2;
}
int RunRecordingsExport(const std::vector<std::string>& paths, const std::string& format,
                        std::ostream& out, std::ostream& err) {
  (void)paths;
  (void)format;
  (void)out;
  err << "recordings are not implemented yet\n";
  return 2;
}
}  // namespace needlewatch::record
