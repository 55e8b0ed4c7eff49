#include "rejected.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>

#include "needlewatch/protocol/json_writer.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::record {
namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool IsReasonName(std::string_view r) {
  return !r.empty() && r.size() <= 32 &&
         std::all_of(r.begin(), r.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
         });
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= n) return false;
    for (std::size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    // Overlong forms, surrogates and code points above U+10FFFF.
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    p += n + 1;
  }
  return true;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    for (int k = 18; k >= 0; k -= 6) out.push_back(kB64[(v >> k) & 63]);
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    const std::uint32_t v = (b[i] << 16) | (rest == 2 ? b[i + 1] << 8 : 0);
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kB64[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

bool Base64Decode(std::string_view text, std::string& out) {
  static const std::array<int, 256> kValue = [] {
    std::array<int, 256> v{};
    v.fill(-1);
    for (int i = 0; i < 64; ++i) v[static_cast<unsigned char>(kB64[i])] = i;
    return v;
  }();
  out.clear();
  if (text.size() % 4 != 0) return false;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return false;  // data after '='
      v[k] = kValue[static_cast<unsigned char>(c)];
      if (v[k] < 0) return false;
    }
    const std::uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push_back(static_cast<char>((n >> 16) & 0xFF));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xFF));
  }
  return true;
}

std::string RejectedChannelTopic(std::string_view topic_root, std::string_view topic,
                                 std::string_view reason) {
  const std::string_view r = IsReasonName(reason) ? reason : std::string_view("other");
  std::string out = kRejectedTopicPrefix;
  // {root}/{clinic}/device/{device}/… (any channel level: a bad channel still names a device).
  if (!topic_root.empty() && topic.size() > topic_root.size() &&
      topic.substr(0, topic_root.size()) == topic_root && topic[topic_root.size()] == '/') {
    std::string_view rest = topic.substr(topic_root.size() + 1);
    const std::size_t s1 = rest.find('/');
    if (s1 != std::string_view::npos && rest.substr(s1 + 1, 7) == "device/") {
      const std::string_view clinic = rest.substr(0, s1);
      rest = rest.substr(s1 + 8);
      const std::size_t s2 = rest.find('/');
      const std::string_view device = rest.substr(0, s2);
      if (s2 != std::string_view::npos && protocol::IsValidId(clinic) &&
          protocol::IsValidId(device)) {
        out.append(clinic).push_back('/');
        out.append(device).push_back('/');
      }
    }
  }
  out.append(r);
  return out;
}

std::string EncodeRejected(const RawMessage& m) {
  std::string out;
  protocol::JsonWriter w(out);
  const std::uint64_t size = m.truncated() ? m.original_size : m.payload.size();
  w.BeginObject()
      .Field("topic", m.topic)
      .Field("reason", m.reject)
      .Field("qos", static_cast<unsigned>(m.qos))
      .Field("retain", m.retain)
      .Field("size", size)
      .Field("truncated", m.truncated());
  if (IsValidUtf8(m.payload)) {
    w.Field("payload", m.payload);
  } else {
    w.Field("payload_base64", Base64Encode(m.payload));
  }
  w.EndObject();
  return out;
}

bool DecodeRejected(std::string_view envelope, RawMessage& out, std::string* error) {
  auto fail = [&](const char* why) {
    if (error != nullptr) *error = std::string("rejected-message envelope: ") + why;
    return false;
  };
  const nlohmann::json j = nlohmann::json::parse(envelope, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return fail("not a JSON object");
  const auto topic = j.find("topic");
  const auto reason = j.find("reason");
  const auto size = j.find("size");
  if (topic == j.end() || !topic->is_string()) return fail("topic: expected a string");
  if (reason == j.end() || !reason->is_string() || reason->get_ref<const std::string&>().empty()) {
    return fail("reason: expected a non-empty string");
  }
  if (size == j.end() || !size->is_number_unsigned()) return fail("size: expected an integer");
  if (const auto p = j.find("payload"); p != j.end() && p->is_string()) {
    out.payload = p->get_ref<const std::string&>();
  } else if (const auto b = j.find("payload_base64"); b != j.end() && b->is_string()) {
    if (!Base64Decode(b->get_ref<const std::string&>(), out.payload)) {
      return fail("payload_base64: not base64");
    }
  } else {
    return fail("payload or payload_base64: expected a string");
  }
  const auto n = size->get<std::uint64_t>();
  if (n < out.payload.size()) return fail("size: smaller than the payload kept");
  out.topic = topic->get_ref<const std::string&>();
  out.reject = reason->get_ref<const std::string&>();
  out.original_size = n > out.payload.size() ? n : 0;
  out.qos = 0;
  if (const auto q = j.find("qos"); q != j.end() && q->is_number_unsigned()) {
    out.qos = static_cast<std::uint8_t>(std::min<std::uint64_t>(q->get<std::uint64_t>(), 2));
  }
  const auto r = j.find("retain");
  out.retain = r != j.end() && r->is_boolean() && r->get<bool>();
  return true;
}

void FillRawMessage(RawMessage& out, std::int64_t receive_ns, std::string_view topic,
                    std::string_view payload, int qos, bool retain, std::string_view reject) {
  out.receive_ns = receive_ns;
  out.topic.assign(topic);
  out.qos = static_cast<std::uint8_t>(qos < 0 ? 0 : qos > 2 ? 2 : qos);
  out.retain = retain;
  out.reject.assign(reject);
  if (!reject.empty() && payload.size() > kRejectedKeepBytes) {
    out.payload.assign(payload.substr(0, kRejectedKeepBytes));
    out.original_size = payload.size();
  } else {
    out.payload.assign(payload);
    out.original_size = 0;
  }
}

}  // namespace needlewatch::record
