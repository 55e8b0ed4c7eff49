#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "needlewatch/protocol/message.h"

namespace needlewatch::protocol {
namespace {

using C = Channel;
using R = Reject;

// A valid telemetry payload with one member replaced: T("\"depth_mm\":0") etc.
std::string Telemetry(std::string_view seq = "\"seq\":1042",
                      std::string_view ts = "\"ts\":1795611133125",
                      std::string_view session = "\"session\":\"S-7f3a91\"",
                      std::string_view zone = "\"zone\":\"cheek\"",
                      std::string_view depth = "\"depth_mm\":1.25",
                      std::string_view speed = "\"speed_hz\":120.0") {
  std::string s = "{\"v\":1";
  for (std::string_view part : {seq, ts, session, zone, depth, speed}) {
    if (part.empty()) continue;
    s += ',';
    s += part;
  }
  s += '}';
  return s;
}
std::string WithDepth(std::string_view depth) {
  return Telemetry({"\"seq\":1"}, {"\"ts\":0"}, {"\"session\":\"s\""}, {"\"zone\":\"z\""}, depth);
}
std::string WithSpeed(std::string_view speed) {
  return Telemetry({"\"seq\":1"}, {"\"ts\":0"}, {"\"session\":\"s\""}, {"\"zone\":\"z\""},
                   {"\"depth_mm\":1"}, speed);
}
std::string WithSeq(std::string_view seq) { return Telemetry(seq); }
std::string WithTs(std::string_view ts) { return Telemetry({"\"seq\":1"}, ts); }
std::string WithSession(std::string_view s) { return Telemetry({"\"seq\":1"}, {"\"ts\":0"}, s); }
std::string WithZone(std::string_view z) {
  return Telemetry({"\"seq\":1"}, {"\"ts\":0"}, {"\"session\":\"s\""}, z);
}
// A valid telemetry payload followed by an extra member.
std::string WithExtra(std::string_view member) {
  std::string s = Telemetry();
  s.pop_back();
  s += ',';
  s += member;
  s += '}';
  return s;
}

// Nests `depth` arrays inside an unknown field of an otherwise valid telemetry payload.
std::string NestedArrays(int depth) {
  return WithExtra("\"x\":" + std::string(depth, '[') + std::string(depth, ']'));
}

// A telemetry payload padded with an unknown string field to exactly `size` bytes.
std::string PaddedTo(std::size_t size) {
  const std::string base = WithExtra("\"pad\":\"\"");
  std::string s = base;
  s.insert(s.size() - 2, size - base.size(), 'x');
  return s;
}

const std::string kId64(64, 'i');
const std::string kId65(65, 'i');

struct DecodeCase {
  std::string name;
  Channel channel;
  std::string payload;
  Reject expected;
  std::string detail_prefix;  // for rejections: the field or defect named first in `detail`
};

std::vector<DecodeCase> Cases() {
  std::vector<DecodeCase> v = {
      // --- accepted forms ---
      {"TelemetryFromTheContract", C::kTelemetry, Telemetry(), R::kNone, ""},
      {"DepthZero", C::kTelemetry, WithDepth("\"depth_mm\":0"), R::kNone, ""},
      {"DepthTen", C::kTelemetry, WithDepth("\"depth_mm\":10"), R::kNone, ""},
      {"DepthTenPointZero", C::kTelemetry, WithDepth("\"depth_mm\":10.0"), R::kNone, ""},
      {"DepthExponent", C::kTelemetry, WithDepth("\"depth_mm\":1.25e0"), R::kNone, ""},
      {"DepthNegativeZero", C::kTelemetry, WithDepth("\"depth_mm\":-0.0"), R::kNone, ""},
      {"DepthUnderflowIsZero", C::kTelemetry, WithDepth("\"depth_mm\":1e-400"), R::kNone, ""},
      {"SpeedZero", C::kTelemetry, WithSpeed("\"speed_hz\":0"), R::kNone, ""},
      {"SpeedThousand", C::kTelemetry, WithSpeed("\"speed_hz\":1000"), R::kNone, ""},
      {"SeqZero", C::kTelemetry, WithSeq("\"seq\":0"), R::kNone, ""},
      {"SeqMaxU32", C::kTelemetry, WithSeq("\"seq\":4294967295"), R::kNone, ""},
      {"TsZero", C::kTelemetry, WithTs("\"ts\":0"), R::kNone, ""},
      {"TsMaxI64", C::kTelemetry, WithTs("\"ts\":9223372036854775807"), R::kNone, ""},
      {"SessionId64", C::kTelemetry, WithSession("\"session\":\"" + kId64 + "\""), R::kNone, ""},
      {"EscapedSessionId", C::kTelemetry, WithSession("\"session\":\"\\u0041bc\""), R::kNone, ""},
      {"Zone64Bytes", C::kTelemetry, WithZone("\"zone\":\"" + std::string(64, 'z') + "\""),
       R::kNone, ""},
      {"ZoneUtf8", C::kTelemetry, WithZone("\"zone\":\"jou\xc3\xa9\""), R::kNone, ""},
      {"ZoneWithSpaces", C::kTelemetry, WithZone("\"zone\":\"upper lip\""), R::kNone, ""},
      {"KeysInAnyOrder", C::kTelemetry,
       R"({"speed_hz":1,"depth_mm":1,"zone":"z","session":"s","ts":1,"seq":1,"v":1})", R::kNone,
       ""},
      {"WhitespaceAround", C::kTelemetry, " \t\r\n" + Telemetry() + " \n", R::kNone, ""},
      {"WhitespaceInside", C::kTelemetry,
       "{ \"v\" : 1 , \"seq\" :1,\"ts\":1,\"session\":\"s\",\"zone\":\"z\",\"depth_mm\":1,"
       "\"speed_hz\" : 1 }",
       R::kNone, ""},
      {"UnknownFieldsOfEveryType", C::kTelemetry,
       WithExtra(
           R"("a":null,"b":true,"c":false,"d":-1.5e-3,"e":"x\n\u00e9\ud83d\ude00","f":[],"g":{})"),
       R::kNone, ""},
      {"NestedJunkInUnknownField", C::kTelemetry,
       WithExtra(R"("x":{"a":[1,{"b":[[],{}],"c":"\"}"}],"d":{"e":{"f":null}}})"), R::kNone, ""},
      {"SameKeyInDifferentObjects", C::kTelemetry, WithExtra(R"("x":{"v":2,"y":{"v":3}})"),
       R::kNone, ""},
      {"Nesting32Deep", C::kTelemetry, NestedArrays(31), R::kNone, ""},
      {"Exactly4096Bytes", C::kTelemetry, PaddedTo(4096), R::kNone, ""},
      {"EventStart", C::kEvent,
       R"({"v":1,"seq":1,"ts":1,"event":"session_start","session":"s","zone":"cheek"})", R::kNone,
       ""},
      {"EventStartWithOperator", C::kEvent,
       R"({"v":1,"seq":1,"ts":1,"event":"session_start","session":"s","zone":"cheek","operator":"op-7"})",
       R::kNone, ""},
      {"EventStartOperatorNull", C::kEvent,
       R"({"v":1,"seq":1,"ts":1,"event":"session_start","session":"s","zone":"cheek","operator":null})",
       R::kNone, ""},
      {"EventEnd", C::kEvent, R"({"v":1,"seq":2,"ts":1,"event":"session_end","session":"s"})",
       R::kNone, ""},
      {"EventEndIgnoresZone", C::kEvent,
       R"({"v":1,"seq":2,"ts":1,"event":"session_end","session":"s","zone":""})", R::kNone, ""},
      {"StatusOnline", C::kStatus, R"({"v":1,"ts":1,"state":"online","model":"NP-3","fw":"2.3.1"})",
       R::kNone, ""},
      {"StatusOfflineWithoutSeq", C::kStatus, R"({"v":1,"ts":1,"state":"offline"})", R::kNone, ""},
      {"StatusWithSeq", C::kStatus, R"({"v":1,"seq":0,"ts":1,"state":"offline"})", R::kNone, ""},
      {"StatusIgnoresTelemetryFields", C::kStatus,
       R"({"v":1,"ts":1,"state":"offline","depth_mm":"x","event":7})", R::kNone, ""},

