#include "needlewatch/state/journal.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace needlewatch::state {
namespace {

void PutU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t GetLE(std::string_view b, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) {
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(b[at + i])) << (8 * i);
  }
  return v;
}

}  // namespace

std::uint32_t Crc32(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed in pieces.
  while (!bytes.empty()) {
    const std::size_t n = std::min<std::size_t>(bytes.size(), 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(n));
    bytes.remove_prefix(n);
  }
  return static_cast<std::uint32_t>(crc);
}

void AppendFrame(std::string& out, engine::TimeNs at, std::string_view topic,
                 std::string_view payload) {
  const std::size_t head = out.size();
  const std::uint32_t body = static_cast<std::uint32_t>(8 + 4 + topic.size() + payload.size());
  PutU32(out, body);
  PutU32(out, 0);  // CRC, filled in below
  PutU64(out, static_cast<std::uint64_t>(at));
  PutU32(out, static_cast<std::uint32_t>(topic.size()));
  out.append(topic);
  out.append(payload);
  const std::uint32_t crc = Crc32(std::string_view(out).substr(head + 8, body));
  for (int i = 0; i < 4; ++i) out[head + 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
}

DecodedJournal DecodeJournal(std::string_view bytes) {
  DecodedJournal out;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    if (bytes.size() - pos < 8) {
      out.tail_error = "torn frame header at byte " + std::to_string(pos);
      break;
    }
    const auto len = static_cast<std::uint32_t>(GetLE(bytes, pos, 4));
    const auto crc = static_cast<std::uint32_t>(GetLE(bytes, pos + 4, 4));
    if (len < 12 || len > kMaxFrameBody) {
      out.tail_error = "bad frame length " + std::to_string(len) + " at byte " +
                       std::to_string(pos);
      break;
    }
    if (bytes.size() - pos - 8 < len) {
      out.tail_error = "torn frame at byte " + std::to_string(pos) + " (" +
                       std::to_string(len) + " bytes announced, " +
                       std::to_string(bytes.size() - pos - 8) + " present)";
      break;
    }
    const std::string_view body = bytes.substr(pos + 8, len);
    if (Crc32(body) != crc) {
      out.tail_error = "CRC mismatch at byte " + std::to_string(pos);
      break;
    }
    const auto topic_len = static_cast<std::uint32_t>(GetLE(body, 8, 4));
    if (topic_len > len - 12) {
      out.tail_error = "bad topic length at byte " + std::to_string(pos);
      break;
    }
    JournalRecord r;
    r.at = static_cast<engine::TimeNs>(GetLE(body, 0, 8));
    r.topic.assign(body.substr(12, topic_len));
    r.payload.assign(body.substr(12 + topic_len));
    out.records.push_back(std::move(r));
    pos += 8 + len;
    out.valid_bytes = pos;
  }
  return out;
}

}  // namespace needlewatch::state
