// The input side of `needlewatch replay`, shared with `replay --publish` (monitor/republish):
// the files, opened and merged by receive time, and the --clinic/--device/--from/--to selection.
// Not thread-safe.
#ifndef NEEDLEWATCH_REPLAY_INPUT_H_
#define NEEDLEWATCH_REPLAY_INPUT_H_

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "needlewatch/replay/replay_command.h"
#include "needlewatch/replay/source.h"

namespace needlewatch::replay {

// Which records a run keeps.
class Selection {
 public:
  // Parses --from/--to/--clinic/--device of `o`; nullopt after saying why on `err`.
  // `topic_root` is the root of device topics ({root}/{clinic}/device/{device}/…).
  static std::optional<Selection> Parse(const ReplayCommandOptions& o, std::string topic_root,
                                        std::ostream& err);

  std::optional<std::int64_t> from() const { return from_; }
  // Inside [--from, --to).
  bool InWindow(std::int64_t t) const {
    return (!from_ || t >= *from_) && (!to_ || t < *to_);
  }
  bool BeforeEnd(std::int64_t t) const { return !to_ || t < *to_; }
  // A device topic of the selected clinic/device (everything when neither is given; malformed
  // payloads on such a topic are kept, so that they are counted).
  bool KeepTopic(std::string_view topic) const;
  // An acknowledgement of the selected clinic/device.
  bool KeepDevice(std::string_view clinic, std::string_view device) const;
  bool selects_devices() const { return clinic_ || device_; }
  // Each option given, as given, for the report.
  const std::vector<std::pair<std::string, std::string>>& described() const { return described_; }

 private:
  std::string root_;
  std::optional<std::int64_t> from_, to_;
  std::optional<std::string> clinic_, device_;
  std::vector<std::pair<std::string, std::string>> described_;
};

// Opens every file (detecting its format). Empty after saying why on `err` when one cannot be
// read; skipped capture lines are reported on `err` as they are met.
std::vector<std::unique_ptr<MessageSource>> OpenInputs(const std::vector<std::string>& files,
                                                       std::ostream& err,
                                                       const record::McapReaderOptions& mcap = {});

}  // namespace needlewatch::replay

#endif  // NEEDLEWATCH_REPLAY_INPUT_H_
