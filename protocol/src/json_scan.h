// Internal: a small strict JSON (RFC 8259) scanner for device payloads.
// It validates a whole document whose top level must be an object and reports each top-level
// member to a sink; nested values of any type are validated and skipped. It never throws and
// never allocates: escaped strings are unescaped into a caller-provided scratch buffer at least
// as large as the input (unescaping never lengthens a string).
// Rejects: invalid UTF-8, unescaped control characters, bad escapes and lone surrogate escapes,
// duplicate keys in any object (compared after unescaping), leading zeros, NaN/Infinity and
// any other non-JSON token, nesting deeper than kMaxJsonDepth, trailing non-whitespace.
// Not thread-safe per instance; distinct instances are independent.
#ifndef NEEDLEWATCH_PROTOCOL_SRC_JSON_SCAN_H_
#define NEEDLEWATCH_PROTOCOL_SRC_JSON_SCAN_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace needlewatch::protocol::internal {

// The top-level object is depth 1; a value nested 32 containers deep is the most accepted.
inline constexpr int kMaxJsonDepth = 32;

enum class JsonType : std::uint8_t { kNull, kFalse, kTrue, kNumber, kString, kObject, kArray };

// A top-level member's value. For kNumber, `text` is the number token as written (validated
// against the JSON grammar, not converted) and `is_integer` says it has neither a fraction nor
// an exponent. For kString, `text` is the unescaped content (a view into the input, or into
// the scratch buffer when the literal held escapes); it is valid UTF-8 but may contain any
// code point including U+0000. For other types `text` is empty.
struct JsonValue {
  JsonType type = JsonType::kNull;
  bool is_integer = false;
  std::string_view text;
};

// Receives the top-level members in document order. Keys are unescaped and unique.
class JsonMemberSink {
 public:
  virtual void OnMember(std::string_view key, const JsonValue& value) = 0;

 protected:
  ~JsonMemberSink() = default;
};

class JsonScanner {
 public:
  // REQUIRES: `scratch` holds at least input.size() bytes (asserted) and outlives the views
  // handed to the sink.
  JsonScanner(std::string_view input, char* scratch, std::size_t scratch_size);

  // Scans the whole input as one JSON object. Returns nullptr on success, else a static
  // description of the first defect (e.g. "duplicate key"). The sink may have seen members
  // before a later defect was found.
  const char* ScanObject(JsonMemberSink& sink);

 private:
  // Upper bound of keys alive at once (all open objects): each key costs >= 5 input bytes.
  static constexpr std::size_t kMaxKeys = 1024;

  void SkipWhitespace();
  const char* ParseValue(int depth, JsonValue& value, bool keep_string);
  const char* ParseObject(int depth, JsonMemberSink* sink);
  const char* ParseArray(int depth);
  const char* ParseString(std::string_view& out, bool keep);
  const char* ParseEscapes(const unsigned char* run_start, std::string_view& out, bool keep);
  const char* ParseNumber(JsonValue& value);
  const char* ParseLiteral(std::string_view word);

  const unsigned char* p_;
  const unsigned char* end_;
  char* scratch_;
  std::size_t scratch_used_ = 0;
  // Keys of every open object, innermost last; trivially constructible so that a scanner costs
  // nothing to create (only the first key_count_ entries are ever read).
  struct KeyRef {
    const char* data;
    std::size_t size;
  };
  std::size_t key_count_ = 0;
  std::array<KeyRef, kMaxKeys> keys_;
};

// Converts a number token (as validated by the scanner) to double. Returns false when the value
// overflows a double; an underflowing value converts to 0 (with its sign).
bool JsonNumberToDouble(std::string_view token, double& out);

}  // namespace needlewatch::protocol::internal

#endif  // NEEDLEWATCH_PROTOCOL_SRC_JSON_SCAN_H_
