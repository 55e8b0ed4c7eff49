// `needlewatch replay`: open every input, merge by receive time, filter, drive the engine on
// the recorded clock, report.
#include "needlewatch/replay/replay_command.h"

#include <nlohmann/json.hpp>
#include <ostream>
#include <utility>

#include "needlewatch/config/config.h"
#include "needlewatch/engine/engine.h"
#include "needlewatch/protocol/message.h"
#include "needlewatch/protocol/topic.h"
#include "needlewatch/record/raw_message.h"
#include "needlewatch/republish/republish.h"
#include "needlewatch/replay/report.h"
#include "needlewatch/replay/source.h"

namespace needlewatch::replay {
namespace {

// Keeps a record when its topic belongs to the clinic/device asked for:
// {root}/{clinic}/device/{device}/… (malformed payloads there are kept, so they are counted).
// Acknowledgement records are matched on their payload's clinic and device.
class TopicFilter {
 public:
  TopicFilter(std::string root, std::optional<std::string> clinic,
              std::optional<std::string> device)
      : root_(std::move(root)), clinic_(std::move(clinic)), device_(std::move(device)) {}
  bool active() const { return clinic_ || device_; }
  bool Keep(std::string_view topic) const {
    // Levels 1..3 after the root: clinic, "device", device.
    if (!topic.starts_with(root_) || topic.size() <= root_.size() ||
        topic[root_.size()] != '/') {
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
  bool KeepAck(std::string_view clinic, std::string_view device) const {
    return (!clinic_ || clinic == *clinic_) && (!device_ || device == *device_);
  }

 private:
  std::string root_;
  std::optional<std::string> clinic_, device_;
};

const char* AckResultName(engine::AckResult r) {
  switch (r) {
    case engine::AckResult::kAcknowledged:
      return "acknowledged";
    case engine::AckResult::kCleared:
      return "cleared";
    case engine::AckResult::kAlreadyAcknowledged:
      return "already_acknowledged";
    case engine::AckResult::kNotFound:
      return "not_found";
  }
  return "?";
}

// Applies one `$needlewatch/limits` record (see record::kLimitsTopic) the way the daemon did:
// engine.SetLimits at the record's time. With --config.file the user's limits stay.
LimitsRow ApplyRecordedLimits(const record::RawMessage& m, bool user_config,
                              const std::string& topic_root, engine::Engine& eng,
                              engine::Sink& sink) {
  LimitsRow row;
  row.at = m.receive_ns;
  const auto j = nlohmann::json::parse(m.payload, nullptr, false);
  if (!j.is_object() || !j.contains("yaml") || !j["yaml"].is_string()) {
    row.result = "bad_limits";
    row.error = "expected a JSON object with a \"yaml\" string";
    return row;
  }
  if (j.contains("reason") && j["reason"].is_string()) row.reason = j["reason"].get<std::string>();
  if (j.contains("source") && j["source"].is_string()) row.source = j["source"].get<std::string>();
  if (user_config) {
    row.result = "ignored";
    row.error = "--config.file given: its limits apply throughout";
    return row;
  }
  config::LoadResult loaded = config::LoadConfigString(
      j["yaml"].get<std::string>(), row.source.empty() ? "recorded limits" : row.source);
  if (!loaded.ok()) {
    row.result = "bad_limits";
    row.error = loaded.errors.empty() ? "invalid" : loaded.errors.front();
    return row;
  }
  eng.SetLimits(std::move(loaded.config->limits), m.receive_ns, sink);
  row.result = "applied";
  if (loaded.config->engine.topic_root != topic_root) {
    row.error = "the daemon's topic root was \"" + loaded.config->engine.topic_root +
                "\"; pass its file with --config.file to replay with it";
  }
  return row;
}

}  // namespace

int RunReplayCommand(const ReplayCommandOptions& options, std::ostream& out, std::ostream& err) {
  if (options.format != "text" && options.format != "json" && options.format != "csv" &&
      options.format != "html") {
    err << "replay: --format must be text, json, csv or html, got \"" << options.format << "\"\n";
    return 1;
  }
  if (options.files.empty()) {
    err << "replay: no input files\n";
    return 1;
  }
  config::Config cfg;
  if (options.config_file) {
    config::LoadResult loaded = config::LoadConfigFile(*options.config_file);
    if (!loaded.ok()) {
      for (const std::string& e : loaded.errors) err << e << "\n";
      return 1;
    }
    cfg = std::move(*loaded.config);
  } else {
    cfg = config::DefaultConfig();
  }

  Report report;
  std::optional<std::int64_t> from, to;
  if (options.from) {
    from = ParseTimeArgument(*options.from);
    if (!from) {
      err << "replay: --from: expected an RFC 3339 time or epoch seconds, got \""
          << *options.from << "\"\n";
      return 1;
    }
    report.filters.emplace_back("from", *options.from);
  }
  if (options.to) {
    to = ParseTimeArgument(*options.to);
    if (!to) {
      err << "replay: --to: expected an RFC 3339 time or epoch seconds, got \"" << *options.to
          << "\"\n";
      return 1;
    }
    report.filters.emplace_back("to", *options.to);
  }
  if (options.clinic) report.filters.emplace_back("clinic", *options.clinic);
  if (options.device) report.filters.emplace_back("device", *options.device);
  const TopicFilter topic_filter(cfg.engine.topic_root, options.clinic, options.device);

  // Opens every input file; false (after saying why on `err`) when one cannot be read.
  const auto open_all = [&](std::vector<std::unique_ptr<MessageSource>>& sources) {
    sources.clear();
    for (const std::string& path : options.files) {
      std::string error;
      auto source = OpenSource(path, err, &error);
      if (!source) {
        err << "replay: " << error << "\n";
        return false;
      }
      sources.push_back(std::move(source));
    }
    return true;
  };

  if (options.publish_url) {
    // Republish the same merged, filtered stream to a broker instead of reporting.
    const std::optional<double> speed = republish::ParseSpeed(options.speed);
    if (!speed) {
      err << "replay: --speed must be a positive factor (1, 2, 0.5) or max, got \""
          << options.speed << "\"\n";
      return 1;
    }
    std::unique_ptr<MergedSource> input;
    const auto open = [&]() -> bool {
      std::vector<std::unique_ptr<MessageSource>> sources;
      if (!open_all(sources)) return false;
      input = std::make_unique<MergedSource>(std::move(sources));
      if (from) input->SeekTo(*from);  // recordings: through the chunk index
      return true;
    };
    if (!open()) return 1;
    const auto next = [&](record::RawMessage& msg) {
      while (input->Next(msg)) {
        if ((from && msg.receive_ns < *from) || (to && msg.receive_ns >= *to)) continue;
        if (topic_filter.active() && !topic_filter.Keep(msg.topic)) continue;
        return true;
      }
      return false;
    };
    republish::RepublishOptions ro;
    ro.url = *options.publish_url;
    ro.speed = *speed;
    ro.loop = options.loop;
    ro.stop_on_signals = true;
    return republish::Republish(ro, next, open, out, err);
  }

  std::vector<std::unique_ptr<MessageSource>> sources;
  if (!open_all(sources)) return 1;
  // Per-file record counts: wrap each source to count what it yields.
  struct Counting : MessageSource {
    Counting(std::unique_ptr<MessageSource> s, std::uint64_t* n) : inner(std::move(s)), count(n) {}
    bool Next(record::RawMessage& m) override {
      if (!inner->Next(m)) return false;
      ++*count;
      return true;
    }
    std::uint64_t lines_skipped() const override { return inner->lines_skipped(); }
    FileFormat format() const override { return inner->format(); }
    const std::string& path() const override { return inner->path(); }
    void SeekTo(std::int64_t from_ns) override { inner->SeekTo(from_ns); }
    bool LatestBefore(std::string_view topic, std::int64_t before_ns,
                      record::RawMessage& out) override {
      return inner->LatestBefore(topic, before_ns, out);
    }
    std::uint64_t chunks_loaded() const override { return inner->chunks_loaded(); }
    std::unique_ptr<MessageSource> inner;
    std::uint64_t* count;
  };
  std::vector<std::uint64_t> per_file(sources.size(), 0);
  for (std::size_t i = 0; i < sources.size(); ++i) {
    sources[i] = std::make_unique<Counting>(std::move(sources[i]), &per_file[i]);
  }
  MergedSource input(std::move(sources));
  // Recordings skip what lies before --from through their chunk index (no full scan); the
  // time filter below still applies to every record.
  if (from) input.SeekTo(*from);

  engine::Engine eng(cfg.limits, cfg.engine);
  const bool want_series = options.format == "html";
  ReportBuilder builder(report, want_series);
  record::RawMessage m;
  std::string last_limits;
  const auto apply_limits = [&](const record::RawMessage& r) {
    last_limits = r.payload;
    report.limits.push_back(ApplyRecordedLimits(r, options.config_file.has_value(),
                                                cfg.engine.topic_root, eng, builder));
  };
  if (from) {
    // The seek skipped what lies before --from, the limits in force then included: find the
    // latest recorded limits before it and start with those.
    record::RawMessage before;
    if (input.LatestBefore(record::kLimitsTopic, *from, before)) apply_limits(before);
  }
  while (input.Next(m)) {
    ++report.records;
    if (m.topic == record::kLimitsTopic) {
      // Limits are state, not events: applied even before --from, so the window starts with
      // the limits the daemon had then.
      if (to && m.receive_ns >= *to) continue;
      if (m.payload == last_limits) {
        ++report.limits_repeats;  // repeated at a segment start: nothing changes
        continue;
      }
      apply_limits(m);
      continue;
    }
    if ((from && m.receive_ns < *from) || (to && m.receive_ns >= *to)) continue;
    if (m.topic == record::kAckTopic) {
      AckRow ack;
      ack.at = m.receive_ns;
      const auto j = nlohmann::json::parse(m.payload, nullptr, false);
      const bool ok = j.is_object() && j.contains("clinic") && j["clinic"].is_string() &&
                      j.contains("device") && j["device"].is_string() &&
                      j.contains("alarm") && j["alarm"].is_string();
      if (ok) {
        ack.clinic = j["clinic"].get<std::string>();
        ack.device = j["device"].get<std::string>();
        ack.alarm = j["alarm"].get<std::string>();
      }
      if (topic_filter.active() && (!ok || !topic_filter.KeepAck(ack.clinic, ack.device))) {
        continue;
      }
      ++report.records_kept;
      if (!report.first_record_at) report.first_record_at = m.receive_ns;
      report.last_record_at = m.receive_ns;
      const auto kind = ok ? engine::ParseAlarmName(ack.alarm) : std::nullopt;
      if (!kind) {
        ack.result = "bad_ack";
        eng.AdvanceTo(m.receive_ns, builder);  // every record moves the clock
      } else {
        ack.result =
            AckResultName(eng.Acknowledge(ack.clinic, ack.device, *kind, m.receive_ns, builder));
      }
      report.acks.push_back(std::move(ack));
      continue;
    }
    if (topic_filter.active() && !topic_filter.Keep(m.topic)) continue;
    ++report.records_kept;
    if (!report.first_record_at) report.first_record_at = m.receive_ns;
    report.last_record_at = m.receive_ns;
    eng.OnMessage(m.topic, m.payload, m.receive_ns, builder);
  }
  // Nothing is raised after the last record: no AdvanceTo past it.
  builder.Finish(eng);
  for (std::size_t i = 0; i < input.sources().size(); ++i) {
    const MessageSource& s = *input.sources()[i];
    report.files.push_back(
        {s.path(), std::string(FileFormatName(s.format())), per_file[i], s.lines_skipped()});
  }
  report.lines_skipped = input.lines_skipped();

  if (options.format == "json") {
    WriteJson(report, out);
  } else if (options.format == "csv") {
    WriteCsv(report, out);
  } else if (options.format == "html") {
    WriteHtml(report, eng.limits(), out);  // the limits in effect at the end
  } else {
    WriteText(report, out);
  }
  out.flush();
  return 0;
}

}  // namespace needlewatch::replay
