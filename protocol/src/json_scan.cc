#include "json_scan.h"

#include <cassert>
#include <charconv>
#include <cstring>
#include <system_error>

#include "utf8.h"

namespace needlewatch::protocol::internal {
namespace {

bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }

int HexValue(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads 4 hex digits at p (REQUIRES: 4 bytes available). Returns -1 when one is not hex.
long ReadHex4(const unsigned char* p) {
  long v = 0;
  for (int i = 0; i < 4; ++i) {
    const int h = HexValue(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

}  // namespace

JsonScanner::JsonScanner(std::string_view input, char* scratch,
                         [[maybe_unused]] std::size_t scratch_size)
    : p_(reinterpret_cast<const unsigned char*>(input.data())),
      end_(reinterpret_cast<const unsigned char*>(input.data()) + input.size()),
      scratch_(scratch) {
  // Unescaped strings are never longer than their literals, so this bounds every write.
  assert(scratch_size >= input.size());
}

void JsonScanner::SkipWhitespace() {
  while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
}

const char* JsonScanner::ScanObject(JsonMemberSink& sink) {
  SkipWhitespace();
  if (p_ == end_) return "empty payload (expected a JSON object)";
  if (*p_ != '{') return "expected a JSON object at the top level";
  if (const char* err = ParseObject(1, &sink)) return err;
  SkipWhitespace();
  if (p_ != end_) return "trailing characters after the JSON object";
  return nullptr;
}

const char* JsonScanner::ParseObject(int depth, JsonMemberSink* sink) {
  if (depth > kMaxJsonDepth) return "nesting deeper than 32 levels";
  ++p_;  // '{'
  SkipWhitespace();
  const std::size_t first_key = key_count_;
  if (p_ < end_ && *p_ == '}') {
    ++p_;
    return nullptr;
  }
  for (;;) {
    if (p_ == end_) return "unterminated object";
    if (*p_ != '"') return "expected a string key in object";
    std::string_view key;
    if (const char* err = ParseString(key, /*keep=*/true)) return err;
    for (std::size_t i = first_key; i < key_count_; ++i) {
      if (keys_[i].size == key.size() && std::memcmp(keys_[i].data, key.data(), key.size()) == 0) {
        return "duplicate key in object";
      }
    }
    // Cannot happen within kMaxPayloadBytes; guards the array for any input size.
    if (key_count_ == kMaxKeys) return "too many keys";
    keys_[key_count_++] = KeyRef{key.data(), key.size()};
    SkipWhitespace();
    if (p_ == end_ || *p_ != ':') return "expected ':' after object key";
    ++p_;
    SkipWhitespace();
    JsonValue value;
    if (const char* err = ParseValue(depth, value, /*keep_string=*/sink != nullptr)) return err;
    if (sink != nullptr) sink->OnMember(key, value);
    SkipWhitespace();
    if (p_ == end_) return "unterminated object";
    if (*p_ == ',') {
      ++p_;
      SkipWhitespace();
      continue;
    }
    if (*p_ == '}') {
      ++p_;
      break;
    }
    return "expected ',' or '}' in object";
  }
  key_count_ = first_key;  // this object's keys are no longer needed for duplicate checks
  return nullptr;
}

const char* JsonScanner::ParseArray(int depth) {
  if (depth > kMaxJsonDepth) return "nesting deeper than 32 levels";
  ++p_;  // '['
  SkipWhitespace();
  if (p_ < end_ && *p_ == ']') {
    ++p_;
    return nullptr;
  }
  for (;;) {
    JsonValue value;
    if (const char* err = ParseValue(depth, value, /*keep_string=*/false)) return err;
    SkipWhitespace();
    if (p_ == end_) return "unterminated array";
    if (*p_ == ',') {
      ++p_;
      SkipWhitespace();
      continue;
    }
    if (*p_ == ']') {
      ++p_;
      return nullptr;
    }
    return "expected ',' or ']' in array";
  }
}

// `depth` is that of the container holding the value.
const char* JsonScanner::ParseValue(int depth, JsonValue& value, bool keep_string) {
  if (p_ == end_) return "expected a value";
  switch (*p_) {
    case '{':
      value.type = JsonType::kObject;
      return ParseObject(depth + 1, nullptr);
    case '[':
      value.type = JsonType::kArray;
      return ParseArray(depth + 1);
    case '"':
      value.type = JsonType::kString;
      return ParseString(value.text, keep_string);
    case 't':
      value.type = JsonType::kTrue;
      return ParseLiteral("true");
    case 'f':
      value.type = JsonType::kFalse;
      return ParseLiteral("false");
    case 'n':
      value.type = JsonType::kNull;
      return ParseLiteral("null");
    default:
      if (*p_ == '-' || IsDigit(*p_)) {
        value.type = JsonType::kNumber;
        return ParseNumber(value);
      }
      return "invalid value (not a JSON string, number, object, array, true, false or null)";
  }
}

const char* JsonScanner::ParseLiteral(std::string_view word) {
  if (static_cast<std::size_t>(end_ - p_) < word.size() ||
      std::memcmp(p_, word.data(), word.size()) != 0) {
    return "invalid literal (expected true, false or null)";
  }
  p_ += word.size();
  return nullptr;
}

const char* JsonScanner::ParseNumber(JsonValue& value) {
  const unsigned char* start = p_;
  if (*p_ == '-') ++p_;
  if (p_ == end_ || !IsDigit(*p_)) return "invalid number";
  if (*p_ == '0') {
    ++p_;
    if (p_ < end_ && IsDigit(*p_)) return "number with a leading zero";
  } else {
    while (p_ < end_ && IsDigit(*p_)) ++p_;
  }
  value.is_integer = true;
  if (p_ < end_ && *p_ == '.') {
    ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return "invalid number (digit expected after '.')";
    while (p_ < end_ && IsDigit(*p_)) ++p_;
    value.is_integer = false;
  }
  if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
    ++p_;
    if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return "invalid number (digit expected in exponent)";
    while (p_ < end_ && IsDigit(*p_)) ++p_;
    value.is_integer = false;
  }
  value.text =
      std::string_view(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p_ - start));
  return nullptr;
}

const char* JsonScanner::ParseString(std::string_view& out, bool keep) {
  ++p_;  // opening quote
  const unsigned char* start = p_;
  while (p_ < end_) {
    const unsigned char c = *p_;
    if (c == '"') {
      out = std::string_view(reinterpret_cast<const char*>(start),
                             static_cast<std::size_t>(p_ - start));
      ++p_;
      return nullptr;
    }
    if (c == '\\') return ParseEscapes(start, out, keep);
    if (c < 0x20) return "unescaped control character in string";
    if (c < 0x80) {
      ++p_;
      continue;
    }
    const std::size_t n = Utf8SequenceLength(p_, end_);
    if (n == 0) return "invalid UTF-8 in string";
    p_ += n;
  }
  return "unterminated string";
}

// Slow path of ParseString, entered at the first backslash. Copies [run_start, p_) and then the
// unescaped rest into the scratch buffer when `keep`.
const char* JsonScanner::ParseEscapes(const unsigned char* run_start, std::string_view& out,
                                      bool keep) {
  // Invariant: the unescaped text is never longer than the raw text, and the scratch buffer is
  // at least as long as the whole input, so writes below stay in bounds.
  char* dst = scratch_ + scratch_used_;
  char* w = dst;
  if (keep) {
    std::memcpy(w, run_start, static_cast<std::size_t>(p_ - run_start));
    w += p_ - run_start;
  }
  while (p_ < end_) {
    const unsigned char c = *p_;
    if (c == '"') {
      ++p_;
      if (keep) {
        out = std::string_view(dst, static_cast<std::size_t>(w - dst));
        scratch_used_ += static_cast<std::size_t>(w - dst);
      }
      return nullptr;
    }
    if (c == '\\') {
      if (end_ - p_ < 2) return "unterminated string";
      const unsigned char e = p_[1];
      char simple = 0;
      switch (e) {
        case '"':
          simple = '"';
          break;
        case '\\':
          simple = '\\';
          break;
        case '/':
          simple = '/';
          break;
        case 'b':
          simple = '\b';
          break;
        case 'f':
          simple = '\f';
          break;
        case 'n':
          simple = '\n';
          break;
        case 'r':
          simple = '\r';
          break;
        case 't':
          simple = '\t';
          break;
        case 'u':
          break;
        default:
          return "invalid escape in string";
      }
      if (e != 'u') {
        if (keep) *w++ = simple;
        p_ += 2;
        continue;
      }
      if (end_ - p_ < 6) return "truncated \\u escape in string";
      long cp = ReadHex4(p_ + 2);
      if (cp < 0) return "invalid \\u escape in string";
      p_ += 6;
      if (cp >= 0xDC00 && cp <= 0xDFFF) return "unpaired surrogate escape in string";
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') {
          return "unpaired surrogate escape in string";
        }
        const long low = ReadHex4(p_ + 2);
        if (low < 0xDC00 || low > 0xDFFF) return "unpaired surrogate escape in string";
        p_ += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      }
      if (keep) w += EncodeUtf8(static_cast<std::uint32_t>(cp), w);
      continue;
    }
    if (c < 0x20) return "unescaped control character in string";
    std::size_t n = 1;
    if (c >= 0x80) {
      n = Utf8SequenceLength(p_, end_);
      if (n == 0) return "invalid UTF-8 in string";
    }
    if (keep) {
      std::memcpy(w, p_, n);
      w += n;
    }
    p_ += n;
  }
  return "unterminated string";
}

