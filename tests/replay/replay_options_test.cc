// Replay for engineers: --fail-on, the progress line, the reader's memory budget, and a
// recording with rejected (truncated) messages counting them as the live engine did.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "needlewatch/config/config.h"
#include "needlewatch/engine/engine.h"
#include "needlewatch/protocol/reject.h"
#include "needlewatch/record/recorder.h"
#include "needlewatch/replay/progress.h"
#include "needlewatch/replay/replay_command.h"

namespace needlewatch::replay {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kData = NW_REPLAY_TESTDATA;

struct Outcome {
  int rc = 0;
  std::string out, err;
};

Outcome Replay(std::vector<std::string> files, ReplayCommandOptions o = {}) {
  o.files = std::move(files);
  if (o.format == "text") o.format = "json";
  std::ostringstream out, err;
  Outcome r;
  r.rc = RunReplayCommand(o, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

// ---- --fail-on ----

TEST(FailOnTest, ExitsThreeWhenAnAlarmOfThatSeverityOrHigherWasRaised) {
  const std::string high = (kData / "depth-exceeded-forehead.txt").string();  // high + low
  const std::string medium = (kData / "speed-out-of-range-for-1s.txt").string();
  ReplayCommandOptions o;
  EXPECT_EQ(Replay({high}, o).rc, 0);  // no --fail-on: 0 whatever was raised
  o.fail_on = "high";
  Outcome r = Replay({high}, o);
  EXPECT_EQ(r.rc, kExitAlarm);
  EXPECT_THAT(r.out, HasSubstr("\"alarms\""));  // the report is still written
  EXPECT_EQ(Replay({medium}, o).rc, 0);
  o.fail_on = "medium";
  EXPECT_EQ(Replay({medium}, o).rc, kExitAlarm);
  o.fail_on = "low";
  EXPECT_EQ(Replay({medium}, o).rc, kExitAlarm);
  EXPECT_EQ(Replay({(kData / "session-switch.txt").string()}, o).rc, 0);  // no alarms at all
  o.fail_on = "severe";
  r = Replay({high}, o);
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("--fail-on: expected low, medium or high, got \"severe\""));
}

// ---- progress ----

struct FakeClock {
  std::int64_t now = 0;
  std::function<std::int64_t()> fn() {
    return [this] { return now; };
  }
};

TEST(ProgressTest, QuietForShortRunsThenRateAndEtaForLongOnes) {
  FakeClock clock;
  std::ostringstream out;
  ProgressOptions o;
  o.enabled = true;
  o.now_ns = clock.fn();
  Progress p(out, o, 1000);  // a small input: nothing until first_after
  std::uint64_t done = 0;
  for (int i = 1; i <= 5000; ++i) p.Tick(i, [&] { return done; });
  EXPECT_EQ(out.str(), "");
  clock.now = 2'000'000'000;  // 2 s in, a quarter through
  done = 250;
  for (int i = 5001; i <= 10240; ++i) p.Tick(i, [&] { return done; });
  // The first check after first_after shows it (the clock is read every 1024 records).
  EXPECT_EQ(out.str(), "\r\x1b[Kreplay: 5,120 records   25%  2,560/s  ETA 0:06");
  // Rewritten at most every interval.
  const std::string before = out.str();
  for (int i = 10241; i <= 20480; ++i) p.Tick(i, [&] { return done; });
  EXPECT_EQ(out.str(), before);
  clock.now = 4'000'000'000;
  p.Finish(20480);
  EXPECT_THAT(out.str(), HasSubstr("\r\x1b[Kreplay: 20,480 records in 4.0 s (5,120/s)\n"));
}

TEST(ProgressTest, BigInputShowsTheLineAtOnceAndDisabledPrintsNothing) {
  FakeClock clock;
  std::ostringstream out;
  ProgressOptions o;
  o.enabled = true;
  o.now_ns = clock.fn();
  Progress p(out, o, 64ULL << 20);
  EXPECT_EQ(out.str(), "\r\x1b[Kreplay: 0 records    0%  0/s");
  std::ostringstream quiet;
  o.enabled = false;
  Progress q(quiet, o, 64ULL << 20);
  clock.now = 10'000'000'000;
  for (int i = 1; i <= 5000; ++i) q.Tick(i, [] { return 1; });
  q.Finish(5000);
  EXPECT_EQ(quiet.str(), "");
  EXPECT_EQ(Progress::Line(3'725, 12.0, -1, -1), "replay: 3,725 records  12/s");
  EXPECT_EQ(Progress::Line(1, 1.0, 0.5, 3725), "replay: 1 records   50%  1/s  ETA 1:02:05");
}

TEST(ProgressTest, ReplayWithProgressAlwaysLeavesASummaryOnStderrOnly) {
  ReplayCommandOptions o;
  o.progress = ReplayCommandOptions::Progress::kAlways;
  // Not a long run: the summary appears only when a line was shown; an input this small
  // finishes before first_after, so stderr stays clean and stdout holds only the report.
  const Outcome r = Replay({(kData / "stale-then-resume.txt").string()}, o);
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.err.find('\r'), std::string::npos);
  EXPECT_EQ(r.out.find('\r'), std::string::npos);
}

// ---- the MCAP reader's budget, through replay ----

TEST(ReplayBudgetTest, RecordingBeyondTheMemoryBudgetFailsWithoutAReport) {
  // A recording whose chunks overlap in time (written out of order by hand): at 1 MiB of
  // budget the reader must stop; with the default it reads.
  const fs::path dir = fs::temp_directory_path() / ("nw-budget-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  record::RecorderOptions ro;
  ro.dir = dir.string();
  ro.chunk_max_bytes = 256 << 10;
  std::string error;
  auto rec = record::Recorder::Start(ro, &error);
  ASSERT_NE(rec, nullptr) << error;
  for (int i = 0; i < 20000; ++i) {
    record::RawMessage m;
    m.receive_ns = 1'795'611'133'000'000'000LL + i * 1'000'000LL;
    m.topic = "clinic/c1/device/d1/telemetry";
    m.payload = "{\"v\":1,\"seq\":" + std::to_string(i + 1) +
                ",\"ts\":1,\"session\":\"S\",\"zone\":\"cheek\",\"depth_mm\":0.5,"
                "\"speed_hz\":100,\"pad\":\"" + std::string(200, 'p') + "\"}";
    ASSERT_TRUE(rec->Submit(std::move(m)));
  }
  rec->Stop();
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().string());
  ReplayCommandOptions o;
  o.mcap_max_memory = "200KiB";  // below one 256 KiB chunk
  Outcome r = Replay(files, o);
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("over the reader's memory budget of 204800 bytes"));
  EXPECT_EQ(r.out, "");
  o.mcap_max_memory = "lots";
  r = Replay(files, o);
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("--mcap.max-memory: expected a size in bytes"));
  o.mcap_max_memory.reset();
  r = Replay(files, o);
  EXPECT_EQ(r.rc, 0) << r.err;
  fs::remove_all(dir);
}

// ---- rejected messages: live counts == replay counts ----

// What the daemon does: apply each message to its engine, note the reason it was rejected,
// and hand the record (with that reason) to the recorder.
class RejectNote : public engine::Sink {
 public:
  void OnReject(const engine::RejectInfo& r) override { reason = r.reason; }
  protocol::Reject reason = protocol::Reject::kNone;
};

TEST(ReplayRejectedTest, TruncatedJunkIsRejectedForTheSameReasonAsLive) {
  const fs::path dir = fs::temp_directory_path() / ("nw-rejected-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  record::RecorderOptions ro;
  ro.dir = dir.string();
  std::string error;
  auto rec = record::Recorder::Start(ro, &error);
  ASSERT_NE(rec, nullptr) << error;
  engine::Engine live(config::DefaultConfig().limits);
  const std::string root = "clinic/c1/device/d1/";
  const std::vector<std::pair<std::string, std::string>> input = {
      {root + "event",
       R"({"v":1,"seq":1,"ts":1,"event":"session_start","session":"S1","zone":"cheek"})"},
      {root + "telemetry", std::string(10'000, '{')},                 // too_large
      {root + "telemetry", "{\"v\":1," + std::string(5000, ' ') + "}"},  // too_large, JSON-ish
      {root + "telemetry", R"({"v":1,"seq":2,"ts":1,"session":"S1","zone":"cheek","depth_mm":0.5,"speed_hz":100})"},
      {root + "telemetry", "{not json"},                               // bad_json
      {root + "telemetry", R"({"v":2})"},                              // bad_version
      {root + "telemetry", std::string("\xff\xfe\x00", 3)},            // bad_json, binary
      {"clinic/c1/device/d1/bogus", std::string(20'000, 'x')},         // bad_topic, large
      {"junk", "x"},                                                   // bad_topic, no device
      {root + "event", R"({"v":1,"seq":3,"ts":1,"event":"session_end","session":"nope"})"},
      {root + "telemetry", R"({"v":1,"seq":4,"ts":1,"session":"S1","zone":"cheek","depth_mm":1.5,"speed_hz":100})"},
  };
  std::int64_t t = 1'795'611'133'000'000'000LL;
  for (const auto& [topic, payload] : input) {
    t += 100'000'000;
    RejectNote note;
    live.OnMessage(topic, payload, t, note);
    record::RawMessage m;
    record::FillRawMessage(m, t, topic, payload, 1, false,
                           note.reason == protocol::Reject::kNone
                               ? std::string_view()
                               : protocol::RejectName(note.reason));
    ASSERT_TRUE(rec->Submit(std::move(m)));
  }
  rec->Stop();
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 2u);  // accepted and rejected segments
  const Outcome r = Replay(files);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto report = nlohmann::json::parse(r.out);
  const engine::Counters& c = live.counters();
  EXPECT_EQ(report["messages"]["accepted"], c.accepted);
  std::uint64_t total = 0;
  for (std::uint64_t n : c.received) total += n;
  EXPECT_EQ(report["messages"]["total"], total);
  for (protocol::Reject reason : protocol::kAllRejects) {
    EXPECT_EQ(report["messages"]["rejected"][std::string(protocol::RejectName(reason))],
              c.rejected[static_cast<std::size_t>(reason)])
        << protocol::RejectName(reason);
  }
  EXPECT_EQ(c.rejected[static_cast<std::size_t>(protocol::Reject::kTooLarge)], 2u);
  EXPECT_EQ(c.rejected[static_cast<std::size_t>(protocol::Reject::kBadTopic)], 2u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace needlewatch::replay
