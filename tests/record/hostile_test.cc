// Hostile input for recordings: crafted MCAP files against the reader's memory budget, lz4
// chunks, rejected messages kept truncated under their own retention budget, and the JSON
// Schemas written per channel kind.
#include <gtest/gtest.h>
#include <lz4frame.h>
#include <zstd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "json_schemas.h"
#include "mcap_format.h"
#include "needlewatch/record/mcap_reader.h"
#include "needlewatch/record/mcap_writer.h"
#include "needlewatch/record/recorder.h"
#include "rejected.h"
#include "test_util.h"

namespace needlewatch::record {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

// ---- Building MCAP files by hand ----

std::string Record(mcap::Opcode op, const std::string& content) {
  std::string r;
  mcap::PutU8(r, op);
  mcap::PutU64(r, content.size());
  return r + content;
}

std::string ChannelRecord(std::uint16_t id, const std::string& topic) {
  std::string c;
  mcap::PutU16(c, id);
  mcap::PutU16(c, 0);
  mcap::PutString(c, topic);
  mcap::PutString(c, "json");
  mcap::PutU32(c, 0);  // no metadata
  return Record(mcap::kChannel, c);
}

std::string MessageRecord(std::uint16_t channel, std::uint64_t t, const std::string& data) {
  std::string m;
  mcap::PutU16(m, channel);
  mcap::PutU32(m, 1);
  mcap::PutU64(m, t);
  mcap::PutU64(m, t);
  return Record(mcap::kMessage, m + data);
}

// A Chunk record; `usize` is what it claims (records.size() unless a lie is wanted).
std::string ChunkRecord(std::uint64_t start, std::uint64_t end, std::uint64_t usize,
                        const std::string& compression, const std::string& data,
                        std::uint32_t crc = 0) {
  std::string c;
  mcap::PutU64(c, start);
  mcap::PutU64(c, end);
  mcap::PutU64(c, usize);
  mcap::PutU32(c, crc);
  mcap::PutString(c, compression);
  mcap::PutU64(c, data.size());
  return Record(mcap::kChunk, c + data);
}

std::string Header() {
  std::string h;
  mcap::PutString(h, "");
  mcap::PutString(h, "hostile-test");
  return std::string(mcap::kMagic, mcap::kMagicSize) + Record(mcap::kHeader, h);
}

std::string Zstd(const std::string& in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 19));
  return out;
}

std::string Lz4(const std::string& in) {
  std::string out(LZ4F_compressFrameBound(in.size(), nullptr), '\0');
  out.resize(LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), nullptr));
  return out;
}

// Records of one channel and one message whose payload is `n` zero bytes: compresses to
// almost nothing, inflates to n.
std::string ZeroRecords(std::uint64_t t, std::size_t n) {
  return ChannelRecord(1, "clinic/c1/device/d1/telemetry") + MessageRecord(1, t, std::string(n, '\0'));
}

// ---- The reader's memory budget ----