      // --- too_large ---
      {"Size4097", C::kTelemetry, PaddedTo(4097), R::kTooLarge, "payload"},
      {"TooLargeBeforeBadJson", C::kTelemetry, std::string(5000, '['), R::kTooLarge, "payload"},

      // --- bad_json ---
      {"Empty", C::kTelemetry, "", R::kBadJson, "empty"},
      {"WhitespaceOnly", C::kTelemetry, " \n\t ", R::kBadJson, "empty"},
      {"ArrayAtTop", C::kTelemetry, "[" + Telemetry() + "]", R::kBadJson, "expected a JSON object"},
      {"StringAtTop", C::kTelemetry, "\"x\"", R::kBadJson, "expected a JSON object"},
      {"NumberAtTop", C::kTelemetry, "1", R::kBadJson, "expected a JSON object"},
      {"NullAtTop", C::kTelemetry, "null", R::kBadJson, "expected a JSON object"},
      {"TrailingGarbage", C::kTelemetry, Telemetry() + "x", R::kBadJson, "trailing"},
      {"TwoObjects", C::kTelemetry, Telemetry() + Telemetry(), R::kBadJson, "trailing"},
      {"TrailingComma", C::kTelemetry, WithExtra("\"x\":1,"), R::kBadJson, "expected a string key"},
      {"Truncated", C::kTelemetry, Telemetry().substr(0, 40), R::kBadJson, ""},
      {"SingleQuotes", C::kTelemetry, "{'v':1}", R::kBadJson, "expected a string key"},
      {"UnquotedKey", C::kTelemetry, "{v:1}", R::kBadJson, "expected a string key"},
      {"DuplicateKnownKey", C::kTelemetry, WithExtra("\"depth_mm\":0.5"), R::kBadJson,
       "duplicate key"},
      {"DuplicateUnknownKey", C::kTelemetry, WithExtra("\"x\":1,\"x\":1"), R::kBadJson,
       "duplicate key"},
      {"DuplicateKeyViaEscape", C::kTelemetry, WithExtra("\"\\u0076\":1"), R::kBadJson,
       "duplicate key"},
      {"DuplicateNestedKey", C::kTelemetry, WithExtra(R"("x":{"a":1,"b":{},"a":2})"), R::kBadJson,
       "duplicate key"},
      {"DuplicateVBeforeBadVersion", C::kTelemetry, "{\"v\":2,\"v\":2}", R::kBadJson,
       "duplicate key"},
      {"NaN", C::kTelemetry, WithDepth("\"depth_mm\":NaN"), R::kBadJson, "invalid value"},
      {"Infinity", C::kTelemetry, WithDepth("\"depth_mm\":Infinity"), R::kBadJson, "invalid value"},
      {"MinusInfinity", C::kTelemetry, WithDepth("\"depth_mm\":-Infinity"), R::kBadJson,
       "invalid number"},
      {"NaNInUnknownField", C::kTelemetry, WithExtra("\"x\":[NaN]"), R::kBadJson, "invalid value"},
      {"LeadingZero", C::kTelemetry, WithSeq("\"seq\":01"), R::kBadJson, "number with a leading"},
      {"LeadingZeroFraction", C::kTelemetry, WithDepth("\"depth_mm\":00.5"), R::kBadJson,
       "number with a leading"},
      {"LeadingPlus", C::kTelemetry, WithSeq("\"seq\":+1"), R::kBadJson, "invalid value"},
      {"BareDot", C::kTelemetry, WithDepth("\"depth_mm\":.5"), R::kBadJson, "invalid value"},
      {"TrailingDot", C::kTelemetry, WithDepth("\"depth_mm\":1."), R::kBadJson, "invalid number"},
      {"EmptyExponent", C::kTelemetry, WithDepth("\"depth_mm\":1e"), R::kBadJson, "invalid number"},
      {"HexNumber", C::kTelemetry, WithSeq("\"seq\":0x10"), R::kBadJson, "expected ','"},
      {"BadLiteral", C::kTelemetry, WithExtra("\"x\":tru"), R::kBadJson, "invalid literal"},
      {"CapitalLiteral", C::kTelemetry, WithExtra("\"x\":True"), R::kBadJson, "invalid value"},
      {"Nesting33Deep", C::kTelemetry, NestedArrays(32), R::kBadJson, "nesting deeper"},
      {"NestingObjects33Deep", C::kTelemetry,
       WithExtra("\"x\":" +
                 [] {
                   std::string s;
                   for (int i = 0; i < 32; ++i) s += "{\"a\":";
                   s += "1";
                   s += std::string(32, '}');
                   return s;
                 }()),
       R::kBadJson, "nesting deeper"},
      {"Utf8Overlong", C::kTelemetry, WithZone("\"zone\":\"\xc0\xaf\""), R::kBadJson,
       "invalid UTF-8"},
      {"Utf8Overlong3", C::kTelemetry, WithZone("\"zone\":\"\xe0\x80\xaf\""), R::kBadJson,
       "invalid UTF-8"},
      {"Utf8Surrogate", C::kTelemetry, WithZone("\"zone\":\"\xed\xa0\x80\""), R::kBadJson,
       "invalid UTF-8"},
      {"Utf8Truncated", C::kTelemetry, WithZone("\"zone\":\"\xc3\""), R::kBadJson, "invalid UTF-8"},
      {"Utf8TruncatedAtEnd", C::kTelemetry, "{\"x\":\"\xe2\x82", R::kBadJson, "invalid UTF-8"},
      {"Utf8StrayContinuation", C::kTelemetry, WithZone("\"zone\":\"\x80\""), R::kBadJson,
       "invalid UTF-8"},
      {"Utf8AboveMax", C::kTelemetry, WithZone("\"zone\":\"\xf4\x90\x80\x80\""), R::kBadJson,
       "invalid UTF-8"},
      {"Utf8InvalidByteFF", C::kTelemetry, WithExtra("\"\xff\":1"), R::kBadJson, "invalid UTF-8"},
      {"Utf8InUnknownNestedString", C::kTelemetry, WithExtra("\"x\":[\"\xc3\x28\"]"), R::kBadJson,
       "invalid UTF-8"},
      {"LoneHighSurrogateEscape", C::kTelemetry, WithZone("\"zone\":\"\\ud83d\""), R::kBadJson,
       "unpaired surrogate"},
      {"LoneLowSurrogateEscape", C::kTelemetry, WithZone("\"zone\":\"\\ude00x\""), R::kBadJson,
       "unpaired surrogate"},
      {"BadEscape", C::kTelemetry, WithZone("\"zone\":\"\\x41\""), R::kBadJson, "invalid escape"},
      {"BadUnicodeEscape", C::kTelemetry, WithZone("\"zone\":\"\\u00g1\""), R::kBadJson,
       "invalid \\u"},
      {"RawControlCharInString", C::kTelemetry, WithZone("\"zone\":\"a\tb\""), R::kBadJson,
       "unescaped control"},
      {"UnterminatedString", C::kTelemetry, "{\"v\":1,\"zone\":\"abc", R::kBadJson,
       "unterminated string"},
      {"ByteOrderMark", C::kTelemetry, "\xef\xbb\xbf" + Telemetry(), R::kBadJson,
       "expected a JSON object"},
      {"NulByteOutsideString", C::kTelemetry, Telemetry() + std::string(1, '\0'), R::kBadJson,
       "trailing"},
      {"BadJsonBeforeBadVersion", C::kTelemetry, "{\"v\":2,}", R::kBadJson, ""},

