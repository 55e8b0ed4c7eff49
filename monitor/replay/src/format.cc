// Report formatters: json (monitor/replay/README.md + extensions), text, csv, html.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "needlewatch/protocol/reject.h"
#include "needlewatch/replay/report.h"

#include "needlewatch/protocol/time_format.h"
#include "needlewatch/replay/source.h"

namespace needlewatch::replay {
namespace {

using Json = nlohmann::ordered_json;
using engine::NsToSeconds;

Json Seconds(const std::optional<engine::TimeNs>& t) {
  return t ? Json(NsToSeconds(*t)) : Json(nullptr);
}
Json Ns(const std::optional<engine::TimeNs>& t) { return t ? Json(*t) : Json(nullptr); }
Json Opt(const std::optional<double>& d) { return d ? Json(*d) : Json(nullptr); }

Json Messages(const engine::Counters& c) {
  Json m;
  std::uint64_t total = 0;
  for (std::uint64_t n : c.received) total += n;
  m["total"] = total;
  m["accepted"] = c.accepted;
  Json rejected = Json::object();
  for (protocol::Reject r : protocol::kAllRejects) {
    rejected[std::string(protocol::RejectName(r))] = c.rejected[static_cast<std::size_t>(r)];
  }
  m["rejected"] = rejected;
  Json by_channel = Json::object();
  for (std::size_t i = 0; i < protocol::kChannelCount; ++i) {
    by_channel[std::string(protocol::ChannelName(static_cast<protocol::Channel>(i)))] =
        c.received[i];
  }
  m["by_channel"] = by_channel;
  m["ignored_own"] = c.ignored_own;
  m["unknown_zone"] = c.unknown_zone;
  m["seq_gaps"] = c.seq_gaps;
  return m;
}

std::string Fixed(double d, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, d);
  return buf;
}

std::string OptFixed(const std::optional<double>& d, int decimals) {
  return d ? Fixed(*d, decimals) : "-";
}

// Left-aligns `s` in a column of `width`; a longer value keeps one space before the next column.
std::string Pad(std::string s, std::size_t width) {
  s.append(s.size() < width ? width - s.size() : 1, ' ');
  return s;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Duration(engine::TimeNs ns) {
  const double s = NsToSeconds(ns);
  if (s < 60) return Fixed(s, 1) + "s";
  const auto total = static_cast<long long>(s);
  return std::to_string(total / 60) + "m" + (total % 60 < 10 ? "0" : "") +
         std::to_string(total % 60) + "s";
}

}  // namespace

// Streams the object: small parts through nlohmann, one compact line per session and alarm, so
// a report with many rows never builds one large document in memory.
void WriteJson(const Report& r, std::ostream& out) {
  auto field = [&out](const char* name, const Json& value, bool first = false) {
    out << (first ? "{\n" : ",\n") << "\"" << name << "\": " << value.dump();
  };
  auto array = [&out](const char* name, std::size_t n, const auto& row_at) {
    out << ",\n\"" << name << "\": [";
    for (std::size_t i = 0; i < n; ++i) out << (i == 0 ? "\n  " : ",\n  ") << row_at(i).dump();
    out << (n == 0 ? "]" : "\n]");
  };
  field("messages", Messages(r.counters), /*first=*/true);
  array("sessions", r.sessions.size(), [&r](std::size_t i) {
    const SessionRow& s = r.sessions[i];
    Json o;
    o["clinic"] = s.clinic;
    o["device"] = s.device;
    o["session"] = s.session;
    o["started_at"] = NsToSeconds(s.started_at);
    o["ended_at"] = Seconds(s.ended_at);
    o["max_depth_mm"] = Opt(s.max_depth_mm);
    o["max_speed_hz"] = Opt(s.max_speed_hz);
    o["zone"] = s.zone;
    o["zones"] = s.zones;
    o["operator"] = s.op.empty() ? Json(nullptr) : Json(s.op);
    o["implicit"] = s.implicit;
    o["end_reason"] = s.end_reason.empty() ? Json(nullptr) : Json(s.end_reason);
    o["duration_s"] = s.ended_at ? Json(NsToSeconds(*s.ended_at - s.started_at)) : Json(nullptr);
    o["samples"] = s.samples;
    o["alarms"] = s.alarms;
    o["started_at_ns"] = s.started_at;
    o["ended_at_ns"] = Ns(s.ended_at);
    return o;
  });
  array("alarms", r.alarms.size(), [&r](std::size_t i) {
    const AlarmRow& a = r.alarms[i];
    Json o;
    o["clinic"] = a.clinic;
    o["device"] = a.device;
    o["session"] = a.session;
    o["alarm"] = std::string(engine::AlarmName(a.alarm));
    o["severity"] = std::string(engine::SeverityName(a.severity));
    o["raised_at"] = NsToSeconds(a.raised_at);
    o["cleared_at"] = Seconds(a.cleared_at);
    o["value"] = Opt(a.value);
    o["limit"] = Opt(a.limit);
    o["zone"] = a.zone;
    o["state"] = std::string(engine::AlarmStateName(a.state));
    o["acknowledged_at"] = Seconds(a.acknowledged_at);
    o["raised_at_ns"] = a.raised_at;
    o["cleared_at_ns"] = Ns(a.cleared_at);
    o["acknowledged_at_ns"] = Ns(a.acknowledged_at);
    return o;
  });
  array("acks", r.acks.size(), [&r](std::size_t i) {
    const AckRow& a = r.acks[i];
    return Json{{"at", NsToSeconds(a.at)}, {"at_ns", a.at}, {"clinic", a.clinic},
                {"device", a.device}, {"alarm", a.alarm}, {"result", a.result}};
  });
  array("limits", r.limits.size(), [&r](std::size_t i) {
    const LimitsRow& l = r.limits[i];
    return Json{{"at", NsToSeconds(l.at)}, {"at_ns", l.at},     {"reason", l.reason},
                {"source", l.source},      {"result", l.result}, {"error", l.error}};
  });
  field("limits_repeats", r.limits_repeats);
  field("records", r.records);
  field("records_kept", r.records_kept);
  field("lines_skipped", r.lines_skipped);
  field("first_record_at", Seconds(r.first_record_at));
  field("last_record_at", Seconds(r.last_record_at));
  field("first_record_at_ns", Ns(r.first_record_at));
  field("last_record_at_ns", Ns(r.last_record_at));
  array("files", r.files.size(), [&r](std::size_t i) {
    const FileRow& f = r.files[i];
    return Json{{"path", f.path}, {"format", f.format}, {"records", f.records},
                {"lines_skipped", f.lines_skipped}};
  });
  Json filters = Json::object();
  for (const auto& [k, v] : r.filters) filters[k] = v;
  field("filters", filters);
  out << "\n}\n";
}

void WriteText(const Report& r, std::ostream& out) {
  std::uint64_t total = 0;
  for (std::uint64_t n : r.counters.received) total += n;
  out << "needlewatch replay: " << r.records << " records";
  if (r.records_kept != r.records) out << " (" << r.records_kept << " kept by the filters)";
  out << " from " << r.files.size() << " file(s)";
  if (r.first_record_at) {
    out << ", " << protocol::FormatRfc3339(*r.first_record_at) << " to " << protocol::FormatRfc3339(*r.last_record_at);
  }
  out << "\n";
  out << "messages: " << total << " total, " << r.counters.accepted << " accepted, "
      << (total - r.counters.accepted) << " rejected; " << r.lines_skipped
      << " capture lines skipped\n\n";

  out << "SESSIONS (" << r.sessions.size() << ")\n";
  out << Pad("clinic/device", 24) << Pad("session", 16) << Pad("zones", 22)
      << Pad("start (UTC)", 26) << Pad("duration", 11) << Pad("max mm", 8) << Pad("max Hz", 8)
      << "alarms\n";
  for (const SessionRow& s : r.sessions) {
    out << Pad(s.clinic + "/" + s.device, 24) << Pad(s.session, 16)
        << Pad(Join(s.zones, ","), 22) << Pad(protocol::FormatRfc3339(s.started_at), 26)
        << Pad(s.ended_at ? Duration(*s.ended_at - s.started_at) : "open", 11)
        << Pad(OptFixed(s.max_depth_mm, 2), 8) << Pad(OptFixed(s.max_speed_hz, 1), 8)
        << s.alarms << "\n";
  }
  out << "\nALARMS (" << r.alarms.size() << ")\n";
  out << Pad("raised (UTC)", 26) << Pad("clinic/device", 24) << Pad("alarm", 26)
      << Pad("severity", 9) << Pad("value/limit", 16) << "cleared\n";
  for (const AlarmRow& a : r.alarms) {
    std::string vl = a.value ? Fixed(*a.value, 2) + "/" + OptFixed(a.limit, 2) : "-";
    std::string cleared = a.cleared_at ? protocol::FormatRfc3339(*a.cleared_at) : "active at end";
    if (a.state == engine::AlarmState::kLatched) cleared += " (latched)";
    if (a.acknowledged_at) cleared += ", acked " + protocol::FormatRfc3339(*a.acknowledged_at);
    out << Pad(protocol::FormatRfc3339(a.raised_at), 26) << Pad(a.clinic + "/" + a.device, 24)
        << Pad(std::string(engine::AlarmName(a.alarm)), 26)
        << Pad(std::string(engine::SeverityName(a.severity)), 9) << Pad(vl, 16) << cleared
        << "\n";
  }
  if (!r.acks.empty()) {
    out << "\nACKNOWLEDGEMENTS (" << r.acks.size() << ")\n";
    for (const AckRow& a : r.acks) {
      out << Pad(protocol::FormatRfc3339(a.at), 26) << Pad(a.clinic + "/" + a.device, 24) << Pad(a.alarm, 26)
          << a.result << "\n";
    }
  }
  if (!r.limits.empty()) {
    out << "\nLIMITS (" << r.limits.size() << " recorded by the daemon)\n";
    for (const LimitsRow& l : r.limits) {
      out << Pad(protocol::FormatRfc3339(l.at), 26) << Pad(l.reason, 8)
          << Pad(l.source.empty() ? std::string("built-in defaults") : l.source, 40) << l.result;
      if (!l.error.empty()) out << ": " << l.error;
      out << "\n";
    }
  }
  out << "\nREJECTED\n";
  for (protocol::Reject rj : protocol::kAllRejects) {
    out << "  " << Pad(std::string(protocol::RejectName(rj)), 22)
        << r.counters.rejected[static_cast<std::size_t>(rj)] << "\n";
  }
}

void WriteCsv(const Report& r, std::ostream& out) {
  out << "clinic,device,session,zone,alarm,severity,raised_at,cleared_at,value,limit,state,"
         "acknowledged_at\n";
  auto t = [](const std::optional<engine::TimeNs>& ns) {
    return ns ? protocol::FormatRfc3339(*ns) : std::string();
  };
  auto d = [](const std::optional<double>& v) {
    return v ? Json(*v).dump() : std::string();
  };
  for (const AlarmRow& a : r.alarms) {
    out << CsvField(a.clinic) << "," << CsvField(a.device) << "," << CsvField(a.session) << ","
        << CsvField(a.zone) << "," << engine::AlarmName(a.alarm) << ","
        << engine::SeverityName(a.severity) << "," << protocol::FormatRfc3339(a.raised_at) << ","
        << t(a.cleared_at) << "," << d(a.value) << "," << d(a.limit) << ","
        << engine::AlarmStateName(a.state) << "," << t(a.acknowledged_at) << "\n";
  }
}

void WriteHtml(const Report& r, const engine::Limits& limits, std::ostream& out) {
  out << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>needlewatch replay"
         "</title>\n<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:"
         "collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}"
         ".high{color:#b00}.medium{color:#a60}.low{color:#06a}svg{background:#fafafa;"
         "border:1px solid #ddd}</style></head><body>\n";
  out << "<h1>needlewatch replay</h1>\n<p>" << r.records << " records, "
      << r.counters.accepted << " accepted, " << r.sessions.size() << " sessions, "
      << r.alarms.size() << " alarms";
  if (r.first_record_at) {
    out << ", " << protocol::FormatRfc3339(*r.first_record_at) << " to " << protocol::FormatRfc3339(*r.last_record_at);
  }
  out << "</p>\n<h2>Alarms</h2>\n<table><tr><th>raised</th><th>device</th><th>alarm</th>"
         "<th>severity</th><th>value/limit</th><th>cleared</th></tr>\n";
  for (const AlarmRow& a : r.alarms) {
    out << "<tr class=\"" << engine::SeverityName(a.severity) << "\"><td>"
        << protocol::FormatRfc3339(a.raised_at) << "</td><td>" << HtmlEscape(a.clinic + "/" + a.device)
        << "</td><td>" << engine::AlarmName(a.alarm) << "</td><td>"
        << engine::SeverityName(a.severity) << "</td><td>" << OptFixed(a.value, 2) << " / "
        << OptFixed(a.limit, 2) << "</td><td>"
        << (a.cleared_at ? protocol::FormatRfc3339(*a.cleared_at) : "active") << "</td></tr>\n";
  }
  out << "</table>\n<h2>Sessions</h2>\n";
  constexpr double kW = 900, kH = 160, kPad = 40;
  for (const SessionRow& s : r.sessions) {
    out << "<h3>" << HtmlEscape(s.clinic + "/" + s.device + " — " + s.session + " (" +
                                Join(s.zones, ", ") + ")")
        << "</h3>\n<p>start " << protocol::FormatRfc3339(s.started_at) << ", "
        << (s.ended_at ? "duration " + Duration(*s.ended_at - s.started_at) : "open at end")
        << ", max depth " << OptFixed(s.max_depth_mm, 2) << " mm, max speed "
        << OptFixed(s.max_speed_hz, 1) << " Hz</p>\n";
    if (s.series.empty()) continue;
    const engine::ZoneLimits& zl = limits.ForZone(s.zone);
    const engine::TimeNs t0 = s.started_at;
    const engine::TimeNs t1 = std::max(s.ended_at.value_or(s.series.back().first),
                                       s.series.back().first);
    const double span = std::max<double>(1, static_cast<double>(t1 - t0));
    double dmax = zl.depth_max_mm * 1.2, smax = zl.speed_max_hz * 1.2;
    for (const auto& p : s.series) {
      dmax = std::max(dmax, p.second.first * 1.05);
      smax = std::max(smax, p.second.second * 1.05);
    }
    auto x = [&](engine::TimeNs t) {
      return kPad + (kW - 2 * kPad) * static_cast<double>(t - t0) / span;
    };
    // One chart per quantity: depth (mm) and speed (Hz), limits dashed, alarms marked.
    for (int chart = 0; chart < 2; ++chart) {
      const double top = chart == 0 ? dmax : smax;
      auto y = [&](double v) { return kH - 20 - (kH - 30) * v / top; };
      out << "<svg width=\"" << kW << "\" height=\"" << kH << "\" xmlns=\"http://www.w3.org/"
          << "2000/svg\"><text x=\"4\" y=\"14\" font-size=\"12\">"
          << (chart == 0 ? "depth mm" : "speed Hz") << "</text>";
      std::string pts;
      // At most ~2000 points per chart: decimate long series.
      const std::size_t step = std::max<std::size_t>(1, s.series.size() / 2000);
      for (std::size_t i = 0; i < s.series.size(); i += step) {
        const auto& p = s.series[i];
        pts += Fixed(x(p.first), 1) + "," +
               Fixed(y(chart == 0 ? p.second.first : p.second.second), 1) + " ";
      }
      out << "<polyline fill=\"none\" stroke=\"#246\" stroke-width=\"1.2\" points=\"" << pts
          << "\"/>";
      auto hline = [&](double v, const char* color, const char* label) {
        out << "<line x1=\"" << kPad << "\" x2=\"" << kW - kPad << "\" y1=\"" << Fixed(y(v), 1)
            << "\" y2=\"" << Fixed(y(v), 1) << "\" stroke=\"" << color
            << "\" stroke-dasharray=\"4 3\"/><text x=\"" << kW - kPad + 2 << "\" y=\""
            << Fixed(y(v) + 4, 1) << "\" font-size=\"10\">" << label << " " << Fixed(v, 2)
            << "</text>";
      };
      if (chart == 0) {
        hline(zl.depth_max_mm, "#b00", "max");
        if (zl.depth_warn_mm) hline(*zl.depth_warn_mm, "#a60", "warn");
      } else {
        hline(zl.speed_max_hz, "#b00", "max");
        hline(zl.speed_min_hz, "#b00", "min");
      }
      for (const AlarmRow& a : r.alarms) {
        if (a.clinic != s.clinic || a.device != s.device || a.session != s.session) continue;
        out << "<line x1=\"" << Fixed(x(a.raised_at), 1) << "\" x2=\""
            << Fixed(x(a.raised_at), 1) << "\" y1=\"18\" y2=\"" << kH - 20
            << "\" stroke=\"#d33\"><title>" << engine::AlarmName(a.alarm) << " "
            << protocol::FormatRfc3339(a.raised_at) << "</title></line>";
      }
      out << "</svg><br>\n";
    }
  }
  out << "<h2>Rejected messages</h2>\n<table>";
  for (protocol::Reject rj : protocol::kAllRejects) {
    out << "<tr><td>" << protocol::RejectName(rj) << "</td><td>"
        << r.counters.rejected[static_cast<std::size_t>(rj)] << "</td></tr>";
  }
  out << "</table>\n</body></html>\n";
}

}  // namespace needlewatch::replay
