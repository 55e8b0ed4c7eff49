// The one JSON writer for everything needlewatch emits: device payloads (simulator, tests),
// alarm and status payloads, audit lines, API bodies, recorded control records and reports.
// Compact output, keys in the order written, strings escaped (ill-formed UTF-8 becomes U+FFFD,
// so the output is always valid JSON), numbers in shortest round-trip form (non-finite: null).
//
// The writer places the commas: call Key() before each member's value, and any value or
// container after it.
//
//   std::string out;
//   JsonWriter w(out);
//   w.BeginObject().Field("alarm", "depth_exceeded").Field("value", 0.8).EndObject();
//   // out == {"alarm":"depth_exceeded","value":0.8}
//
// Parsing is not here: device input goes through the strict scanner in decode.cc, anything
// else through nlohmann_json in the layer that reads it. Pure; a writer is used by one thread.
#ifndef NEEDLEWATCH_PROTOCOL_JSON_WRITER_H_
#define NEEDLEWATCH_PROTOCOL_JSON_WRITER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace needlewatch::protocol {

class JsonWriter {
 public:
  // Appends to `out`, which must outlive the writer.
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);

  JsonWriter& String(std::string_view s);
  JsonWriter& Number(double d);  // null when not finite
  JsonWriter& Int(std::int64_t i);
  JsonWriter& UInt(std::uint64_t u);
  JsonWriter& Bool(bool b);
  JsonWriter& Null();
  // An already-encoded JSON value, copied as is.
  JsonWriter& Raw(std::string_view json);

  // Key(key) followed by the value; optionals write null when empty.
  JsonWriter& Field(std::string_view key, std::string_view s) { return Key(key).String(s); }
  JsonWriter& Field(std::string_view key, const char* s) { return Key(key).String(s); }
  JsonWriter& Field(std::string_view key, const std::string& s) { return Key(key).String(s); }
  JsonWriter& Field(std::string_view key, double d) { return Key(key).Number(d); }
  JsonWriter& Field(std::string_view key, bool b) { return Key(key).Bool(b); }
  JsonWriter& Field(std::string_view key, std::int64_t i) { return Key(key).Int(i); }
  JsonWriter& Field(std::string_view key, std::uint64_t u) { return Key(key).UInt(u); }
  JsonWriter& Field(std::string_view key, int i) { return Key(key).Int(i); }
  JsonWriter& Field(std::string_view key, unsigned u) { return Key(key).UInt(u); }
  JsonWriter& Field(std::string_view key, const std::optional<double>& d);
  JsonWriter& Field(std::string_view key, const std::optional<std::int64_t>& i);
  // A string, or null when empty (no session, no zone, no user).
  JsonWriter& StringOrNull(std::string_view key, std::string_view s);

  std::string& out() { return out_; }

 private:
  void Separate();

  std::string& out_;
  bool need_comma_ = false;
};

// Appends `s` as a JSON string literal (quotes and escapes) to `out`.
void AppendJsonString(std::string& out, std::string_view s);
// Appends a finite double in shortest round-trip form, or "null" when not finite.
void AppendJsonNumber(std::string& out, double d);

}  // namespace needlewatch::protocol

#endif  // NEEDLEWATCH_PROTOCOL_JSON_WRITER_H_
