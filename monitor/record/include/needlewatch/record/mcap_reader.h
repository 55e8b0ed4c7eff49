// McapReader: reads RawMessages back from an MCAP file in log-time order.
//
// A complete file (valid Footer, summary with Chunk Indexes) is read through its index: Open()
// reads only the magic, footer and summary; SeekTo() then decompresses only the chunks whose
// time range reaches the target. A file without a usable summary (writer killed, disk full,
// torn copy) is recovered: Open() scans it chunk by chunk from the start, keeps every complete
// chunk whose CRC matches, and stops at the first record that does not fit in the file (a torn
// tail); skipped_bytes() reports what was left out. Messages outside chunks and files written
// by other MCAP writers (any channel encoding; missing "qos"/"retain" metadata read as 0/false)
// are read too. Compression "" and "zstd" are supported; other chunks are skipped and counted.
//
// Corrupt input never crashes the reader and never makes it allocate more than the file size
// (or 1 GiB for one decompressed chunk): bad parts are skipped and counted.
//
// Not thread-safe: one thread uses a reader. Distinct readers are independent.
#ifndef NEEDLEWATCH_RECORD_MCAP_READER_H_
#define NEEDLEWATCH_RECORD_MCAP_READER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "needlewatch/record/raw_message.h"

namespace needlewatch::record {

class McapReader {
 public:
  // Opens `path`. nullptr and `*error` set ("FILE: reason") when it cannot be read or is not an
  // MCAP file (missing leading magic). A torn or unfinished file opens fine (complete() false).
  static std::unique_ptr<McapReader> Open(const std::string& path, std::string* error);
  ~McapReader();
  McapReader(const McapReader&) = delete;
  McapReader& operator=(const McapReader&) = delete;

  // The next message in log-time order (ties: file order); false at the end. Messages of a
  // chunk that turns out corrupt while reading are skipped and counted in skipped_bytes().
  bool Next(RawMessage& out);
  // Restarts reading at the first message with receive_ns >= from_ns. Chunks that end before
  // from_ns are never read.
  void SeekTo(std::int64_t from_ns);
  // The latest message on `topic` with receive_ns < before_ns, into `out`; false when there is
  // none. Reads chunks backwards from before_ns and stops at the first that holds one, so with
  // a record near the start of each segment (as kLimitsTopic is) it reads at most what lies
  // between that record and before_ns. Independent of Next/SeekTo (their position is kept).
  bool LatestBefore(std::string_view topic, std::int64_t before_ns, RawMessage& out);

  // True when the file has a valid footer and summary (it was closed properly).
  bool complete() const;
  // Bytes of the file that could not be read as messages: a torn tail, corrupt chunks,
  // unsupported compression.
  std::uint64_t skipped_bytes() const;
  // From the summary's Statistics when complete, else counted during recovery.
  std::uint64_t message_count() const;
  std::int64_t start_ns() const;  // earliest receive_ns (0 when there are no messages)
  std::int64_t end_ns() const;    // latest receive_ns (0 when there are no messages)
  std::uint64_t chunk_count() const;
  std::uint64_t file_size() const;
  // Chunks decompressed so far (by Open's recovery scan, Next and SeekTo): shows index use.
  std::uint64_t chunks_loaded() const;
  // Human-readable notes on what was skipped or distrusted (CRC mismatch, torn tail, …),
  // without the file name (callers prefix it). At most 64 are kept.
  const std::vector<std::string>& warnings() const;

 private:
  struct Impl;
  explicit McapReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Convenience: reads every message of `path` in log-time order into `callback` (return false
// from it to stop early). False with `*error` set when the file cannot be opened; a recovered
// (incomplete) file is read as far as it is readable and returns true.
bool ReadRecording(const std::string& path,
                   const std::function<bool(const RawMessage&)>& callback, std::string* error);

}  // namespace needlewatch::record

#endif  // NEEDLEWATCH_RECORD_MCAP_READER_H_
