#include "needlewatch/republish/republish_command.h"

#include <memory>
#include <ostream>

#include "needlewatch/config/config.h"
#include "needlewatch/replay/input.h"
#include "needlewatch/republish/republish.h"

namespace needlewatch::republish {

int RunRepublishCommand(const replay::ReplayCommandOptions& options, std::ostream& out,
                        std::ostream& err) {
  if (!options.publish_url) {
    err << "replay: --publish: no broker URL\n";
    return 1;
  }
  if (options.files.empty()) {
    err << "replay: no input files\n";
    return 1;
  }
  const std::optional<double> speed = ParseSpeed(options.speed);
  if (!speed) {
    err << "replay: --speed must be a positive factor (1, 2, 0.5) or max, got \"" << options.speed
        << "\"\n";
    return 1;
  }
  // Only the topic root matters here: recorded limits are not republished.
  std::string root = config::DefaultConfig().engine.topic_root;
  if (options.config_file) {
    config::LoadResult loaded = config::LoadConfigFile(*options.config_file);
    if (!loaded.ok()) {
      for (const std::string& e : loaded.errors) err << e << "\n";
      return 1;
    }
    root = loaded.config->engine.topic_root;
  }
  const std::optional<replay::Selection> selection =
      replay::Selection::Parse(options, root, err);
  if (!selection) return 1;

  std::unique_ptr<replay::MergedSource> input;
  const auto open = [&]() -> bool {
    std::vector<std::unique_ptr<replay::MessageSource>> files =
        replay::OpenInputs(options.files, err);
    if (files.empty()) return false;
    input = std::make_unique<replay::MergedSource>(std::move(files));
    if (selection->from()) input->SeekTo(*selection->from());  // recordings: through the index
    return true;
  };
  if (!open()) return 1;
  const auto next = [&](record::RawMessage& msg) {
    while (input->Next(msg)) {
      if (!selection->InWindow(msg.receive_ns) || !selection->KeepTopic(msg.topic)) continue;
      return true;
    }
    return false;
  };
  RepublishOptions ro;
  ro.url = *options.publish_url;
  ro.speed = *speed;
  ro.loop = options.loop;
  ro.stop_on_signals = true;
  return Republish(ro, next, open, out, err);
}

}  // namespace needlewatch::republish
