// McapReader: reads RawMessages back from an MCAP file in log-time order.
//
// A complete file (valid Footer, summary with Chunk Indexes) is read through its index: Open()
// reads only the magic, footer and summary; SeekTo() then decompresses only the chunks whose
// time range reaches the target. A file without a usable summary (writer killed, disk full,
// torn copy) is recovered: Open() scans it chunk by chunk from the start, keeps every complete
// chunk whose CRC matches, and stops at the first record that does not fit in the file (a torn
// tail); skipped_bytes() reports what was left out. Messages outside chunks and files written
// by other MCAP writers (any channel encoding; missing "qos"/"retain" metadata read as 0/false)
// are read too. Compression "", "zstd" and "lz4" (the LZ4 frame format) are supported; other
// chunks are skipped and counted. Messages on rejected channels (kRejectedTopicPrefix) are
// unwrapped: Next() yields them as they arrived (topic, qos, retain), with `reject` and
// `original_size` set.
//
// Corrupt input never crashes the reader: bad parts are skipped and counted. Memory is bounded
// by McapReaderOptions: a chunk that claims more than max_chunk_bytes uncompressed, or that
// would take the decompressed chunks held at once beyond max_memory_bytes, stops the reader
// with error() saying so (Open() fails when it meets it while opening). Decompression grows its
// buffer as data actually comes out, so a size claimed in a header is never allocated on trust.
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

struct McapReaderOptions {
  // The largest uncompressed chunk read (our writer makes 256 KiB chunks; other writers' defaults
  // are 1 to 8 MiB). At most 1 GiB.
  std::uint64_t max_chunk_bytes = 64ULL << 20;
  // Decompressed chunk data held at once: the chunks whose time ranges overlap (a merge holds
  // them together), messages found outside chunks, and the raw chunk being read.
  std::uint64_t max_memory_bytes = 256ULL << 20;
};

class McapReader {
 public:
  // Opens `path`. nullptr and `*error` set ("FILE: reason") when it cannot be read, is not an
  // MCAP file (missing leading magic), or breaks the memory budget while opening. A torn or
  // unfinished file opens fine (complete() false).
  static std::unique_ptr<McapReader> Open(const std::string& path, std::string* error);
  static std::unique_ptr<McapReader> Open(const std::string& path,
                                          const McapReaderOptions& options, std::string* error);
  ~McapReader();
  McapReader(const McapReader&) = delete;
  McapReader& operator=(const McapReader&) = delete;

  // The next message in log-time order (ties: file order); false at the end, or when the reader
  // stopped (error() non-empty). Messages of a chunk that turns out corrupt while reading are
  // skipped and counted in skipped_bytes().
  bool Next(RawMessage& out);
  // Why the reader stopped before the end ("" when it did not): the memory budget.
  const std::string& error() const;
  // Bytes of the file read so far (chunk records loaded, their messages indexes aside), and the
  // bytes of chunks a seek skipped: with file_size() a progress figure.
  std::uint64_t bytes_done() const;
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
// (incomplete) file is read as far as it is readable and returns true; a reader stopped by its
// memory budget returns false with `*error` saying why.
bool ReadRecording(const std::string& path,
                   const std::function<bool(const RawMessage&)>& callback, std::string* error);

}  // namespace needlewatch::record

#endif  // NEEDLEWATCH_RECORD_MCAP_READER_H_
