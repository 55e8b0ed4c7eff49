#include "report.h"

#include <array>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>

namespace needlewatch::sim {
namespace {

std::array<std::size_t, kFaultKindCount> CountByKind(const std::vector<InjectedFault>& faults) {
  std::array<std::size_t, kFaultKindCount> n{};
  for (const InjectedFault& f : faults) ++n[static_cast<std::size_t>(f.kind)];
  return n;
}

}  // namespace

std::string ReportJson(const SimOptions& o, const RunSummary& s,
                       const std::vector<InjectedFault>& faults) {
  nlohmann::ordered_json j;
  j["v"] = 1;
  j["seed"] = o.seed;
  j["started_at"] = s.started_at;
  j["ended_at"] = s.ended_at;
  j["options"] = {{"mqtt_url", o.mqtt_url},
                  {"mqtt_version", o.mqtt_version},
                  {"qos", o.qos},
                  {"clinics", o.clinics},
                  {"devices", o.devices},
                  {"duration_s", static_cast<double>(o.duration) / 1e9},
                  {"rate", o.rate},
                  {"sample_rate", o.sample_rate_hz},
                  {"time_scale", o.time_scale},
                  {"faults", o.faults},
                  {"connections", o.per_device_connections ? "per-device" : "shared"},
                  {"config_file", o.config_file}};
  j["messages"] = {{"published", s.transport.published},
                   {"failed", s.transport.failed},
                   {"telemetry", s.fleet.telemetry},
                   {"events", s.fleet.events},
                   {"status", s.fleet.status},
                   {"per_second", s.elapsed_s > 0
                                      ? static_cast<double>(s.transport.published) / s.elapsed_s
                                      : 0.0}};
  j["connections"] = {{"connects", s.fleet.connects},
                      {"connect_failures", s.transport.connect_failures},
                      {"lost", s.transport.connections_lost}};
  j["sessions"] = {{"started", s.fleet.sessions_started}, {"ended", s.fleet.sessions_ended}};
  const auto counts = CountByKind(faults);
  nlohmann::ordered_json by_kind = nlohmann::ordered_json::object();
  for (std::size_t k = 0; k < kFaultKindCount; ++k) {
    by_kind[std::string(FaultName(static_cast<FaultKind>(k)))] = counts[k];
  }
  j["fault_counts"] = by_kind;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const InjectedFault& f : faults) {
    nlohmann::ordered_json e;
    e["fault"] = FaultName(f.kind);
    e["clinic"] = f.clinic;
    e["device"] = f.device;
    e["session"] = f.session;
    e["zone"] = f.zone;
    e["time"] = f.time;
    e["expected_alarms"] = f.expected_alarms;
    e["possible_alarms"] = f.possible_alarms;
    e["expected_reject"] =
        f.expected_reject.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(f.expected_reject);
    e["detail"] = f.detail;
    list.push_back(std::move(e));
  }
  j["faults"] = std::move(list);
  return j.dump(1) + "\n";
}

bool WriteReport(const std::string& path, const SimOptions& options, const RunSummary& summary,
                 const std::vector<InjectedFault>& faults, std::string* error) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << ReportJson(options, summary, faults);
    if (!f.good()) {
      *error = "--report " + path + ": cannot write";
      return false;
    }
  }
  // Rename so a reader never sees half a report.
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "--report " + path + ": cannot rename " + tmp;
    return false;
  }
  return true;
}

void PrintSummary(std::ostream& out, const SimOptions& o, const RunSummary& s,
                  const std::vector<InjectedFault>& faults) {
  const double rate =
      s.elapsed_s > 0 ? static_cast<double>(s.transport.published) / s.elapsed_s : 0;
  char line[256];
  std::snprintf(line, sizeof line,
                "needlewatch-sim: %.1f s, %d clinic(s) x %d device(s), MQTT %s QoS %d, %s "
                "connections\n",
                s.elapsed_s, o.clinics, o.devices, o.mqtt_version == 5 ? "5" : "3.1.1", o.qos,
                o.per_device_connections ? "per-device" : "shared");
  out << line;
  std::snprintf(line, sizeof line,
                "  messages: %llu published (%.0f/s), %llu failed; telemetry %llu, events %llu, "
                "status %llu\n",
                static_cast<unsigned long long>(s.transport.published), rate,
                static_cast<unsigned long long>(s.transport.failed),
                static_cast<unsigned long long>(s.fleet.telemetry),
                static_cast<unsigned long long>(s.fleet.events),
                static_cast<unsigned long long>(s.fleet.status));
  out << line;
  if (!s.transport.first_error.empty()) out << "  first error: " << s.transport.first_error << "\n";
  out << "  sessions: " << s.fleet.sessions_started << " started, " << s.fleet.sessions_ended
      << " ended; connections lost unexpectedly: " << s.transport.connections_lost << "\n";
  const auto counts = CountByKind(faults);
  out << "  faults:";
  for (std::size_t k = 0; k < kFaultKindCount; ++k) {
    out << " " << FaultName(static_cast<FaultKind>(k)) << "=" << counts[k];
  }
  out << "\n";
  if (!o.report_path.empty()) out << "  report: " << o.report_path << "\n";
  out << std::flush;
}

}  // namespace needlewatch::sim
