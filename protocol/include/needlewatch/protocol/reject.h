// Rejection reasons for device messages, in the order the contract checks them.
// See ../../../README.md ("Rejections"). Plain values; thread-safe.
#ifndef NEEDLEWATCH_PROTOCOL_REJECT_H_
#define NEEDLEWATCH_PROTOCOL_REJECT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace needlewatch::protocol {

// A message is rejected by the first check it fails, in this order (CONTRACT §2, extended; protocol/README.md, Rejections).
// kNone means "accepted". The numeric order is the check order. The contract's reasons are
// bad_topic … unknown_session_end; the engine adds the admission checks (not_assigned,
// unknown_device, too_many_devices: right after the topic, before the payload is parsed) and
// duplicate (a QoS 1 redelivery: last).
enum class Reject : std::uint8_t {
  kNone = 0,
  kBadTopic,
  kNotAssigned,        // engine: the clinic is not this instance's shard
  kUnknownDevice,      // engine: not in the configured registry of clinics and devices
  kTooManyDevices,     // engine: a new device beyond engine.max_devices
  kTooLarge,
  kBadJson,
  kBadVersion,
  kMissingField,
  kBadField,
  kUnknownSessionEnd,  // decided by the engine, not the decoder
  kDuplicate,          // engine: seq not after the last one of the open session (redelivery)
};

inline constexpr std::size_t kRejectCount = 12;  // including kNone

// The wire/metric name: "bad_topic", "too_large", ... ; "" for kNone.
std::string_view RejectName(Reject r);

// Every real reason (kNone excluded), in check order: for metrics and reports.
inline constexpr std::array<Reject, kRejectCount - 1> kAllRejects = {
    Reject::kBadTopic,     Reject::kNotAssigned,  Reject::kUnknownDevice,
    Reject::kTooManyDevices, Reject::kTooLarge,   Reject::kBadJson,
    Reject::kBadVersion,   Reject::kMissingField, Reject::kBadField,
    Reject::kUnknownSessionEnd, Reject::kDuplicate};

}  // namespace needlewatch::protocol

#endif  // NEEDLEWATCH_PROTOCOL_REJECT_H_
