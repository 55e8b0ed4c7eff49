// Durable state: the journal's framing (torn tails, bad CRCs), the snapshot codec (an engine
// saved, encoded, decoded and restored continues exactly like the original) and the state
// directory (atomic snapshots, journal generations, what a start finds).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "engine_test_util.h"
#include "needlewatch/engine/state.h"
#include "needlewatch/state/journal.h"
#include "needlewatch/state/snapshot.h"
#include "needlewatch/state/state_dir.h"

namespace needlewatch::state {
namespace {

namespace fs = std::filesystem;
using engine::testing::Harness;
using engine::testing::Sec;

std::string ThreeFrames() {
  std::string out;
  AppendFrame(out, 1, "clinic/c1/device/d1/telemetry", R"({"v":1})");
  AppendFrame(out, 2, "$needlewatch/ack", R"({"clinic":"c1"})");
  AppendFrame(out, 3, "clinic/c1/device/d1/status", "");
  return out;
}

TEST(Journal, FramesRoundTrip) {
  const std::string bytes = ThreeFrames();
  const DecodedJournal d = DecodeJournal(bytes);
  EXPECT_EQ(d.tail_error, "");
  EXPECT_EQ(d.valid_bytes, bytes.size());
  ASSERT_EQ(d.records.size(), 3u);
  EXPECT_EQ(d.records[0].at, 1);
  EXPECT_EQ(d.records[0].topic, "clinic/c1/device/d1/telemetry");
  EXPECT_EQ(d.records[0].payload, R"({"v":1})");
  EXPECT_EQ(d.records[1].topic, "$needlewatch/ack");
  EXPECT_EQ(d.records[2].payload, "");
  EXPECT_EQ(DecodeJournal("").records.size(), 0u);
}

TEST(Journal, EveryTornTailKeepsTheWholeFramesBeforeIt) {
  const std::string bytes = ThreeFrames();
  std::string two;
  AppendFrame(two, 1, "clinic/c1/device/d1/telemetry", R"({"v":1})");
  AppendFrame(two, 2, "$needlewatch/ack", R"({"clinic":"c1"})");
  for (std::size_t cut = two.size() + 1; cut < bytes.size(); ++cut) {
    const DecodedJournal d = DecodeJournal(std::string_view(bytes).substr(0, cut));
    ASSERT_EQ(d.records.size(), 2u) << "cut at " << cut;
    EXPECT_EQ(d.valid_bytes, two.size());
    EXPECT_NE(d.tail_error, "");
  }
}

TEST(Journal, AFlippedBitEndsTheJournalAtThatFrame) {
  std::string bytes = ThreeFrames();
  std::string one;
  AppendFrame(one, 1, "clinic/c1/device/d1/telemetry", R"({"v":1})");
  bytes[one.size() + 20] ^= 0x04;  // inside the second frame's body
  const DecodedJournal d = DecodeJournal(bytes);
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_EQ(d.valid_bytes, one.size());
  EXPECT_NE(d.tail_error.find("CRC mismatch"), std::string::npos) << d.tail_error;
}

TEST(Journal, AnAbsurdLengthIsCorruptNotAnAllocation) {
  std::string bytes = ThreeFrames();
  bytes[3] = '\x7f';  // first frame's length: ~2 GiB
  const DecodedJournal d = DecodeJournal(bytes);
  EXPECT_EQ(d.records.size(), 0u);
  EXPECT_NE(d.tail_error.find("bad frame length"), std::string::npos) << d.tail_error;
}

// A scenario with every kind of state: sessions, pending conditions, latched, acknowledged
// and late alarms, an offline device, timers.
void Scenario(Harness& h) {
  h.Start(Sec(0), "S1", "cheek", "d1");
  h.Tel(Sec(1), 2.0, 100, "S1", "cheek", "d1");   // depth_exceeded (cheek max 1.5)
  h.Tel(Sec(2), 0.5, 100, "S1", "cheek", "d1");   // cleared -> latched
  h.Tel(Sec(2.5), 0.4, 200, "S2", "forehead", "d2");  // speed pending (for 1 s)
  h.Tel(Sec(3), 0.8, 100, "S3", "forehead", "d3");  // depth_exceeded (forehead 0.5)
  h.engine.Acknowledge("c1", "d3", engine::AlarmKind::kDepthExceeded, Sec(3.5), h.sink);
  h.Start(Sec(4), "S4", "cheek", "d4", "c2");
  h.Offline(Sec(5), "d4", "c2");
}

TEST(Snapshot, EncodeDecodeEncodeIsStable) {
  Harness h;
  Scenario(h);
  Snapshot s;
  s.journal_generation = 7;
  s.saved_at = Sec(5);
  s.limits_source = "needlewatch.yaml";
  s.limits_yaml = "limits: {}\n";
  s.engine = h.engine.Save();
  s.alarm_topics = {{"clinic/c1/device/d1/alarm/depth_exceeded", R"({"v":1,"state":"latched"})"}};
  s.state_lost_since = Sec(1);
  const std::string text = EncodeSnapshot(s);
  std::string error;
  const std::optional<Snapshot> back = DecodeSnapshot(text, &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(EncodeSnapshot(*back), text);
  EXPECT_EQ(back->journal_generation, 7u);
  EXPECT_EQ(back->state_lost_since, Sec(1));
  EXPECT_EQ(back->alarm_topics, s.alarm_topics);
  EXPECT_EQ(back->engine.devices.size(), 4u);
}

TEST(Snapshot, InfinitiesAndExactDoublesSurvive) {
  Harness h;
  h.Tel(Sec(1), 0.1 + 0.2, 100.0 / 3, "S1", "cheek", "d1");
  Snapshot s;
  s.engine = h.engine.Save();
  ASSERT_TRUE(s.engine.devices[0].session);
  s.engine.devices[0].session->max_speed_hz = std::numeric_limits<double>::infinity();
  std::string error;
  const std::optional<Snapshot> back = DecodeSnapshot(EncodeSnapshot(s), &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->engine.devices[0].session->last_depth_mm, 0.1 + 0.2);
  EXPECT_EQ(back->engine.devices[0].session->last_speed_hz, 100.0 / 3);
  EXPECT_TRUE(std::isinf(back->engine.devices[0].session->max_speed_hz));
}

TEST(Snapshot, RestoredEngineContinuesExactlyLikeTheOriginal) {
  Harness original;
  Scenario(original);
  Snapshot s;
  s.engine = original.engine.Save();
  std::string error;
  std::optional<Snapshot> back = DecodeSnapshot(EncodeSnapshot(s), &error);
  ASSERT_TRUE(back) << error;
  Harness restored;
  restored.engine.Restore(std::move(back->engine));
  restored.seq = original.seq;
  original.sink.Clear();
  for (Harness* h : {&original, &restored}) {
    h->Tel(Sec(3.4), 0.4, 200, "S2", "forehead", "d2");  // still pending
    h->Tel(Sec(7), 0.4, 100, "S2", "forehead", "d2");  // raised at 3.5 first, then cleared
    h->engine.Acknowledge("c1", "d1", engine::AlarmKind::kDepthExceeded, Sec(8), h->sink);
    h->Advance(Sec(4000));  // overtime, eviction
  }
  EXPECT_EQ(restored.sink.lines, original.sink.lines);
  EXPECT_FALSE(original.sink.lines.empty());
}

TEST(Snapshot, RefusesWhatItCannotRead) {
  std::string error;
  EXPECT_FALSE(DecodeSnapshot("", &error));
  EXPECT_NE(error.find("not a JSON object"), std::string::npos);
  EXPECT_FALSE(DecodeSnapshot(R"({"format":99})", &error));
  EXPECT_NE(error.find("format 99"), std::string::npos) << error;
  Snapshot s;
  std::string text = EncodeSnapshot(s);
  const std::string from = "\"limits_yaml\":\"\"";
  text.replace(text.find(from), from.size(), "\"limits_yaml\":\"x\"");
  EXPECT_FALSE(DecodeSnapshot(text, &error));
  EXPECT_NE(error.find("fingerprint"), std::string::npos) << error;
  text = EncodeSnapshot(s);
  text.replace(text.find("\"version\":1"), 11, "\"version\":9");
  EXPECT_FALSE(DecodeSnapshot(text, &error));
  EXPECT_NE(error.find("engine state version 9"), std::string::npos) << error;
  text = EncodeSnapshot(s);
  text.replace(text.find("\"devices\":[]"), 12, "\"devices\":{}");
  EXPECT_FALSE(DecodeSnapshot(text, &error));
  EXPECT_NE(error.find("devices"), std::string::npos) << error;
}

class StateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("nw-state-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Dir() const { return (dir_ / "state").string(); }
  std::unique_ptr<StateDir> OpenDir() {
    std::string error;
    auto d = StateDir::Open(Dir(), &error);
    EXPECT_TRUE(d) << error;
    return d;
  }
  static std::string SnapshotText(const StateDir& d) {
    Snapshot s;
    s.journal_generation = d.next_generation();
    s.limits_yaml = "limits: {}\n";
    return EncodeSnapshot(s);
  }

  fs::path dir_;
};

TEST_F(StateDirTest, AFirstStartIsFreshAndCreatesTheDirectory) {
  auto d = OpenDir();
  ASSERT_TRUE(d);
  EXPECT_TRUE(fs::is_directory(Dir()));
  const Loaded l = d->Load();
  EXPECT_FALSE(l.snapshot);
  EXPECT_EQ(l.lost, "");
  EXPECT_NE(l.note.find("no saved state"), std::string::npos);
}

TEST_F(StateDirTest, SnapshotAndJournalComeBackAndOldJournalsGo) {
  {
    auto d = OpenDir();
    d->Load();
    std::string error;
    ASSERT_TRUE(d->WriteSnapshot(SnapshotText(*d), &error)) << error;
    ASSERT_TRUE(d->Append(ThreeFrames(), &error)) << error;
    ASSERT_TRUE(d->WriteSnapshot(SnapshotText(*d), &error)) << error;
    std::string frame;
    AppendFrame(frame, 9, "clinic/c1/device/d1/telemetry", "{}");
    ASSERT_TRUE(d->Append(frame, &error)) << error;
  }
  int journals = 0;
  for (const auto& e : fs::directory_iterator(Dir())) {
    journals += e.path().filename().string().starts_with("journal-");
  }
  EXPECT_EQ(journals, 1);
  auto d = OpenDir();
  const Loaded l = d->Load();
  ASSERT_TRUE(l.snapshot);
  EXPECT_EQ(l.snapshot->journal_generation, 2u);
  ASSERT_EQ(l.journal.size(), 1u);
  EXPECT_EQ(l.journal[0].at, 9);
  EXPECT_EQ(d->next_generation(), 3u);
}

TEST_F(StateDirTest, ATornJournalTailIsDroppedWithANote) {
  {
    auto d = OpenDir();
    d->Load();
    std::string error;
    ASSERT_TRUE(d->WriteSnapshot(SnapshotText(*d), &error)) << error;
    const std::string frames = ThreeFrames();
    ASSERT_TRUE(d->Append(std::string_view(frames).substr(0, frames.size() - 3), &error));
  }
  auto d = OpenDir();
  const Loaded l = d->Load();
  ASSERT_TRUE(l.snapshot);
  EXPECT_EQ(l.journal.size(), 2u);
  EXPECT_EQ(l.lost, "");
  EXPECT_NE(l.note.find("torn frame"), std::string::npos) << l.note;
}

TEST_F(StateDirTest, ACorruptSnapshotIsLostWithTheFileAndTheReason) {
  {
    auto d = OpenDir();
    d->Load();
    std::string error;
    ASSERT_TRUE(d->WriteSnapshot(SnapshotText(*d), &error)) << error;
  }
  std::ofstream(fs::path(Dir()) / "snapshot.json", std::ios::trunc) << "{\"format\":1,";
  auto d = OpenDir();
  const Loaded l = d->Load();
  EXPECT_FALSE(l.snapshot);
  EXPECT_NE(l.lost.find("snapshot.json"), std::string::npos) << l.lost;
  EXPECT_NE(l.lost.find("corrupt"), std::string::npos) << l.lost;
}

TEST_F(StateDirTest, AMissingJournalKeepsTheSnapshotButSaysWhatIsLost) {
  {
    auto d = OpenDir();
    d->Load();
    std::string error;
    ASSERT_TRUE(d->WriteSnapshot(SnapshotText(*d), &error)) << error;
  }
  for (const auto& e : fs::directory_iterator(Dir())) {
    if (e.path().filename().string().starts_with("journal-")) fs::remove(e.path());
  }
  auto d = OpenDir();
  const Loaded l = d->Load();
  EXPECT_TRUE(l.snapshot);
  EXPECT_NE(l.lost.find("changes since the snapshot are lost"), std::string::npos) << l.lost;
}

TEST_F(StateDirTest, OneDaemonPerDirectory) {
  auto first = OpenDir();
  ASSERT_TRUE(first);
  std::string error;
  EXPECT_FALSE(StateDir::Open(Dir(), &error));
  EXPECT_NE(error.find("in use by another needlewatch process"), std::string::npos) << error;
}

TEST_F(StateDirTest, AnUncreatableDirectoryNamesItself) {
  std::ofstream(dir_.string() + "-file") << "x";
  std::string error;
  EXPECT_FALSE(StateDir::Open(dir_.string() + "-file/state", &error));
  EXPECT_NE(error.find("state.dir"), std::string::npos) << error;
  fs::remove(dir_.string() + "-file");
}

}  // namespace
}  // namespace needlewatch::state
