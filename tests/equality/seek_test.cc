// Replay --from on a daemon recording seeks through the MCAP chunk index (issue 5 item 2):
// - the source decompresses only the chunks that reach --from (counted by chunks_loaded()),
//   and yields exactly the full read's messages at or after --from;
// - `needlewatch replay --from` on the recording gives the same report as a full replay of the
//   same stream as an unindexed capture filtered to the same window;
// - a corrupt chunk before --from is never read (no "could not be read" diagnostic), while a
//   full replay reports it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "needlewatch/record/mcap_reader.h"
#include "needlewatch/record/mcap_writer.h"
#include "needlewatch/record/raw_message.h"
#include "needlewatch/replay/replay_command.h"
#include "needlewatch/replay/source.h"

namespace needlewatch::replay {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kSec = 1'000 * kMs;
constexpr std::int64_t kT0 = 1'780'000'000 * kSec;
// The seek point: 20 s into the 40 s stream, between two messages.
constexpr std::int64_t kFrom = kT0 + 20 * kSec + 3 * kMs;
constexpr char kFromArg[] = "1780000020.003000000";

constexpr char kLimits[] = R"(limits:
  default:
    depth_mm: {max: 1.0, warn: 0.8}
    speed_hz: {min: 50, max: 150, for: 300ms}
    session: {warn_after: 10s, max_duration: 30s}
    telemetry: {stale_after: 500ms}
)";

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("nw-equality-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

record::RawMessage Message(std::int64_t at, std::string topic, std::string payload) {
  record::RawMessage m;
  m.receive_ns = at;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = 1;
  return m;
}

std::string Topic(const std::string& device, const char* channel) {
  return "clinic/c1/device/" + device + "/" + channel;
}

// 40 s of three devices at 50 Hz with alarms of every sample-driven kind before and after the
// seek point, a telemetry gap (stale), a session switch, a malformed message and acks.
std::vector<record::RawMessage> Scenario() {
  std::vector<record::RawMessage> out;
  const std::vector<std::string> devices = {"d1", "d2", "d3"};
  std::vector<std::uint32_t> seq(devices.size(), 0);
  for (std::size_t d = 0; d < devices.size(); ++d) {
    out.push_back(Message(kT0 + static_cast<std::int64_t>(d) * kMs, Topic(devices[d], "event"),
                          "{\"v\":1,\"seq\":" + std::to_string(++seq[d]) +
                              ",\"ts\":1,\"event\":\"session_start\",\"session\":\"S-" +
                              devices[d] + "a\",\"zone\":\"cheek\"}"));
  }
  for (int tick = 1; tick < 2000; ++tick) {
    const double t = tick * 0.02;  // seconds into the stream
    for (std::size_t d = 0; d < devices.size(); ++d) {
      const std::int64_t at = kT0 + tick * 20 * kMs + static_cast<std::int64_t>(d) * 5 * kMs;
      if (d == 1 && ((t > 12.0 && t < 13.0) || (t > 27.0 && t < 28.0))) continue;  // stale
      double depth = 0.5;
      double speed = 100.0;
      if ((t > 5.0 && t < 5.5) || (t > 25.0 && t < 25.3)) depth = d == 0 ? 1.2 : 0.9;
      if ((t > 8.0 && t < 9.0) || (t > 31.0 && t < 32.0)) speed = d == 2 ? 170.0 : 100.0;
      const std::string session =
          "S-" + devices[d] + (d == 2 && t > 33.0 ? "b" : "a");  // d3 switches at 33 s
      char body[256];
      std::snprintf(body, sizeof body,
                    "{\"v\":1,\"seq\":%u,\"ts\":1,\"session\":\"%s\",\"zone\":\"cheek\","
                    "\"depth_mm\":%.2f,\"speed_hz\":%.1f}",
                    ++seq[d], session.c_str(), depth, speed);
      out.push_back(Message(at, Topic(devices[d], "telemetry"), body));
    }
    if (tick == 700 || tick == 1400) {  // 14 s and 28 s: a malformed message
      out.push_back(Message(kT0 + tick * 20 * kMs + 17 * kMs, Topic("d1", "telemetry"),
                            "{\"v\":1,\"seq\":"));
    }
    if (tick == 400 || tick == 1300 || tick == 1500) {  // acks of d1's latched depth alarm
      out.push_back(Message(kT0 + tick * 20 * kMs + 13 * kMs, std::string(record::kAckTopic),
                            R"({"clinic":"c1","device":"d1","alarm":"depth_exceeded"})"));
    }
  }
  return out;
}

void WriteRecording(const std::string& path, const std::vector<record::RawMessage>& msgs) {
  record::McapWriterOptions o;
  o.zstd_level = 0;  // uncompressed: chunk sizes (and a corrupt byte's place) are predictable
  o.chunk_max_bytes = 4096;
  std::string error;
  auto w = record::McapWriter::Create(path, o, &error);
  ASSERT_NE(w, nullptr) << error;
  for (const auto& m : msgs) ASSERT_TRUE(w->Write(m)) << w->error();
  ASSERT_TRUE(w->Close()) << w->error();
}

// The same stream as a mosquitto_sub -F '%U %t %p' capture (no index: read in full).
void WriteCapture(const std::string& path, const std::vector<record::RawMessage>& msgs) {
  std::string text;
  for (const auto& m : msgs) {
    char t[40];
    std::snprintf(t, sizeof t, "%lld.%09lld", static_cast<long long>(m.receive_ns / kSec),
                  static_cast<long long>(m.receive_ns % kSec));
    text += std::string(t) + " " + m.topic + " " + m.payload + "\n";
  }
  WriteText(path, text);
}

struct ReplayRun {
  int rc = 0;
  std::string out, err;
};

ReplayRun Replay(std::optional<std::string> config, const std::string& file,
           std::optional<std::string> from = std::nullopt) {
  ReplayCommandOptions o;
  o.config_file = std::move(config);
  o.format = "json";
  o.files = {file};
  o.from = std::move(from);
  std::ostringstream out, err;
  ReplayRun r;
  r.rc = RunReplayCommand(o, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

json Parse(const ReplayRun& r) {
  EXPECT_EQ(r.rc, 0) << r.err;
  json j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j;
}

// What happened, without what describes the reading: the per-file rows and the count of
// records read (a seek reads fewer; records_kept, after the window, stays).
json Essence(json j) {
  j.erase("files");
  j.erase("records");
  return j;
}

class SeekTest : public ::testing::Test {
 protected:
  void SetUp() override {
    msgs_ = Scenario();
    config_ = dir_.File("limits.yaml");
    WriteText(config_, kLimits);
    recording_ = dir_.File("rec.mcap");
    WriteRecording(recording_, msgs_);
  }
  TempDir dir_;
  std::vector<record::RawMessage> msgs_;
  std::string config_, recording_;
};

TEST_F(SeekTest, SourceReadsOnlyTheChunksThatReachFrom) {
  // A full read, noting the chunk each message came from (chunks load lazily, in time order).
  std::string error;
  auto full = record::McapReader::Open(recording_, &error);
  ASSERT_NE(full, nullptr) << error;
  ASSERT_TRUE(full->complete());
  const std::uint64_t chunks = full->chunk_count();
  ASSERT_GE(chunks, 40u) << "the scenario must span many chunks";
  std::vector<record::RawMessage> expected;
  std::uint64_t first_needed_chunk = 0;  // 1-based index of the chunk holding kFrom's message
  record::RawMessage m;
  while (full->Next(m)) {
    if (m.receive_ns < kFrom) continue;
    if (first_needed_chunk == 0) first_needed_chunk = full->chunks_loaded();
    expected.push_back(m);
  }
  ASSERT_GT(first_needed_chunk, chunks / 3);
  ASSERT_FALSE(expected.empty());

  std::ostringstream diag;
  auto source = OpenSource(recording_, diag, &error);
  ASSERT_NE(source, nullptr) << error;
  EXPECT_EQ(source->chunks_loaded(), 0u) << "Open reads only the summary";
  source->SeekTo(kFrom);
  EXPECT_EQ(source->chunks_loaded(), 0u) << "SeekTo itself reads nothing";
  std::vector<record::RawMessage> got;
  while (source->Next(m)) got.push_back(m);
  EXPECT_EQ(source->chunks_loaded(), chunks - first_needed_chunk + 1);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].receive_ns, expected[i].receive_ns) << i;
    EXPECT_EQ(got[i].topic, expected[i].topic) << i;
    EXPECT_EQ(got[i].payload, expected[i].payload) << i;
  }
  EXPECT_EQ(diag.str(), "");

  // The merge passes the seek on to every source; a capture ignores it (no index).
  const std::string capture = dir_.File("capture.txt");
  WriteCapture(capture, msgs_);
  std::vector<std::unique_ptr<MessageSource>> both;
  both.push_back(OpenSource(recording_, diag, &error));
  both.push_back(OpenSource(capture, diag, &error));
  MergedSource merged(std::move(both));
  merged.SeekTo(kFrom);
  std::uint64_t n = 0;
  while (merged.Next(m)) ++n;
  EXPECT_EQ(n, expected.size() + msgs_.size());
  EXPECT_EQ(merged.chunks_loaded(), chunks - first_needed_chunk + 1);
}

