#include "needlewatch/protocol/reject.h"

namespace needlewatch::protocol {

std::string_view RejectName(Reject r) {
  switch (r) {
    case Reject::kNone:
      return "";
    case Reject::kBadTopic:
      return "bad_topic";
    case Reject::kNotAssigned:
      return "not_assigned";
    case Reject::kUnknownDevice:
      return "unknown_device";
    case Reject::kTooManyDevices:
      return "too_many_devices";
    case Reject::kTooLarge:
      return "too_large";
    case Reject::kBadJson:
      return "bad_json";
    case Reject::kBadVersion:
      return "bad_version";
    case Reject::kMissingField:
      return "missing_field";
    case Reject::kBadField:
      return "bad_field";
    case Reject::kUnknownSessionEnd:
      return "unknown_session_end";
    case Reject::kDuplicate:
      return "duplicate";
  }
  return "";
}

}  // namespace needlewatch::protocol
