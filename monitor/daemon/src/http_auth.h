// HTTP Basic authentication (RFC 7617) for the daemon's endpoints, and the listen-address
// parser. Pure functions; thread-safe.
#ifndef NEEDLEWATCH_DAEMON_HTTP_AUTH_H_
#define NEEDLEWATCH_DAEMON_HTTP_AUTH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

// True when `header` carries exactly `user` and `password`. Compares in time independent of
// where the strings differ.
bool CheckBasicAuth(std::string_view header, std::string_view user, std::string_view password);

// A parsed "host:port" / "[v6]:port" / ":port" listen address (port 0: any free port).
struct ListenAddress {
  std::string host;  // "" from ":port" means all interfaces ("0.0.0.0")
  std::uint16_t port = 0;
};
// nullopt with `error` set ("expected host:port, got …") when malformed.
std::optional<ListenAddress> ParseListenAddress(std::string_view text, std::string* error);

}  // namespace needlewatch::daemon

#endif  // NEEDLEWATCH_DAEMON_HTTP_AUTH_H_