// A daemon recording carries the limits it applied ($needlewatch/limits). A replay --from
// without --config.file starts with the latest of them before --from, found by reading chunks
// backwards from the seek point only.
TEST_F(SeekTest, ReplayFromStartsWithTheRecordedLimitsInForce) {
  auto limits = [](std::int64_t at, const char* reason, const std::string& yaml) {
    std::string payload = R"({"reason":")" + std::string(reason) + R"(","source":"n.yaml","yaml":)";
    payload += json(yaml).dump() + "}";
    return Message(at, record::kLimitsTopic, payload);
  };
  std::string strict = kLimits;
  strict.replace(strict.find("max: 1.0, warn: 0.8"), 19, "max: 0.85, warn: 0.6");
  std::vector<record::RawMessage> msgs;
  msgs.push_back(limits(kT0 - kMs, "start", kLimits));
  bool reloaded = false;
  for (const auto& m : msgs_) {
    if (m.receive_ns > kT0 + 15 * kSec && !reloaded) {
      // A reload at 15 s, well before --from (20 s), many chunks back.
      msgs.push_back(limits(kT0 + 15 * kSec, "reload", strict));
      reloaded = true;
    }
    msgs.push_back(m);
  }
  ASSERT_EQ(msgs.size(), msgs_.size() + 2);
  const std::string path = dir_.File("limits.mcap");
  WriteRecording(path, msgs);

  const json own = Parse(Replay(std::nullopt, path, kFromArg));
  ASSERT_EQ(own["limits"].size(), 1u) << own["limits"].dump();
  EXPECT_EQ(own["limits"][0]["reason"], "reload");
  EXPECT_EQ(own["limits"][0]["result"], "applied");
  EXPECT_EQ(own["limits"][0]["at_ns"], kT0 + 15 * kSec);
  // At 25 s d2 and d3 sample 0.9: beyond the reloaded 0.85, within the first file's 1.0.
  auto exceeded = [](const json& report, const std::string& device) {
    for (const auto& a : report["alarms"]) {
      if (a["alarm"] == "depth_exceeded" && a["device"] == device) return true;
    }
    return false;
  };
  EXPECT_TRUE(exceeded(own, "d2"));
  const json given = Parse(Replay(config_, path, kFromArg));
  EXPECT_FALSE(exceeded(given, "d2"));
  ASSERT_EQ(given["limits"].size(), 1u);
  EXPECT_EQ(given["limits"][0]["result"], "ignored");

  // Finding it read only the chunks between the reload and --from, not the whole prefix.
  std::string error;
  auto reader = record::McapReader::Open(path, &error);
  ASSERT_NE(reader, nullptr) << error;
  record::RawMessage found;
  ASSERT_TRUE(reader->LatestBefore(record::kLimitsTopic, kFrom, found));
  EXPECT_EQ(found.receive_ns, kT0 + 15 * kSec);
  EXPECT_GT(reader->chunks_loaded(), 0u);
  EXPECT_LT(reader->chunks_loaded(), reader->chunk_count() / 2);
  EXPECT_FALSE(reader->LatestBefore(record::kLimitsTopic, kT0 - kMs, found)) << "none before";
  EXPECT_FALSE(reader->LatestBefore("no/such/topic", kFrom, found));
}

