// Times as people and files read them: RFC 3339 in UTC, and back. One implementation for the
// log, the recordings' names and listings, and the replay reports and arguments, on C++20
// <chrono> calendar arithmetic. Times are integer nanoseconds since the Unix epoch. Pure;
// thread-safe.
#ifndef NEEDLEWATCH_PROTOCOL_TIME_FORMAT_H_
#define NEEDLEWATCH_PROTOCOL_TIME_FORMAT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace needlewatch::protocol {

// "2026-11-25T12:52:13.310Z" with `digits` fraction digits (0 to 9; 0 drops the dot).
// Truncates toward the past (an instant is never shown later than it happened).
std::string FormatRfc3339(std::int64_t ns, int digits = 3);

// "20261125T125213Z": second resolution, for file names that sort by time.
std::string FormatCompactUtc(std::int64_t ns);

// RFC 3339 ("2026-11-25T12:52:13.310193Z", "…+01:00", "…+0100", lower-case t/z or a space as
// the separator) and mosquitto_sub's %j form with "+0000" after the Z → ns since the epoch.
// Fraction digits beyond 9 are cut. nullopt when malformed.
std::optional<std::int64_t> ParseRfc3339(std::string_view text);

}  // namespace needlewatch::protocol

#endif  // NEEDLEWATCH_PROTOCOL_TIME_FORMAT_H_