      // --- bad_version ---
      {"VersionTwo", C::kTelemetry, Telemetry().replace(5, 1, "2"), R::kBadVersion, "v:"},
      {"VersionFloat", C::kTelemetry, Telemetry().replace(5, 1, "1.0"), R::kBadVersion, "v:"},
      {"VersionExponent", C::kTelemetry, Telemetry().replace(5, 1, "1e0"), R::kBadVersion, "v:"},
      {"VersionString", C::kTelemetry, Telemetry().replace(5, 1, "\"1\""), R::kBadVersion, "v:"},
      {"VersionNull", C::kTelemetry, Telemetry().replace(5, 1, "null"), R::kBadVersion, "v:"},
      {"VersionZero", C::kStatus, R"({"v":0,"ts":1,"state":"online"})", R::kBadVersion, "v:"},
      {"VersionNegative", C::kStatus, R"({"v":-1})", R::kBadVersion, "v:"},
      {"BadVersionBeforeMissing", C::kTelemetry, R"({"v":2})", R::kBadVersion, "v:"},

      // --- missing_field ---
      {"EmptyObject", C::kTelemetry, "{}", R::kMissingField, "v:"},
      {"MissingV", C::kStatus, R"({"ts":1,"state":"online"})", R::kMissingField, "v:"},
      {"MissingSeq", C::kTelemetry, Telemetry(""), R::kMissingField, "seq:"},
      {"MissingTs", C::kTelemetry, WithTs(""), R::kMissingField, "ts:"},
      {"MissingSession", C::kTelemetry, WithSession(""), R::kMissingField, "session:"},
      {"MissingZone", C::kTelemetry, WithZone(""), R::kMissingField, "zone:"},
      {"MissingDepth", C::kTelemetry, WithDepth(""), R::kMissingField, "depth_mm:"},
      {"MissingSpeed", C::kTelemetry, WithSpeed(""), R::kMissingField, "speed_hz:"},
      {"MissingBeforeBadField", C::kTelemetry,
       R"({"v":1,"seq":-1,"ts":1,"session":"s","zone":"z","depth_mm":99})", R::kMissingField,
       "speed_hz:"},
      {"EventMissingSeq", C::kEvent, R"({"v":1,"ts":1,"event":"session_end","session":"s"})",
       R::kMissingField, "seq:"},
      {"EventMissingEvent", C::kEvent, R"({"v":1,"seq":1,"ts":1,"session":"s"})", R::kMissingField,
       "event:"},
      {"EventMissingSession", C::kEvent, R"({"v":1,"seq":1,"ts":1,"event":"session_end"})",
       R::kMissingField, "session:"},
      {"EventStartMissingZone", C::kEvent,
       R"({"v":1,"seq":1,"ts":1,"event":"session_start","session":"s"})", R::kMissingField,
       "zone:"},
      {"StatusMissingTs", C::kStatus, R"({"v":1,"state":"online"})", R::kMissingField, "ts:"},
      {"StatusMissingState", C::kStatus, R"({"v":1,"ts":1})", R::kMissingField, "state:"},
      {"NullIsNotAbsentForRequired", C::kTelemetry, WithDepth("\"depth_mm\":null"), R::kBadField,
       "depth_mm:"},

