// The floor page's live stream in the daemon: every frame the floor model emits goes to each
// open event stream (GET /api/v1/events); every kFrameInterval the pens that changed become one
// `devices` frame (only while someone is watching: otherwise each changed pen waits, one entry
// each, for the first stream); every kPingInterval a ping keeps idle streams and their proxies
// open. Loop thread only.
#ifndef NEEDLEWATCH_DAEMON_FLOOR_FEED_H_
#define NEEDLEWATCH_DAEMON_FLOOR_FEED_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>

#include "http_server.h"
#include "live_monitor.h"

namespace needlewatch::daemon {

class FloorFeed {
 public:
  FloorFeed(boost::asio::io_context& io, LiveMonitor& monitor)
      : frames_(io), pings_(io), monitor_(monitor) {}

  // From the monitor's floor model to `http`'s streams, until Stop().
  void Start(HttpServer& http);
  void Stop();

 private:
  void Every(boost::asio::steady_timer& timer, std::chrono::milliseconds every,
             std::function<void()> fn);

  boost::asio::steady_timer frames_;
  boost::asio::steady_timer pings_;
  LiveMonitor& monitor_;
  HttpServer* http_ = nullptr;
  bool stopped_ = false;
};

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_FLOOR_FEED_H_
