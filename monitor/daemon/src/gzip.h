// gzip for the /metrics exposition (Prometheus sends `Accept-Encoding: gzip`): a 10,000-pen
// body shrinks about twentyfold (2.5 MB to 116 kB, bench/daemon/RESULTS.md). Pure functions,
// zlib underneath.
//
// The HTTP route uses them as: if AcceptsGzip(request[Accept-Encoding]) then the body is
// GzipCompress(text) with `Content-Encoding: gzip` (and `Vary: Accept-Encoding`); otherwise the
// plain text. Compress off the event loop, like the rendering (about 5 ms of CPU for a
// 10,000-pen body at the default level).
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

// zlib level 1 (fastest). On a 10,000-pen scrape body it is about 3.5 times faster than level 6
// for a body 15 % larger (21 vs 24 times smaller than the text): bench/daemon/RESULTS.md.
inline constexpr int kGzipDefaultLevel = 1;

// `data` as one gzip member (RFC 1952: header, deflate stream, CRC-32 and size trailer), at
// zlib level `level` (1 fastest .. 9 smallest). Throws std::bad_alloc when zlib cannot allocate
// its state; std::invalid_argument for a level outside 0..9.
std::string GzipCompress(std::string_view data, int level = kGzipDefaultLevel);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_GZIP_H_
