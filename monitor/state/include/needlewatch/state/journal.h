// The journal's framing: every record the live monitor fed its engine since the last snapshot
// (device messages, accepted or rejected, and control records), each as one frame
//
//   u32 body length (little-endian) | u32 CRC-32 of the body | body
//   body = i64 receive time ns | u32 topic length | topic | payload
//
// appended per batch and made durable with one fdatasync (state_dir.h). A process killed
// mid-write leaves a torn or corrupt tail: DecodeJournal stops at the first frame that is
// incomplete or fails its CRC, and says so. Pure; thread-safe.
#ifndef NEEDLEWATCH_STATE_JOURNAL_H_
#define NEEDLEWATCH_STATE_JOURNAL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "needlewatch/engine/types.h"

namespace needlewatch::state {

// A frame larger than this is corrupt (a device payload is at most a few KiB; a limits record
// a configuration file).
inline constexpr std::uint32_t kMaxFrameBody = 16u << 20;

struct JournalRecord {
  engine::TimeNs at = 0;
  std::string topic;
  std::string payload;
};

// Appends one frame to `out`.
void AppendFrame(std::string& out, engine::TimeNs at, std::string_view topic,
                 std::string_view payload);

struct DecodedJournal {
  std::vector<JournalRecord> records;
  std::uint64_t valid_bytes = 0;  // the length of the intact prefix
  // Why the tail after valid_bytes was dropped ("" when the journal ended cleanly).
  std::string tail_error;
};

DecodedJournal DecodeJournal(std::string_view bytes);

// CRC-32 (zlib's) of `bytes`.
std::uint32_t Crc32(std::string_view bytes);

}  // namespace needlewatch::state

#endif  // NEEDLEWATCH_STATE_JOURNAL_H_
