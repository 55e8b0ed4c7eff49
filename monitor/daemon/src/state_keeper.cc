#include "state_keeper.h"

#include <chrono>
#include <string>

#include "log.h"

namespace needlewatch::daemon {

namespace {
double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

bool StateKeeper::Open() {
  if (cfg_.dir.empty()) return true;
  std::string error;
  dir_ = state::StateDir::Open(cfg_.dir, &error);
  if (!dir_) {
    log::Error("startup failed", {{"error", error}});
    return false;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const LiveMonitor::RestoreOutcome r = monitor_.RestoreState(dir_->Load());
  log::Info("state", {{"dir", cfg_.dir},
                      {"restored", r.restored},
                      {"journal_records", static_cast<unsigned long long>(r.journal_records)},
                      {"seconds", SecondsSince(t0)}});
  return true;
}

bool StateKeeper::Save() {
  if (!dir_) return true;
  const auto t0 = std::chrono::steady_clock::now();
  state::Snapshot snapshot = monitor_.SaveState();
  snapshot.journal_generation = dir_->next_generation();
  std::string error;
  if (!dir_->WriteSnapshot(state::EncodeSnapshot(snapshot), &error)) {
    log::Error("state snapshot not written", {{"error", error}});
    return false;
  }
  log::Debug("state snapshot written",
             {{"generation", snapshot.journal_generation}, {"seconds", SecondsSince(t0)}});
  return true;
}

void StateKeeper::ArmSnapshots() {
  if (!dir_ || stopped_) return;
  timer_.expires_after(std::chrono::nanoseconds(cfg_.snapshot_interval));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    monitor_.Flush();  // the journal holds everything until the snapshot is safely written
    Save();
    ArmSnapshots();
  });
}

void StateKeeper::Stop() {
  stopped_ = true;
  timer_.cancel();
}

}  // namespace needlewatch::daemon
