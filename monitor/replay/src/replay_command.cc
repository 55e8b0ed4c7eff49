// `needlewatch replay`: open every input, merge by receive time, select, feed each record to
// the engine on the recorded clock through control::ApplyRecord (as the live daemon does),
// report. `replay --publish` is monitor/republish's, dispatched by the app.
#include "needlewatch/replay/replay_command.h"

#include <ostream>
#include <utility>

#include "needlewatch/config/config.h"
#include "needlewatch/control/apply.h"
#include "needlewatch/engine/engine.h"
#include "needlewatch/record/raw_message.h"
#include "needlewatch/replay/input.h"
#include "needlewatch/replay/progress.h"
#include "needlewatch/replay/report.h"
#include "needlewatch/replay/source.h"

namespace needlewatch::replay {
namespace {

// Counts the records one file yields, for the report's file table.
class Counting : public MessageSource {
 public:
  explicit Counting(std::unique_ptr<MessageSource> s) : inner_(std::move(s)) {}
  bool Next(record::RawMessage& m) override {
    if (!inner_->Next(m)) return false;
    ++count_;
    return true;
  }
  std::uint64_t lines_skipped() const override { return inner_->lines_skipped(); }
  FileFormat format() const override { return inner_->format(); }
  const std::string& path() const override { return inner_->path(); }
  void SeekTo(std::int64_t from_ns) override { inner_->SeekTo(from_ns); }
  bool LatestBefore(std::string_view topic, std::int64_t before_ns,
                    record::RawMessage& out) override {
    return inner_->LatestBefore(topic, before_ns, out);
  }
  std::uint64_t chunks_loaded() const override { return inner_->chunks_loaded(); }
  std::string error() const override { return inner_->error(); }
  std::uint64_t bytes_done() const override { return inner_->bytes_done(); }
  std::uint64_t bytes_total() const override { return inner_->bytes_total(); }
  std::uint64_t count() const { return count_; }

 private:
  std::unique_ptr<MessageSource> inner_;
  std::uint64_t count_ = 0;
};

// One replay: the engine, fed every selected record, and the report it fills.
class Run {
 public:
  Run(const config::Config& cfg, bool user_config, const Selection& selection, Report& report,
      bool keep_series)
      : cfg_(cfg),
        selection_(selection),
        report_(report),
        engine_(cfg.limits, cfg.engine),
        builder_(report, keep_series, &engine_) {
    options_.ignore_recorded_limits = user_config;
  }

  // The limits in force at --from: the latest recorded before it (the seek skipped it).
  void StartAt(MessageSource& input, std::int64_t from) {
    record::RawMessage before;
    if (input.LatestBefore(control::kLimitsTopic, from, before)) ApplyLimits(before);
  }
  void Feed(MessageSource& input, Progress& progress) {
    record::RawMessage m;
    while (input.Next(m)) {
      Take(m);
      progress.Tick(report_.records, [&input] { return input.bytes_done(); });
    }
    progress.Finish(report_.records);
    // Nothing is raised after the last record: no AdvanceTo past it.
    builder_.Finish(engine_);
  }
  const engine::Engine& engine() const { return engine_; }

 private:
  void Take(const record::RawMessage& m) {
    ++report_.records;
    if (m.topic == control::kLimitsTopic) {
      // Limits are state, not events: applied even before --from, so the window starts with
      // the limits the daemon had then.
      if (!selection_.BeforeEnd(m.receive_ns)) return;
      if (m.payload == last_limits_) {
        ++report_.limits_repeats;  // repeated at a segment start: nothing changes
        return;
      }
      ApplyLimits(m);
      return;
    }
    if (!selection_.InWindow(m.receive_ns)) return;
    if (m.topic == control::kAckTopic) {
      if (selection_.selects_devices()) {
        std::string error;
        const auto ack = control::DecodeAck(m.payload, &error);
        if (!ack || !selection_.KeepDevice(ack->clinic, ack->device)) return;
      }
      AckRow row;
      row.at = m.receive_ns;
      const control::Applied a = Apply(m);
      if (a.ack) {
        row.clinic = a.ack->clinic;
        row.device = a.ack->device;
        row.alarm = a.ack->alarm;
      }
      row.result = a.ack_result ? std::string(control::AckResultName(*a.ack_result)) : "bad_ack";
      report_.acks.push_back(std::move(row));
      return;
    }
    // Catch-up concerns every device (late messages, held deadlines): kept with any selection.
    if (m.topic == control::kCatchUpTopic) {
      Apply(m);
      return;
    }
    if (!selection_.KeepTopic(m.topic)) return;
    Apply(m);
  }

