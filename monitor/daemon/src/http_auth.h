// HTTP Basic authentication (RFC 7617) for the daemon's endpoints, the request checks of an
// acknowledgement (content type, Host, Origin), and the listen-address parser. Pure functions;
// thread-safe.
#ifndef NEEDLEWATCH_DAEMON_HTTP_AUTH_H_
#define NEEDLEWATCH_DAEMON_HTTP_AUTH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace needlewatch::daemon {

struct BasicCredentials {
  std::string user;
  std::string password;
};

// Decodes standard base64 (with or without padding). nullopt on any invalid character or
// length.
std::optional<std::string> DecodeBase64(std::string_view in);

// Parses an Authorization header value "Basic <base64(user:password)>" (scheme
// case-insensitive). nullopt when absent, another scheme, bad base64 or no colon.
std::optional<BasicCredentials> ParseBasicAuth(std::string_view header);

// --- Request checks of the acknowledgement (CONTRACT §3 v1.1; SECURITY.md) ---

// True for Content-Type application/json, parameters (charset) allowed, case-insensitive.
bool IsJsonContentType(std::string_view content_type);

// The host of a Host header value without its port, lower-case ("[::1]" keeps its brackets).
std::string HostName(std::string_view host_header);

// True when a Host header names this machine: 127.0.0.0/8, [::1], localhost (or *.localhost),
// or one of `allowed` (case-insensitive). An empty header (HTTP/1.0) passes: browsers always
// send one, so no page can use its absence.
bool IsLocalHost(std::string_view host_header, const std::vector<std::string>& allowed);

// An origin "scheme://host[:port]" lower-case, without a trailing '/' and without the
// scheme's default port (:80 for http, :443 for https).
std::string NormalizeOrigin(std::string_view origin);

// True when `origin` is the request's own (http[s]://Host) or one of `allowed`. "null" and
// malformed origins are never allowed.
bool IsAllowedOrigin(std::string_view origin, std::string_view host_header, bool tls,
                     const std::vector<std::string>& allowed);

// A parsed "host:port" / "[v6]:port" / ":port" listen address (port 0: any free port).
struct ListenAddress {
  std::string host;  // "" from ":port" means all interfaces ("0.0.0.0")
  std::uint16_t port = 0;
};
// nullopt with `error` set ("expected host:port, got …") when malformed.
std::optional<ListenAddress> ParseListenAddress(std::string_view text, std::string* error);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_HTTP_AUTH_H_
