#include "http_auth.h"

#include <charconv>

namespace needlewatch::daemon {
namespace {

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// "127.a.b.c" with four decimal parts 0–255.
bool IsLoopbackIpv4(std::string_view s) {
  int parts = 0;
  int first = -1;
  while (!s.empty()) {
    const std::size_t dot = s.find('.');
    const std::string_view part = s.substr(0, dot);
    unsigned v = 0;
    const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || part.size() > 3 || ec != std::errc() ||
        ptr != part.data() + part.size() || v > 255) {
      return false;
    }
    if (first < 0) first = static_cast<int>(v);
    ++parts;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
    if (s.empty()) return false;  // trailing dot
  }
  return parts == 4 && first == 127;
}

}  // namespace

std::optional<std::string> DecodeBase64(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    const int v = Base64Value(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFFU);
    }
  }
  return out;
}

std::optional<BasicCredentials> ParseBasicAuth(std::string_view header) {
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  const std::size_t space = header.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  if (!EqualsIgnoreCase(header.substr(0, space), "basic")) return std::nullopt;
  std::string_view token = header.substr(space + 1);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  std::optional<std::string> decoded = DecodeBase64(token);
  if (!decoded) return std::nullopt;
  const std::size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return BasicCredentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

bool IsJsonContentType(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  return EqualsIgnoreCase(media, "application/json");
}

std::string HostName(std::string_view host_header) {
  std::string_view host = host_header;
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    host = close == std::string_view::npos ? host : host.substr(0, close + 1);
  } else if (const std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  return Lower(host);
}

bool IsLocalHost(std::string_view host_header, const std::vector<std::string>& allowed) {
  if (host_header.empty()) return true;
  const std::string host = HostName(host_header);
  if (host == "localhost" || host.ends_with(".localhost") || host == "[::1]") return true;
  if (IsLoopbackIpv4(host)) return true;
  for (const std::string& a : allowed) {
    if (EqualsIgnoreCase(host, a)) return true;
  }
  return false;
}

std::string NormalizeOrigin(std::string_view origin) {
  std::string o = Lower(origin);
  while (!o.empty() && o.back() == '/') o.pop_back();
  if (o.starts_with("http://") && o.ends_with(":80")) o.resize(o.size() - 3);
  if (o.starts_with("https://") && o.ends_with(":443")) o.resize(o.size() - 4);
  return o;
}

bool IsAllowedOrigin(std::string_view origin, std::string_view host_header, bool tls,
                     const std::vector<std::string>& allowed) {
  const std::string o = NormalizeOrigin(origin);
  const bool well_formed = (o.starts_with("http://") && o.size() > 7) ||
                           (o.starts_with("https://") && o.size() > 8);
  if (!well_formed) return false;  // "null" (sandboxed pages, file://) and garbage
  if (!host_header.empty() &&
      o == NormalizeOrigin(std::string(tls ? "https://" : "http://") + std::string(host_header))) {
    return true;
  }
  for (const std::string& a : allowed) {
    if (o == NormalizeOrigin(a)) return true;
  }
  return false;
}

std::optional<ListenAddress> ParseListenAddress(std::string_view text, std::string* error) {
  auto fail = [&]() -> std::optional<ListenAddress> {
    *error = "web.listen-address: expected host:port (e.g. 127.0.0.1:9464, port 0 for any), "
             "got \"" + std::string(text) + "\"";
    return std::nullopt;
  };
  ListenAddress out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail();
    }
    out.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail();
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) return fail();
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535) {
    return fail();
  }
  out.port = static_cast<std::uint16_t>(value);
  return out;
}

}  // namespace needlewatch::daemon
