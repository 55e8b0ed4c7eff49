#include "event_stream.h"

#include <iterator>

namespace needlewatch::daemon {

std::optional<ResumePoint> ResumePointFor(const HttpRequest& req, std::string* error) {
  ResumePoint from;
  if (const std::string_view header = req.Header("last-event-id"); !header.empty()) {
    from.last_event_id = ParseEventId(header).value_or(0);
    return from;
  }
  if (const std::optional<std::string_view> q = QueryParam(req.query, "last_event_id")) {
    from.last_event_id = ParseEventId(*q);
    if (!from.last_event_id) {
      *error = "last_event_id: expected an event id (the event_id of /api/v1/devices), got \"" +
               std::string(q->substr(0, 40)) + "\"";
      return std::nullopt;
    }
  }
  return from;
}

std::string EventStreamHead(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string head =
      "HTTP/1.1 200 OK\r\n"
      "Server: needlewatch\r\n"
      "Content-Type: text/event-stream; charset=utf-8\r\n"
      "Cache-Control: no-store\r\n"
      "X-Accel-Buffering: no\r\n"
      "X-Content-Type-Options: nosniff\r\n"
      "Connection: close\r\n";
  for (const auto& [name, value] : headers) head += name + ": " + value + "\r\n";
  head += "\r\n";
  return head;
}

bool FrameQueue::Push(SharedText frame) {
  const std::size_t n = frame->size();
  if (!frames_.empty() && (frames_.size() >= max_frames_ || bytes_ + n > max_bytes_)) {
    return false;
  }
  bytes_ += n;
  frames_.push_back(std::move(frame));
  return true;
}

std::vector<SharedText> FrameQueue::TakeAll() {
  std::vector<SharedText> out(std::make_move_iterator(frames_.begin()),
                              std::make_move_iterator(frames_.end()));
  frames_.clear();
  bytes_ = 0;
  return out;
}

}  // namespace needlewatch::daemon
