#include "needlewatch/cluster/writer_lease.h"

#include <algorithm>

#include "needlewatch/protocol/json_writer.h"

namespace needlewatch::cluster {
namespace {

constexpr std::string_view kStatusPrefix = "needlewatch/";
constexpr std::string_view kStatusSuffix = "/status";

// The string value of "key" in a flat JSON object written by JsonWriter (IDs need no escapes).
std::string_view StringField(std::string_view json, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\":\"";
  const std::size_t at = json.find(needle);
  if (at == std::string_view::npos) return {};
  const std::size_t start = at + needle.size();
  const std::size_t end = json.find('"', start);
  return end == std::string_view::npos ? std::string_view() : json.substr(start, end - start);
}

// The unsigned integer value of "key" in such an object; 0 when absent or not a number.
std::uint64_t UIntField(std::string_view json, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\":";
  std::size_t at = json.find(needle);
  if (at == std::string_view::npos) return 0;
  std::uint64_t v = 0;
  for (at += needle.size(); at < json.size() && json[at] >= '0' && json[at] <= '9'; ++at) {
    v = v * 10 + static_cast<std::uint64_t>(json[at] - '0');
  }
  return v;
}

}  // namespace

WriterLease::WriterLease(std::string self, std::uint32_t shard, std::int64_t settle_ns,
                         std::int64_t heartbeat_timeout_ns)
    : self_(std::move(self)),
      peer_prefix_(self_.substr(0, self_.empty() ? 0 : self_.size() - 1)),
      lease_topic_("needlewatch/shard/" + std::to_string(shard) + "/writer"),
      settle_(settle_ns),
      timeout_(heartbeat_timeout_ns),
      heartbeat_topic_("needlewatch/shard/" + std::to_string(shard) + "/heartbeat/" + self_) {}

std::string WriterLease::heartbeat_filter() const {
  return heartbeat_topic_.substr(0, heartbeat_topic_.size() - self_.size()) + "+";
}

void WriterLease::SetUp(bool up, std::int64_t now) {
  if (up && !up_) {
    up_since_ = now;
    echoed_ = false;  // heartbeats must be seen to flow on this connection
  }
  up_ = up;
  if (!up) writer_ = false;
}

bool WriterLease::OnMessage(std::string_view topic, std::string_view payload, std::int64_t now) {
  const std::size_t beat_prefix = heartbeat_topic_.size() - self_.size();
  if (topic.size() > beat_prefix &&
      topic.substr(0, beat_prefix) == std::string_view(heartbeat_topic_).substr(0, beat_prefix)) {
    OnHeartbeat(topic.substr(beat_prefix), payload, now);
    return true;
  }
  if (topic == lease_topic_) {
    std::string h = HolderOf(payload);
    if (h != holder_) {
      holder_ = std::move(h);
      holder_since_ = now;
    }
    return true;
  }
  if (topic.size() > kStatusPrefix.size() + kStatusSuffix.size() &&
      topic.substr(0, kStatusPrefix.size()) == kStatusPrefix &&
      topic.substr(topic.size() - kStatusSuffix.size()) == kStatusSuffix) {
    const std::string_view instance = topic.substr(
        kStatusPrefix.size(), topic.size() - kStatusPrefix.size() - kStatusSuffix.size());
    if (instance != self_ && instance.substr(0, peer_prefix_.size()) == peer_prefix_ &&
        instance.size() == self_.size()) {
      online_[std::string(instance)] = StringField(payload, "state") == "online";
    }
    return true;
  }
  return false;
}

bool WriterLease::PeerOnline(const std::string& instance) const {
  const auto it = online_.find(instance);
  return it != online_.end() && it->second;
}

void WriterLease::OnHeartbeat(std::string_view instance, std::string_view payload,
                              std::int64_t now) {
  if (instance == self_) {
    echoed_ = true;
    if (resume_beat_ && UIntField(payload, "n") >= *resume_beat_) resume_beat_.reset();
  } else if (instance.size() == self_.size() &&
             instance.substr(0, peer_prefix_.size()) == peer_prefix_) {
    heard_[std::string(instance)] = now;
  }
}

bool WriterLease::PeerSilent(const std::string& instance, std::int64_t now) const {
  if (timeout_ <= 0 || !echoed_) return false;  // heartbeats do not flow: silence proves nothing
  const auto it = heard_.find(instance);
  const std::int64_t since = it == heard_.end() ? up_since_ : std::max(it->second, up_since_);
  return now - since >= timeout_;
}

std::optional<std::string> WriterLease::Poll(std::int64_t now) {
  if (timeout_ > 0 && last_poll_ && now - *last_poll_ >= timeout_) {
    // This replica's loop stalled: what it knows of its peers is old, and as the holder it may
    // have been deposed meanwhile. Settle again; write only after its next heartbeat's echo.
    up_since_ = now;
    resume_beat_ = beats_ + 1;
    resume_deadline_ = now + 3 * timeout_;
    last_beat_.reset();  // that heartbeat is due now
  }
  last_poll_ = now;
  if (resume_beat_ && now >= resume_deadline_) resume_beat_.reset();  // its echo never came
  if (!up_ || now - up_since_ < settle_) {
    writer_ = false;
    return std::nullopt;
  }
  std::optional<std::string> claim;
  const bool holder_alive =
      !holder_.empty() &&
      (holder_ == self_ || (PeerOnline(holder_) && !PeerSilent(holder_, now)));
  if (!holder_alive && (!last_claim_ || now - *last_claim_ >= 3 * settle_)) {
    last_claim_ = now;
    claim = ClaimPayload(self_, now);
  }
  writer_ = holder_ == self_ && now - holder_since_ >= settle_ && !resume_beat_;
  return claim;
}

std::optional<std::string> WriterLease::Heartbeat(std::int64_t now) {
  if (timeout_ <= 0 || !up_ || (last_beat_ && now - *last_beat_ < timeout_ / 5)) {
    return std::nullopt;
  }
  last_beat_ = now;
  std::string out;
  protocol::JsonWriter w(out);
  w.BeginObject()
      .Field("v", 1)
      .Field("instance", self_)
      .Field("n", ++beats_)
      .Field("ts", static_cast<double>(now) / 1e9)
      .EndObject();
  return out;
}

std::string WriterLease::ClaimPayload(std::string_view holder, std::int64_t now) {
  std::string out;
  protocol::JsonWriter w(out);
  w.BeginObject()
      .Field("v", 1)
      .Field("holder", holder)
      .Field("ts", static_cast<double>(now) / 1e9)
      .EndObject();
  return out;
}

std::string WriterLease::HolderOf(std::string_view payload) {
  return std::string(StringField(payload, "holder"));
}

}  // namespace needlewatch::cluster
