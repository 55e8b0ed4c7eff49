// Capture line parsers, time parsing and the k-way merge.
#include <gtest/gtest.h>

#include <sstream>

#include "needlewatch/replay/source.h"

namespace needlewatch::replay {
namespace {

using record::RawMessage;

TEST(CaptureTextLineTest, ParsesTimeExactlyTopicAndPayload) {
  RawMessage m;
  ASSERT_TRUE(ParseCaptureTextLine(
      "1795611133.125000001 clinic/c/device/d/telemetry {\"v\":1, \"a\": \"b c\"}", m));
  EXPECT_EQ(m.receive_ns, 1795611133125000001LL);
  EXPECT_EQ(m.topic, "clinic/c/device/d/telemetry");
  EXPECT_EQ(m.payload, "{\"v\":1, \"a\": \"b c\"}");
  ASSERT_TRUE(ParseCaptureTextLine("1795611133.999999999 x ", m));  // empty payload
  EXPECT_EQ(m.receive_ns, 1795611133999999999LL);
  EXPECT_EQ(m.topic, "x");
  EXPECT_EQ(m.payload, "");
}

TEST(CaptureTextLineTest, RejectsNonCaptureLines) {
  RawMessage m;
  EXPECT_FALSE(ParseCaptureTextLine("", m));
  EXPECT_FALSE(ParseCaptureTextLine("newline", m));
  EXPECT_FALSE(ParseCaptureTextLine("1795611133.1 topic-without-payload-space", m));
  EXPECT_FALSE(ParseCaptureTextLine("1795611133.1234567890 t p", m));  // 10 fraction digits
  EXPECT_FALSE(ParseCaptureTextLine("17956x1133 t p", m));
  EXPECT_FALSE(ParseCaptureTextLine("-1 t p", m));
  EXPECT_FALSE(ParseCaptureTextLine("1795611133.5  p", m));  // empty topic
}

TEST(CaptureJsonLineTest, PayloadAsStringNullAndEmbeddedJson) {
  RawMessage m;
  ASSERT_TRUE(ParseCaptureJsonLine(
      R"({"tst":"2026-11-25T12:52:13.310193Z+0000","topic":"a/b","qos":1,"retain":1,)"
      R"("payloadlen":9,"payload":"{\"v\":1}\n"})",
      m));
  EXPECT_EQ(m.receive_ns, 1795611133310193000LL);
  EXPECT_EQ(m.topic, "a/b");
  EXPECT_EQ(m.payload, "{\"v\":1}\n");
  EXPECT_EQ(m.qos, 1);
  EXPECT_TRUE(m.retain);
  ASSERT_TRUE(ParseCaptureJsonLine(
      R"({"tst":"2026-11-25T12:52:13.000000Z+0000","topic":"x","qos":0,"retain":0,"payloadlen":0,"payload":null})",
      m));
  EXPECT_EQ(m.payload, "");
  EXPECT_FALSE(m.retain);
  ASSERT_TRUE(ParseCaptureJsonLine(
      R"({"tst":"2026-11-25T12:52:13.000000Z+0000","topic":"y","payload":{"v":1,"ts":1795611133125,"s":"é\"","d":[1,2.5]}})",
      m));
  EXPECT_EQ(m.payload, R"({"d":[1,2.5],"s":"é\"","ts":1795611133125,"v":1})");
}

TEST(CaptureJsonLineTest, RejectsNonCaptureLines) {
  RawMessage m;
  EXPECT_FALSE(ParseCaptureJsonLine("", m));
  EXPECT_FALSE(ParseCaptureJsonLine("{", m));
  EXPECT_FALSE(ParseCaptureJsonLine(R"({"topic":"x","payload":"p"})", m));  // no tst
  EXPECT_FALSE(ParseCaptureJsonLine(R"({"tst":"yesterday","topic":"x","payload":"p"})", m));
  EXPECT_FALSE(ParseCaptureJsonLine(R"({"tst":"2026-11-25T12:52:13Z","payload":"p"})", m));
}

TEST(TimeTest, EpochSecondsAndRfc3339) {
  EXPECT_EQ(ParseEpochSeconds("1795611133"), 1795611133000000000LL);
  EXPECT_EQ(ParseEpochSeconds("1795611133.5"), 1795611133500000000LL);
  EXPECT_EQ(ParseEpochSeconds("0.000000001"), 1);
  EXPECT_EQ(ParseEpochSeconds("1."), std::nullopt);
  EXPECT_EQ(ParseEpochSeconds("99999999999999999999"), std::nullopt);
  EXPECT_EQ(ParseTimeArgument("2026-11-25T12:52:13Z"), ParseTimeArgument("1795611133"));
  EXPECT_EQ(ParseTimeArgument("2026-11-25T13:52:13.25+01:00"), 1795611133250000000LL);
}

class VectorSource : public MessageSource {
 public:
  explicit VectorSource(std::vector<std::pair<std::int64_t, std::string>> v) : v_(std::move(v)) {}
  bool Next(RawMessage& out) override {
    if (i_ == v_.size()) return false;
    out.receive_ns = v_[i_].first;
    out.topic = v_[i_].second;
    ++i_;
    return true;
  }
  std::uint64_t lines_skipped() const override { return 1; }
  FileFormat format() const override { return FileFormat::kCaptureText; }
  const std::string& path() const override { return path_; }

 private:
  std::vector<std::pair<std::int64_t, std::string>> v_;
  std::size_t i_ = 0;
  std::string path_ = "v";
};

TEST(MergedSourceTest, MergesByTimeThenFileThenLineOrder) {
  std::vector<std::unique_ptr<MessageSource>> s;
  s.push_back(std::make_unique<VectorSource>(
      std::vector<std::pair<std::int64_t, std::string>>{{1, "a1"}, {5, "a5"}, {5, "a5b"}}));
  s.push_back(std::make_unique<VectorSource>(
      std::vector<std::pair<std::int64_t, std::string>>{{0, "b0"}, {5, "b5"}, {9, "b9"}}));
  s.push_back(std::make_unique<VectorSource>(std::vector<std::pair<std::int64_t, std::string>>{}));
  MergedSource m(std::move(s));
  std::vector<std::string> order;
  RawMessage msg;
  while (m.Next(msg)) order.push_back(msg.topic);
  EXPECT_EQ(order, (std::vector<std::string>{"b0", "a1", "a5", "a5b", "b5", "b9"}));
  EXPECT_EQ(m.lines_skipped(), 3u);
}

}  // namespace
}  // namespace needlewatch::replay