      // --- bad_field ---
      {"Depth10Point0000001", C::kTelemetry, WithDepth("\"depth_mm\":10.0000001"), R::kBadField,
       "depth_mm:"},
      {"DepthNegative", C::kTelemetry, WithDepth("\"depth_mm\":-0.001"), R::kBadField, "depth_mm:"},
      {"DepthAsString", C::kTelemetry, WithDepth("\"depth_mm\":\"1.0\""), R::kBadField,
       "depth_mm:"},
      {"DepthHugeExponent", C::kTelemetry, WithDepth("\"depth_mm\":1e400"), R::kBadField,
       "depth_mm:"},
      {"DepthTrue", C::kTelemetry, WithDepth("\"depth_mm\":true"), R::kBadField, "depth_mm:"},
      {"DepthArray", C::kTelemetry, WithDepth("\"depth_mm\":[1]"), R::kBadField, "depth_mm:"},
      {"SpeedAbove1000", C::kTelemetry, WithSpeed("\"speed_hz\":1000.0001"), R::kBadField,
       "speed_hz:"},
      {"SpeedNegative", C::kTelemetry, WithSpeed("\"speed_hz\":-1"), R::kBadField, "speed_hz:"},
      {"SpeedAsString", C::kTelemetry, WithSpeed("\"speed_hz\":\"120\""), R::kBadField,
       "speed_hz:"},
      {"SeqTwoTo32", C::kTelemetry, WithSeq("\"seq\":4294967296"), R::kBadField, "seq:"},
      {"SeqNegative", C::kTelemetry, WithSeq("\"seq\":-1"), R::kBadField, "seq:"},
      {"SeqNegativeZero", C::kTelemetry, WithSeq("\"seq\":-0"), R::kBadField, "seq:"},
      {"SeqFraction", C::kTelemetry, WithSeq("\"seq\":1042.0"), R::kBadField, "seq:"},
      {"SeqExponent", C::kTelemetry, WithSeq("\"seq\":1.042e3"), R::kBadField, "seq:"},
      {"SeqAsString", C::kTelemetry, WithSeq("\"seq\":\"1042\""), R::kBadField, "seq:"},
      {"SeqHuge", C::kTelemetry, WithSeq("\"seq\":99999999999999999999999"), R::kBadField, "seq:"},
      {"TsNegative", C::kTelemetry, WithTs("\"ts\":-1"), R::kBadField, "ts:"},
      {"TsFraction", C::kTelemetry, WithTs("\"ts\":1795611133125.5"), R::kBadField, "ts:"},
      {"TsExponent", C::kTelemetry, WithTs("\"ts\":1.7e12"), R::kBadField, "ts:"},
      {"TsAboveI64", C::kTelemetry, WithTs("\"ts\":9223372036854775808"), R::kBadField, "ts:"},
      {"TsAsString", C::kTelemetry, WithTs("\"ts\":\"0\""), R::kBadField, "ts:"},
      {"SessionId65", C::kTelemetry, WithSession("\"session\":\"" + kId65 + "\""), R::kBadField,
       "session:"},
      {"SessionEmpty", C::kTelemetry, WithSession("\"session\":\"\""), R::kBadField, "session:"},
      {"SessionSpace", C::kTelemetry, WithSession("\"session\":\"S 1\""), R::kBadField, "session:"},
      {"SessionSlash", C::kTelemetry, WithSession("\"session\":\"S/1\""), R::kBadField, "session:"},
      {"SessionNonAscii", C::kTelemetry, WithSession("\"session\":\"S\xc3\xa9\""), R::kBadField,
       "session:"},
      {"SessionEscapedNul", C::kTelemetry, WithSession("\"session\":\"S\\u0000\""), R::kBadField,
       "session:"},
      {"SessionNumber", C::kTelemetry, WithSession("\"session\":42"), R::kBadField, "session:"},
      {"ZoneEmpty", C::kTelemetry, WithZone("\"zone\":\"\""), R::kBadField, "zone:"},
      {"Zone65Bytes", C::kTelemetry, WithZone("\"zone\":\"" + std::string(65, 'z') + "\""),
       R::kBadField, "zone:"},
      {"ZoneEscapedNewline", C::kTelemetry, WithZone("\"zone\":\"a\\nb\""), R::kBadField, "zone:"},
      {"ZoneDel", C::kTelemetry, WithZone("\"zone\":\"a\x7f\""), R::kBadField, "zone:"},
      {"ZoneC1Control", C::kTelemetry, WithZone("\"zone\":\"a\\u0085\""), R::kBadField, "zone:"},
      {"ZoneNumber", C::kTelemetry, WithZone("\"zone\":1"), R::kBadField, "zone:"},
      {"FirstBadFieldInWireOrder", C::kTelemetry,
       R"({"v":1,"speed_hz":-1,"depth_mm":99,"zone":"","session":"","ts":-1,"seq":-1})",
       R::kBadField, "seq:"},
      {"EventUnknownKind", C::kEvent, R"({"v":1,"seq":1,"ts":1,"event":"pause","session":"s"})",
       R::kBadField, "event:"},
      {"EventKindNotString", C::kEvent, R"({"v":1,"seq":1,"ts":1,"event":1,"session":"s"})",
       R::kBadField, "event:"},
      {"EventBadKindHidesMissingZone", C::kEvent,
       R"({"v":1,"seq":1,"ts":1,"event":"Session_Start","session":"s"})", R::kBadField, "event:"},
      {"EventStartEmptyZone", C::kEvent,
       R"({"v":1,"seq":1,"ts":1,"event":"session_start","session":"s","zone":""})", R::kBadField,
       "zone:"},
      {"EventBadOperator", C::kEvent,
       R"({"v":1,"seq":1,"ts":1,"event":"session_start","session":"s","zone":"z","operator":"Dr. X"})",
       R::kBadField, "operator:"},
      {"EventBadSession", C::kEvent,
       R"({"v":1,"seq":1,"ts":1,"event":"session_end","session":"a#"})", R::kBadField, "session:"},
      {"StatusUnknownState", C::kStatus, R"({"v":1,"ts":1,"state":"sleeping"})", R::kBadField,
       "state:"},
      {"StatusBadSeq", C::kStatus, R"({"v":1,"seq":-1,"ts":1,"state":"online"})", R::kBadField,
       "seq:"},
      {"StatusModelNotString", C::kStatus, R"({"v":1,"ts":1,"state":"online","model":3})",
       R::kBadField, "model:"},
      {"StatusFwTooLong", C::kStatus,
       R"({"v":1,"ts":1,"state":"online","fw":")" + std::string(65, 'f') + "\"}", R::kBadField,
       "fw:"},
  };
  return v;
}

