#include "floor_feed.h"

#include <memory>
#include <string>
#include <utility>

#include "floor_model.h"

namespace needlewatch::daemon {

void FloorFeed::Start(HttpServer& http) {
  http_ = &http;
  monitor_.floor().set_listener([this](const FloorModel::Frame& f) {
    if (!stopped_) http_->Broadcast(f);
  });
  Every(frames_, kFrameInterval, [this] {
    FloorModel& floor = monitor_.floor();
    if (floor.has_pending_devices() && http_->has_streams()) {
      floor.FlushDevices(monitor_.engine(), monitor_.Stamp());
    }
  });
  Every(pings_, kPingInterval, [this] {
    http_->Broadcast(std::make_shared<const std::string>(FloorModel::PingFrame(monitor_.Stamp())));
  });
}

void FloorFeed::Stop() {
  stopped_ = true;
  frames_.cancel();
  pings_.cancel();
}

void FloorFeed::Every(boost::asio::steady_timer& timer, std::chrono::milliseconds every,
                      std::function<void()> fn) {
  timer.expires_after(every);
  timer.async_wait([this, &timer, every, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (ec || stopped_) return;  // cancelled at shutdown
    fn();
    Every(timer, every, fn);
  });
}

}  // namespace needlewatch::daemon
