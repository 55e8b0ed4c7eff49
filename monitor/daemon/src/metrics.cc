#include "metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <charconv>
#include <initializer_list>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include "needlewatch/protocol/reject.h"
#include "needlewatch/protocol/topic.h"

namespace needlewatch::daemon {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void AddValue(MetricFamily& f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

std::string Str(std::string_view s) { return std::string(s); }

// Families derived from the engine. Per-device and per-alarm series exist only while the
// device/alarm does, so cardinality follows the fleet.
void TranslateEngine(const engine::Engine& eng, std::vector<MetricFamily>& out) {
  const engine::Counters& c = eng.counters();

  MetricFamily received = Family("needlewatch_messages_received_total",
                                 "Messages taken in from MQTT (accepted or rejected), by channel.",
                                 MetricType::Counter);
  for (std::size_t i = 0; i < protocol::kChannelCount; ++i) {
    const auto ch = static_cast<protocol::Channel>(i);
    AddValue(received, {{"channel", Str(protocol::ChannelName(ch))}},
             static_cast<double>(c.received[i]));
  }
  out.push_back(std::move(received));

  MetricFamily rejected = Family("needlewatch_messages_rejected_total",
                                 "Messages rejected, by the first check they failed.",
                                 MetricType::Counter);
  for (protocol::Reject r : protocol::kAllRejects) {
    AddValue(rejected, {{"reason", Str(protocol::RejectName(r))}},
             static_cast<double>(c.rejected[static_cast<std::size_t>(r)]));
  }
  out.push_back(std::move(rejected));

  MetricFamily accepted = Family("needlewatch_messages_accepted_total",
                                 "Device messages accepted.", MetricType::Counter);
  AddValue(accepted, {}, static_cast<double>(c.accepted));
  out.push_back(std::move(accepted));
  MetricFamily ignored = Family("needlewatch_messages_ignored_total",
                                "Messages on the monitor's own topics (ignored).",
                                MetricType::Counter);
  AddValue(ignored, {}, static_cast<double>(c.ignored_own));
  out.push_back(std::move(ignored));
  MetricFamily unknown_zone =
      Family("needlewatch_unknown_zone_total",
             "Accepted messages naming a zone not in the limits (default limits used).",
             MetricType::Counter);
  AddValue(unknown_zone, {}, static_cast<double>(c.unknown_zone));
  out.push_back(std::move(unknown_zone));

  // Per clinic.
  MetricFamily sessions_active = Family("needlewatch_sessions_active",
                                        "Open treatment sessions.", MetricType::Gauge);
  MetricFamily seq_gaps = Family("needlewatch_sequence_gaps_total",
                                 "Telemetry/event seq values that skipped or went back.",
                                 MetricType::Counter);
  MetricFamily started = Family("needlewatch_sessions_started_total", "Sessions started.",
                                MetricType::Counter);
  MetricFamily unsafe = Family("needlewatch_unsafe_sessions_total",
                               "Sessions that raised at least one high-severity alarm.",
                               MetricType::Counter);
  MetricFamily devices = Family("needlewatch_devices", "Known devices by last reported state.",
                                MetricType::Gauge);
  MetricFamily raised = Family("needlewatch_alarms_raised_total", "Alarms raised.",
                               MetricType::Counter);
  const engine::Limits& limits = eng.limits();
  eng.ForEachClinic([&](const engine::ClinicStats& s) {
    AddValue(sessions_active, {{"clinic", s.clinic}}, static_cast<double>(s.sessions_active));
    AddValue(seq_gaps, {{"clinic", s.clinic}}, static_cast<double>(s.seq_gaps));
    AddValue(started, {{"clinic", s.clinic}}, static_cast<double>(s.sessions_started));
    AddValue(unsafe, {{"clinic", s.clinic}}, static_cast<double>(s.unsafe_sessions));
    AddValue(devices, {{"clinic", s.clinic}, {"state", "online"}},
             static_cast<double>(s.devices_online));
    AddValue(devices, {{"clinic", s.clinic}, {"state", "offline"}},
             static_cast<double>(s.devices_offline));
    for (engine::AlarmKind kind : engine::kAllAlarmKinds) {
      const auto k = static_cast<std::size_t>(kind);
      for (std::size_t sev = 0; sev < engine::kSeverityCount; ++sev) {
        const std::uint64_t n = s.alarms_raised[k][sev];
        // Series at 0 for the default severity too, so increase() sees the first raise.
        const engine::Severity severity = static_cast<engine::Severity>(sev);
        if (n == 0 && severity != limits.defaults.Rule(kind).severity) continue;
        AddValue(raised,
                 {{"alarm", Str(engine::AlarmName(kind))},
                  {"clinic", s.clinic},
                  {"severity", Str(engine::SeverityName(severity))}},
                 static_cast<double>(n));
      }
    }
  });
  out.push_back(std::move(sessions_active));
  out.push_back(std::move(seq_gaps));
  out.push_back(std::move(started));
  out.push_back(std::move(unsafe));
  out.push_back(std::move(devices));
  out.push_back(std::move(raised));
}

// Writes one family in text format 0.0.4 straight into `out`. Used for the per-device and
// per-alarm families, which hold tens of thousands of series in a large fleet: building
// prometheus-cpp MetricFamily objects and serialising them through an ostream cost about ten
// times more (137 ms vs ~12 ms for 10,000 devices, Release; see bench/README.md).
class DirectFamily {
 public:
  using Label = std::pair<std::string_view, std::string_view>;

  DirectFamily(std::string& out, std::string_view name, std::string_view help) : out_(out), name_(name) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" gauge\n");
  }