// One test over the whole table (one process instead of ~180 under ctest); each failure names
// its case.
TEST(Decode, TableOfAcceptedAndRejectedForms) {
  for (const DecodeCase& c : Cases()) {
    SCOPED_TRACE(c.name);
    Decoded d;
    const Reject r = Decode(c.channel, c.payload, d);
    EXPECT_EQ(RejectName(r), RejectName(c.expected)) << c.payload << "\ndetail: " << d.detail;
    if (c.expected == R::kNone) {
      EXPECT_TRUE(d.detail.empty()) << d.detail;
    } else {
      EXPECT_EQ(d.detail.substr(0, c.detail_prefix.size()), c.detail_prefix) << d.detail;
    }
  }
}

TEST(Decode, FillsTelemetryFields) {
  Decoded d;
  const std::string payload = Telemetry();  // the views point into it
  ASSERT_EQ(Decode(C::kTelemetry, payload, d), R::kNone);
  EXPECT_EQ(d.channel, C::kTelemetry);
  EXPECT_EQ(d.telemetry.seq, 1042u);
  EXPECT_EQ(d.telemetry.ts_ms, 1795611133125);
  EXPECT_EQ(d.telemetry.session, "S-7f3a91");
  EXPECT_EQ(d.telemetry.zone, "cheek");
  EXPECT_EQ(d.telemetry.depth_mm, 1.25);
  EXPECT_EQ(d.telemetry.speed_hz, 120.0);
}

