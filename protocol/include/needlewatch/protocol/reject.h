// Rejection reasons for device messages, in the order the contract checks them.
// See ../../../README.md ("Rejections"). Plain values; thread-safe.
#ifndef NEEDLEWATCH_PROTOCOL_REJECT_H_
#define NEEDLEWATCH_PROTOCOL_REJECT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace needlewatch::protocol {

// A message is rejected by the first check it fails, in this order (protocol/README.md, Payloads).
// kNone means "accepted". The numeric order is the check order.
enum class Reject : std::uint8_t {
  kNone = 0,
  kBadTopic,
  kTooLarge,
  kBadJson,
  kBadVersion,
  kMissingField,
  kBadField,
  kUnknownSessionEnd,  // decided by the engine, not the decoder
};

inline constexpr std::size_t kRejectCount = 8;  // including kNone

// The wire/metric name: "bad_topic", "too_large", ... ; "" for kNone.
std::string_view RejectName(Reject r);

// Every real reason (kNone excluded), in check order: for metrics and reports.
inline constexpr std::array<Reject, kRejectCount - 1> kAllRejects = {
    Reject::kBadTopic,   Reject::kTooLarge,      Reject::kBadJson,
    Reject::kBadVersion, Reject::kMissingField, Reject::kBadField,
    Reject::kUnknownSessionEnd};

}  // namespace needlewatch::protocol

#endif  // NEEDLEWATCH_PROTOCOL_REJECT_H_