  void Sample(std::initializer_list<Label> labels, double value) {
    out_.append(name_);
    char sep = '{';
    for (const Label& l : labels) {
      out_.push_back(sep);
      sep = ',';
      out_.append(l.first).append("=\"");
      AppendEscaped(l.second);
      out_.push_back('"');
    }
    if (sep == ',') out_.push_back('}');
    out_.push_back(' ');
    char buf[32];
    const auto res = std::to_chars(buf, buf + sizeof buf, value);
    out_.append(buf, res.ptr).push_back('\n');
  }

 private:
  void AppendEscaped(std::string_view v) {
    for (char ch : v) {
      if (ch == '\\' || ch == '"') {
        out_.push_back('\\');
        out_.push_back(ch);
      } else if (ch == '\n') {
        out_.append("\\n");
      } else {
        out_.push_back(ch);
      }
    }
  }

  std::string& out_;
  std::string_view name_;
};

// Per device (readings and the limits of the device's current zone; open sessions only) and
// per alarm. These series exist only while the device/alarm does, so cardinality follows the
// fleet, never sessions.
void CopyFleet(const engine::Engine& eng, MetricsSnapshot& out) {
  const engine::Limits& limits = eng.limits();
  out.devices.reserve(eng.device_count());
  eng.ForEachDevice([&](const engine::DeviceView& d) {
    if (!d.session_open) return;
    const engine::ZoneLimits& z = limits.ForZone(d.zone);
    MetricsSnapshot::Device& row = out.devices.emplace_back();
    row.clinic = d.clinic;
    row.device = d.device;
    row.depth_mm = d.depth_mm;
    row.speed_hz = d.speed_hz;
    row.depth_warn_mm = z.depth_warn_mm;
    row.depth_max_mm = z.depth_max_mm;
    row.speed_min_hz = z.speed_min_hz;
    row.speed_max_hz = z.speed_max_hz;
  });
  eng.ForEachAlarm([&](const engine::AlarmView& a) {
    out.alarms.push_back({a.alarm, a.severity, a.state, a.acknowledged, std::string(a.clinic),
                          std::string(a.device)});
  });
}

