// Message sources for replay: one per input file (mosquitto_sub captures in `-F '%U %t %p'`
// or `-F %j` / `-F %J` form, or the daemon's MCAP recordings), and a k-way merge of several
// by receive time. See ../../../README.md for the formats and how they are detected.
//
// A source yields needlewatch::record::RawMessage in its file's order. A capture line that is
// not a capture line is reported as "FILE:LINE: …" on the diagnostics stream, counted in
// lines_skipped(), and skipped (never fatal).
//
// Not thread-safe: a source is used by one thread.
#ifndef NEEDLEWATCH_REPLAY_SOURCE_H_
#define NEEDLEWATCH_REPLAY_SOURCE_H_

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "needlewatch/record/mcap_reader.h"
#include "needlewatch/record/raw_message.h"

namespace needlewatch::replay {

enum class FileFormat : std::uint8_t {
  kEmpty,        // no non-empty line: yields nothing
  kCaptureText,  // mosquitto_sub -F '%U %t %p'
  kCaptureJson,  // mosquitto_sub -F %j or -F %J
  kMcap,         // the daemon's recordings (needlewatch::record::McapReader)
};
std::string_view FileFormatName(FileFormat f);  // "empty", "mosquitto_sub %U %t %p", …

class MessageSource {
 public:
  virtual ~MessageSource() = default;
  // The next message; false at the end of the input. `out`'s strings are reused (assign), so
  // a caller that keeps one RawMessage across calls does not allocate per message.
  virtual bool Next(record::RawMessage& out) = 0;
  // Lines (or bytes, for MCAP: 0 here, see the reader's skipped_bytes) left out so far.
  virtual std::uint64_t lines_skipped() const = 0;
  virtual FileFormat format() const = 0;
  virtual const std::string& path() const = 0;
  // Positions the source so that Next() yields only messages with receive_ns >= from_ns,
  // where it can do so without reading what comes before: an MCAP recording seeks through its
  // chunk index (a complete file decompresses only the chunks whose time range reaches
  // from_ns). Captures have no index and ignore it (the default); callers filter by time
  // anyway. Call it before the first Next().
  virtual void SeekTo(std::int64_t from_ns) { (void)from_ns; }
  // MCAP: chunks decompressed so far (shows index use); 0 for other formats.
  virtual std::uint64_t chunks_loaded() const { return 0; }
  // Why the source stopped before the end of its file ("" when it did not): an MCAP reader's
  // memory budget. The caller should fail the run: the rest of the file was not read.
  virtual std::string error() const { return {}; }
  // Progress: bytes of the file read (or passed over by a seek) so far, and the file's size.
  virtual std::uint64_t bytes_done() const { return 0; }
  virtual std::uint64_t bytes_total() const { return 0; }
  // The latest message on `topic` before `before_ns` where the source can find it without a
  // full read (MCAP recordings; see McapReader::LatestBefore); false otherwise (the default).
  // Does not move the source's position.
  virtual bool LatestBefore(std::string_view topic, std::int64_t before_ns,
                            record::RawMessage& out) {
    (void)topic;
    (void)before_ns;
    (void)out;
    return false;
  }
};

// Opens `path` and detects its format: MCAP by its magic bytes, otherwise by the first
// non-empty line ('{' → %j/%J JSON lines; a digit → "%U %t %p"). Skipped lines are reported on
// `diag`, which must outlive the source. nullptr with `*error` ("FILE: reason") when the file
// cannot be read or its first line is neither format.
//
// A message recorded as rejected and truncated (RawMessage::truncated()) is yielded with its
// payload padded back past protocol::kMaxPayloadBytes (to at most its original size), so that
// the engine rejects it again for the same reason (too_large) without the bytes that were
// never kept.
std::unique_ptr<MessageSource> OpenSource(const std::string& path, std::ostream& diag,
                                          std::string* error,
                                          const record::McapReaderOptions& mcap = {});

// Merges sources by receive time: a k-way merge; ties go to the earlier source in the list,
// then to the earlier message of that source. Each source should be in time order already (a
// capture is); an out-of-order message is passed on where it stands.
class MergedSource : public MessageSource {
 public:
  explicit MergedSource(std::vector<std::unique_ptr<MessageSource>> sources);
  ~MergedSource() override;
  bool Next(record::RawMessage& out) override;
  std::uint64_t lines_skipped() const override;
  FileFormat format() const override { return FileFormat::kEmpty; }
  const std::string& path() const override { return path_; }
  // Seeks every source (before the first Next()).
  void SeekTo(std::int64_t from_ns) override;
  std::uint64_t chunks_loaded() const override;  // summed over the sources
  std::string error() const override;           // the first source's error
  std::uint64_t bytes_done() const override;     // summed over the sources
  std::uint64_t bytes_total() const override;
  // The latest over every source (ties: the later source in the list).
  bool LatestBefore(std::string_view topic, std::int64_t before_ns,
                    record::RawMessage& out) override;
  const std::vector<std::unique_ptr<MessageSource>>& sources() const { return sources_; }

 private:
  struct Head {
    record::RawMessage message;
    std::size_t source = 0;
  };
  bool Refill(std::size_t source, Head& head);
  std::vector<std::unique_ptr<MessageSource>> sources_;
  std::vector<Head> heap_;  // min-heap on (receive_ns, source)
  bool started_ = false;
  std::string path_ = "(merged)";
};

// Line parsers, exposed for tests. Both return false (leaving `out` unspecified) for a line
// that is not a capture line of that format.
//   "%U %t %p": "1795611133.125000000 clinic/c/device/d/telemetry {…}" — time is Unix seconds
//   with up to 9 fraction digits, parsed exactly into integer ns; the topic runs to the next
//   space; the payload is the rest of the line (possibly empty).
bool ParseCaptureTextLine(std::string_view line, record::RawMessage& out);
//   %j / %J: {"tst":"2026-11-25T12:52:13.310193Z+0000","topic":…,"qos":…,"retain":…,
//   "payload":"…" | <JSON value> | null}. An embedded JSON payload (%J) is re-serialised
//   compactly; null (an empty payload) becomes "".
bool ParseCaptureJsonLine(std::string_view line, record::RawMessage& out);

// "1795611133", "1795611133.125", "1795611133.125000000" → ns since the epoch, exactly.
std::optional<std::int64_t> ParseEpochSeconds(std::string_view text);
// --from / --to: RFC 3339 (protocol/time_format.h) or epoch seconds.
std::optional<std::int64_t> ParseTimeArgument(std::string_view text);

}  // namespace needlewatch::replay

#endif  // NEEDLEWATCH_REPLAY_SOURCE_H_