bool JsonNumberToDouble(std::string_view token, double& out) {
  const char* first = token.data();
  const char* last = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(first, last, out);
  if (ec == std::errc() && ptr == last) return true;
  if (ec != std::errc::result_out_of_range) return false;
  // Out of range is either overflow (reject) or underflow (the value is 0). Estimate the
  // decimal order of magnitude: digits before the point (ignoring a lone 0), or minus the
  // zeros after "0.", plus the exponent (saturated).
  const char* p = first;
  const bool negative = *p == '-';
  if (negative) ++p;
  long order = 0;
  if (*p == '0') {
    ++p;
    if (p < last && *p == '.') {
      ++p;
      while (p < last && *p == '0') {
        ++p;
        --order;
      }
    }
  } else {
    while (p < last && *p >= '0' && *p <= '9') {
      ++p;
      ++order;
    }
  }
  while (p < last && *p != 'e' && *p != 'E') ++p;
  if (p < last) {
    ++p;
    bool exp_negative = false;
    if (*p == '+' || *p == '-') exp_negative = *p++ == '-';
    long exp = 0;
    while (p < last && exp < 100000) exp = exp * 10 + (*p++ - '0');
    order += exp_negative ? -exp : exp;
  }
  if (order > 0) return false;  // overflow
  out = negative ? -0.0 : 0.0;
  return true;
}

}  // namespace needlewatch::protocol::internal