void RenderFleet(const MetricsSnapshot& snap, std::string& out) {
  using Device = MetricsSnapshot::Device;
  {
    DirectFamily depth(out, "needlewatch_needle_depth_meters",
                       "Needle depth of the last sample of the open session.");
    for (const Device& d : snap.devices) {
      if (d.depth_mm) depth.Sample({{"clinic", d.clinic}, {"device", d.device}}, *d.depth_mm / 1000);
    }
  }
  {
    DirectFamily freq(out, "needlewatch_needle_frequency_hertz",
                      "Needle stroke frequency of the last sample of the open session.");
    for (const Device& d : snap.devices) {
      if (d.speed_hz) freq.Sample({{"clinic", d.clinic}, {"device", d.device}}, *d.speed_hz);
    }
  }
  {
    DirectFamily depth_limit(out, "needlewatch_depth_limit_meters",
                             "Depth limits of the device's current zone.");
    for (const Device& d : snap.devices) {
      if (d.depth_warn_mm) {
        depth_limit.Sample({{"clinic", d.clinic}, {"device", d.device}, {"limit", "warn"}},
                           *d.depth_warn_mm / 1000);
      }
      depth_limit.Sample({{"clinic", d.clinic}, {"device", d.device}, {"limit", "max"}},
                         d.depth_max_mm / 1000);
    }
  }
  {
    DirectFamily freq_limit(out, "needlewatch_frequency_limit_hertz",
                            "Frequency limits of the device's current zone.");
    for (const Device& d : snap.devices) {
      freq_limit.Sample({{"clinic", d.clinic}, {"device", d.device}, {"limit", "min"}},
                        d.speed_min_hz);
      freq_limit.Sample({{"clinic", d.clinic}, {"device", d.device}, {"limit", "max"}},
                        d.speed_max_hz);
    }
  }

  // One pass over the alarms per family keeps each family's samples together, as the text
  // format requires.
  using Alarm = MetricsSnapshot::Alarm;
  struct AlarmFamily {
    const char* name;
    const char* help;
    bool (*selects)(const Alarm&);
  };
  static constexpr AlarmFamily kAlarmFamilies[] = {
      {"needlewatch_alarms_active", "1 per active alarm (acknowledged or not).",
       [](const Alarm& a) { return a.state == engine::AlarmState::kActive; }},
      {"needlewatch_alarms_latched", "1 per latched alarm (cleared, not yet acknowledged).",
       [](const Alarm& a) { return a.state == engine::AlarmState::kLatched; }},
      {"needlewatch_alarms_acknowledged", "1 per active alarm that has been acknowledged.",
       [](const Alarm& a) { return a.state == engine::AlarmState::kActive && a.acknowledged; }},
  };
  for (const AlarmFamily& fam : kAlarmFamilies) {
    DirectFamily f(out, fam.name, fam.help);
    for (const Alarm& a : snap.alarms) {
      if (!fam.selects(a)) continue;
      f.Sample({{"alarm", engine::AlarmName(a.alarm)},
                {"clinic", a.clinic},
                {"device", a.device},
                {"severity", engine::SeverityName(a.severity)}},
               1);
    }
  }
}

void TranslateDaemon(const DaemonStats& s, std::vector<MetricFamily>& out) {
  auto single = [&](const char* name, const char* help, MetricType type, double v) {
    MetricFamily f = Family(name, help, type);
    AddValue(f, {}, v);
    out.push_back(std::move(f));
  };
  single("needlewatch_mqtt_connected", "1 while connected to the broker.", MetricType::Gauge,
         s.mqtt_connected ? 1 : 0);
  single("needlewatch_queue_depth", "Messages received from MQTT and not yet processed.",
         MetricType::Gauge, static_cast<double>(s.queue_depth));
  single("needlewatch_mqtt_reconnects_total", "Reconnections to the broker after a loss.",
         MetricType::Counter, static_cast<double>(s.mqtt_reconnects));
  single("needlewatch_mqtt_connection_lost_total", "Broker connections lost.",
         MetricType::Counter, static_cast<double>(s.mqtt_connection_lost));
  MetricFamily reloads = Family("needlewatch_config_reloads_total",
                                "Configuration reloads (SIGHUP), by result.", MetricType::Counter);
  AddValue(reloads, {{"result", "success"}}, static_cast<double>(s.config_reloads_success));
  AddValue(reloads, {{"result", "failure"}}, static_cast<double>(s.config_reloads_failure));
  out.push_back(std::move(reloads));
  single("needlewatch_audit_write_errors_total", "Audit log lines that could not be written.",
         MetricType::Counter, static_cast<double>(s.audit_write_errors));
  single("needlewatch_recorder_messages_total", "Messages written to recordings.",
         MetricType::Counter, static_cast<double>(s.recorder_messages));
  single("needlewatch_recorder_bytes_total", "Bytes written to recordings.",
         MetricType::Counter, static_cast<double>(s.recorder_bytes));
  single("needlewatch_recorder_dropped_total", "Messages the recorder dropped (queue full).",
         MetricType::Counter, static_cast<double>(s.recorder_dropped));
  MetricFamily build = Family("needlewatch_build_info", "Build information; always 1.",
                              MetricType::Gauge);
  AddValue(build, {{"version", s.version}}, 1);
  out.push_back(std::move(build));
  single("needlewatch_start_time_seconds", "Process start time, Unix seconds.",
         MetricType::Gauge, s.start_time_seconds);
}

}  // namespace


