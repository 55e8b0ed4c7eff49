// The state directory (`state.dir`): one snapshot and the journal that continues it.
//
//   snapshot.json           the latest snapshot (snapshot.h), replaced atomically
//   journal-<generation>    records applied since that snapshot (journal.h), appended per batch
//   lock                    flock'ed while a daemon uses the directory
//
// A new snapshot first creates its (empty) journal, then writes snapshot.json.tmp, fsyncs it,
// renames it over snapshot.json and fsyncs the directory; only then is the older journal
// removed. A crash at any point leaves a snapshot and the journal it names. Not thread-safe;
// one daemon (the lock says so) on one thread.
#ifndef NEEDLEWATCH_STATE_STATE_DIR_H_
#define NEEDLEWATCH_STATE_STATE_DIR_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "needlewatch/state/journal.h"
#include "needlewatch/state/snapshot.h"

namespace needlewatch::state {

// What a start found in the directory.
struct Loaded {
  std::optional<Snapshot> snapshot;   // none: start fresh
  std::vector<JournalRecord> journal; // to replay after the snapshot
  // Why the state that was there cannot be used (corrupt or incompatible snapshot, a journal
  // missing): the daemon starts fresh and raises `state_lost`. "" when nothing was lost.
  std::string lost;
  // Informational: "no saved state" on a first start; the torn tail dropped from the journal.
  std::string note;
  std::uint64_t snapshot_bytes = 0;
  std::uint64_t journal_bytes = 0;
};

class StateDir {
 public:
  // Creates `dir` (and parents) when missing and locks it. nullptr with `error` (naming the
  // directory and the reason) when it cannot be created, written or locked.
  static std::unique_ptr<StateDir> Open(const std::string& dir, std::string* error);
  ~StateDir();
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;

  // Reads the snapshot and its journal. Never throws; every problem is in `lost` or `note`.
  Loaded Load();

  // The generation the next snapshot must name (journal_generation).
  std::uint64_t next_generation() const { return generation_ + 1; }
  // Makes `snapshot_json` (naming next_generation()) the state, as described above. False with
  // `error` when a write failed (the previous snapshot and journal stay in force).
  bool WriteSnapshot(std::string_view snapshot_json, std::string* error);
  // Appends `frames` to the current journal and fdatasyncs it. False with `error` on failure
  // (no journal yet: WriteSnapshot first).
  bool Append(std::string_view frames, std::string* error);

  const std::string& path() const { return dir_; }
  std::uint64_t journal_bytes() const { return journal_bytes_; }

 private:
  explicit StateDir(std::string dir) : dir_(std::move(dir)) {}
  std::string File(std::string_view name) const;
  std::string JournalFile(std::uint64_t generation) const;

  std::string dir_;
  int lock_fd_ = -1;
  int dir_fd_ = -1;
  int journal_fd_ = -1;
  std::uint64_t generation_ = 0;
  std::uint64_t journal_bytes_ = 0;
};

}  // namespace needlewatch::state

#endif  // NEEDLEWATCH_STATE_STATE_DIR_H_
