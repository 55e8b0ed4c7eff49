// Internal: how a recording keeps a rejected message (monitor/record/README.md, "Rejected
// messages"): the channel it goes on and the JSON envelope that carries its original topic,
// QoS, retain flag, reason, size and (first kRejectedKeepBytes of) payload. Pure; thread-safe.
#ifndef NEEDLEWATCH_RECORD_SRC_REJECTED_H_
#define NEEDLEWATCH_RECORD_SRC_REJECTED_H_

#include <string>
#include <string_view>

#include "needlewatch/record/raw_message.h"

namespace needlewatch::record {

// "$needlewatch/rejected/{clinic}/{device}/{reason}" when `topic` is
// {root}/{clinic}/device/{device}/… with valid IDs, else "$needlewatch/rejected/{reason}".
// A reason that is not [a-z0-9_]{1,32} is written "other".
std::string RejectedChannelTopic(std::string_view topic_root, std::string_view topic,
                                 std::string_view reason);

// The envelope of `m` (m.reject non-empty): {"topic","reason","qos","retain","size","truncated",
// and "payload" (the kept bytes when they are valid UTF-8) or "payload_base64"}.
std::string EncodeRejected(const RawMessage& m);

// Reads an envelope back into `out` (topic, payload, qos, retain, reject, original_size;
// receive_ns untouched). False with `*error` when `envelope` is not one.
bool DecodeRejected(std::string_view envelope, RawMessage& out, std::string* error);

// Exposed for tests.
bool IsValidUtf8(std::string_view s);
std::string Base64Encode(std::string_view bytes);
bool Base64Decode(std::string_view text, std::string& out);

}  // namespace needlewatch::record

#endif  // NEEDLEWATCH_RECORD_SRC_REJECTED_H_