TEST_F(SeekTest, ReplayFromEqualsAFullReplayFilteredToTheWindow) {
  const std::string capture = dir_.File("capture.txt");
  WriteCapture(capture, msgs_);
  const json sought = Parse(Replay(config_, recording_, kFromArg));
  const json scanned = Parse(Replay(config_, capture, kFromArg));
  ASSERT_TRUE(sought.is_object());
  ASSERT_TRUE(scanned.is_object());
  EXPECT_EQ(Essence(sought), Essence(scanned));
  // The window holds alarms and acks, so the comparison is not vacuous.
  EXPECT_GE(sought["alarms"].size(), 5u) << sought.dump(1);
  EXPECT_GE(sought["acks"].size(), 2u) << sought.dump(1);
  EXPECT_EQ(sought["first_record_at_ns"], kFrom + 2 * kMs);  // d1's sample at 20.005 s
  // The capture was read in full; the recording only from the seek on.
  EXPECT_EQ(scanned["records"], msgs_.size());
  EXPECT_LT(sought["records"].get<std::uint64_t>(), msgs_.size() * 6 / 10);
  EXPECT_GE(sought["records"], sought["records_kept"]);

  // Without --from both read everything and agree too.
  EXPECT_EQ(Essence(Parse(Replay(config_, recording_))), Essence(Parse(Replay(config_, capture))));
}

TEST_F(SeekTest, ACorruptChunkBeforeFromIsNeverRead) {
  const json clean = Parse(Replay(config_, recording_, kFromArg));
  // Flip bytes inside the first chunk (uncompressed records, CRC-checked): offset 1000 is past
  // the ~60-byte header and well inside a >= 4 KiB chunk.
  {
    std::fstream f(recording_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1000);
    f.write("\xff\xfe\xfd\xfc", 4);
  }
  const ReplayRun full = Replay(config_, recording_);
  EXPECT_EQ(full.rc, 0) << full.err;
  EXPECT_THAT(full.err, HasSubstr("could not be read")) << "a full replay reads the chunk";

  const ReplayRun sought = Replay(config_, recording_, kFromArg);
  EXPECT_THAT(sought.err, Not(HasSubstr("could not be read")));
  EXPECT_EQ(Essence(Parse(sought)), Essence(clean));
}

}  // namespace
}  // namespace needlewatch::replay
