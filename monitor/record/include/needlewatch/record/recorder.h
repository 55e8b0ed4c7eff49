// Recorder: records every submitted RawMessage into rotating MCAP segments on a writer thread.
//
// Files: `<dir>/needlewatch-YYYYMMDDTHHMMSSZ-NNNNNN.mcap` (UTC start time of the segment, then a
// sequence that keeps growing across restarts, so names sort chronologically). A segment is
// written under its final name from the start; it is complete once it has its summary and
// footer (Stop() or rotation). An unfinished segment (crash, kill -9) is still readable with
// McapReader, which recovers every closed chunk. A chunk is closed when it reaches
// chunk_max_bytes or has been open for chunk_max_age, so a crash loses at most that much.
// Segments rotate when they reach segment_max_bytes or segment_max_age; retention then deletes
// the oldest `needlewatch-*.mcap` segments while the directory's total exceeds
// retention_max_bytes, and any whose last write is older than retention_max_age.
//
// Rejected messages (RawMessage::reject set) go to their own series of segments,
// `<dir>/needlewatch-rejected-YYYYMMDDTHHMMSSZ-NNNNNN.mcap`, truncated to their first
// kRejectedKeepBytes bytes plus their size, on one channel per device and reason
// (kRejectedTopicPrefix), under their own budget rejected_max_bytes: junk can fill and rotate
// only its own files, never evict accepted traffic. Both series are read back together by
// `needlewatch replay DIR/needlewatch-*.mcap`.
//
// Thread-safety: Submit() and the counters may be called from any thread concurrently. Start,
// Stop and the destructor must not race with each other. The writer thread alone touches files.
#ifndef NEEDLEWATCH_RECORD_RECORDER_H_
#define NEEDLEWATCH_RECORD_RECORDER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "needlewatch/record/raw_message.h"

namespace needlewatch::record {

// Mirrors config::RecordConfig (the daemon maps one onto the other); durations in ns.
struct RecorderOptions {
  std::string dir = "recordings";
  std::uint64_t segment_max_bytes = 64ULL << 20;
  std::int64_t segment_max_age = 3600LL * 1'000'000'000;
  std::uint64_t retention_max_bytes = 1ULL << 30;
  std::int64_t retention_max_age = 7LL * 24 * 3600 * 1'000'000'000;
  // Segments of rejected messages: deleted oldest first beyond this total (and by
  // retention_max_age). 0: rejected messages are not recorded.
  std::uint64_t rejected_max_bytes = 64ULL << 20;
  // Topic root of device topics, to name the device of a rejected message's channel.
  std::string topic_root = "clinic";
  std::size_t queue_capacity = 65536;  // messages waiting for the writer thread
  int zstd_level = 3;                  // 0 = uncompressed chunks
  // Crash-loss bound: a chunk is written once it holds this many bytes or is this old.
  std::size_t chunk_max_bytes = 256 * 1024;
  std::int64_t chunk_max_age = 1'000'000'000;
  // Wall clock in ns since the epoch, for segment names, segment age and retention age.
  // Default: std::chrono::system_clock. Tests inject their own.
  std::function<std::int64_t()> now_ns;
  // Test seam: called on the writer thread before it takes each batch from the queue.
  std::function<void()> writer_hook;
};

class Recorder {
 public:
  // Creates `dir` if needed, applies retention, starts the writer thread. The first segment is
  // created with the first message. nullptr and `*error` set on a bad option or directory.
  static std::unique_ptr<Recorder> Start(const RecorderOptions& options, std::string* error);
  ~Recorder();  // Stop()s
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Queues a message for the writer. Never waits for I/O (takes a mutex only to push): false,
  // and dropped() counts it, when queue_capacity messages are already waiting or after Stop().
  // A rejected message's payload is cut to kRejectedKeepBytes here (original_size keeps its
  // size), so a queue of junk holds at most that much per message.
  bool Submit(RawMessage&& message);
  // Writes everything queued, closes the segment with its summary, joins the thread.
  // Idempotent.
  void Stop();

  // Messages in closed chunks (on disk), dropped (queue full, stopped, or a write error),
  // bytes written to segment files, and write/rotation/retention errors.
  std::uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  std::uint64_t segments() const { return segments_.load(std::memory_order_relaxed); }
  // The last error message ("" if none). Thread-safe.
  std::string last_error() const;

 private:
  struct Impl;
  Recorder();
  std::unique_ptr<Impl> impl_;
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<std::uint64_t> segments_{0};
};

// Segment file name for a start time and sequence: "needlewatch-20261125T125213Z-000042.mcap".
std::string SegmentFileName(std::int64_t start_ns, std::uint64_t sequence);
// True for names SegmentFileName produces; `*sequence` gets the sequence.
bool ParseSegmentFileName(const std::string& name, std::uint64_t* sequence);
// The same for segments of rejected messages: "needlewatch-rejected-20261125T125213Z-000042.mcap".
std::string RejectedSegmentFileName(std::int64_t start_ns, std::uint64_t sequence);
bool ParseRejectedSegmentFileName(const std::string& name, std::uint64_t* sequence);

}  // namespace needlewatch::record

#endif  // NEEDLEWATCH_RECORD_RECORDER_H_
