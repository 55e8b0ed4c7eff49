// Report formatters: json (monitor/replay/README.md + extensions), text, csv, html.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iterator>
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

namespace {

// Chart geometry (px): the plot spans x in [kPad, kPad + kPlotW), one column per pixel; the
// right margin holds the limit labels. Rules are drawn without anti-aliasing (crispEdges).
constexpr int kW = 900, kPad = 40, kRight = 70, kPlotW = kW - kPad - kRight;
constexpr double kTop = 20, kPlotH = 120;                       // plot area y in [kTop, kTop+kPlotH]
constexpr double kAxisY = kTop + kPlotH, kBandY = kAxisY + 22;  // tick labels between
constexpr double kChartH = kBandY + 34;

// Local time of the machine that writes the report (the TZ environment variable).
struct LocalTime {
  std::tm tm{};
  long offset_s = 0;  // east of UTC
  std::string zone;   // "CET"
};

LocalTime Local(engine::TimeNs t) {
  LocalTime l;
  const std::time_t s = static_cast<std::time_t>(t / engine::kNsPerSec - (t % engine::kNsPerSec < 0));
  localtime_r(&s, &l.tm);
  l.offset_s = l.tm.tm_gmtoff;
  l.zone = l.tm.tm_zone != nullptr ? l.tm.tm_zone : "";
  return l;
}

std::string Strftime(const std::tm& tm, const char* format) {
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

// "CET, UTC+01:00"
std::string ZoneName(const LocalTime& l) {
  char off[48];
  const long m = std::labs(l.offset_s) / 60;
  std::snprintf(off, sizeof off, "UTC%c%02ld:%02ld", l.offset_s < 0 ? '-' : '+', m / 60, m % 60);
  return l.zone.empty() ? std::string(off) : l.zone + ", " + off;
}

std::string LocalStamp(engine::TimeNs t) {
  const LocalTime l = Local(t);
  return Strftime(l.tm, "%Y-%m-%d %H:%M:%S") + " " + (l.zone.empty() ? ZoneName(l) : l.zone);
}

// One pixel column of a chart: the buckets whose first sample falls in it, folded.
struct Column {
  int x = 0;  // 0 .. kPlotW-1
  ChartBucket b;
};

std::vector<Column> Columns(const ChartSeries& c, engine::TimeNs t0, double span) {
  std::vector<Column> cols;
  for (const ChartBucket& b : c.buckets) {
    const engine::TimeNs start = c.origin + b.index * c.width;
    const int x = std::clamp(
        static_cast<int>(static_cast<double>(start - t0) / span * kPlotW), 0, kPlotW - 1);
    if (!cols.empty() && cols.back().x == x) {
      FoldBucket(cols.back().b, b);
    } else {
      cols.push_back({x, b});
    }
  }
  return cols;
}

const char* const kZoneColors[] = {"#cfe3f7", "#f7e1c8", "#d7efd2", "#eed6ef", "#f4f0c2",
                                   "#d5f0ef", "#f2d4d4", "#e2e2e2"};

// Depth or speed: one <svg>.
struct ChartSpec {
  const char* title;  // "depth mm"
  const char* cls;    // "depth"
  bool depth;
};

void WriteChart(const ChartSpec& spec, const SessionRow& s, const std::vector<Column>& cols,
                const std::vector<const AlarmRow*>& alarms, engine::TimeNs t0, double span,
                std::ostream& out) {
  auto extent = [&](const Column& c) -> const ChartExtent& { return spec.depth ? c.b.depth : c.b.speed; };
  // Scale: 0 at the axis; the top leaves room above the highest limit and the highest value.
  double top = 0;
  for (const Column& c : cols) {
    top = std::max(top, extent(c).max * 1.05);
    top = std::max(top, (spec.depth ? c.b.depth_max : c.b.speed_max) * 1.2);
  }
  if (top <= 0) top = 1;
  auto y = [&](double v) { return kTop + kPlotH * (1 - std::max(0.0, v) / top); };
  auto px = [](int x) { return Fixed(kPad + x + 0.5, 1); };

  out << "<svg class=\"chart " << spec.cls << "\" width=\"" << kW << "\" height=\"" << kChartH
      << "\" viewBox=\"0 0 " << kW << " " << kChartH << "\" xmlns=\"http://www.w3.org/2000/svg\">"
      << "<text x=\"4\" y=\"14\" font-size=\"12\">" << spec.title << "</text>"
      << "<text class=\"zone-name\" x=\"" << kW - 4 << "\" y=\"14\" font-size=\"10\" "
      << "text-anchor=\"end\">local time: " << HtmlEscape(ZoneName(Local(t0))) << "</text>";
  // Alarm raises, behind the samples.
  for (const AlarmRow* a : alarms) {
    const double x = kPad + static_cast<double>(a->raised_at - t0) / span * kPlotW;
    out << "<line class=\"alarm\" x1=\"" << Fixed(x, 1) << "\" x2=\"" << Fixed(x, 1) << "\" y1=\""
        << kTop << "\" y2=\"" << kAxisY << "\" stroke=\"#d33\" stroke-opacity=\"0.45\"><title>"
        << engine::AlarmName(a->alarm) << " " << HtmlEscape(LocalStamp(a->raised_at))
        << "</title></line>";
  }
  // The samples: per column its first, lowest, highest and last value, in time order.
  std::string d;
  for (const Column& c : cols) {
    const ChartExtent& e = extent(c);
    const float pts[4] = {e.first, e.min_first ? e.min : e.max, e.min_first ? e.max : e.min,
                          e.last};
    std::string last_y;
    for (const float p : pts) {
      const std::string py = Fixed(y(p), 1);
      if (py == last_y) continue;
      d += (d.empty() ? "M" : "L") + px(c.x) + " " + py + " ";
      last_y = py;
    }
  }
  out << "<path class=\"series " << spec.cls << "\" fill=\"none\" stroke=\"#246\" "
      << "stroke-width=\"1.2\" stroke-linejoin=\"round\" d=\"" << d << "\"/>";

  // Limits as step lines: each column shows the tightest limit its samples were held to.
  auto step = [&](const char* cls, const char* color, auto value_of) {
    std::string path;
    bool open = false;
    double prev = 0;
    int end_x = 0;
    for (const Column& c : cols) {
      const double v = value_of(c.b);
      if (std::isnan(v)) {
        if (open) path += "H" + Fixed(kPad + end_x + 1, 1) + " ";
        open = false;
        continue;
      }
      if (!open) {
        path += "M" + Fixed(kPad + c.x, 1) + " " + Fixed(y(v), 1) + " ";
      } else if (v != prev) {
        path += "H" + Fixed(kPad + c.x, 1) + " V" + Fixed(y(v), 1) + " ";
      }
      open = true;
      prev = v;
      end_x = c.x;
    }
    if (open) path += "H" + Fixed(kPad + end_x + 1, 1);
    if (path.empty()) return;
    out << "<path class=\"limit " << cls << "\" fill=\"none\" stroke=\"" << color
        << "\" stroke-dasharray=\"4 3\" shape-rendering=\"crispEdges\" d=\"" << path << "\"/>";
  };
  if (spec.depth) {
    step("max", "#b00", [](const ChartBucket& b) { return b.depth_max; });
    step("warn", "#a60", [](const ChartBucket& b) { return b.depth_warn; });
  } else {
    step("max", "#b00", [](const ChartBucket& b) { return b.speed_max; });
    step("min", "#b00", [](const ChartBucket& b) { return b.speed_min; });
  }
  // Every column with a sample beyond its limit gets a marker at the offending extreme.
  for (const Column& c : cols) {
    const ChartExtent& e = extent(c);
    auto mark = [&](double v, const char* color, const char* what) {
      // A ring, so that the sample it marks stays visible inside it.
      out << "<circle class=\"breach\" cx=\"" << px(c.x) << "\" cy=\"" << Fixed(y(v), 1)
          << "\" r=\"4\" fill=\"none\" stroke-width=\"1.5\" stroke=\"" << color << "\"><title>"
          << what << " " << Fixed(v, 2) << " near "
          << HtmlEscape(LocalStamp(t0 + static_cast<engine::TimeNs>(c.x * span / kPlotW)))
          << "</title></circle>";
    };
    if (spec.depth && c.b.over_depth) {
      mark(e.max, "#d00", "above depth max:");
    } else if (spec.depth && c.b.over_warn) {
      mark(e.max, "#e80", "above depth warn:");
    }
    if (!spec.depth && c.b.speed_high) mark(e.max, "#d00", "above speed max:");
    if (!spec.depth && c.b.speed_low) mark(e.min, "#d00", "below speed min:");
  }
  // Limit values at the right edge (the last column's).
  if (!cols.empty()) {
    const ChartBucket& last = cols.back().b;
    auto label = [&](double v, const char* name) {
      if (std::isnan(v)) return;
      out << "<text x=\"" << kPad + kPlotW + 4 << "\" y=\"" << Fixed(y(v) + 4, 1)
          << "\" font-size=\"10\">" << name << " " << Fixed(v, 2) << "</text>";
    };
    if (spec.depth) {
      label(last.depth_max, "max");
      label(last.depth_warn, "warn");
    } else {
      label(last.speed_max, "max");
      label(last.speed_min, "min");
    }
  }
  // Time axis in local time, ticks at round local times.
  out << "<line class=\"axis\" x1=\"" << kPad << "\" x2=\"" << kPad + kPlotW << "\" y1=\""
      << kAxisY << "\" y2=\"" << kAxisY << "\" stroke=\"#444\" "
      << "shape-rendering=\"crispEdges\"/>";
  static constexpr std::int64_t kSteps[] = {1,   2,    5,    10,   15,   30,    60,    120,  300,
                                            600, 900,  1800, 3600, 7200, 10800, 21600, 43200, 86400};
  const double span_s = span / 1e9;
  std::int64_t step_s = kSteps[std::size(kSteps) - 1];
  for (std::int64_t st : kSteps) {
    if (span_s / static_cast<double>(st) <= 8) {
      step_s = st;
      break;
    }
  }
  const LocalTime start = Local(t0);
  const std::int64_t t0_s = t0 / engine::kNsPerSec;
  std::int64_t local = (t0_s + start.offset_s + step_s - 1) / step_s * step_s;
  for (int i = 0; i < 64; ++i, local += step_s) {
    const engine::TimeNs t = (local - start.offset_s) * engine::kNsPerSec;
    if (t < t0) continue;
    if (static_cast<double>(t - t0) > span) break;
    const double x = kPad + static_cast<double>(t - t0) / span * kPlotW;
    out << "<line x1=\"" << Fixed(x, 1) << "\" x2=\"" << Fixed(x, 1) << "\" y1=\"" << kAxisY
        << "\" y2=\"" << kAxisY + 4 << "\" stroke=\"#444\"/><text class=\"tick\" x=\""
        << Fixed(x, 1) << "\" y=\"" << kAxisY + 15 << "\" font-size=\"10\" text-anchor=\"middle\">"
        << Strftime(Local(t).tm, step_s >= 60 ? "%H:%M" : "%H:%M:%S") << "</text>";
  }
  // The treatment zone under the axis: one band per run of columns in the same zone.
  for (std::size_t i = 0; i < cols.size();) {
    std::size_t j = i;
    while (j + 1 < cols.size() && cols[j + 1].b.zone == cols[i].b.zone) ++j;
    const int x0 = cols[i].x;
    const int x1 = j + 1 < cols.size() ? cols[j + 1].x : cols[j].x + 1;
    const std::uint16_t z = cols[i].b.zone;
    const std::string& name = z < s.chart.zones.size() ? s.chart.zones[z] : std::string();
    out << "<rect class=\"zone\" x=\"" << kPad + x0 << "\" y=\"" << kBandY << "\" width=\""
        << std::max(1, x1 - x0) << "\" height=\"12\" fill=\""
        << kZoneColors[z % std::size(kZoneColors)] << "\"><title>zone " << HtmlEscape(name)
        << "</title></rect>";
    if (x1 - x0 >= 30) {
      out << "<text x=\"" << kPad + x0 + 3 << "\" y=\"" << kBandY + 10
          << "\" font-size=\"10\">" << HtmlEscape(name) << "</text>";
    }
    i = j + 1;
  }
  out << "<text x=\"4\" y=\"" << kBandY + 10 << "\" font-size=\"10\">zone</text>";
  out << "</svg><br>\n";
}

}  // namespace

void WriteHtml(const Report& r, std::ostream& out) {
  out << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>needlewatch replay"
         "</title>\n<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:"
         "collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}"
         ".high{color:#b00}.medium{color:#a60}.low{color:#06a}svg{background:#fafafa;"
         "border:1px solid #ddd}</style></head><body>\n";
  out << "<h1>needlewatch replay</h1>\n<p>" << r.records << " records, "
      << r.counters.accepted << " accepted, " << r.sessions.size() << " sessions, "
      << r.alarms.size() << " alarms";
  if (r.first_record_at) {
    out << ", " << HtmlEscape(LocalStamp(*r.first_record_at)) << " to "
        << HtmlEscape(LocalStamp(*r.last_record_at));
  }
  out << " (times are local, " << HtmlEscape(ZoneName(Local(r.first_record_at.value_or(0))))
      << ")</p>\n<h2>Alarms</h2>\n<table><tr><th>raised</th><th>device</th><th>alarm</th>"
         "<th>severity</th><th>value/limit</th><th>cleared</th></tr>\n";
  for (const AlarmRow& a : r.alarms) {
    out << "<tr class=\"" << engine::SeverityName(a.severity) << "\"><td>"
        << HtmlEscape(LocalStamp(a.raised_at)) << "</td><td>"
        << HtmlEscape(a.clinic + "/" + a.device) << "</td><td>" << engine::AlarmName(a.alarm)
        << "</td><td>" << engine::SeverityName(a.severity) << "</td><td>"
        << OptFixed(a.value, 2) << " / " << OptFixed(a.limit, 2) << "</td><td>"
        << (a.cleared_at ? HtmlEscape(LocalStamp(*a.cleared_at)) : "active") << "</td></tr>\n";
  }
  out << "</table>\n<h2>Sessions</h2>\n";
  for (const SessionRow& s : r.sessions) {
    out << "<h3>" << HtmlEscape(s.clinic + "/" + s.device + " — " + s.session + " (" +
                                Join(s.zones, ", ") + ")")
        << "</h3>\n<p>start " << HtmlEscape(LocalStamp(s.started_at)) << ", "
        << (s.ended_at ? "duration " + Duration(*s.ended_at - s.started_at) : "open at end")
        << ", " << s.samples << " samples, max depth " << OptFixed(s.max_depth_mm, 2)
        << " mm, max speed " << OptFixed(s.max_speed_hz, 1) << " Hz</p>\n";
    if (s.chart.buckets.empty()) continue;
    const engine::TimeNs t0 = s.started_at;
    const engine::TimeNs t1 = std::max(s.ended_at.value_or(s.chart.last_at), s.chart.last_at);
    const double span = std::max<double>(1, static_cast<double>(t1 - t0));
    const std::vector<Column> cols = Columns(s.chart, t0, span);
    std::vector<const AlarmRow*> alarms;
    for (const AlarmRow& a : r.alarms) {
      if (a.clinic == s.clinic && a.device == s.device && a.session == s.session) {
        alarms.push_back(&a);
      }
    }
    WriteChart({"depth mm", "depth", true}, s, cols, alarms, t0, span, out);
    WriteChart({"speed Hz", "speed", false}, s, cols, alarms, t0, span, out);
  }
  out << "<h2>Rejected messages</h2>\n<table>";
  for (protocol::Reject rj : protocol::kAllRejects) {
    out << "<tr><td>" << protocol::RejectName(rj) << "</td><td>"
        << r.counters.rejected[static_cast<std::size_t>(rj)] << "</td></tr>";
  }
  out << "</table>\n</body></html>\n";
}

}  // namespace needlewatch::replay
