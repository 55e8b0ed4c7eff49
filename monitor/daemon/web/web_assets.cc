#include "web_assets.h"

namespace needlewatch::daemon::web {

std::optional<Asset> FindAsset(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (std::size_t i = 0; i < internal::kAssetCount; ++i) {
    if (internal::kAssets[i].path == path) return internal::kAssets[i];
  }
  return std::nullopt;
}

bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
  // RFC 9110 §13.1.2: "*" or a comma-separated list, compared weakly (W/ ignored).
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  while (!if_none_match.empty()) {
    const std::size_t comma = if_none_match.find(',');
    std::string_view tag = trim(if_none_match.substr(0, comma));
    if (tag == "*") return true;
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (!tag.empty() && tag == etag) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

std::size_t AssetCount() { return internal::kAssetCount; }
const Asset& AssetAt(std::size_t i) { return internal::kAssets[i]; }
std::size_t AssetBytes() { return internal::kAssetBytes; }

}  // namespace needlewatch::daemon::web
