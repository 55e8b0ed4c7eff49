// libFuzzer harness for the device-message path: ParseTopic, then Decode, then (on success) an
// encode -> decode round trip that must reproduce every field, and a comparison with a
// reference JSON parser (nlohmann_json): whatever our strict decoder accepts, nlohmann must
// parse as a JSON object with the same field values (so a payload nlohmann finds invalid is
// never accepted). Input: the first line is the topic, the rest is the payload. Built as a real
// fuzzer with clang (NEEDLEWATCH_FUZZ) and replayed over the corpus by fuzz_replay.cc in
// ordinary test builds.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "needlewatch/protocol/encode.h"
#include "needlewatch/protocol/message.h"
#include "needlewatch/protocol/topic.h"

namespace {

using needlewatch::protocol::Channel;
using needlewatch::protocol::Decode;
using needlewatch::protocol::Decoded;
using needlewatch::protocol::Reject;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "fuzz_decode invariant violated: %s\n", what);
  std::abort();
}

void Check(bool ok, const char* what) {
  if (!ok) Fail(what);
}

// A view must lie inside the payload or the scratch buffer.
void CheckView(std::string_view v, std::string_view payload, const Decoded& d) {
  if (v.empty()) return;
  const char* s = d.scratch.data();
  const bool in_payload =
      v.data() >= payload.data() && v.data() + v.size() <= payload.data() + payload.size();
  const bool in_scratch = v.data() >= s && v.data() + v.size() <= s + d.scratch.size();
  Check(in_payload || in_scratch, "view outside payload and scratch");
}

void CheckRoundTrip(const Decoded& d, std::string_view payload) {
  Decoded again;
  switch (d.channel) {
    case Channel::kTelemetry: {
      const auto& t = d.telemetry;
      CheckView(t.session, payload, d);
      CheckView(t.zone, payload, d);
      Check(t.depth_mm >= 0 && t.depth_mm <= 10 && t.speed_hz >= 0 && t.speed_hz <= 1000,
            "telemetry out of range");
      const std::string json = EncodeTelemetry(t);
      Check(Decode(Channel::kTelemetry, json, again) == Reject::kNone, "telemetry re-decode");
      const auto& u = again.telemetry;
      Check(u.seq == t.seq && u.ts_ms == t.ts_ms && u.session == t.session && u.zone == t.zone &&
                u.depth_mm == t.depth_mm && u.speed_hz == t.speed_hz,
            "telemetry round trip");
      break;
    }
    case Channel::kEvent: {
      const auto& e = d.event;
      CheckView(e.session, payload, d);
      CheckView(e.zone, payload, d);
      CheckView(e.op, payload, d);
      const std::string json = EncodeEvent(e);
      Check(Decode(Channel::kEvent, json, again) == Reject::kNone, "event re-decode");
      const auto& f = again.event;
      Check(f.kind == e.kind && f.seq == e.seq && f.ts_ms == e.ts_ms && f.session == e.session &&
                f.zone == e.zone && f.op == e.op,
            "event round trip");
      break;
    }
    case Channel::kStatus: {
      const auto& s = d.status;
      CheckView(s.model, payload, d);
      CheckView(s.fw, payload, d);
      const std::string json = EncodeStatus(s);
      Check(Decode(Channel::kStatus, json, again) == Reject::kNone, "status re-decode");
      const auto& r = again.status;
      Check(r.online == s.online && r.has_seq == s.has_seq && r.seq == s.seq &&
                r.ts_ms == s.ts_ms && r.model == s.model && r.fw == s.fw,
            "status round trip");
      break;
    }
    case Channel::kUnknown:
      Fail("accepted on unknown channel");
  }
}

