// Test helper for the schema interop test: makes a daemon-style recording in DIR the way
// `needlewatch run` does: each device message goes through control::ApplyRecord into an
// engine, is recorded with the reason it was rejected (if it was), the limits and an
// acknowledgement are recorded as control records, and the monitor's own publications (alarm
// topics, halt, monitor status: the daemon's alarm_output functions) are recorded as a wide
// subscription would echo them back. Every payload comes from the project's own encoders.
//   interop_daemon DIR
#include <cstdio>
#include <optional>
#include <string>

#include "alarm_output.h"
#include "needlewatch/config/config.h"
#include "needlewatch/control/apply.h"
#include "needlewatch/control/records.h"
#include "needlewatch/engine/engine.h"
#include "needlewatch/protocol/encode.h"
#include "needlewatch/protocol/reject.h"
#include "needlewatch/record/recorder.h"

namespace nw = needlewatch;

namespace {

class Daemonish : public nw::engine::Sink {
 public:
  explicit Daemonish(nw::record::Recorder& rec) : rec_(rec) {}
  void OnReject(const nw::engine::RejectInfo& r) override { reject_ = r.reason; }
  // What the daemon publishes for an alarm (its own functions), echoed back into the recording
  // as a subscription to clinic/# would receive it.
  void OnAlarm(const nw::engine::AlarmEvent& e) override {
    Echo(nw::daemon::AlarmPublication("clinic", e), e.at + 1000);
    if (auto halt = nw::daemon::HaltPublication("clinic", e, {nw::engine::Severity::kHigh},
                                                5 * nw::engine::kNsPerSec)) {
      Echo(*halt, e.at + 2000);
    }
  }

  // One message from the broker, as LiveMonitor::HandleMessage handles it.
  void Message(nw::engine::Engine& engine, std::int64_t t, const std::string& topic,
               const std::string& payload, int qos = 1, bool retain = false) {
    reject_ = nw::protocol::Reject::kNone;
    nw::control::ApplyRecord({t, topic, payload}, engine, *this);
    nw::record::RawMessage m;
    nw::record::FillRawMessage(m, t, topic, payload, qos, retain,
                               reject_ == nw::protocol::Reject::kNone
                                   ? std::string_view()
                                   : nw::protocol::RejectName(reject_));
    rec_.Submit(std::move(m));
  }
  // A control record: applied and recorded, as LiveMonitor does.
  void Control(nw::engine::Engine& engine, nw::record::RawMessage m) {
    nw::control::ApplyRecord({m.receive_ns, m.topic, m.payload}, engine, *this);
    rec_.Submit(std::move(m));
  }

 private:
  void Echo(const nw::daemon::Publication& p, std::int64_t t) {
    nw::record::RawMessage m;
    nw::record::FillRawMessage(m, t, p.topic, p.payload, p.qos, p.retain, {});
    rec_.Submit(std::move(m));
  }
  nw::record::Recorder& rec_;
  nw::protocol::Reject reject_ = nw::protocol::Reject::kNone;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  nw::record::RecorderOptions o;
  o.dir = argv[1];
  o.chunk_max_bytes = 16 * 1024;
  std::string error;
  auto rec = nw::record::Recorder::Start(o, &error);
  if (!rec) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  const nw::config::Config cfg = nw::config::DefaultConfig();
  nw::engine::Engine engine(cfg.limits);
  Daemonish d(*rec);
  std::int64_t t = 1'795'611'133'000'000'000LL;
  d.Control(engine, nw::control::LimitsMessage({"start", "", cfg.text}, t));
  t += 1'000'000;
  const nw::daemon::Publication status = nw::daemon::MonitorStatusPublication("nw-1", true, t, "0.1.0");
  d.Message(engine, t, status.topic, status.payload, status.qos, status.retain);
  const nw::daemon::Publication fault = nw::daemon::MonitorAlarmPublication(
      "nw-1", "recorder_dropping", nw::engine::Severity::kMedium, true, t, t, 12.0, std::nullopt);
  d.Message(engine, t += 1'000'000, fault.topic, fault.payload, fault.qos, fault.retain);
  const std::string root = "clinic/c017/device/d00042/";
  nw::protocol::Status online;
  online.online = true;
  online.has_seq = true;
  online.ts_ms = 1795611133000;
  online.model = "NP-3";
  online.fw = "2.3.1";
  d.Message(engine, t += 1'000'000, root + "status", nw::protocol::EncodeStatus(online), 1, true);
  nw::protocol::Event start;
  start.seq = 1;
  start.ts_ms = 1795611133100;
  start.session = "S-7f3a91";
  start.zone = "forehead";
  start.op = "op-17";
  d.Message(engine, t += 1'000'000, root + "event", nw::protocol::EncodeEvent(start));
  std::uint32_t seq = 1;
  for (int i = 0; i < 400; ++i) {
    nw::protocol::Telemetry s;
    s.seq = ++seq;
    s.ts_ms = 1795611133200 + i * 20;
    s.session = "S-7f3a91";
    s.zone = i < 200 ? "forehead" : "cheek";
    s.depth_mm = i == 150 ? 0.9 : 0.4 + (i % 7) * 0.01;
    s.speed_hz = i >= 300 && i < 380 ? 30.0 : 120.0;
    d.Message(engine, t += 20'000'000, root + "telemetry", nw::protocol::EncodeTelemetry(s), 0);
    if (i == 160) {
      d.Control(engine, nw::control::AckMessage({"c017", "d00042", "depth_exceeded", "local"}, t + 1));
    }
  }
  // Junk, as a hostile or broken client sends it.
  d.Message(engine, t += 1'000'000, root + "telemetry", "{\"v\":1,\"seq\":");
  d.Message(engine, t += 1'000'000, root + "telemetry", std::string(100'000, '['));
  d.Message(engine, t += 1'000'000, root + "telemetry", std::string("\xff\xfe{\"v\":1}", 9));
  d.Message(engine, t += 1'000'000, root + "event", "{\"v\":2,\"seq\":1,\"ts\":1}");
  d.Message(engine, t += 1'000'000, "clinic/c017/device/d00042/firmware", "{}");
  d.Message(engine, t += 1'000'000, "random/junk topic", std::string(5000, 'x'));
  nw::protocol::Event end;
  end.kind = nw::protocol::EventKind::kSessionEnd;
  end.seq = ++seq;
  end.ts_ms = 1795611143000;
  end.session = "S-7f3a91";
  d.Message(engine, t += 1'000'000, root + "event", nw::protocol::EncodeEvent(end));
  d.Control(engine, nw::control::LimitsMessage({"reload", "/etc/needlewatch/needlewatch.yaml", cfg.text},
                                               t += 1'000'000));
  nw::protocol::Status will;  // a Last Will: no seq
  will.ts_ms = 1795611133000;
  d.Message(engine, t += 1'000'000, root + "status", nw::protocol::EncodeStatus(will), 1, true);
  rec->Stop();
  if (rec->errors() != 0 || rec->dropped() != 0) {
    std::fprintf(stderr, "recorder: %llu errors, %llu dropped: %s\n",
                 static_cast<unsigned long long>(rec->errors()),
                 static_cast<unsigned long long>(rec->dropped()), rec->last_error().c_str());
    return 1;
  }
  return 0;
}