  control::Applied Apply(const record::RawMessage& m) {
    ++report_.records_kept;
    if (!report_.first_record_at) report_.first_record_at = m.receive_ns;
    report_.last_record_at = m.receive_ns;
    return control::ApplyRecord({m.receive_ns, m.topic, m.payload}, engine_, builder_,
                                options_);
  }

  void ApplyLimits(const record::RawMessage& m) {
    last_limits_ = m.payload;
    const control::Applied a =
        control::ApplyRecord({m.receive_ns, m.topic, m.payload}, engine_, builder_, options_);
    LimitsRow row;
    row.at = m.receive_ns;
    if (a.limits) {
      row.reason = a.limits->reason;
      row.source = a.limits->source;
    }
    row.result = a.limits_result;
    row.error = a.error;
    if (a.limits_result == "ignored") row.error = "--config.file given: its limits apply throughout";
    if (a.limits_result == "applied" && a.limits_topic_root != cfg_.engine.topic_root) {
      row.error = "the daemon's topic root was \"" + a.limits_topic_root +
                  "\"; pass its file with --config.file to replay with it";
    }
    report_.limits.push_back(std::move(row));
  }

  const config::Config& cfg_;
  const Selection& selection_;
  Report& report_;
  engine::Engine engine_;
  ReportBuilder builder_;
  control::ApplyOptions options_;
  std::string last_limits_;
};

std::optional<config::Config> LoadConfig(const ReplayCommandOptions& options, std::ostream& err) {
  if (!options.config_file) return config::DefaultConfig();
  config::LoadResult loaded = config::LoadConfigFile(*options.config_file);
  if (!loaded.ok()) {
    for (const std::string& e : loaded.errors) err << e << "\n";
    return std::nullopt;
  }
  return std::move(*loaded.config);
}

void WriteReport(const ReplayCommandOptions& options, const Report& report, std::ostream& out) {
  if (options.format == "json") {
    WriteJson(report, out);
  } else if (options.format == "csv") {
    WriteCsv(report, out);
  } else if (options.format == "html") {
    WriteHtml(report, out);
  } else {
    WriteText(report, out);
  }
  out.flush();
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
  const std::optional<config::Config> cfg = LoadConfig(options, err);
  if (!cfg) return 1;
  const std::optional<Selection> selection =
      Selection::Parse(options, cfg->engine.topic_root, err);
  if (!selection) return 1;
  std::optional<engine::Severity> fail_on;
  if (options.fail_on && !(fail_on = engine::ParseSeverity(*options.fail_on))) {
    err << "replay: --fail-on: expected low, medium or high, got \"" << *options.fail_on << "\"\n";
    return 1;
  }
  record::McapReaderOptions mcap;
  if (options.mcap_max_memory) {
    const auto bytes = config::ParseByteSize(*options.mcap_max_memory);
    if (!bytes || *bytes == 0) {
      err << "replay: --mcap.max-memory: expected a size in bytes, e.g. 512MiB, got \""
          << *options.mcap_max_memory << "\"\n";
      return 1;
    }
    mcap.max_memory_bytes = *bytes;
  }
  std::vector<std::unique_ptr<MessageSource>> files = OpenInputs(options.files, err, mcap);
  if (files.empty()) return 1;

  std::vector<const Counting*> counted;
  for (auto& f : files) {
    auto c = std::make_unique<Counting>(std::move(f));
    counted.push_back(c.get());
    f = std::move(c);
  }
  MergedSource input(std::move(files));
  // Recordings skip what lies before --from through their chunk index (no full scan); the
  // window still applies to every record.
  if (selection->from()) input.SeekTo(*selection->from());

  Report report;
  report.filters = selection->described();
  Run run(*cfg, options.config_file.has_value(), *selection, report, options.format == "html");
  if (selection->from()) run.StartAt(input, *selection->from());
  ProgressOptions po;
  po.enabled = options.progress == ReplayCommandOptions::Progress::kAlways ||
               (options.progress == ReplayCommandOptions::Progress::kAuto && StderrIsTerminal());
  Progress progress(err, po, input.bytes_total());
  run.Feed(input, progress);
  if (const std::string e = input.error(); !e.empty()) {
    err << "replay: " << e << "\n";  // a partial report would mislead
    return 1;
  }

  for (const Counting* c : counted) {
    report.files.push_back(
        {c->path(), std::string(FileFormatName(c->format())), c->count(), c->lines_skipped()});
  }
  report.lines_skipped = input.lines_skipped();
  WriteReport(options, report, out);
  if (fail_on) {
    for (const AlarmRow& a : report.alarms) {
      if (a.severity >= *fail_on) return kExitAlarm;
    }
  }
  return 0;
}

}  // namespace needlewatch::replay
