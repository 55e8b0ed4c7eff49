#include "metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <fstream>
#include <initializer_list>
#include <iterator>
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

// The label a zone's limits carry: "default" stands for every zone the limits do not list.
constexpr std::string_view kDefaultZone = "default";

// The limits of every zone, once per zone rather than on every pen's series: dashboards join
// them to needlewatch_device_zone_info on `zone`. Tens of series, whatever the fleet size.
void TranslateZoneLimits(const engine::Limits& limits, std::vector<MetricFamily>& out) {
  MetricFamily depth = Family(
      "needlewatch_zone_depth_limit_meters",
      "Depth limits of each zone: kind=max (depth_exceeded above it), kind=warn (depth_warning).",
      MetricType::Gauge);
  MetricFamily speed = Family(
      "needlewatch_zone_speed_limit_hertz",
      "Needle frequency range of each zone (speed_out_of_range outside kind=min..kind=max).",
      MetricType::Gauge);
  MetricFamily session = Family(
      "needlewatch_zone_session_limit_seconds",
      "Session duration limits of each zone (the zone a session starts in): kind=warn "
      "(session_overtime_warning), kind=max (session_overtime).",
      MetricType::Gauge);
  MetricFamily stale = Family(
      "needlewatch_zone_telemetry_stale_after_seconds",
      "Time without telemetry after which an open session's telemetry_stale is raised.",
      MetricType::Gauge);
  auto add = [&](std::string_view name, const engine::ZoneLimits& z) {
    const std::string zone(name);
    if (z.depth_warn_mm) AddValue(depth, {{"kind", "warn"}, {"zone", zone}}, *z.depth_warn_mm / 1000);
    AddValue(depth, {{"kind", "max"}, {"zone", zone}}, z.depth_max_mm / 1000);
    AddValue(speed, {{"kind", "min"}, {"zone", zone}}, z.speed_min_hz);
    AddValue(speed, {{"kind", "max"}, {"zone", zone}}, z.speed_max_hz);
    if (z.session_warn_after) {
      AddValue(session, {{"kind", "warn"}, {"zone", zone}},
               engine::NsToSeconds(*z.session_warn_after));
    }
    AddValue(session, {{"kind", "max"}, {"zone", zone}},
             engine::NsToSeconds(z.session_max_duration));
    AddValue(stale, {{"zone", zone}}, engine::NsToSeconds(z.stale_after));
  };
  add(kDefaultZone, limits.defaults);
  for (const auto& [name, z] : limits.zones) {
    // A listed zone called "default" would repeat the defaults' series (an invalid
    // exposition); devices in it are shown with the defaults' limits.
    if (name != kDefaultZone) add(name, z);
  }
  out.push_back(std::move(depth));
  out.push_back(std::move(speed));
  out.push_back(std::move(session));
  out.push_back(std::move(stale));
}

// The message counters: received by channel, rejected by reason, accepted, ignored, unknown zone.
void TranslateMessageCounters(const engine::Counters& c, std::vector<MetricFamily>& out) {

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
}

// Which (alarm, severity) pairs the limits can raise: default and per-zone rules. Each such
// alarm series exists at 0 before the first raise, so increase() sees that raise too (the
// paging rules need it).
using PossibleSeverities =
    std::array<std::array<bool, engine::kSeverityCount>, engine::kAlarmKindCount>;
PossibleSeverities PossibleSeveritiesOf(const engine::Limits& limits) {
  PossibleSeverities possible{};
  for (engine::AlarmKind kind : engine::kAllAlarmKinds) {
    auto& row = possible[static_cast<std::size_t>(kind)];
    row[static_cast<std::size_t>(limits.defaults.Rule(kind).severity)] = true;
    for (const auto& zone : limits.zones) {
      row[static_cast<std::size_t>(zone.second.Rule(kind).severity)] = true;
    }
  }
  return possible;
}

// Families derived from the engine. Per-clinic series exist only while the clinic does, so
// cardinality follows the fleet.
void TranslateEngine(const engine::Engine& eng, std::vector<MetricFamily>& out) {
  TranslateMessageCounters(eng.counters(), out);
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
  const PossibleSeverities possible = PossibleSeveritiesOf(limits);
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
        const engine::Severity severity = static_cast<engine::Severity>(sev);
        if (n == 0 && !possible[k][sev]) continue;
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
  TranslateZoneLimits(limits, out);
}

// Writes one family in text format 0.0.4 straight into `out`. Used for the per-device and
// per-alarm families, which hold tens of thousands of series in a large fleet: building
// prometheus-cpp MetricFamily objects and serialising them through an ostream cost about ten
// times more (137 ms vs ~12 ms for 10,000 devices, Release; see bench/README.md).
class DirectFamily {
 public:
  using Label = std::pair<std::string_view, std::string_view>;