TEST(Decode, UnescapesStringsIntoScratch) {
  Decoded d;
  const std::string payload = WithZone(R"("zone":"upper\u0020lip \u00e9\ud83d\ude00\"\\\/")");
  ASSERT_EQ(Decode(C::kTelemetry, payload, d), R::kNone) << d.detail;
  EXPECT_EQ(d.telemetry.zone, "upper lip \xc3\xa9\xf0\x9f\x98\x80\"\\/");
  EXPECT_GE(d.telemetry.zone.data(), d.scratch.data());
  EXPECT_LT(d.telemetry.zone.data(), d.scratch.data() + d.scratch.size());
}

TEST(Decode, ViewsPointIntoThePayloadWhenNothingIsEscaped) {
  Decoded d;
  const std::string payload = Telemetry();
  ASSERT_EQ(Decode(C::kTelemetry, payload, d), R::kNone);
  EXPECT_GE(d.telemetry.session.data(), payload.data());
  EXPECT_LT(d.telemetry.session.data(), payload.data() + payload.size());
}

TEST(Decode, EscapedIdDecodesToThePlainId) {
  Decoded d;
  ASSERT_EQ(Decode(C::kTelemetry, WithSession(R"("session":"\u0041bc")"), d), R::kNone);
  EXPECT_EQ(d.telemetry.session, "Abc");
}