struct Metrics::Impl {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Histogram>* session_duration = nullptr;
  prometheus::Histogram* ingest_latency = nullptr;
  prometheus::Histogram* processing = nullptr;
  std::map<std::string, prometheus::Histogram*, std::less<>> by_clinic;
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {
  // Every family is registered here, at startup: a bad name fails early, never mid-run.
  impl_->session_duration = &prometheus::BuildHistogram()
                                 .Name("needlewatch_session_duration_seconds")
                                 .Help("Duration of ended treatment sessions.")
                                 .Register(impl_->registry);
  impl_->ingest_latency =
      &prometheus::BuildHistogram()
           .Name("needlewatch_ingest_latency_seconds")
           .Help("Time from a device message's ts to its processing (includes clock skew).")
           .Register(impl_->registry)
           .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025,
                                                            0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                                            10});
  impl_->processing =
      &prometheus::BuildHistogram()
           .Name("needlewatch_processing_seconds")
           .Help("Engine processing time per message.")
           .Register(impl_->registry)
           .Add({}, prometheus::Histogram::BucketBoundaries{1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5,
                                                            5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3,
                                                            2.5e-3, 5e-3, 1e-2});
}

Metrics::~Metrics() = default;

void Metrics::ObserveSessionDuration(std::string_view clinic, double seconds) {
  auto it = impl_->by_clinic.find(clinic);
  if (it == impl_->by_clinic.end()) {
    prometheus::Histogram& h = impl_->session_duration->Add(
        {{"clinic", std::string(clinic)}},
        prometheus::Histogram::BucketBoundaries{60, 300, 600, 900, 1200, 1800, 2700, 3600, 5400,
                                                7200});
    it = impl_->by_clinic.emplace(std::string(clinic), &h).first;
  }
  it->second->Observe(seconds < 0 ? 0 : seconds);
}

void Metrics::ObserveIngestLatency(double seconds) {
  impl_->ingest_latency->Observe(seconds < 0 ? 0 : seconds);
}

void Metrics::ObserveProcessing(double seconds) { impl_->processing->Observe(seconds); }

MetricsSnapshot Metrics::Snapshot(const engine::Engine& engine, const DaemonStats& stats) const {
  std::vector<MetricFamily> families;
  families.reserve(40);
  TranslateEngine(engine, families);
  TranslateDaemon(stats, families);
  for (MetricFamily& f : impl_->registry.Collect()) families.push_back(std::move(f));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  MetricsSnapshot snap;
  snap.head = std::move(out).str();
  CopyFleet(engine, snap);
  return snap;
}

std::string Metrics::RenderSnapshot(const MetricsSnapshot& snapshot) {
  std::string text;
  // About 77 bytes per sample; four or five samples per device.
  text.reserve(snapshot.head.size() + 400 * snapshot.devices.size() +
               120 * snapshot.alarms.size() + 1024);
  text.append(snapshot.head);
  RenderFleet(snapshot, text);
  return text;
}

std::string Metrics::Render(const engine::Engine& engine, const DaemonStats& stats) const {
  return RenderSnapshot(Snapshot(engine, stats));
}

}  // namespace needlewatch::daemon