  DirectFamily(std::string& out, std::string_view name, std::string_view help,
               std::string_view type = "gauge")
      : out_(out), name_(name) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
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

// Per device (readings and the zone whose limits apply; open sessions only) and per alarm.
// These series exist only while the device/alarm does, so cardinality follows the fleet, never
// sessions; the zone label takes only the values the limits file names (plus "default").
void CopyFleet(const engine::Engine& eng, MetricsSnapshot& out) {
  const engine::Limits& limits = eng.limits();
  out.devices.reserve(eng.device_count());
  eng.ForEachDevice([&](const engine::DeviceView& d) {
    if (!d.session_open) return;
    MetricsSnapshot::Device& row = out.devices.emplace_back();
    row.clinic = d.clinic;
    row.device = d.device;
    row.depth_mm = d.depth_mm;
    row.speed_hz = d.speed_hz;
    if (!d.zone.empty()) row.limits_zone = limits.HasZone(d.zone) ? d.zone : kDefaultZone;
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
    DirectFamily zone(out, "needlewatch_device_zone_info",
                      "1 per device with an open session: the zone whose limits apply to its "
                      "last sample (\"default\" for a zone the limits do not list).");
    for (const Device& d : snap.devices) {
      if (!d.limits_zone.empty()) {
        zone.Sample({{"clinic", d.clinic}, {"device", d.device}, {"zone", d.limits_zone}}, 1);
      }
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
      // What the paging rules watch: from the raise until an acknowledgement (or, for an alarm
      // that does not latch, until it clears), without a gap between active and latched.
      {"needlewatch_alarms_unacknowledged",
       "1 per alarm nobody has acknowledged yet: active and not acknowledged, or latched.",
       [](const Alarm& a) { return a.state == engine::AlarmState::kLatched || !a.acknowledged; }},
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
  single("needlewatch_ingest_dropped_total",
         "QoS 0 messages dropped because the inbox to the event loop was full.",
         MetricType::Counter, static_cast<double>(s.ingest_dropped));
  single("needlewatch_ingest_throttled_total",
         "Times the inbox was full and the MQTT client stopped reading (QoS 1 flow control).",
         MetricType::Counter, static_cast<double>(s.ingest_blocked));
  single("needlewatch_alarm_topic_corrections_total",
         "Retained alarm topics found disagreeing with the monitor's state and set right.",
         MetricType::Counter, static_cast<double>(s.alarm_topic_corrections));
  single("needlewatch_halts_expired_total",
         "Halt commands dropped unsent because the broker was away longer than their expiry.",
         MetricType::Counter, static_cast<double>(s.halts_expired));
  single("needlewatch_state_lost",
         "1 while the monitor alarm state_lost is active: durable state could not be restored.",
         MetricType::Gauge, s.state_lost ? 1 : 0);
  single("needlewatch_state_journal_write_errors_total",
         "Batches whose durable-state journal write failed (a restart would miss them).",
         MetricType::Counter, static_cast<double>(s.state_journal_write_errors));
  single("needlewatch_http_event_streams", "Event streams (floor pages) open now.",
         MetricType::Gauge, static_cast<double>(s.event_streams_open));
  single("needlewatch_http_event_streams_opened_total", "Event streams started.",
         MetricType::Counter, static_cast<double>(s.event_streams_opened));
  single("needlewatch_http_event_streams_dropped_total",
         "Event streams closed because the client fell too far behind (it reconnects and "
         "resumes).",
         MetricType::Counter, static_cast<double>(s.event_streams_dropped_slow));
  single("needlewatch_http_event_streams_refused_total",
         "Event streams refused (503) over the stream bounds.",
         MetricType::Counter, static_cast<double>(s.event_streams_refused));
  MetricFamily build = Family("needlewatch_build_info", "Build information; always 1.",
                              MetricType::Gauge);
  AddValue(build, {{"version", s.version}}, 1);
  out.push_back(std::move(build));
  single("needlewatch_start_time_seconds", "Process start time, Unix seconds.",
         MetricType::Gauge, s.start_time_seconds);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// process_* from /proc (proc(5)), named and typed as the Prometheus client libraries do.

std::optional<ProcSelfStat> ParseProcSelfStat(std::string_view text) {
  // "pid (comm) state ppid ...": comm may hold anything, so fields count from the last ')'.
  const std::size_t close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  // Fields after comm, 1-based as in proc(5) minus 2: state is 3, utime 14, stime 15,
  // starttime 22, vsize 23, rss 24.
  std::array<std::string_view, 22> field{};
  std::size_t n = 0;
  while (n < field.size()) {
    const std::size_t b = rest.find_first_not_of(' ');
    if (b == std::string_view::npos) break;
    rest = rest.substr(b);
    const std::size_t e = rest.find(' ');
    field[n++] = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e);
  }
  if (n < field.size()) return std::nullopt;
  auto number = [&](int proc_field, auto& value) {
    const std::string_view f = field[static_cast<std::size_t>(proc_field - 3)];
    const auto r = std::from_chars(f.data(), f.data() + f.size(), value);
    return r.ec == std::errc{} && r.ptr == f.data() + f.size();
  };
  ProcSelfStat s;
  if (!number(14, s.utime_ticks) || !number(15, s.stime_ticks) || !number(22, s.start_ticks) ||
      !number(23, s.vsize_bytes) || !number(24, s.rss_pages)) {
    return std::nullopt;
  }
  return s;
}

std::optional<std::uint64_t> ParseBootTime(std::string_view proc_stat) {
  for (std::size_t pos = 0; pos < proc_stat.size();) {
    std::size_t end = proc_stat.find('\n', pos);
    if (end == std::string_view::npos) end = proc_stat.size();
    std::string_view line = proc_stat.substr(pos, end - pos);
    pos = end + 1;
    if (line.substr(0, 6) != "btime ") continue;
    line = line.substr(6);
    std::uint64_t v = 0;
    const auto r = std::from_chars(line.data(), line.data() + line.size(), v);
    if (r.ec != std::errc{}) return std::nullopt;
    return v;
  }
  return std::nullopt;
}

namespace {

std::optional<std::string> ReadSmallFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Entries of /proc/self/fd, less the one the listing itself holds open.
std::optional<double> CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  const int own = dirfd(dir);
  double n = 0;
  while (const dirent* e = readdir(dir)) {
    const std::string_view name = e->d_name;
    int fd = -1;
    const auto r = std::from_chars(name.data(), name.data() + name.size(), fd);
    if (r.ec == std::errc{} && fd != own) ++n;
  }
  closedir(dir);
  return n;
}

}  // namespace

std::optional<ProcessStats> ReadProcessStats() {
  const std::optional<std::string> self = ReadSmallFile("/proc/self/stat");
  const std::optional<std::string> system = ReadSmallFile("/proc/stat");
  if (!self || !system) return std::nullopt;
  const std::optional<ProcSelfStat> st = ParseProcSelfStat(*self);
  const std::optional<std::uint64_t> btime = ParseBootTime(*system);
  const std::optional<double> fds = CountOpenFds();
  const long ticks = sysconf(_SC_CLK_TCK);
  const long page = sysconf(_SC_PAGESIZE);
  rlimit nofile{};
  if (!st || !btime || !fds || ticks <= 0 || page <= 0 || getrlimit(RLIMIT_NOFILE, &nofile) != 0) {
    return std::nullopt;
  }
  ProcessStats p;
  const auto hz = static_cast<double>(ticks);
  p.cpu_seconds = static_cast<double>(st->utime_ticks + st->stime_ticks) / hz;
  p.resident_bytes = static_cast<double>(st->rss_pages) * static_cast<double>(page);
  p.virtual_bytes = static_cast<double>(st->vsize_bytes);
  p.open_fds = *fds;
  p.max_fds = nofile.rlim_cur == RLIM_INFINITY ? 0 : static_cast<double>(nofile.rlim_cur);
  p.start_time_seconds = static_cast<double>(*btime) + static_cast<double>(st->start_ticks) / hz;
  return p;
}

void AppendProcessMetrics(const ProcessStats& p, std::string& out) {
  DirectFamily(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
               "counter")
      .Sample({}, p.cpu_seconds);
  DirectFamily(out, "process_open_fds", "Number of open file descriptors.")
      .Sample({}, p.open_fds);
  DirectFamily(out, "process_max_fds", "Maximum number of open file descriptors.")
      .Sample({}, p.max_fds);
  DirectFamily(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.")
      .Sample({}, p.virtual_bytes);
  DirectFamily(out, "process_resident_memory_bytes", "Resident memory size in bytes.")
      .Sample({}, p.resident_bytes);
  DirectFamily(out, "process_start_time_seconds",
               "Start time of the process since unix epoch in seconds.")
      .Sample({}, p.start_time_seconds);
}

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
  // About 80 bytes per sample; three samples per device, two or three per alarm.
  text.reserve(snapshot.head.size() + 256 * snapshot.devices.size() +
               320 * snapshot.alarms.size() + 2048);
  text.append(snapshot.head);
  RenderFleet(snapshot, text);
  if (const std::optional<ProcessStats> p = ReadProcessStats()) AppendProcessMetrics(*p, text);
  return text;
}

std::string Metrics::Render(const engine::Engine& engine, const DaemonStats& stats) const {
  return RenderSnapshot(Snapshot(engine, stats));
}

}  // namespace needlewatch::daemon
