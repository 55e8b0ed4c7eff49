// Golden reports: every tests/replay/testdata/NAME.txt replayed with the shipped limits (or with
// NAME.config.yaml where one exists) must give exactly NAME.expected.json (files[].path reduced to the file name). NW_UPDATE_GOLDEN=1
// rewrites the expected files (review the diff before committing). Also: splitting a capture
// into several files gives the same report, %j/%J captures give the same report as %U, and the
// command's errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "needlewatch/replay/replay_command.h"

namespace needlewatch::replay {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

const fs::path kData = NW_REPLAY_TESTDATA;

struct ReplayRun {
  int rc = 0;
  std::string out, err;
};

ReplayRun Replay(const std::vector<std::string>& files, const std::string& format = "json",
           ReplayCommandOptions o = {}) {
  o.format = format;
  o.files = files;
  std::ostringstream out, err;
  ReplayRun r;
  r.rc = RunReplayCommand(o, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

json ReportOf(const ReplayRun& r) {
  EXPECT_EQ(r.rc, 0) << r.err;
  json j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  if (j.is_object() && j.contains("files")) {
    for (auto& f : j["files"]) f["path"] = fs::path(f["path"].get<std::string>()).filename();
  }
  return j;
}

// The report without the parts that describe the input files rather than what happened.
json Essence(json j) {
  j.erase("files");
  j.erase("lines_skipped");
  return j;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, ReportMatchesExpected) {
  const fs::path capture = kData / (GetParam() + ".txt");
  const fs::path expected_path = kData / (GetParam() + ".expected.json");
  const fs::path config = kData / (GetParam() + ".config.yaml");
  ReplayCommandOptions o;
  if (fs::exists(config)) o.config_file = config.string();
  const json got = ReportOf(Replay({capture.string()}, "json", o));
  if (std::getenv("NW_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(expected_path) << got.dump(2) << "\n";
  }
  ASSERT_TRUE(fs::exists(expected_path)) << expected_path;
  const json expected = json::parse(ReadFile(expected_path));
  EXPECT_EQ(got, expected) << "diff: " << json::diff(expected, got).dump(1);
}

INSTANTIATE_TEST_SUITE_P(
    Scenarios, GoldenTest,
    ::testing::Values("depth-exceeded-forehead", "speed-out-of-range-for-1s",
                      "overtime-warning-then-overtime", "stale-then-resume",
                      "offline-lastwill-during-session", "latched-then-ack", "session-switch",
                      "unknown-session-end-rejected", "malformed-payloads-counted",
                      "implicit-session-by-telemetry", "jformat", "Jformat",
                      "zone-change-mid-for"),
    [](const auto& param_info) {
      std::string n = param_info.param;
      for (char& c : n) {
        if (c == '-') c = '_';
      }
      return n;
    });

// Splits `lines` into files and replays them together.
json ReplaySplit(const std::vector<std::vector<std::string>>& parts, const std::string& stem) {
  const fs::path dir = fs::temp_directory_path() / ("nw-replay-split-" + stem + "-" +
                                                    std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<std::string> files;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const fs::path p = dir / ("part" + std::to_string(i) + ".txt");
    std::ofstream f(p);
    for (const auto& l : parts[i]) f << l << "\n";
    files.push_back(p.string());
  }
  json j = ReportOf(Replay(files));
  fs::remove_all(dir);
  return j;
}

std::vector<std::string> Lines(const fs::path& p) {
  std::vector<std::string> lines;
  std::istringstream in(ReadFile(p));
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

TEST(ReplaySplitTest, RoundRobinSplitGivesTheSameReport) {
  const fs::path capture = kData / "depth-exceeded-forehead.txt";
  const json whole = ReportOf(Replay({capture.string()}));
  const auto lines = Lines(capture);
  std::vector<std::vector<std::string>> parts(3);
  for (std::size_t i = 0; i < lines.size(); ++i) parts[i % 3].push_back(lines[i]);
  const json split = ReplaySplit(parts, "rr");
  EXPECT_EQ(Essence(split), Essence(whole));
  EXPECT_EQ(split["files"].size(), 3u);
  EXPECT_EQ(split["files"][0]["records"].get<int>() + split["files"][1]["records"].get<int>() +
                split["files"][2]["records"].get<int>(),
            static_cast<int>(lines.size()));
}

TEST(ReplaySplitTest, ContiguousSplitWithTiesKeepsFileOrder) {
  // latched-then-ack has an ack and a sample at the same instant: ties go to the earlier file.
  const fs::path capture = kData / "latched-then-ack.txt";
  const json whole = ReportOf(Replay({capture.string()}));
  const auto lines = Lines(capture);
  std::vector<std::vector<std::string>> parts(2);
  for (std::size_t i = 0; i < lines.size(); ++i) parts[i < 17 ? 0 : 1].push_back(lines[i]);
  EXPECT_EQ(Essence(ReplaySplit(parts, "contig")), Essence(whole));
}

TEST(ReplaySplitTest, TwoDevicesInTwoFilesInterleaveByTime) {
  // Two captures of different devices: merged, each device's alarms are what they are alone.
  const auto a = Lines(kData / "depth-exceeded-forehead.txt");
  auto b = Lines(kData / "speed-out-of-range-for-1s.txt");
  for (auto& l : b) l.replace(l.find("d00042"), 6, "d00043");
  const json merged = ReplaySplit({a, b}, "2dev");
  ASSERT_EQ(merged["sessions"].size(), 2u);
  EXPECT_EQ(merged["sessions"][0]["device"], "d00042");
  EXPECT_EQ(merged["sessions"][1]["device"], "d00043");
  ASSERT_EQ(merged["alarms"].size(), 3u);
  EXPECT_EQ(merged["alarms"][0]["alarm"], "depth_exceeded");
  EXPECT_EQ(merged["alarms"][2]["alarm"], "speed_out_of_range");
  EXPECT_EQ(merged["alarms"][2]["device"], "d00043");
  EXPECT_EQ(merged["messages"]["total"].get<std::size_t>(), a.size() + b.size());
}

TEST(ReplayFormatTest, JsonCaptureGivesTheSameReportAsText) {
  const json text = ReportOf(Replay({(kData / "depth-exceeded-forehead.txt").string()}));
  const json j = ReportOf(Replay({(kData / "jformat.txt").string()}));
  EXPECT_EQ(Essence(j), Essence(text));
  EXPECT_EQ(j["files"][0]["format"], "mosquitto_sub %j/%J");
}

TEST(ReplayFormatTest, SkippedLinesAreReportedWithFileAndLine) {
  const ReplayRun r = Replay({(kData / "malformed-payloads-counted.txt").string()});
  EXPECT_THAT(r.err, HasSubstr("malformed-payloads-counted.txt:4: not a mosquitto_sub"));
  EXPECT_THAT(r.err, HasSubstr("malformed-payloads-counted.txt:7: not a mosquitto_sub"));
  EXPECT_EQ(ReportOf(r)["lines_skipped"], 2);
}

TEST(ReplayFilterTest, ClinicDeviceAndTimeFiltersDropRecords) {
  const std::string f = (kData / "speed-out-of-range-for-1s.txt").string();
  ReplayCommandOptions o;
  o.device = "nobody";
  json j = ReportOf(Replay({f}, "json", o));
  EXPECT_EQ(j["records_kept"], 0);
  EXPECT_EQ(j["messages"]["total"], 0);
  EXPECT_GT(j["records"].get<int>(), 0);
  o = {};
  o.clinic = "c017";
  o.device = "d00042";
  j = ReportOf(Replay({f}, "json", o));
  EXPECT_EQ(j["records_kept"], j["records"]);
  // Only the first 1.5 s: the 170 Hz run starts at +1.0 s, so `for: 1s` is never reached.
  o = {};
  o.to = "2026-11-25T12:52:14.5Z";
  j = ReportOf(Replay({f}, "json", o));
  EXPECT_EQ(j["alarms"].size(), 0u);
  EXPECT_EQ(j["last_record_at_ns"], 1795611134400000000LL);
  o = {};
  o.from = "1795611135";
  j = ReportOf(Replay({f}, "json", o));
  EXPECT_EQ(j["first_record_at_ns"], 1795611135000000000LL);
  ASSERT_EQ(j["sessions"].size(), 1u);
  EXPECT_EQ(j["sessions"][0]["implicit"], true);  // the engine never saw session_start
}

TEST(ReplayCommandTest, UnreadableFileIsAnError) {
  const ReplayRun r = Replay({(kData / "no-such-file.txt").string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("no-such-file.txt: cannot open"));
  EXPECT_EQ(r.out, "");
}

TEST(ReplayCommandTest, UnknownFormatIsAnError) {
  const ReplayRun r = Replay({(kData / "generate.py").string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("generate.py: unknown format"));
}

TEST(ReplayCommandTest, BadTimeFilterIsAnError) {
  ReplayCommandOptions o;
  o.from = "yesterday";
  const ReplayRun r = Replay({(kData / "jformat.txt").string()}, "json", o);
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("--from: expected an RFC 3339 time or epoch seconds"));
}

TEST(ReplayCommandTest, TextCsvAndHtmlFormats) {
  const std::string f = (kData / "depth-exceeded-forehead.txt").string();
  ReplayRun r = Replay({f}, "text");
  EXPECT_EQ(r.rc, 0);
  EXPECT_THAT(r.out, HasSubstr("SESSIONS (1)"));
  EXPECT_THAT(r.out, HasSubstr("depth_exceeded            high     0.90/0.75"));
  EXPECT_THAT(r.out, HasSubstr("unknown_session_end   0"));
  r = Replay({f}, "csv");
  EXPECT_EQ(r.rc, 0);
  EXPECT_THAT(r.out, HasSubstr("clinic,device,session,zone,alarm,severity,raised_at"));
  EXPECT_THAT(r.out, HasSubstr("c017,d00042,S-fh1,forehead,depth_exceeded,high,"
                               "2026-11-25T12:52:14.000Z,2026-11-25T12:52:14.500Z,0.9,0.75,"
                               "latched,"));
  r = Replay({f}, "html");
  EXPECT_EQ(r.rc, 0);
  EXPECT_THAT(r.out, HasSubstr("<svg"));
  EXPECT_THAT(r.out, HasSubstr("<path class=\"series depth\""));
}

}  // namespace
}  // namespace needlewatch::replay
