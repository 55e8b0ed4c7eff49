// Durable state (state.dir) around the live monitor: opens the directory and restores the
// monitor from it before the monitor starts, then writes a snapshot right after the start, every
// state.snapshot_interval and at a graceful stop (so a clean restart replays no journal). Between
// snapshots the monitor's records go to the journal (DaemonOutputs::Journal). Without state.dir
// every call does nothing. Loop thread only.
#ifndef NEEDLEWATCH_DAEMON_STATE_KEEPER_H_
#define NEEDLEWATCH_DAEMON_STATE_KEEPER_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "live_monitor.h"
#include "needlewatch/config/config.h"
#include "needlewatch/state/state_dir.h"

namespace needlewatch::daemon {

class StateKeeper {
 public:
  StateKeeper(boost::asio::io_context& io, const config::StateConfig& cfg, LiveMonitor& monitor)
      : timer_(io), cfg_(cfg), monitor_(monitor) {}

  // Opens state.dir and restores the monitor from what it holds (a missing or unreadable state
  // starts fresh: the monitor raises state_lost). False, logged, when the directory cannot be
  // used at all.
  bool Open();
  // The journal the monitor's outputs append to; null without state.dir.
  state::StateDir* dir() { return dir_.get(); }
  // Writes a snapshot of the monitor now. True without state.dir.
  bool Save();
  // Snapshots every state.snapshot_interval until Stop().
  void ArmSnapshots();
  void Stop();

 private:
  boost::asio::steady_timer timer_;
  const config::StateConfig& cfg_;
  LiveMonitor& monitor_;
  std::unique_ptr<state::StateDir> dir_;
  bool stopped_ = false;
};

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_STATE_KEEPER_H_
