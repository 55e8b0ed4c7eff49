// gzip for the /metrics exposition (Prometheus sends `Accept-Encoding: gzip`): a 10,000-pen
// body shrinks about twentyfold (bench/daemon/RESULTS.md). Pure functions, zlib underneath.
//
// The HTTP route uses them as: if AcceptsGzip(request[Accept-Encoding]) then the body is
// GzipCompress(text) with `Content-Encoding: gzip` (and `Vary: Accept-Encoding`); otherwise the
// plain text. Compress off the event loop (it is ~10 ms for a 4 MB body at the default level).
#ifndef NEEDLEWATCH_DAEMON_GZIP_H_
#define NEEDLEWATCH_DAEMON_GZIP_H_

#include <string>
#include <string_view>

namespace needlewatch::daemon {

// True when an Accept-Encoding header value (RFC 9110 §12.5.3) accepts gzip: `gzip` or
// `x-gzip` listed with a q-value above 0, or else `*` with a q-value above 0. Case-insensitive;
// other parameters are ignored. An empty or malformed header (or a malformed q-value, which
// makes its entry count as q=0) accepts nothing but identity, which is always safe.
bool AcceptsGzip(std::string_view accept_encoding_header);

// zlib's default trade-off (level 6). Level 1 is ~2x faster and ~25 % larger on a scrape body;
// the figures for both are in bench/daemon/RESULTS.md.
inline constexpr int kGzipDefaultLevel = 6;

// `data` as one gzip member (RFC 1952: header, deflate stream, CRC-32 and size trailer), at
// zlib level `level` (1 fastest .. 9 smallest). Throws std::bad_alloc when zlib cannot allocate
// its state; std::invalid_argument for a level outside 0..9.
std::string GzipCompress(std::string_view data, int level = kGzipDefaultLevel);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_GZIP_H_
