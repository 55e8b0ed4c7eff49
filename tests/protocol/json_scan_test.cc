// Tests of the internal scanner beyond what Decode exposes: member reporting and number
// conversion.
#include "json_scan.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

namespace needlewatch::protocol::internal {
namespace {

struct Recorder final : JsonMemberSink {
  void OnMember(std::string_view key, const JsonValue& value) override {
    keys.emplace_back(key);
    types.push_back(value.type);
    texts.emplace_back(value.text);
  }
  std::vector<std::string> keys;
  std::vector<JsonType> types;
  std::vector<std::string> texts;
};

const char* Scan(std::string_view in, Recorder& rec) {
  static std::array<char, 8192> scratch;
  JsonScanner scanner(in, scratch.data(), scratch.size());
  return scanner.ScanObject(rec);
}

TEST(JsonScanner, ReportsTopLevelMembersOnlyInOrder) {
  Recorder rec;
  ASSERT_EQ(
      Scan(R"({"a":1,"b\u0021":"x\ty","c":{"d":2},"e":[3],"f":null,"g":true,"h":false})", rec),
      nullptr);
  EXPECT_EQ(rec.keys, (std::vector<std::string>{"a", "b!", "c", "e", "f", "g", "h"}));
  EXPECT_EQ(rec.types, (std::vector<JsonType>{JsonType::kNumber, JsonType::kString,
                                              JsonType::kObject, JsonType::kArray, JsonType::kNull,
                                              JsonType::kTrue, JsonType::kFalse}));
  EXPECT_EQ(rec.texts[0], "1");
  EXPECT_EQ(rec.texts[1], "x\ty");
}

TEST(JsonScanner, MarksIntegersByTheirToken) {
  struct One final : JsonMemberSink {
    void OnMember(std::string_view, const JsonValue& v) override { is_integer = v.is_integer; }
    bool is_integer = false;
  };
  std::array<char, 64> scratch;
  for (auto [in, integer] :
       std::initializer_list<std::pair<std::string_view, bool>>{{R"({"n":1042})", true},
                                                                {R"({"n":-7})", true},
                                                                {R"({"n":1042.0})", false},
                                                                {R"({"n":1.042e3})", false},
                                                                {R"({"n":1E3})", false}}) {
    One one;
    JsonScanner scanner(in, scratch.data(), scratch.size());
    ASSERT_EQ(scanner.ScanObject(one), nullptr) << in;
    EXPECT_EQ(one.is_integer, integer) << in;
  }
}

TEST(JsonScanner, AcceptsExactly32LevelsAndRejects33) {
  Recorder rec;
  std::string ok = "{\"a\":" + std::string(31, '[') + std::string(31, ']') + "}";
  EXPECT_EQ(Scan(ok, rec), nullptr);
  std::string deep = "{\"a\":" + std::string(32, '[') + std::string(32, ']') + "}";
  EXPECT_NE(Scan(deep, rec), nullptr);
}

TEST(JsonScanner, HandlesManyKeysInOneObject) {
  std::string in = "{";
  for (int i = 0; i < 800; ++i) {
    if (i) in += ',';
    in += "\"k" + std::to_string(i) + "\":0";
  }
  in += '}';
  Recorder rec;
  EXPECT_EQ(Scan(in, rec), nullptr);
  EXPECT_EQ(rec.keys.size(), 800u);
  in.insert(in.size() - 1, ",\"k799\":1");
  EXPECT_NE(Scan(in, rec), nullptr);
}

TEST(JsonNumberToDouble, ConvertsOverflowsAndUnderflows) {
  double d = -1;
  EXPECT_TRUE(JsonNumberToDouble("1.25", d));
  EXPECT_EQ(d, 1.25);
  EXPECT_FALSE(JsonNumberToDouble("1e400", d));
  EXPECT_FALSE(JsonNumberToDouble("-1e400", d));
  EXPECT_FALSE(JsonNumberToDouble("0.001e99999999999999999999", d));
  EXPECT_TRUE(JsonNumberToDouble("1e-400", d));
  EXPECT_EQ(d, 0.0);
  EXPECT_TRUE(JsonNumberToDouble("-0.0000001e-99999999999999999999", d));
  EXPECT_EQ(d, 0.0);
  EXPECT_TRUE(std::signbit(d));
  EXPECT_TRUE(JsonNumberToDouble("123456789012345678901234567890", d));
  EXPECT_EQ(d, 1.2345678901234568e29);
}

}  // namespace
}  // namespace needlewatch::protocol::internal
