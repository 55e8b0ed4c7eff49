// Test helpers for the engine: device payload builders and a sink that records everything.
// Not thread-safe; one per test.
#ifndef NEEDLEWATCH_TESTS_ENGINE_ENGINE_TEST_UTIL_H_
#define NEEDLEWATCH_TESTS_ENGINE_ENGINE_TEST_UTIL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "needlewatch/engine/engine.h"

namespace needlewatch::engine::testing {

// Seconds and milliseconds as engine time, from an arbitrary epoch offset.
inline constexpr TimeNs kEpoch = 1'795'611'133LL * kNsPerSec;
inline constexpr TimeNs Sec(double s) { return kEpoch + static_cast<TimeNs>(s * 1e9); }

// The device clock of every payload below unless `ts_ms` is given.
inline constexpr std::int64_t kDefaultTsMs = 1795611133125;

std::string TelemetryPayload(std::uint32_t seq, std::string_view session, std::string_view zone,
                             double depth_mm, double speed_hz, std::int64_t ts_ms = kDefaultTsMs);
std::string StartPayload(std::uint32_t seq, std::string_view session, std::string_view zone,
                         std::string_view op = {}, std::int64_t ts_ms = kDefaultTsMs);
std::string EndPayload(std::uint32_t seq, std::string_view session);
std::string StatusPayload(bool online, std::optional<std::uint32_t> seq = std::nullopt);
std::string DeviceTopic(std::string_view clinic, std::string_view device, std::string_view channel);

// Limits used by most tests: default depth 1.0 mm, speed 50–150 Hz for 1 s, warn 50 min,
// max 60 min, stale 3 s; zone "forehead" depth 0.5; zone "cheek" depth 1.5 with warn 1.0.
Limits TestLimits();

// Records every output as a compact line, e.g. "raised depth_exceeded high d1 S1 v=1.2 l=1
// at=2.000" (" late" appended to a late transition), and keeps the full events too.
class RecordingSink : public Sink {
 public:
  void OnAccepted(const AcceptedInfo& m) override;
  void OnAlarm(const AlarmEvent& e) override;
  void OnSession(const SessionEvent& e) override;
  void OnReject(const RejectInfo& r) override;
  void OnSeqGap(const SeqGapInfo& g) override;

  std::vector<std::string> lines;  // everything but accepted messages, in order
  std::vector<std::int64_t> accepted_ts_ms;  // device `ts` of each accepted message
  std::vector<AcceptedInfo> accepted;        // views cleared (not valid after the callback)
  std::vector<AlarmEvent> alarms;
  std::vector<SessionEvent> sessions;
  std::vector<std::string> rejects;  // "reason/channel"
  std::vector<SeqGapInfo> gaps;      // views cleared (not valid after the callback)

  void Clear();
  // The alarm lines only, in order.
  std::vector<std::string> AlarmLines() const;
};

// An engine plus a device driver with an automatic seq per (clinic, device).
class Harness {
 public:
  explicit Harness(Limits limits = TestLimits(), EngineOptions options = {});

  void Tel(TimeNs t, double depth, double speed = 100, std::string_view session = "S1",
           std::string_view zone = "cheek", std::string_view device = "d1",
           std::string_view clinic = "c1");
  void Start(TimeNs t, std::string_view session, std::string_view zone = "cheek",
             std::string_view device = "d1", std::string_view clinic = "c1");
  void End(TimeNs t, std::string_view session, std::string_view device = "d1",
           std::string_view clinic = "c1");
  void Online(TimeNs t, std::string_view device = "d1", std::string_view clinic = "c1");
  void Offline(TimeNs t, std::string_view device = "d1", std::string_view clinic = "c1");
  void Raw(TimeNs t, std::string_view topic, std::string_view payload);
  void Advance(TimeNs t) { engine.AdvanceTo(t, sink); }

  // Number of active or latched alarms, and the one of `kind` on (clinic, device) if any.
  std::size_t AlarmCount() const;
  std::optional<AlarmState> StateOf(AlarmKind kind, std::string_view device = "d1") const;

  Engine engine;
  RecordingSink sink;
  std::map<std::string, std::uint32_t> seq;  // next seq per "clinic/device"

 private:
  std::uint32_t NextSeq(std::string_view clinic, std::string_view device);
};

}  // namespace needlewatch::engine::testing

#endif  // NEEDLEWATCH_TESTS_ENGINE_ENGINE_TEST_UTIL_H_
