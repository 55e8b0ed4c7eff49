// Internal: MCAP wire constants, little-endian encoding/decoding and CRC-32, shared by the
// writer and the reader. Written from the MCAP specification (see ../README.md). Not part of
// the public interface. All functions are pure and thread-safe.
#ifndef NEEDLEWATCH_RECORD_SRC_MCAP_FORMAT_H_
#define NEEDLEWATCH_RECORD_SRC_MCAP_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace needlewatch::record::mcap {

inline constexpr char kMagic[] = "\x89MCAP0\r\n";
inline constexpr std::size_t kMagicSize = 8;
// Opcode byte + uint64 content length.
inline constexpr std::size_t kRecordPrefixSize = 9;

enum Opcode : std::uint8_t {
  kHeader = 0x01,
  kFooter = 0x02,
  kSchema = 0x03,
  kChannel = 0x04,
  kMessage = 0x05,
  kChunk = 0x06,
  kMessageIndex = 0x07,
  kChunkIndex = 0x08,
  kAttachment = 0x09,
  kAttachmentIndex = 0x0A,
  kStatistics = 0x0B,
  kMetadata = 0x0C,
  kMetadataIndex = 0x0D,
  kSummaryOffset = 0x0E,
  kDataEnd = 0x0F,
};

// Footer content: summary_start, summary_offset_start, summary_crc.
inline constexpr std::size_t kFooterContentSize = 8 + 8 + 4;
inline constexpr std::size_t kFooterRecordSize = kRecordPrefixSize + kFooterContentSize;
// Message content before the data: channel_id, sequence, log_time, publish_time.
inline constexpr std::size_t kMessageFixedSize = 2 + 4 + 8 + 8;

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as MCAP uses. `crc` is the value of
// the bytes so far (0 to start), so Crc32(Crc32(0, a), b) == Crc32(0, a + b).
std::uint32_t Crc32(std::uint32_t crc, const void* data, std::size_t size);

// Appends little-endian values and MCAP strings to a byte buffer.
inline void PutU8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }
inline void PutU16(std::string& out, std::uint16_t v) {
  char b[2] = {static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)};
  out.append(b, 2);
}
inline void PutU32(std::string& out, std::uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  out.append(b, 4);
}
inline void PutU64(std::string& out, std::uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  out.append(b, 8);
}
inline void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s.data(), s.size());
}
// Overwrites 8 bytes at `pos` (used to patch a record length once the content is known).
inline void PatchU64(std::string& out, std::size_t pos, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out[pos + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
inline void PatchU32(std::string& out, std::size_t pos, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[pos + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

inline std::uint16_t LoadU16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>(u[0] | (u[1] << 8));
}
inline std::uint32_t LoadU32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);  // the targets we build for are little-endian (static_assert in .cc)
  return v;
}
inline std::uint64_t LoadU64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Bounds-checked sequential decoder over one record's content. Every getter returns false
// (and leaves the cursor in a failed state) when the content is too short, so a corrupt file
// can never make the reader read past a buffer.
class Decoder {
 public:
  Decoder(const char* data, std::size_t size) : p_(data), end_(data + size) {}
  explicit Decoder(std::string_view s) : Decoder(s.data(), s.size()) {}

  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
  const char* position() const { return p_; }
  bool ok() const { return ok_; }

  bool U8(std::uint8_t& v) {
    if (!Need(1)) return false;
    v = static_cast<std::uint8_t>(*p_);
    p_ += 1;
    return true;
  }
  bool U16(std::uint16_t& v) {
    if (!Need(2)) return false;
    v = LoadU16(p_);
    p_ += 2;
    return true;
  }
  bool U32(std::uint32_t& v) {
    if (!Need(4)) return false;
    v = LoadU32(p_);
    p_ += 4;
    return true;
  }
  bool U64(std::uint64_t& v) {
    if (!Need(8)) return false;
    v = LoadU64(p_);
    p_ += 8;
    return true;
  }
  bool Bytes(std::size_t n, std::string_view& v) {
    if (!Need(n)) return false;
    v = std::string_view(p_, n);
    p_ += n;
    return true;
  }
  // uint32 length-prefixed string.
  bool String(std::string_view& v) {
    std::uint32_t n = 0;
    return U32(n) && Bytes(n, v);
  }
  // uint64 length-prefixed bytes.
  bool LongBytes(std::string_view& v) {
    std::uint64_t n = 0;
    if (!U64(n)) return false;
    if (n > remaining()) return Fail();
    return Bytes(static_cast<std::size_t>(n), v);
  }

 private:
  bool Need(std::size_t n) {
    if (!ok_ || n > remaining()) return Fail();
    return true;
  }
  bool Fail() {
    ok_ = false;
    return false;
  }
  const char* p_;
  const char* end_;
  bool ok_ = true;
};

// Channel metadata keys we write (values "0"/"1"/"2" and "true"/"false").
inline constexpr char kMetaQos[] = "qos";
inline constexpr char kMetaRetain[] = "retain";
inline constexpr char kMessageEncoding[] = "json";
inline constexpr char kSchemaEncoding[] = "jsonschema";

}  // namespace needlewatch::record::mcap

#endif  // NEEDLEWATCH_RECORD_SRC_MCAP_FORMAT_H_