TEST(McapBudgetTest, Crafted12KbFileClaimingHugeChunksFailsClearly) {
  TempDir dir;
  std::string file = Header();
  // Three chunks of 4 KB of junk each, claiming 1 TiB, 30 MB and 2^63 bytes uncompressed.
  const std::string junk(4000, 'j');
  file += ChunkRecord(0, 10, 1ULL << 40, "zstd", junk);
  file += ChunkRecord(0, 10, 30ULL << 20, "zstd", junk);
  file += ChunkRecord(0, 10, 1ULL << 63, "lz4", junk);
  ASSERT_LT(file.size(), 12'500u);
  WriteFile(dir.File("crafted.mcap"), file);
  std::string error;
  EXPECT_EQ(McapReader::Open(dir.File("crafted.mcap"), &error), nullptr);
  EXPECT_NE(error.find("claims 1099511627776 bytes uncompressed"), std::string::npos) << error;
  EXPECT_NE(error.find("crafted.mcap: "), std::string::npos) << error;
}

TEST(McapBudgetTest, ClaimUnderTheLimitThatDoesNotInflateIsSkippedAsCorrupt) {
  TempDir dir;
  // 30 MB claimed, a few hundred bytes real: allocation follows the real output, and the chunk
  // is skipped with its reason; the next chunk is still read.
  const std::string small = ChannelRecord(1, "t") + MessageRecord(1, 5, "{\"ok\":1}");
  std::string file = Header() + ChunkRecord(0, 10, 30ULL << 20, "zstd", Zstd(small)) +
                     ChunkRecord(0, 10, 30ULL << 20, "lz4", Lz4(small)) +
                     ChunkRecord(5, 5, small.size(), "", small);
  WriteFile(dir.File("liar.mcap"), file);
  std::string error;
  auto r = McapReader::Open(dir.File("liar.mcap"), &error);
  ASSERT_NE(r, nullptr) << error;
  RawMessage m;
  ASSERT_TRUE(r->Next(m));
  EXPECT_EQ(m.payload, "{\"ok\":1}");
  EXPECT_FALSE(r->Next(m));
  EXPECT_TRUE(r->error().empty());
  ASSERT_EQ(r->warnings().size(), 2u);
  EXPECT_NE(r->warnings()[0].find("zstd: truncated frame or size mismatch (" +
                                  std::to_string(small.size()) + " of 31457280 bytes)"),
            std::string::npos)
      << r->warnings()[0];
  EXPECT_NE(r->warnings()[1].find("lz4: truncated frame or size mismatch"), std::string::npos)
      << r->warnings()[1];
}

TEST(McapBudgetTest, RealChunkBeyondThePerChunkLimitStopsTheReader) {
  TempDir dir;
  const std::string records = ZeroRecords(1, 20 << 20);  // 20 MiB of zeros
  const std::string z = Zstd(records);
  ASSERT_LT(z.size(), 12'000u);  // a tiny file that inflates a lot
  WriteFile(dir.File("bomb.mcap"), Header() + ChunkRecord(1, 1, records.size(), "zstd", z));
  McapReaderOptions o;
  o.max_chunk_bytes = 16 << 20;
  std::string error;
  EXPECT_EQ(McapReader::Open(dir.File("bomb.mcap"), o, &error), nullptr);
  EXPECT_NE(error.find("more than the reader's limit of 16777216 bytes per chunk"),
            std::string::npos)
      << error;
  // Within a larger limit it reads.
  o.max_chunk_bytes = 32 << 20;
  o.max_memory_bytes = 64 << 20;
  auto r = McapReader::Open(dir.File("bomb.mcap"), o, &error);
  ASSERT_NE(r, nullptr) << error;
  RawMessage m;
  ASSERT_TRUE(r->Next(m));
  EXPECT_EQ(m.payload.size(), 20u << 20);
}

TEST(McapBudgetTest, ChunksOverlappingInTimeBeyondTheOverallBudgetStopTheReader) {
  TempDir dir;
  // Four chunks of 6 MiB each, all spanning the same time (a big message early, a small one
  // at t=1000): a merge must hold them together.
  std::string file = Header();
  for (int i = 0; i < 4; ++i) {
    const std::string records = ZeroRecords(100, 6 << 20) + MessageRecord(1, 1000 + i, "{}");
    file += ChunkRecord(0, 1000, records.size(), "zstd", Zstd(records));
  }
  WriteFile(dir.File("overlap.mcap"), file);
  McapReaderOptions o;
  o.max_chunk_bytes = 8 << 20;
  o.max_memory_bytes = 20 << 20;
  std::string error;
  auto r = McapReader::Open(dir.File("overlap.mcap"), o, &error);
  ASSERT_NE(r, nullptr) << error;  // the recovery scan holds one chunk at a time
  RawMessage m;
  EXPECT_FALSE(r->Next(m));
  EXPECT_NE(r->error().find("over the reader's memory budget of 20971520 bytes"),
            std::string::npos)
      << r->error();
  // Within the default budget (256 MiB) the same file reads.
  EXPECT_TRUE(ReadRecording(dir.File("overlap.mcap"), [](const RawMessage&) { return true; },
                            &error))
      << error;
}

TEST(McapBudgetTest, HugeRecordLengthsNeverAllocate) {
  TempDir dir;
  // A Message record inside a chunk claiming 2^62 bytes, and a top-level record claiming 2^63.
  std::string records = ChannelRecord(1, "t");
  std::string bad;
  mcap::PutU8(bad, mcap::kMessage);
  mcap::PutU64(bad, 1ULL << 62);
  bad += std::string(30, 'x');
  records += bad;
  std::string file = Header() + ChunkRecord(0, 1, records.size(), "", records);
  mcap::PutU8(file, mcap::kChunk);
  mcap::PutU64(file, 1ULL << 63);
  file += std::string(100, 'y');
  WriteFile(dir.File("lengths.mcap"), file);
  std::string error;
  auto r = McapReader::Open(dir.File("lengths.mcap"), &error);
  ASSERT_NE(r, nullptr) << error;
  RawMessage m;
  EXPECT_FALSE(r->Next(m));
  EXPECT_GT(r->skipped_bytes(), 100u);
}

// ---- lz4 chunks ----

TEST(McapLz4Test, Lz4ChunksAreReadAndCorruptOnesSkipped) {
  TempDir dir;
  std::string records = ChannelRecord(1, "clinic/c1/device/d1/telemetry");
  for (int i = 0; i < 200; ++i) {
    records += MessageRecord(1, 1000 + i, "{\"seq\":" + std::to_string(i) + "}");
  }
  const std::uint32_t crc = mcap::Crc32(0, records.data(), records.size());
  std::string broken = Lz4(records);
  broken[broken.size() / 2] ^= 0x5A;
  WriteFile(dir.File("lz4.mcap"),
            Header() + ChunkRecord(1000, 1199, records.size(), "lz4", Lz4(records), crc) +
                ChunkRecord(1000, 1199, records.size(), "lz4", broken, crc));
  std::string error;
  auto r = McapReader::Open(dir.File("lz4.mcap"), &error);
  ASSERT_NE(r, nullptr) << error;
  RawMessage m;
  int n = 0;
  while (r->Next(m)) {
    EXPECT_EQ(m.payload, "{\"seq\":" + std::to_string(n) + "}");
    EXPECT_EQ(m.receive_ns, 1000 + n);
    ++n;
  }
  EXPECT_EQ(n, 200);
  EXPECT_GT(r->skipped_bytes(), 0u);  // the corrupted copy
}

// ---- Rejected messages ----

TEST(RejectedEnvelopeTest, RoundTripsTopicReasonSizeAndBytes) {
  RawMessage m;
  m.topic = "clinic/c1/device/d1/telemetry";
  m.reject = "bad_json";
  m.qos = 1;
  m.retain = true;
  m.payload = std::string("{\"v\":1,\xff\xfe", 9);  // not UTF-8: base64
  RawMessage back;
  std::string error;
  ASSERT_TRUE(DecodeRejected(EncodeRejected(m), back, &error)) << error;
  EXPECT_EQ(back.topic, m.topic);
  EXPECT_EQ(back.payload, m.payload);
  EXPECT_EQ(back.reject, "bad_json");
  EXPECT_EQ(back.qos, 1);
  EXPECT_TRUE(back.retain);
  EXPECT_FALSE(back.truncated());
  FillRawMessage(m, 5, "junk/topic", std::string(100'000, 'a'), 0, false, "too_large");
  EXPECT_EQ(m.payload.size(), kRejectedKeepBytes);
  ASSERT_TRUE(DecodeRejected(EncodeRejected(m), back, &error)) << error;
  EXPECT_EQ(back.original_size, 100'000u);
  EXPECT_TRUE(back.truncated());
  EXPECT_EQ(RejectedChannelTopic("clinic", "clinic/c1/device/d1/telemetry", "bad_json"),
            "$needlewatch/rejected/c1/d1/bad_json");
  EXPECT_EQ(RejectedChannelTopic("clinic", "clinic/c1/device/d1/bogus/x", "bad_topic"),
            "$needlewatch/rejected/c1/d1/bad_topic");
  EXPECT_EQ(RejectedChannelTopic("eu/west", "eu/west/c1/device/d1/event", "bad_field"),
            "$needlewatch/rejected/c1/d1/bad_field");
  EXPECT_EQ(RejectedChannelTopic("clinic", "somewhere/else", "bad_topic"),
            "$needlewatch/rejected/bad_topic");
  EXPECT_EQ(RejectedChannelTopic("clinic", "clinic/c 1/device/d1/telemetry", "bad/../x"),
            "$needlewatch/rejected/other");
  std::string decoded;
  EXPECT_TRUE(Base64Decode(Base64Encode("ab"), decoded));
  EXPECT_EQ(decoded, "ab");
  EXPECT_FALSE(Base64Decode("a=bc", decoded));
}

template <typename Pred>
bool WaitFor(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

std::uint64_t TotalSize(const fs::path& dir, bool (*match)(const std::string&, std::uint64_t*),
                        std::vector<std::string>* files = nullptr) {
  std::uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!match(e.path().filename().string(), nullptr)) continue;
    total += fs::file_size(e.path());
    if (files != nullptr) files->push_back(e.path().string());
  }
  if (files != nullptr) std::sort(files->begin(), files->end());
  return total;
}

TEST(RecorderRejectedTest, HundredMegabytesOfJunkDoNotEvictAcceptedRecordings) {
  TempDir dir;
  RecorderOptions o;
  o.dir = dir.path().string();
  o.segment_max_bytes = 256 << 10;
  o.retention_max_bytes = 4 << 20;
  o.rejected_max_bytes = 512 << 10;
  o.chunk_max_bytes = 32 << 10;
  std::string error;
  auto rec = Recorder::Start(o, &error);
  ASSERT_NE(rec, nullptr) << error;
  constexpr int kAccepted = 3000;
  for (int i = 0; i < kAccepted; ++i) {
    RawMessage m = testing::NumberedMessage(static_cast<std::uint64_t>(i));
    ASSERT_TRUE(rec->Submit(std::move(m)));
  }
  // Then 100 MB of junk: 1000 payloads of 100 KB of random bytes (they do not compress),
  // rejected as too_large, from 10 devices.
  std::mt19937_64 rng(7);
  std::string junk(100'000, '\0');
  std::uint64_t submitted = 0;
  for (int i = 0; i < 1000; ++i) {
    for (char& c : junk) c = static_cast<char>(rng());
    RawMessage m;
    m.receive_ns = 1'790'000'000'000'000'000LL + i;
    m.topic = "clinic/c1/device/d" + std::to_string(i % 10) + "/telemetry";
    m.payload = junk;
    m.reject = "too_large";
    while (!rec->Submit(RawMessage(m))) std::this_thread::yield();  // queue full: retry
    submitted += junk.size();
  }
  ASSERT_EQ(submitted, 100'000'000u);
  rec->Stop();
  EXPECT_EQ(rec->errors(), 0u) << rec->last_error();

  // Every accepted message is still there.
  std::vector<std::string> main_files;
  TotalSize(dir.path(), ParseSegmentFileName, &main_files);
  std::uint64_t accepted = 0;
  for (const auto& f : main_files) {
    ASSERT_TRUE(ReadRecording(f, [&](const RawMessage& m) {
      EXPECT_TRUE(m.reject.empty());
      ++accepted;
      return true;
    }, &error)) << error;
  }
  EXPECT_EQ(accepted, static_cast<std::uint64_t>(kAccepted));
  // Junk stayed within its own budget (the segment being written when it closed may add one).
  std::vector<std::string> junk_files;
  const std::uint64_t junk_bytes = TotalSize(dir.path(), ParseRejectedSegmentFileName, &junk_files);
  EXPECT_LE(junk_bytes, o.rejected_max_bytes);
  ASSERT_FALSE(junk_files.empty());
  // The newest junk is kept truncated, with its size and reason, on a channel of its device.
  std::uint64_t kept = 0;
  for (const auto& f : junk_files) {
    ASSERT_TRUE(ReadRecording(f, [&](const RawMessage& m) {
      EXPECT_EQ(m.reject, "too_large");
      EXPECT_EQ(m.payload.size(), kRejectedKeepBytes);
      EXPECT_EQ(m.original_size, junk.size());
      EXPECT_EQ(m.topic.rfind("clinic/c1/device/d", 0), 0u) << m.topic;
      ++kept;
      return true;
    }, &error)) << error;
  }
  EXPECT_GT(kept, 0u);
  EXPECT_LT(kept, 1000u);
  EXPECT_NE(ReadFile(junk_files.back()).find("$needlewatch/rejected/c1/d3/too_large"),
            std::string::npos);
}

TEST(RecorderRejectedTest, SubmitCutsAJunkPayloadBeforeQueueingIt) {
  TempDir dir;
  RecorderOptions o;
  o.dir = dir.path().string();
  o.rejected_max_bytes = 0;  // not recorded at all
  std::string error;
  auto rec = Recorder::Start(o, &error);
  ASSERT_NE(rec, nullptr) << error;
  RawMessage m;
  m.topic = "x";
  m.payload.assign(1 << 20, 'z');
  m.reject = "too_large";
  ASSERT_TRUE(rec->Submit(std::move(m)));
  rec->Stop();
  EXPECT_EQ(TotalSize(dir.path(), ParseRejectedSegmentFileName), 0u);
  EXPECT_EQ(rec->dropped(), 0u);
}

// ---- JSON Schemas ----

TEST(JsonSchemaTest, EachKnownTopicShapeGetsItsSchemaInTheFile) {
  EXPECT_EQ(SchemaKindOf("clinic/c1/device/d1/telemetry"), SchemaKind::kTelemetry);
  EXPECT_EQ(SchemaKindOf("eu/west/c1/device/d1/event"), SchemaKind::kEvent);
  EXPECT_EQ(SchemaKindOf("clinic/c1/device/d1/status"), SchemaKind::kStatus);
  EXPECT_EQ(SchemaKindOf("clinic/c1/device/d1/alarm/depth_exceeded"), SchemaKind::kAlarm);
  EXPECT_EQ(SchemaKindOf("clinic/c1/device/d1/command"), SchemaKind::kCommand);
  EXPECT_EQ(SchemaKindOf("needlewatch/nw-1/status"), SchemaKind::kMonitorStatus);
  EXPECT_EQ(SchemaKindOf("needlewatch/nw-1/alarm/recorder_dropping"), SchemaKind::kMonitorAlarm);
  EXPECT_EQ(SchemaKindOf(kAckTopic), SchemaKind::kAck);
  EXPECT_EQ(SchemaKindOf(kLimitsTopic), SchemaKind::kLimits);
  EXPECT_EQ(SchemaKindOf("$needlewatch/rejected/c1/d1/bad_json"), SchemaKind::kRejected);
  EXPECT_EQ(SchemaKindOf("clinics/c1/devices/d1/telemetry"), SchemaKind::kNone);
  EXPECT_EQ(SchemaKindOf("telemetry"), SchemaKind::kNone);

  TempDir dir;
  std::string error;
  McapWriterOptions wo;
  wo.zstd_level = 0;  // plain chunks, so the records can be found in the bytes
  auto w = McapWriter::Create(dir.File("s.mcap"), wo, &error);
  ASSERT_NE(w, nullptr) << error;
  for (const char* topic : {"clinic/c1/device/d1/telemetry", "clinic/c1/device/d2/telemetry",
                            "$needlewatch/ack", "other/topic"}) {
    RawMessage m;
    m.topic = topic;
    m.payload = "{}";
    ASSERT_TRUE(w->Write(m));
  }
  ASSERT_TRUE(w->Close());
  const std::string bytes = ReadFile(dir.File("s.mcap"));
  // One Schema record per kind used (telemetry once for two channels), in the summary too.
  std::size_t n = 0;
  for (std::size_t p = 0; (p = bytes.find("needlewatch.Telemetry", p)) != std::string::npos; ++p) ++n;
  EXPECT_EQ(n, 2u);  // in the chunk that first used it, and in the summary
  EXPECT_NE(bytes.find("needlewatch.Ack"), std::string::npos);
  EXPECT_NE(bytes.find("jsonschema"), std::string::npos);
  // Readers that know nothing of schemas still read every message.
  std::uint64_t read = 0;
  ASSERT_TRUE(ReadRecording(dir.File("s.mcap"), [&](const RawMessage&) { return ++read, true; },
                            &error));
  EXPECT_EQ(read, 4u);
}

}  // namespace
}  // namespace needlewatch::record