TEST(Decode, NegativeZeroDepthBecomesZero) {
  Decoded d;
  ASSERT_EQ(Decode(C::kTelemetry, WithDepth("\"depth_mm\":-0.0"), d), R::kNone);
  EXPECT_FALSE(std::signbit(d.telemetry.depth_mm));
}

TEST(Decode, FillsEventFields) {
  Decoded d;
  ASSERT_EQ(
      Decode(
          C::kEvent,
          R"({"v":1,"seq":7,"ts":5,"event":"session_start","session":"s1","zone":"neck","operator":"op-1"})",
          d),
      R::kNone);
  EXPECT_EQ(d.event.kind, EventKind::kSessionStart);
  EXPECT_EQ(d.event.seq, 7u);
  EXPECT_EQ(d.event.ts_ms, 5);
  EXPECT_EQ(d.event.session, "s1");
  EXPECT_EQ(d.event.zone, "neck");
  EXPECT_EQ(d.event.op, "op-1");
  ASSERT_EQ(
      Decode(C::kEvent,
             R"({"v":1,"seq":8,"ts":6,"event":"session_end","session":"s1","zone":"neck"})", d),
      R::kNone);
  EXPECT_EQ(d.event.kind, EventKind::kSessionEnd);
  EXPECT_EQ(d.event.zone, "");
  EXPECT_EQ(d.event.op, "");
}

