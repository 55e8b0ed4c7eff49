#include "needlewatch/replay/input.h"

#include <ostream>

namespace needlewatch::replay {

std::optional<Selection> Selection::Parse(const ReplayCommandOptions& o, std::string topic_root,
                                          std::ostream& err) {
  Selection s;
  s.root_ = std::move(topic_root);
  const auto time = [&](const std::optional<std::string>& text, const char* flag,
                        std::optional<std::int64_t>& out) {
    if (!text) return true;
    out = ParseTimeArgument(*text);
    if (!out) {
      err << "replay: " << flag << ": expected an RFC 3339 time or epoch seconds, got \""
          << *text << "\"\n";
      return false;
    }
    s.described_.emplace_back(flag + 2, *text);
    return true;
  };
  if (!time(o.from, "--from", s.from_) || !time(o.to, "--to", s.to_)) return std::nullopt;
  s.clinic_ = o.clinic;
  s.device_ = o.device;
  if (o.clinic) s.described_.emplace_back("clinic", *o.clinic);
  if (o.device) s.described_.emplace_back("device", *o.device);
  return s;
}

bool Selection::KeepTopic(std::string_view topic) const {
  if (!selects_devices()) return true;
  // Levels 1..3 after the root: clinic, "device", device.
  if (!topic.starts_with(root_) || topic.size() <= root_.size() || topic[root_.size()] != '/') {
    return false;
  }
  std::string_view rest = topic.substr(root_.size() + 1);
  const auto s1 = rest.find('/');
  if (s1 == std::string_view::npos) return false;
  if (clinic_ && rest.substr(0, s1) != *clinic_) return false;
  if (!device_) return true;
  rest = rest.substr(s1 + 1);
  if (!rest.starts_with("device/")) return false;
  rest = rest.substr(7);
  return rest.substr(0, rest.find('/')) == *device_;
}

bool Selection::KeepDevice(std::string_view clinic, std::string_view device) const {
  return (!clinic_ || clinic == *clinic_) && (!device_ || device == *device_);
}

std::vector<std::unique_ptr<MessageSource>> OpenInputs(const std::vector<std::string>& files,
                                                       std::ostream& err,
                                                       const record::McapReaderOptions& mcap) {
  std::vector<std::unique_ptr<MessageSource>> sources;
  for (const std::string& path : files) {
    std::string error;
    auto source = OpenSource(path, err, &error, mcap);
    if (!source) {
      err << "replay: " << error << "\n";
      return {};
    }
    sources.push_back(std::move(source));
  }
  return sources;
}

}  // namespace needlewatch::replay
