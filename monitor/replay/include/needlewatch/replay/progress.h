// The progress line `needlewatch replay` keeps on stderr for long inputs: messages so far,
// rate, how far through the input files it is and an estimate of the time left, rewritten in
// place ("\r"). Shown only when asked (ReplayCommandOptions::progress; by default when stderr is
// a terminal) and only for a long run: inputs of big_input_bytes or more from the start, others
// once they have run for first_after. Not thread-safe.
#ifndef NEEDLEWATCH_REPLAY_PROGRESS_H_
#define NEEDLEWATCH_REPLAY_PROGRESS_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

namespace needlewatch::replay {

struct ProgressOptions {
  bool enabled = false;
  // Inputs at least this large show the line from the start; smaller ones after first_after.
  std::uint64_t big_input_bytes = 16ULL << 20;
  std::int64_t first_after_ns = 1'000'000'000;
  std::int64_t interval_ns = 250'000'000;  // between rewrites of the line
  // Monotonic clock in ns (default: std::chrono::steady_clock). Tests inject their own.
  std::function<std::int64_t()> now_ns;
};

class Progress {
 public:
  // `bytes_total`: the size of all inputs (0 when unknown: no percentage, no ETA).
  Progress(std::ostream& out, ProgressOptions options, std::uint64_t bytes_total);

  // Call once per record with the records so far. Cheap: it looks at the clock only every 1024
  // calls; `bytes_done` is called then (bytes of the inputs read so far).
  template <typename BytesDone>
  void Tick(std::uint64_t records, const BytesDone& bytes_done) {
    if (!o_.enabled || (++calls_ & 1023) != 0) return;
    Update(records, bytes_done());
  }
  // Clears the line and, when one was shown, leaves a summary line. Idempotent.
  void Finish(std::uint64_t records);

  bool shown() const { return shown_; }

  // "replay: 1,234,567 records  43%  812,345/s  ETA 0:12" (percentage and ETA only when known;
  // `eta_s` < 0: unknown).
  static std::string Line(std::uint64_t records, double rate, double fraction, double eta_s);

 private:
  void Update(std::uint64_t records, std::uint64_t bytes_done);

  std::ostream& out_;
  ProgressOptions o_;
  std::uint64_t total_;
  std::int64_t start_ns_;
  std::int64_t last_ns_ = 0;
  std::uint64_t calls_ = 0;
  bool shown_ = false;
  bool finished_ = false;
};

// True when file descriptor 2 is a terminal.
bool StderrIsTerminal();

}  // namespace needlewatch::replay

#endif  // NEEDLEWATCH_REPLAY_PROGRESS_H_
