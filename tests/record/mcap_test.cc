// McapWriter -> McapReader: round trips, index seeks, recovery of torn and corrupt files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

#include <sys/stat.h>

#include "needlewatch/record/mcap_reader.h"
#include "needlewatch/record/mcap_writer.h"
#include "test_util.h"

namespace needlewatch::record {
namespace {

using testing::NumberedMessage;
using testing::RandomMessages;
using testing::ReadFile;
using testing::SameMessage;
using testing::TempDir;
using testing::WriteFile;

std::uint64_t U64At(const std::string& s, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

struct TopRecord {
  std::uint8_t op;
  std::size_t start;
  std::size_t end;
};

// The top-level records of a complete file, up to and including Data End.
std::vector<TopRecord> DataRecords(const std::string& file) {
  std::vector<TopRecord> out;
  std::size_t pos = 8;
  while (pos + 9 <= file.size()) {
    const auto op = static_cast<std::uint8_t>(file[pos]);
    const std::size_t end = pos + 9 + U64At(file, pos + 1);
    out.push_back({op, pos, end});
    if (op == 0x0F) break;
    pos = end;
  }
  return out;
}

std::vector<RawMessage> ReadAll(McapReader& reader) {
  std::vector<RawMessage> out;
  RawMessage m;
  while (reader.Next(m)) out.push_back(m);
  return out;
}

void ExpectSameMessages(const std::vector<RawMessage>& got, const std::vector<RawMessage>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(SameMessage(got[i], want[i]))
        << "message " << i << ": got " << got[i].topic << " @" << got[i].receive_ns << ", want "
        << want[i].topic << " @" << want[i].receive_ns;
  }
}

std::unique_ptr<McapReader> MustOpen(const std::string& path) {
  std::string error;
  auto reader = McapReader::Open(path, &error);
  EXPECT_NE(reader, nullptr) << error;
  return reader;
}

void WriteAll(const std::string& path, const std::vector<RawMessage>& messages,
              const McapWriterOptions& options) {
  std::string error;
  auto writer = McapWriter::Create(path, options, &error);
  ASSERT_NE(writer, nullptr) << error;
  for (const auto& m : messages) ASSERT_TRUE(writer->Write(m)) << writer->error();
  ASSERT_TRUE(writer->Close()) << writer->error();
}

TEST(McapRoundTrip, RandomMessagesComeBackByteForByte) {
  for (int level : {3, 0}) {
    SCOPED_TRACE("zstd level " + std::to_string(level));
    TempDir dir;
    std::mt19937_64 rng(42 + level);
    const auto messages = RandomMessages(rng, 3000, 1'700'000'000'000'000'000LL);
    McapWriterOptions options;
    options.zstd_level = level;
    options.chunk_max_bytes = 8 * 1024;
    WriteAll(dir.File("a.mcap"), messages, options);

    auto reader = MustOpen(dir.File("a.mcap"));
    ASSERT_NE(reader, nullptr);
    EXPECT_TRUE(reader->complete());
    EXPECT_EQ(reader->skipped_bytes(), 0u);
    EXPECT_EQ(reader->message_count(), messages.size());
    EXPECT_EQ(reader->start_ns(), messages.front().receive_ns);
    EXPECT_EQ(reader->end_ns(), messages.back().receive_ns);
    EXPECT_GT(reader->chunk_count(), 10u);
    // Open read only the summary; every chunk is read exactly once by a full pass.
    EXPECT_EQ(reader->chunks_loaded(), 0u);
    ExpectSameMessages(ReadAll(*reader), messages);
    EXPECT_EQ(reader->chunks_loaded(), reader->chunk_count());
    EXPECT_TRUE(reader->warnings().empty());
  }
}

TEST(McapRoundTrip, OutOfOrderTimesAreReturnedInLogTimeOrderStableOnTies) {
  TempDir dir;
  std::mt19937_64 rng(7);
  auto messages = RandomMessages(rng, 2000, 1'000'000'000);
  // Jitter: receive times go backwards by up to 20 ms, across chunk boundaries too.
  for (auto& m : messages) m.receive_ns += static_cast<std::int64_t>(rng() % 20'000'000);
  McapWriterOptions options;
  options.chunk_max_bytes = 4 * 1024;
  WriteAll(dir.File("a.mcap"), messages, options);

  auto want = messages;
  std::stable_sort(want.begin(), want.end(),
                   [](const RawMessage& a, const RawMessage& b) { return a.receive_ns < b.receive_ns; });
  auto reader = MustOpen(dir.File("a.mcap"));
  ExpectSameMessages(ReadAll(*reader), want);
  EXPECT_EQ(reader->start_ns(), want.front().receive_ns);
  EXPECT_EQ(reader->end_ns(), want.back().receive_ns);
}

TEST(McapFile, IsCreatedReadableByOwnerAndGroupOnly) {
  TempDir dir;
  const mode_t old = ::umask(0);  // the file's own mode, not the test runner's umask
  WriteAll(dir.File("m.mcap"), {}, McapWriterOptions{});
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(dir.File("m.mcap").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(McapRoundTrip, EmptyFileIsCompleteWithNoMessages) {
  TempDir dir;
  WriteAll(dir.File("e.mcap"), {}, McapWriterOptions{});
  auto reader = MustOpen(dir.File("e.mcap"));
  EXPECT_TRUE(reader->complete());
  EXPECT_EQ(reader->message_count(), 0u);
  RawMessage m;
  EXPECT_FALSE(reader->Next(m));
}

TEST(McapSeek, SeekUsesTheChunkIndexAndLandsOnTheFirstMessageAtOrAfter) {
  TempDir dir;
  std::vector<RawMessage> messages;
  for (std::uint64_t i = 0; i < 20'000; ++i) messages.push_back(NumberedMessage(i));
  McapWriterOptions options;
  options.chunk_max_bytes = 16 * 1024;
  WriteAll(dir.File("s.mcap"), messages, options);

  auto reader = MustOpen(dir.File("s.mcap"));
  ASSERT_TRUE(reader->complete());
  const std::uint64_t chunks = reader->chunk_count();
  ASSERT_GT(chunks, 20u);
  for (std::uint64_t target : {0u, 1u, 9'999u, 15'555u, 19'999u}) {
    const std::uint64_t before = reader->chunks_loaded();
    // Between two messages: the next one is the answer.
    reader->SeekTo(messages[target].receive_ns - 1);
    RawMessage m;
    ASSERT_TRUE(reader->Next(m));
    EXPECT_TRUE(SameMessage(m, messages[target])) << "target " << target;
    EXPECT_LE(reader->chunks_loaded() - before, 2u) << "seek read more than the target chunk";
    if (target + 1 < messages.size()) {
      ASSERT_TRUE(reader->Next(m));
      EXPECT_TRUE(SameMessage(m, messages[target + 1]));
    }
  }
  reader->SeekTo(messages.back().receive_ns + 1);
  RawMessage m;
  EXPECT_FALSE(reader->Next(m));
  // Seeking back restarts; the rest of the file is all there.
  reader->SeekTo(messages[19'990].receive_ns);
  std::vector<RawMessage> tail = ReadAll(*reader);
  ExpectSameMessages(tail, std::vector<RawMessage>(messages.begin() + 19'990, messages.end()));
}

// A file whose writer is still open (or was killed) has no summary: recovery reads every
// closed chunk and nothing of the open one.
TEST(McapRecovery, UnclosedFileYieldsEveryFlushedMessage) {
  TempDir dir;
  const std::string path = dir.File("live.mcap");
  std::string error;
  McapWriterOptions options;
  options.chunk_max_bytes = 1 << 20;  // only explicit flushes close chunks
  auto writer = McapWriter::Create(path, options, &error);
  ASSERT_NE(writer, nullptr) << error;
  std::vector<RawMessage> messages;
  for (std::uint64_t i = 0; i < 250; ++i) {
    messages.push_back(NumberedMessage(i));
    ASSERT_TRUE(writer->Write(messages.back()));
    if (i % 100 == 99) {
      ASSERT_TRUE(writer->FlushChunk());
    }
  }
  ASSERT_EQ(writer->flushed_messages(), 200u);
  ASSERT_EQ(writer->buffered_messages(), 50u);

  auto reader = MustOpen(path);
  EXPECT_FALSE(reader->complete());
  EXPECT_EQ(reader->skipped_bytes(), 0u);
  EXPECT_EQ(reader->message_count(), 200u);
  EXPECT_EQ(reader->chunk_count(), 2u);
  ExpectSameMessages(ReadAll(*reader),
                     std::vector<RawMessage>(messages.begin(), messages.begin() + 200));
  ASSERT_TRUE(writer->Close());
  auto closed = MustOpen(path);
  EXPECT_TRUE(closed->complete());
  EXPECT_EQ(closed->message_count(), 250u);
}

// Cuts a small file at every length: the reader never crashes, recovers exactly the chunks
// that are whole, and reports the torn bytes.
TEST(McapRecovery, TruncationAtEveryOffsetRecoversEveryCompleteChunk) {
  TempDir dir;
  const std::string path = dir.File("full.mcap");
  std::string error;
  McapWriterOptions options;
  options.chunk_max_bytes = 1 << 20;
  auto writer = McapWriter::Create(path, options, &error);
  ASSERT_NE(writer, nullptr) << error;
  std::vector<RawMessage> messages;
  std::vector<std::uint64_t> flushed_after_chunk;  // cumulative messages after chunk k
  for (std::uint64_t i = 0; i < 26; ++i) {
    messages.push_back(NumberedMessage(i));
    ASSERT_TRUE(writer->Write(messages.back()));
    if (i % 4 == 3) {
      ASSERT_TRUE(writer->FlushChunk());
      flushed_after_chunk.push_back(writer->flushed_messages());
    }
  }
  ASSERT_TRUE(writer->Close());
  flushed_after_chunk.push_back(26);  // the last chunk is closed by Close()
  const std::string full = ReadFile(path);
  const auto records = DataRecords(full);
  std::vector<std::size_t> chunk_ends;
  for (const auto& r : records) {
    if (r.op == 0x06) chunk_ends.push_back(r.end);
  }
  ASSERT_EQ(chunk_ends.size(), flushed_after_chunk.size());

  const std::string cut = dir.File("cut.mcap");
  for (std::size_t len = 0; len <= full.size(); ++len) {
    SCOPED_TRACE("length " + std::to_string(len));
    WriteFile(cut, full.substr(0, len));
    auto reader = McapReader::Open(cut, &error);
    if (len < 8) {
      EXPECT_EQ(reader, nullptr);
      continue;
    }
    ASSERT_NE(reader, nullptr) << error;
    std::size_t whole_chunks = 0;
    while (whole_chunks < chunk_ends.size() && chunk_ends[whole_chunks] <= len) ++whole_chunks;
    const std::uint64_t want = whole_chunks == 0 ? 0 : flushed_after_chunk[whole_chunks - 1];
    std::uint64_t want_skipped = 0;
    for (const auto& r : records) {
      if (r.start >= len) break;
      if (r.op == 0x0F) break;  // past Data End nothing is message data
      if (r.end > len) want_skipped = len - r.start;
    }
    if (len == full.size()) {
      EXPECT_TRUE(reader->complete());
    } else {
      EXPECT_FALSE(reader->complete());
      EXPECT_EQ(reader->skipped_bytes(), want_skipped);
    }
    EXPECT_EQ(reader->message_count(), want);
    const auto got = ReadAll(*reader);
    ExpectSameMessages(got, std::vector<RawMessage>(messages.begin(),
                                                    messages.begin() + static_cast<long>(want)));
  }
}

TEST(McapRecovery, CorruptChunkIsSkippedAndCountedTheRestIsRead) {
  TempDir dir;
  const std::string path = dir.File("c.mcap");
  std::vector<RawMessage> messages;
  for (std::uint64_t i = 0; i < 600; ++i) messages.push_back(NumberedMessage(i));
  McapWriterOptions options;
  options.chunk_max_bytes = 2 * 1024;
  WriteAll(path, messages, options);
  std::string bytes = ReadFile(path);
  std::vector<TopRecord> chunks;
  for (const auto& r : DataRecords(bytes)) {
    if (r.op == 0x06) chunks.push_back(r);
  }
  ASSERT_GT(chunks.size(), 4u);
  const TopRecord bad = chunks[2];
  bytes[bad.end - 5] = static_cast<char>(bytes[bad.end - 5] ^ 0x5A);  // inside compressed data

  for (bool truncate_tail : {false, true}) {
    SCOPED_TRACE(truncate_tail ? "recovery scan" : "indexed");
    std::string file = truncate_tail ? bytes.substr(0, bytes.size() - 3) : bytes;
    WriteFile(dir.File("bad.mcap"), file);
    auto reader = MustOpen(dir.File("bad.mcap"));
    EXPECT_EQ(reader->complete(), !truncate_tail);
    const auto got = ReadAll(*reader);
    EXPECT_EQ(reader->skipped_bytes(), bad.end - bad.start);
    EXPECT_FALSE(reader->warnings().empty());
    // Exactly the messages of the corrupt chunk are missing, in order.
    ASSERT_LT(got.size(), messages.size());
    std::size_t j = 0;
    for (const auto& m : messages) {
      if (j < got.size() && SameMessage(got[j], m)) ++j;
    }
    EXPECT_EQ(j, got.size());
  }
}

// Random corruption (bit flips, overwritten runs, random lengths) of a small file, complete and
// unfinished: the reader must neither crash (ASan/UBSan run this) nor invent messages.
TEST(McapRecovery, RandomCorruptionNeverCrashesOrInventsMessages) {
  TempDir dir;
  std::vector<RawMessage> messages;
  for (std::uint64_t i = 0; i < 30; ++i) messages.push_back(NumberedMessage(i));
  McapWriterOptions options;
  options.chunk_max_bytes = 300;
  for (int level : {3, 0}) {
    options.zstd_level = level;
    WriteAll(dir.File("base.mcap"), messages, options);
    const std::string base = ReadFile(dir.File("base.mcap"));
    std::mt19937_64 rng(1234 + level);
    for (int round = 0; round < 600; ++round) {
      std::string bytes = base;
      if (round % 2 == 1) bytes.resize(bytes.size() - 1 - rng() % (bytes.size() / 2));
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        const std::size_t at = 8 + rng() % (bytes.size() - 8);
        switch (rng() % 3) {
          case 0:
            bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
            break;
          case 1:
            bytes[at] = static_cast<char>(rng());
            break;
          default:  // a huge little-endian length where one may be
            for (std::size_t k = at; k < std::min(bytes.size(), at + 8); ++k) {
              bytes[k] = static_cast<char>(k + 1 == at + 8 ? 0x7F : 0xFF);
            }
        }
      }
      WriteFile(dir.File("fuzz.mcap"), bytes);
      std::string error;
      auto reader = McapReader::Open(dir.File("fuzz.mcap"), &error);
      if (!reader) continue;
      std::size_t n = 0;
      RawMessage m;
      while (reader->Next(m) && n <= messages.size()) ++n;
      EXPECT_LE(n, messages.size()) << "round " << round;
      reader->SeekTo(messages[10].receive_ns);
      while (reader->Next(m) && n <= 2 * messages.size()) ++n;
    }
  }
}

TEST(McapReaderErrors, NonMcapFilesAreRejectedWithTheFileName) {
  TempDir dir;
  std::string error;
  EXPECT_EQ(McapReader::Open(dir.File("missing.mcap"), &error), nullptr);
  EXPECT_NE(error.find("missing.mcap"), std::string::npos);
  WriteFile(dir.File("text.mcap"), "{\"not\":\"mcap\"}\n");
  EXPECT_EQ(McapReader::Open(dir.File("text.mcap"), &error), nullptr);
  EXPECT_NE(error.find("not an MCAP file"), std::string::npos);
  WriteFile(dir.File("empty.mcap"), "");
  EXPECT_EQ(McapReader::Open(dir.File("empty.mcap"), &error), nullptr);
  EXPECT_EQ(McapReader::Open(dir.path().string(), &error), nullptr);
}

// Files from other writers may put Channel and Message records outside chunks.
TEST(McapReaderCompat, ReadsUnchunkedMessagesWithoutOurMetadata) {
  auto u16 = [](std::string& s, std::uint16_t v) { s.append({char(v & 0xFF), char(v >> 8)}); };
  auto u32 = [](std::string& s, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
  };
  auto u64 = [](std::string& s, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
  };
  auto str = [&](std::string& s, const std::string& v) {
    u32(s, static_cast<std::uint32_t>(v.size()));
    s += v;
  };
  auto record = [&](std::string& file, std::uint8_t op, const std::string& content) {
    file.push_back(static_cast<char>(op));
    u64(file, content.size());
    file += content;
  };
  std::string file("\x89MCAP0\r\n", 8);
  std::string c;
  str(c, "");
  str(c, "other-writer");
  record(file, 0x01, c);
  c.clear();
  u16(c, 3);
  u16(c, 0);
  str(c, "sensors/a");
  str(c, "json");
  u32(c, 0);  // empty metadata
  record(file, 0x04, c);
  for (std::uint64_t t : {300u, 100u, 200u}) {
    c.clear();
    u16(c, 3);
    u32(c, 1);
    u64(c, t);
    u64(c, t);
    c += "{\"t\":" + std::to_string(t) + "}";
    record(file, 0x05, c);
  }
  TempDir dir;
  WriteFile(dir.File("u.mcap"), file);
  auto reader = MustOpen(dir.File("u.mcap"));
  EXPECT_FALSE(reader->complete());
  EXPECT_EQ(reader->message_count(), 3u);
  const auto got = ReadAll(*reader);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].receive_ns, 100);
  EXPECT_EQ(got[0].payload, "{\"t\":100}");
  EXPECT_EQ(got[2].receive_ns, 300);
  EXPECT_EQ(got[1].topic, "sensors/a");
  EXPECT_EQ(got[1].qos, 0);
  EXPECT_FALSE(got[1].retain);
}

TEST(ReadRecording, CallsBackForEachMessageAndStopsOnFalse) {
  TempDir dir;
  std::vector<RawMessage> messages;
  for (std::uint64_t i = 0; i < 50; ++i) messages.push_back(NumberedMessage(i));
  WriteAll(dir.File("r.mcap"), messages, McapWriterOptions{});
  std::vector<RawMessage> got;
  std::string error;
  ASSERT_TRUE(ReadRecording(
      dir.File("r.mcap"), [&](const RawMessage& m) { got.push_back(m); return true; }, &error));
  ExpectSameMessages(got, messages);
  int seen = 0;
  ASSERT_TRUE(ReadRecording(dir.File("r.mcap"), [&](const RawMessage&) { return ++seen < 5; },
                            &error));
  EXPECT_EQ(seen, 5);
  EXPECT_FALSE(ReadRecording(dir.File("nope.mcap"), [](const RawMessage&) { return true; },
                             &error));
  EXPECT_NE(error.find("nope.mcap"), std::string::npos);
}

TEST(McapWriterLimits, NegativeTimesAreRecordedAsZero) {
  TempDir dir;
  RawMessage m = NumberedMessage(1);
  m.receive_ns = -5;
  WriteAll(dir.File("n.mcap"), {m}, McapWriterOptions{});
  auto reader = MustOpen(dir.File("n.mcap"));
  RawMessage got;
  ASSERT_TRUE(reader->Next(got));
  EXPECT_EQ(got.receive_ns, 0);
}

}  // namespace
}  // namespace needlewatch::record
