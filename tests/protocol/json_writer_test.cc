#include "needlewatch/protocol/json_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace needlewatch::protocol {
namespace {

TEST(JsonWriter, PlacesCommasBetweenMembersAndElementsOnly) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject()
      .Field("a", 1)
      .Key("list")
      .BeginArray()
      .Int(-2)
      .UInt(3)
      .BeginObject()
      .EndObject()
      .BeginArray()
      .EndArray()
      .EndArray()
      .Field("b", true)
      .Key("n")
      .Null()
      .EndObject();
  EXPECT_EQ(out, R"({"a":1,"list":[-2,3,{},[]],"b":true,"n":null})");
}

TEST(JsonWriter, OptionalsAndEmptyStringsBecomeNullWhereAsked) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject()
      .Field("v", std::optional<double>())
      .Field("x", std::optional<double>(0.5))
      .Field("t", std::optional<std::int64_t>(7))
      .StringOrNull("s", "")
      .StringOrNull("z", "cheek")
      .EndObject();
  EXPECT_EQ(out, R"({"v":null,"x":0.5,"t":7,"s":null,"z":"cheek"})");
}

TEST(JsonWriter, NumbersRoundTripAndNonFiniteIsNull) {
  std::string out;
  JsonWriter w(out);
  w.BeginArray()
      .Number(0.1)
      .Number(-0.0)
      .Number(1795611133.125)
      .Number(std::numeric_limits<double>::infinity())
      .Number(std::nan(""))
      .EndArray();
  EXPECT_EQ(out, "[0.1,0,1795611133.125,null,null]");
}

TEST(JsonWriter, EscapesKeysAndStringsAndRepairsBadUtf8) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject().Field("k\"ey", "a\\b\n\x01\xff\xc3\xa9").EndObject();
  EXPECT_EQ(out, "{\"k\\\"ey\":\"a\\\\b\\n\\u0001\\ufffd\xc3\xa9\"}");
}

TEST(JsonWriter, AppendsToWhatIsAlreadyThere) {
  std::string out = "prefix ";
  JsonWriter(out).BeginObject().Field("a", "b").EndObject();
  EXPECT_EQ(out, R"(prefix {"a":"b"})");
}

}  // namespace
}  // namespace needlewatch::protocol
