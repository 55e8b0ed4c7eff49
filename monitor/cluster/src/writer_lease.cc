#include "needlewatch/cluster/writer_lease.h"

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

}  // namespace

WriterLease::WriterLease(std::string self, std::uint32_t shard, std::int64_t settle_ns)
    : self_(std::move(self)),
      peer_prefix_(self_.substr(0, self_.empty() ? 0 : self_.size() - 1)),
      lease_topic_("needlewatch/shard/" + std::to_string(shard) + "/writer"),
      settle_(settle_ns) {}

void WriterLease::SetUp(bool up, std::int64_t now) {
  if (up && !up_) up_since_ = now;
  up_ = up;
  if (!up) writer_ = false;
}

bool WriterLease::OnMessage(std::string_view topic, std::string_view payload, std::int64_t now) {
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

std::optional<std::string> WriterLease::Poll(std::int64_t now) {
  if (!up_ || now - up_since_ < settle_) {
    writer_ = false;
    return std::nullopt;
  }
  std::optional<std::string> claim;
  const bool holder_alive = !holder_.empty() && (holder_ == self_ || PeerOnline(holder_));
  if (!holder_alive && (!last_claim_ || now - *last_claim_ >= 3 * settle_)) {
    last_claim_ = now;
    claim = ClaimPayload(self_, now);
  }
  writer_ = holder_ == self_ && now - holder_since_ >= settle_;
  return claim;
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
