// Recorder: the writer thread, segment rotation, retention and the bounded queue.
#include "needlewatch/record/recorder.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "needlewatch/record/mcap_reader.h"
#include "test_util.h"

namespace needlewatch::record {
namespace {

namespace fs = std::filesystem;
using testing::NumberedMessage;
using testing::SameMessage;
using testing::TempDir;
using testing::WriteFile;

// Bounded poll on a condition (no sleeps as synchronisation).
template <typename Pred>
bool WaitFor(Pred pred, std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

std::vector<std::string> Segments(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (ParseSegmentFileName(e.path().filename().string(), nullptr)) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<RawMessage> ReadSegments(const std::vector<std::string>& files, bool want_complete) {
  std::vector<RawMessage> out;
  for (const auto& f : files) {
    std::string error;
    auto reader = McapReader::Open(f, &error);
    EXPECT_NE(reader, nullptr) << error;
    if (!reader) continue;
    EXPECT_EQ(reader->complete(), want_complete) << f;
    RawMessage m;
    while (reader->Next(m)) out.push_back(m);
  }
  return out;
}

RecorderOptions Options(const TempDir& dir) {
  RecorderOptions o;
  o.dir = dir.path().string();
  return o;
}

TEST(SegmentName, FormatsAndParses) {
  // 2026-11-25T12:52:13Z
  const std::string name = SegmentFileName(1'795'611'133'310'000'000LL, 42);
  EXPECT_EQ(name, "needlewatch-20261125T125213Z-000042.mcap");
  std::uint64_t seq = 0;
  EXPECT_TRUE(ParseSegmentFileName(name, &seq));
  EXPECT_EQ(seq, 42u);
  EXPECT_TRUE(ParseSegmentFileName("needlewatch-20261125T125213Z-1234567.mcap", &seq));
  EXPECT_EQ(seq, 1234567u);
  for (const char* bad : {"needlewatch-20261125T125213Z-000042.mcap.partial",
                          "needlewatch-20261125X125213Z-000042.mcap", "other-20261125T125213Z-1.mcap",
                          "needlewatch-20261125T125213Z-.mcap", "needlewatch-20261125T125213Z-4a.mcap"}) {
    EXPECT_FALSE(ParseSegmentFileName(bad, nullptr)) << bad;
  }
}

TEST(Recorder, WritesEverySubmittedMessageAndClosesTheSegmentOnStop) {
  TempDir dir;
  std::string error;
  auto rec = Recorder::Start(Options(dir), &error);
  ASSERT_NE(rec, nullptr) << error;
  std::vector<RawMessage> sent;
  for (std::uint64_t i = 0; i < 5000; ++i) {
    sent.push_back(NumberedMessage(i));
    RawMessage copy = sent.back();
    ASSERT_TRUE(rec->Submit(std::move(copy)));
  }
  rec->Stop();
  rec->Stop();  // idempotent
  EXPECT_EQ(rec->written(), 5000u);
  EXPECT_EQ(rec->dropped(), 0u);
  EXPECT_EQ(rec->errors(), 0u) << rec->last_error();
  const auto files = Segments(dir.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(rec->bytes(), fs::file_size(files[0]));
  const auto got = ReadSegments(files, true);
  ASSERT_EQ(got.size(), sent.size());
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_TRUE(SameMessage(got[i], sent[i])) << i;
  RawMessage late = NumberedMessage(1);
  EXPECT_FALSE(rec->Submit(std::move(late)));
  EXPECT_EQ(rec->dropped(), 1u);
}

TEST(Recorder, ChunksAreClosedByAgeSoAnOpenSegmentIsReadable) {
  TempDir dir;
  RecorderOptions o = Options(dir);
  o.chunk_max_age = 5'000'000;  // 5 ms
  std::string error;
  auto rec = Recorder::Start(o, &error);
  ASSERT_NE(rec, nullptr) << error;
  for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(rec->Submit(NumberedMessage(i)));
  ASSERT_TRUE(WaitFor([&] { return rec->written() == 10; }));
  const auto files = Segments(dir.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(ReadSegments(files, false).size(), 10u);  // still open: recovered, not complete
  rec->Stop();
  EXPECT_EQ(ReadSegments(files, true).size(), 10u);
}

TEST(Recorder, RotatesBySizeAndEverySegmentIsComplete) {
  TempDir dir;
  RecorderOptions o = Options(dir);
  o.segment_max_bytes = 16 * 1024;
  o.chunk_max_bytes = 2 * 1024;
  o.zstd_level = 0;  // predictable sizes
  std::string error;
  auto rec = Recorder::Start(o, &error);
  ASSERT_NE(rec, nullptr) << error;
  std::vector<RawMessage> sent;
  for (std::uint64_t i = 0; i < 3000; ++i) {
    sent.push_back(NumberedMessage(i));
    RawMessage copy = sent.back();
    ASSERT_TRUE(WaitFor([&] { return rec->Submit(RawMessage(copy)); }));
  }
  rec->Stop();
  const auto files = Segments(dir.path());
  EXPECT_GT(files.size(), 5u);
  EXPECT_EQ(rec->segments(), files.size());
  std::uint64_t total = 0;
  for (const auto& f : files) {
    // One chunk (plus indexes and the summary) may overshoot the limit.
    EXPECT_LT(fs::file_size(f), o.segment_max_bytes + 12 * 1024) << f;
    total += fs::file_size(f);
  }
  EXPECT_EQ(rec->bytes(), total);
  const auto got = ReadSegments(files, true);
  ASSERT_EQ(got.size(), sent.size());
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_TRUE(SameMessage(got[i], sent[i])) << i;
}

TEST(Recorder, RotatesByAgeOnTheInjectedClock) {
  TempDir dir;
  auto clock = std::make_shared<std::atomic<std::int64_t>>(1'795'611'133'000'000'000LL);
  RecorderOptions o = Options(dir);
  o.now_ns = [clock] { return clock->load(); };
  o.segment_max_age = 60LL * 1'000'000'000;
  o.chunk_max_age = 1'000'000;
  std::string error;
  auto rec = Recorder::Start(o, &error);
  ASSERT_NE(rec, nullptr) << error;
  ASSERT_TRUE(rec->Submit(NumberedMessage(0)));
  ASSERT_TRUE(WaitFor([&] { return rec->written() == 1; }));
  clock->fetch_add(61LL * 1'000'000'000);
  ASSERT_TRUE(rec->Submit(NumberedMessage(1)));
  rec->Stop();
  const auto files = Segments(dir.path());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(fs::path(files[0]).filename(), "needlewatch-20261125T125213Z-000001.mcap");
  EXPECT_EQ(fs::path(files[1]).filename(), "needlewatch-20261125T125314Z-000002.mcap");
  EXPECT_EQ(ReadSegments({files[0]}, true).size(), 1u);
  EXPECT_EQ(ReadSegments({files[1]}, true).size(), 1u);
}

TEST(Recorder, EverySegmentStartsWithTheLimitsInForce) {
  TempDir dir;
  auto clock = std::make_shared<std::atomic<std::int64_t>>(1'795'611'133'000'000'000LL);
  RecorderOptions o = Options(dir);
  o.now_ns = [clock] { return clock->load(); };
  o.segment_max_age = 60LL * 1'000'000'000;
  o.chunk_max_age = 1'000'000;  // written() counts a message once its chunk is on disk
  std::string error;
  auto rec = Recorder::Start(o, &error);
  ASSERT_NE(rec, nullptr) << error;
  auto limits = [](std::int64_t at, const char* yaml) {
    RawMessage m;
    m.receive_ns = at;
    m.topic = kLimitsTopic;
    m.payload = yaml;
    return m;
  };
  auto message = [](std::uint64_t i, std::int64_t at) {
    RawMessage m = NumberedMessage(i);
    m.receive_ns = at;
    return m;
  };
  // Segment 1: L1 at start, a message. Segment 2 (by age): L1 again, a message, a reload to L2,
  // a message. Segment 3: L2.
  ASSERT_TRUE(rec->Submit(limits(100, "L1")));
  ASSERT_TRUE(rec->Submit(message(0, 101)));
  ASSERT_TRUE(WaitFor([&] { return rec->written() == 2; }));  // both in segment 1
  clock->fetch_add(61LL * 1'000'000'000);
  ASSERT_TRUE(rec->Submit(message(1, 200)));
  ASSERT_TRUE(rec->Submit(limits(201, "L2")));
  ASSERT_TRUE(rec->Submit(message(2, 202)));
  // Segment 2: the repeated L1, then the three submitted.
  ASSERT_TRUE(WaitFor([&] { return rec->written() == 6; }));
  clock->fetch_add(61LL * 1'000'000'000);
  ASSERT_TRUE(rec->Submit(message(3, 300)));
  rec->Stop();
  const auto files = Segments(dir.path());
  ASSERT_EQ(files.size(), 3u);
  auto summary = [](const std::vector<RawMessage>& ms) {
    std::vector<std::string> out;
    for (const RawMessage& m : ms) {
      out.push_back(std::to_string(m.receive_ns) + " " +
                    (m.topic == kLimitsTopic ? m.payload : m.topic));
    }
    return out;
  };
  const std::string t0 = NumberedMessage(0).topic, t1 = NumberedMessage(1).topic,
                    t2 = NumberedMessage(2).topic, t3 = NumberedMessage(3).topic;
  EXPECT_EQ(summary(ReadSegments({files[0]}, true)),
            (std::vector<std::string>{"100 L1", "101 " + t0}));
  EXPECT_EQ(summary(ReadSegments({files[1]}, true)),
            (std::vector<std::string>{"200 L1", "200 " + t1, "201 L2", "202 " + t2}));
  EXPECT_EQ(summary(ReadSegments({files[2]}, true)),
            (std::vector<std::string>{"300 L2", "300 " + t3}));
}

TEST(Recorder, RetentionDeletesOldestBeyondTheSizeBudgetAndTooOldSegments) {
  TempDir dir;
  for (int seq = 1; seq <= 5; ++seq) {
    WriteFile(dir.File(SegmentFileName(1'700'000'000'000'000'000LL + seq, seq)),
              std::string(1000, 'x'));
  }
  WriteFile(dir.File("notes.txt"), std::string(5000, 'n'));  // not a segment: never touched
  RecorderOptions o = Options(dir);
  o.retention_max_bytes = 3500;
  std::string error;
  auto rec = Recorder::Start(o, &error);
  ASSERT_NE(rec, nullptr) << error;
  rec->Stop();
  auto files = Segments(dir.path());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_NE(files[0].find("-000003.mcap"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir.File("notes.txt")));

  // Age: a segment last written 8 days ago goes, a fresh one stays.
  fs::last_write_time(files[0], fs::file_time_type::clock::now() - std::chrono::hours(24 * 8));
  o.retention_max_bytes = 1ULL << 30;
  o.retention_max_age = 7LL * 24 * 3600 * 1'000'000'000;
  rec = Recorder::Start(o, &error);
  ASSERT_NE(rec, nullptr) << error;
  rec->Stop();
  files = Segments(dir.path());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_NE(files[0].find("-000004.mcap"), std::string::npos);

  // New segments continue the sequence after the highest one present.
  rec = Recorder::Start(o, &error);
  ASSERT_NE(rec, nullptr) << error;
  ASSERT_TRUE(rec->Submit(NumberedMessage(0)));
  rec->Stop();
  files = Segments(dir.path());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_NE(files.back().find("-000006.mcap"), std::string::npos);
}

TEST(Recorder, FullQueueDropsAndCountsWithoutBlocking) {
  TempDir dir;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  RecorderOptions o = Options(dir);
  o.queue_capacity = 100;
  o.writer_hook = [&] {  // holds the writer thread until the test releases it
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
  };
  std::string error;
  auto rec = Recorder::Start(o, &error);
  ASSERT_NE(rec, nullptr) << error;
  for (std::uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(rec->Submit(NumberedMessage(i)));
  // The writer is stuck, so these return at once with false instead of waiting.
  for (std::uint64_t i = 100; i < 130; ++i) EXPECT_FALSE(rec->Submit(NumberedMessage(i)));
  EXPECT_EQ(rec->dropped(), 30u);
  EXPECT_EQ(rec->written(), 0u);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  rec->Stop();
  EXPECT_EQ(rec->written(), 100u);
  EXPECT_EQ(rec->dropped(), 30u);
  EXPECT_EQ(ReadSegments(Segments(dir.path()), true).size(), 100u);
}

TEST(Recorder, ConcurrentSubmittersLoseNothingWhenTheQueueIsLargeEnough) {
  TempDir dir;
  std::string error;
  auto rec = Recorder::Start(Options(dir), &error);
  ASSERT_NE(rec, nullptr) << error;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&rec, t] {
      for (std::uint64_t i = 0; i < 2000; ++i) rec->Submit(NumberedMessage(t * 10'000 + i));
    });
  }
  for (auto& t : threads) t.join();
  rec->Stop();
  EXPECT_EQ(rec->written() + rec->dropped(), 8000u);
  EXPECT_EQ(ReadSegments(Segments(dir.path()), true).size(), rec->written());
}

TEST(Recorder, UnwritableDirectoryCountsDropsAndErrorsInsteadOfCrashing) {
  TempDir dir;
  RecorderOptions o = Options(dir);
  o.dir = dir.File("gone");
  std::string error;
  auto rec = Recorder::Start(o, &error);
  ASSERT_NE(rec, nullptr) << error;
  fs::remove_all(o.dir);  // the directory disappears under the running recorder
  ASSERT_TRUE(rec->Submit(NumberedMessage(0)));
  ASSERT_TRUE(WaitFor([&] { return rec->dropped() == 1; }));
  EXPECT_EQ(rec->errors(), 1u);
  EXPECT_NE(rec->last_error().find("gone"), std::string::npos) << rec->last_error();
  EXPECT_EQ(rec->written(), 0u);
  rec->Stop();
}

TEST(Recorder, BadOptionsAreRejectedWithTheKeyAndExpectation) {
  TempDir dir;
  std::string error;
  RecorderOptions o = Options(dir);
  o.zstd_level = 99;
  EXPECT_EQ(Recorder::Start(o, &error), nullptr);
  EXPECT_NE(error.find("zstd_level"), std::string::npos) << error;
  o = Options(dir);
  o.queue_capacity = 0;
  EXPECT_EQ(Recorder::Start(o, &error), nullptr);
  EXPECT_NE(error.find("queue_capacity"), std::string::npos) << error;
  WriteFile(dir.File("plainfile"), "x");
  o = Options(dir);
  o.dir = dir.File("plainfile");
  EXPECT_EQ(Recorder::Start(o, &error), nullptr);
  EXPECT_NE(error.find("plainfile"), std::string::npos) << error;
}

}  // namespace
}  // namespace needlewatch::record
