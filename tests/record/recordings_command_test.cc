// `recordings ls` and `recordings export --format jsonl`.
#include "needlewatch/record/recordings_command.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "needlewatch/record/mcap_writer.h"
#include "test_util.h"

namespace needlewatch::record {
namespace {

using testing::NumberedMessage;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

void Write(const std::string& path, const std::vector<RawMessage>& messages) {
  std::string error;
  McapWriterOptions o;
  o.chunk_max_bytes = 512;
  auto w = McapWriter::Create(path, o, &error);
  ASSERT_NE(w, nullptr) << error;
  for (const auto& m : messages) ASSERT_TRUE(w->Write(m));
  ASSERT_TRUE(w->Close());
}

TEST(RecordingsLs, ListsCompleteAndRecoveredSegments) {
  TempDir dir;
  std::vector<RawMessage> messages;
  for (std::uint64_t i = 0; i < 100; ++i) messages.push_back(NumberedMessage(i));
  Write(dir.File("a.mcap"), messages);
  const std::string full = ReadFile(dir.File("a.mcap"));
  WriteFile(dir.File("b.mcap"), full.substr(0, full.size() / 2));
  WriteFile(dir.File("junk.mcap"), "not mcap");
  WriteFile(dir.File("readme.txt"), "ignored");

  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(RunRecordingsLs(dir.path().string(), out, err), 1);  // junk.mcap is an error
  const std::string text = out.str();
  EXPECT_NE(text.find("a.mcap\t2026-05-28T"), std::string::npos) << text;
  EXPECT_NE(text.find("\t100\t" + std::to_string(full.size()) + "\tcomplete"), std::string::npos)
      << text;
  EXPECT_NE(text.find("b.mcap"), std::string::npos);
  EXPECT_NE(text.find("recovered (skipped "), std::string::npos) << text;
  EXPECT_EQ(text.find("readme.txt"), std::string::npos);
  EXPECT_NE(err.str().find("junk.mcap: not an MCAP file"), std::string::npos) << err.str();

  std::ostringstream none;
  EXPECT_EQ(RunRecordingsLs(dir.File("nope"), none, err), 1);
}

TEST(RecordingsExport, OneJsonObjectPerMessageWithBase64ForBinaryPayloads) {
  TempDir dir;
  RawMessage text = NumberedMessage(0);
  text.receive_ns = 1'795'611'133'310'193'001LL;
  text.payload = "{\"depth_mm\":0.5,\"note\":\"naïve\"}";
  text.qos = 1;
  text.retain = true;
  RawMessage binary = NumberedMessage(1);
  binary.receive_ns = text.receive_ns + 1;
  binary.payload = std::string("\xff\x00\x01\xc3", 4);  // not UTF-8
  Write(dir.File("x.mcap"), {text, binary});

  std::ostringstream out;
  std::ostringstream err;
  ASSERT_EQ(RunRecordingsExport({dir.path().string()}, "jsonl", out, err), 0) << err.str();
  std::istringstream lines(out.str());
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(lines, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["receive_ns"], text.receive_ns);
  EXPECT_EQ(rows[0]["time"], "2026-11-25T12:52:13.310193001Z");
  EXPECT_EQ(rows[0]["topic"], text.topic);
  EXPECT_EQ(rows[0]["qos"], 1);
  EXPECT_EQ(rows[0]["retain"], true);
  EXPECT_EQ(rows[0]["payload"], text.payload);
  EXPECT_FALSE(rows[0].contains("payload_base64"));
  EXPECT_EQ(rows[1]["payload_base64"], "/wABww==");
  EXPECT_FALSE(rows[1].contains("payload"));

  std::ostringstream csv;
  EXPECT_EQ(RunRecordingsExport({dir.File("x.mcap")}, "csv", csv, err), 2);
  EXPECT_NE(err.str().find("expected jsonl"), std::string::npos);
  EXPECT_EQ(RunRecordingsExport({dir.File("missing.mcap")}, "jsonl", csv, err), 1);
}

}  // namespace
}  // namespace needlewatch::record
