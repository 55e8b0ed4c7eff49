// The JSON writer (json_writer.h).
#include "needlewatch/protocol/json_writer.h"

#include <charconv>
#include <cmath>
#include <cstddef>

#include "utf8.h"

namespace needlewatch::protocol {
namespace {

constexpr char kHex[] = "0123456789abcdef";

template <typename Int>
void AppendInteger(std::string& out, Int v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c >= 0x80) {
      // Valid UTF-8 is copied through; each ill-formed byte becomes U+FFFD so the output is
      // always valid JSON.
      const std::size_t n = internal::Utf8SequenceLength(p, end);
      if (n == 0) {
        out.append("\\ufffd");
        ++p;
      } else {
        out.append(reinterpret_cast<const char*>(p), n);
        p += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++p;
  }
  out.push_back('"');
}

void AppendJsonNumber(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out.append("null");
    return;
  }
  char buf[32];  // the shortest round-trip form of a double fits in 24 characters
  const auto res = std::to_chars(buf, buf + sizeof(buf), d + 0.0);  // -0 prints as 0
  out.append(buf, res.ptr);
}

void JsonWriter::Separate() {
  if (need_comma_) out_.push_back(',');
  need_comma_ = true;
}

JsonWriter& JsonWriter::BeginObject() {
  Separate();
  out_.push_back('{');
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  out_.push_back('}');
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  Separate();
  out_.push_back('[');
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  out_.push_back(']');
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  Separate();
  AppendJsonString(out_, key);
  out_.push_back(':');
  need_comma_ = false;  // the value follows without a comma
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view s) {
  Separate();
  AppendJsonString(out_, s);
  return *this;
}

JsonWriter& JsonWriter::Number(double d) {
  Separate();
  AppendJsonNumber(out_, d);
  return *this;
}

JsonWriter& JsonWriter::Int(std::int64_t i) {
  Separate();
  AppendInteger(out_, i);
  return *this;
}

JsonWriter& JsonWriter::UInt(std::uint64_t u) {
  Separate();
  AppendInteger(out_, u);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool b) {
  Separate();
  out_.append(b ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::Null() {
  Separate();
  out_.append("null");
  return *this;
}

JsonWriter& JsonWriter::Raw(std::string_view json) {
  Separate();
  out_.append(json);
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, const std::optional<double>& d) {
  Key(key);
  return d ? Number(*d) : Null();
}

JsonWriter& JsonWriter::Field(std::string_view key, const std::optional<std::int64_t>& i) {
  Key(key);
  return i ? Int(*i) : Null();
}

JsonWriter& JsonWriter::StringOrNull(std::string_view key, std::string_view s) {
  Key(key);
  return s.empty() ? Null() : String(s);
}

}  // namespace needlewatch::protocol
