// `needlewatch recordings ls DIR` and `needlewatch recordings export --format jsonl FILE…`.
#ifndef NEEDLEWATCH_RECORD_RECORDINGS_COMMAND_H_
#define NEEDLEWATCH_RECORD_RECORDINGS_COMMAND_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace needlewatch::record {

// Lists the segments in `dir`: file, time range, message count, size, complete or not.
int RunRecordingsLs(const std::string& dir, std::ostream& out, std::ostream& err);
// Writes every message of the given segments (or directories) as JSON lines.
int RunRecordingsExport(const std::vector<std::string>& paths, const std::string& format,
                        std::ostream& out, std::ostream& err);

}  // namespace needlewatch::record

#endif  // NEEDLEWATCH_RECORD_RECORDINGS_COMMAND_H_
