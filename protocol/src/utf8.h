// Internal: UTF-8 validation shared by the JSON scanner and the encoders.
// Pure functions; thread-safe.
#ifndef NEEDLEWATCH_PROTOCOL_SRC_UTF8_H_
#define NEEDLEWATCH_PROTOCOL_SRC_UTF8_H_

#include <cstddef>
#include <cstdint>

namespace needlewatch::protocol::internal {

// Returns the length (2 to 4) of the well-formed multi-byte UTF-8 sequence starting at `p`
// (whose first byte is >= 0x80), or 0 when it is ill-formed: a stray continuation byte, an
// overlong form, a surrogate (U+D800..U+DFFF), a code point above U+10FFFF, or a sequence
// cut short by `end`. Follows Unicode 15, table 3-7.
// REQUIRES: p < end and *p >= 0x80.
inline std::size_t Utf8SequenceLength(const unsigned char* p, const unsigned char* end) {
  const unsigned char b0 = p[0];
  std::size_t len = 0;
  unsigned char lo = 0x80;  // allowed range of the second byte
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong below U+0800
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong below U+10000
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;  // 0x80..0xC1 (continuation or overlong lead) and 0xF5..0xFF
  }
  if (static_cast<std::size_t>(end - p) < len) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (std::size_t i = 2; i < len; ++i) {
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
  }
  return len;
}

// Appends the UTF-8 encoding of code point `cp` (REQUIRES: a Unicode scalar value) to `out`,
// returning the number of bytes written (1 to 4).
inline std::size_t EncodeUtf8(std::uint32_t cp, char* out) {
  auto byte = [](std::uint32_t v) { return static_cast<char>(static_cast<unsigned char>(v)); };
  if (cp < 0x80) {
    out[0] = byte(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = byte(0xC0 | (cp >> 6));
    out[1] = byte(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = byte(0xE0 | (cp >> 12));
    out[1] = byte(0x80 | ((cp >> 6) & 0x3F));
    out[2] = byte(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = byte(0xF0 | (cp >> 18));
  out[1] = byte(0x80 | ((cp >> 12) & 0x3F));
  out[2] = byte(0x80 | ((cp >> 6) & 0x3F));
  out[3] = byte(0x80 | (cp & 0x3F));
  return 4;
}

}  // namespace needlewatch::protocol::internal

#endif  // NEEDLEWATCH_PROTOCOL_SRC_UTF8_H_
