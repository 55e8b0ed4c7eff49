// The pure parts of a Server-Sent Events stream (GET /api/v1/events): where a client resumes,
// the response head, and the bounded queue of frames waiting for one connection. The server
// (http_server.cc) does the I/O with them; the frames come from the floor model
// (floor_model.h). No I/O, no clock; thread-compatible.
#ifndef NEEDLEWATCH_DAEMON_EVENT_STREAM_H_
#define NEEDLEWATCH_DAEMON_EVENT_STREAM_H_

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "floor_model.h"
#include "http_types.h"

namespace needlewatch::daemon {

// Where a stream starts: the Last-Event-ID header (a browser's reconnect), else the
// `last_event_id` query parameter (the page's first connection: the event_id of the bodies it
// fetched), else live events only. A Last-Event-ID that is not an id resumes from 0, which the
// model answers with a `reset` (the client refetches): it never silently skips events. A bad
// query parameter is an error (`error` names it): nullopt.
std::optional<ResumePoint> ResumePointFor(const HttpRequest& req, std::string* error);

// The head of a stream response: 200, text/event-stream, no caching or proxy buffering, and
// `headers` (the web configuration's). No Content-Length: the body ends when the connection
// does.
std::string EventStreamHead(const std::vector<std::pair<std::string, std::string>>& headers);

// The frames waiting to be written to one connection. Bounded, so a client that reads slower
// than events come (or not at all) costs at most `max_bytes`: Push refuses the frame that
// would go beyond either bound (the server then drops the connection; the client reconnects
// and resumes from its Last-Event-ID). A frame is always taken into an empty queue, however
// large (a full devices frame of a big fleet).
class FrameQueue {
 public:
  static constexpr std::size_t kDefaultMaxFrames = 4096;
  static constexpr std::size_t kDefaultMaxBytes = 8 << 20;

  explicit FrameQueue(std::size_t max_frames = kDefaultMaxFrames,
                      std::size_t max_bytes = kDefaultMaxBytes)
      : max_frames_(max_frames), max_bytes_(max_bytes) {}

  // False (and the frame is not queued) when it would exceed a bound.
  bool Push(SharedText frame);
  // Everything queued, oldest first; the queue is then empty (for one gathered write).
  std::vector<SharedText> TakeAll();

  bool empty() const { return frames_.empty(); }
  std::size_t size() const { return frames_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t max_frames_;
  std::size_t max_bytes_;
  std::deque<SharedText> frames_;
  std::size_t bytes_ = 0;
};

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_EVENT_STREAM_H_
