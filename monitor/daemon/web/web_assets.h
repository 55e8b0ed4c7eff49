// The floor page's files (monitor/daemon/web/static), embedded in the binary at build time by
// cmake/EmbedFiles.cmake. Each has its content type and a strong ETag (a hash of its bytes), so
// the daemon answers If-None-Match with 304 and a browser revalidates cheaply after upgrades.
// Plain constant data; thread-safe.
#ifndef NEEDLEWATCH_DAEMON_WEB_WEB_ASSETS_H_
#define NEEDLEWATCH_DAEMON_WEB_WEB_ASSETS_H_

#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

namespace needlewatch::daemon::web {

struct Asset {
  std::string_view path;          // "/index.html", "/floor.js", …
  std::string_view content;
  std::string_view content_type;  // e.g. "text/html; charset=utf-8"
  std::string_view etag;          // quoted, e.g. "\"sha256-9f2c…\""
};

// The asset served at `path` (the request target without its query string): "/" is
// "/index.html". None for anything else.
std::optional<Asset> FindAsset(std::string_view path);

// True when an If-None-Match header value names `etag` (a list, "*", weak or strong forms):
// answer 304 Not Modified with no body.
bool EtagMatches(std::string_view if_none_match, std::string_view etag);

// Headers for every asset response: revalidate each time (a daemon upgrade changes the page),
// and a Content-Security-Policy that allows only the daemon's own origin, so nothing from any
// other origin can run in the page that acknowledges alarms.
inline constexpr std::pair<std::string_view, std::string_view> kAssetHeaders[] = {
    {"Cache-Control", "no-cache"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
};

// Every embedded file and their total size in bytes (the build fails above 100 KiB).
std::size_t AssetCount();
const Asset& AssetAt(std::size_t i);
std::size_t AssetBytes();

namespace internal {
// Defined in the generated <build>/needlewatch_web_assets_data.cc.
extern const Asset kAssets[];
extern const std::size_t kAssetCount;
extern const std::size_t kAssetBytes;
}  // namespace internal

}  // namespace needlewatch::daemon::web

#endif  // NEEDLEWATCH_DAEMON_WEB_WEB_ASSETS_H_