// The reference parser's view of an accepted payload must agree with ours, field by field.
void CheckAgainstReference(const Decoded& d, std::string_view payload) {
  using nlohmann::json;
  const json j = json::parse(payload.begin(), payload.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // nlohmann refuses a number beyond a double's range (out_of_range.406, e.g. 5e400), which
    // JSON's grammar allows (RFC 8259 §6 leaves the range to implementations): ours skips it in
    // an unknown field and rejects it in a known one (bad_field). Not a disagreement.
    bool overflow = false;
    try {
      [[maybe_unused]] const json again = json::parse(payload.begin(), payload.end());
    } catch (const json::out_of_range& e) {
      overflow = e.id == 406;
    } catch (const json::exception&) {
    }
    if (overflow) return;
  }
  Check(!j.is_discarded(), "accepted a payload the reference parser finds invalid");
  Check(j.is_object(), "accepted a payload that is not a JSON object");
  auto has = [&](const char* key) { return j.contains(key) && !j.at(key).is_null(); };
  auto uint_is = [&](const char* key, std::uint64_t want) {
    const json& v = j.at(key);
    return v.is_number_unsigned() && v.get<std::uint64_t>() == want;
  };
  auto int_is = [&](const char* key, std::int64_t want) {
    const json& v = j.at(key);
    return (v.is_number_unsigned() || v.is_number_integer()) && v.get<std::int64_t>() == want;
  };
  auto number_is = [&](const char* key, double want) {
    const json& v = j.at(key);
    return v.is_number() && v.get<double>() == want;
  };
  auto string_is = [&](const char* key, std::string_view want) {
    const json& v = j.at(key);
    return v.is_string() && v.get_ref<const std::string&>() == want;
  };
  Check(has("v") && uint_is("v", 1), "reference: v");
  switch (d.channel) {
    case Channel::kTelemetry: {
      const auto& t = d.telemetry;
      Check(has("seq") && uint_is("seq", t.seq), "reference: telemetry seq");
      Check(has("ts") && int_is("ts", t.ts_ms), "reference: telemetry ts");
      Check(has("session") && string_is("session", t.session), "reference: telemetry session");
      Check(has("zone") && string_is("zone", t.zone), "reference: telemetry zone");
      Check(has("depth_mm") && number_is("depth_mm", t.depth_mm), "reference: depth_mm");
      Check(has("speed_hz") && number_is("speed_hz", t.speed_hz), "reference: speed_hz");
      break;
    }
    case Channel::kEvent: {
      const auto& e = d.event;
      const bool start = e.kind == needlewatch::protocol::EventKind::kSessionStart;
      Check(has("event") && string_is("event", start ? "session_start" : "session_end"),
            "reference: event");
      Check(has("seq") && uint_is("seq", e.seq), "reference: event seq");
      Check(has("ts") && int_is("ts", e.ts_ms), "reference: event ts");
      Check(has("session") && string_is("session", e.session), "reference: event session");
      if (start) Check(has("zone") && string_is("zone", e.zone), "reference: event zone");
      Check(e.op.empty() ? !has("operator") : has("operator") && string_is("operator", e.op),
            "reference: operator");
      break;
    }
    case Channel::kStatus: {
      const auto& s = d.status;
      Check(has("state") && string_is("state", s.online ? "online" : "offline"),
            "reference: state");
      Check(has("ts") && int_is("ts", s.ts_ms), "reference: status ts");
      Check(s.has_seq == has("seq") && (!s.has_seq || uint_is("seq", s.seq)), "reference: status seq");
      Check(s.model.empty() ? !has("model") || string_is("model", "") : string_is("model", s.model),
            "reference: model");
      Check(s.fw.empty() ? !has("fw") || string_is("fw", "") : string_is("fw", s.fw),
            "reference: fw");
      break;
    }
    case Channel::kUnknown:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = input.find('\n');
  const std::string_view topic = input.substr(0, nl);
  const std::string_view payload =
      nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);

  const auto t = needlewatch::protocol::ParseTopic(topic);
  if (t.kind == needlewatch::protocol::TopicKind::kDevice) {
    Check(needlewatch::protocol::IsValidId(t.clinic) && needlewatch::protocol::IsValidId(t.device),
          "device topic with invalid IDs");
    Check(t.channel != Channel::kUnknown, "device topic without channel");
  }
  // Non-device topics still exercise the decoder, as telemetry, so every input reaches it.
  const Channel channel =
      t.kind == needlewatch::protocol::TopicKind::kDevice ? t.channel : Channel::kTelemetry;
  static Decoded d;  // 4 KB scratch; static so the harness itself does not allocate it per run
  const Reject r = Decode(channel, payload, d);
  if (r == Reject::kNone) {
    Check(d.detail.empty(), "detail on success");
    CheckRoundTrip(d, payload);
    CheckAgainstReference(d, payload);
  } else {
    Check(!d.detail.empty(), "rejection without detail");
    Check(r >= Reject::kTooLarge && r <= Reject::kBadField, "reason outside decoder range");
    Check(payload.size() <= needlewatch::protocol::kMaxPayloadBytes || r == Reject::kTooLarge,
          "oversized payload not too_large");
  }
  return 0;
}