TEST(Decode, FillsStatusFields) {
  Decoded d;
  ASSERT_EQ(
      Decode(C::kStatus, R"({"v":1,"seq":3,"ts":9,"state":"online","model":"M","fw":"1.2"})", d),
      R::kNone);
  EXPECT_TRUE(d.status.online);
  EXPECT_TRUE(d.status.has_seq);
  EXPECT_EQ(d.status.seq, 3u);
  EXPECT_EQ(d.status.ts_ms, 9);
  EXPECT_EQ(d.status.model, "M");
  EXPECT_EQ(d.status.fw, "1.2");
  ASSERT_EQ(Decode(C::kStatus, R"({"v":1,"ts":9,"state":"offline"})", d), R::kNone);
  EXPECT_FALSE(d.status.online);
  EXPECT_FALSE(d.status.has_seq);
  EXPECT_EQ(d.status.model, "");
}

TEST(Decode, ResetsOutputBetweenCalls) {
  Decoded d;
  ASSERT_EQ(Decode(C::kTelemetry, Telemetry(), d), R::kNone);
  ASSERT_EQ(Decode(C::kTelemetry, WithDepth("\"depth_mm\":11"), d), R::kBadField);
  EXPECT_EQ(d.telemetry.session, "");
  ASSERT_EQ(Decode(C::kTelemetry, Telemetry(), d), R::kNone);
  EXPECT_TRUE(d.detail.empty());
}

TEST(Decode, UnknownChannelIsABadTopic) {
  Decoded d;
  EXPECT_EQ(Decode(C::kUnknown, Telemetry(), d), R::kBadTopic);
  EXPECT_FALSE(d.detail.empty());
}

TEST(Decode, DetailNamesTheFieldAndTheExpectation) {
  Decoded d;
  ASSERT_EQ(Decode(C::kTelemetry, WithDepth("\"depth_mm\":11"), d), R::kBadField);
  EXPECT_EQ(d.detail, "depth_mm: expected a number from 0 to 10");
}

// Golden files in testdata/ are named after their defect; testdata/INDEX lists each with its
// channel and expected reason ("accepted" for none).
TEST(Decode, GoldenFilesInTestdata) {
  const std::string dir = NEEDLEWATCH_PROTOCOL_TESTDATA;
  std::ifstream index(dir + "/INDEX");
  ASSERT_TRUE(index) << "missing " << dir << "/INDEX";
  std::string line;
  int checked = 0;
  while (std::getline(index, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string file, channel, reason;
    fields >> file >> channel >> reason;
    std::ifstream in(dir + "/" + file, std::ios::binary);
    ASSERT_TRUE(in) << file;
    std::ostringstream payload;
    payload << in.rdbuf();
    const Channel c = channel == "event"    ? C::kEvent
                      : channel == "status" ? C::kStatus
                                            : C::kTelemetry;
    Decoded d;
    EXPECT_EQ(RejectName(Decode(c, payload.str(), d)), reason == "accepted" ? "" : reason)
        << file << ": " << d.detail;
    ++checked;
  }
  EXPECT_GT(checked, 10);
}

// The metric and report names of every reason, in check order: the contract's seven with the
// engine's admission checks right after bad_topic and duplicate last.
TEST(RejectTest, NamesAreInCheckOrder) {
  std::vector<std::string_view> names;
  for (R r : kAllRejects) names.push_back(RejectName(r));
  const std::vector<std::string_view> want = {
      "bad_topic",   "not_assigned",  "unknown_device", "too_many_devices",
      "too_large",   "bad_json",      "bad_version",    "missing_field",
      "bad_field",   "unknown_session_end", "duplicate"};
  EXPECT_EQ(names, want);
  for (std::size_t i = 0; i < kAllRejects.size(); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(kAllRejects[i]), i + 1) << names[i];
  }
  EXPECT_EQ(RejectName(R::kNone), "");
}

}  // namespace
}  // namespace needlewatch::protocol
