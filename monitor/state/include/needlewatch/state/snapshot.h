// The snapshot: everything the live monitor needs to continue after a restart, as one JSON
// document (format version kSnapshotFormat). The engine's EngineState (engine/state.h) with
// every field, the limits document in force when it was taken (the engine must be restored
// with the limits it was saved with) and its fingerprint, the journal generation that holds
// what happened after it, and what the live monitor keeps beside the engine: the retained
// alarm topics it holds and its own `state_lost` alarm. Encoded with protocol::JsonWriter,
// parsed with nlohmann_json (our own file, never device input). Pure; thread-safe.
#ifndef NEEDLEWATCH_STATE_SNAPSHOT_H_
#define NEEDLEWATCH_STATE_SNAPSHOT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "needlewatch/engine/state.h"

namespace needlewatch::state {

// Bumped whenever the document changes meaning; another version is refused (fresh start).
inline constexpr std::uint32_t kSnapshotFormat = 1;

struct Snapshot {
  std::uint64_t journal_generation = 0;  // journal-<generation> continues this snapshot
  engine::TimeNs saved_at = 0;           // the monitor's clock when it was taken
  std::string limits_source;             // the configuration file the limits came from
  std::string limits_yaml;               // the configuration document in force
  engine::EngineState engine;
  // The retained alarm topics the monitor holds (topic, payload), as last published.
  std::vector<std::pair<std::string, std::string>> alarm_topics;
  // The monitor's `state_lost` alarm, when active: when it was raised.
  std::optional<engine::TimeNs> state_lost_since;
};

// "crc32:<8 hex digits>" of the limits document: equal documents, equal limits.
std::string LimitsFingerprint(std::string_view yaml);

std::string EncodeSnapshot(const Snapshot& s);
// nullopt with `error` (the first field that is missing or malformed, or the format version
// found) when `json` is not a snapshot this build reads.
std::optional<Snapshot> DecodeSnapshot(std::string_view json, std::string* error);

}  // namespace needlewatch::state

#endif  // NEEDLEWATCH_STATE_SNAPSHOT_H_
