// The html incident report never hides a spike: a single-sample depth spike among 100,000
// samples is reached by the SVG path, flagged, and the limit lines follow the zone of each
// sample and the limits in force (a reload mid-session).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "needlewatch/replay/replay_command.h"
#include "needlewatch/replay/report.h"

namespace needlewatch::replay {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kStart = 1'795'611'133'000'000'000LL;  // 2026-11-25T12:52:13Z

std::string Line(std::int64_t t_ns, const std::string& topic, const std::string& payload) {
  char stamp[40];
  std::snprintf(stamp, sizeof stamp, "%lld.%09lld", static_cast<long long>(t_ns / 1'000'000'000),
                static_cast<long long>(t_ns % 1'000'000'000));
  return std::string(stamp) + " " + topic + " " + payload + "\n";
}

std::string Telemetry(int seq, const std::string& zone, double depth, double speed) {
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "{\"v\":1,\"seq\":%d,\"ts\":1795611133000,\"session\":\"S-1\",\"zone\":\"%s\","
                "\"depth_mm\":%.3f,\"speed_hz\":%.1f}",
                seq, zone.c_str(), depth, speed);
  return buf;
}

// A session of `n` samples 20 ms apart; `zone_at(i)` names each sample's zone and `depth_at(i)`
// its depth. Extra lines (e.g. a limits record) are inserted before sample `extra_at`.
std::string Capture(int n, const std::function<std::string(int)>& zone_at,
                    const std::function<double(int)>& depth_at, int extra_at = -1,
                    const std::string& extra = "") {
  std::string out;
  out.reserve(static_cast<std::size_t>(n) * 170);
  const std::string topic = "clinic/c1/device/d1/telemetry";
  for (int i = 0; i < n; ++i) {
    if (i == extra_at) out += extra;
    out += Line(kStart + static_cast<std::int64_t>(i) * 20'000'000, topic,
                Telemetry(i + 1, zone_at(i), depth_at(i), 100.0));
  }
  return out;
}

struct Html {
  int rc = 0;
  std::string out, err;
};

Html Replay(const std::string& capture) {
  const fs::path file = fs::temp_directory_path() /
                        ("nw-html-" + std::to_string(::getpid()) + "-" +
                         std::to_string(std::rand()) + ".txt");
  {
    std::ofstream f(file, std::ios::binary);
    f << capture;
  }
  ReplayCommandOptions o;
  o.format = "html";
  o.files = {file.string()};
  o.progress = ReplayCommandOptions::Progress::kNever;
  std::ostringstream out, err;
  Html h;
  h.rc = RunReplayCommand(o, out, err);
  h.out = out.str();
  h.err = err.str();
  fs::remove(file);
  return h;
}

// The `d` attribute of the first <path class="CLASS" …> inside the chart <svg class="chart WHICH">.
std::string PathD(const std::string& html, const std::string& which, const std::string& cls) {
  const std::size_t svg = html.find("<svg class=\"chart " + which + "\"");
  if (svg == std::string::npos) return "";
  const std::size_t end = html.find("</svg>", svg);
  const std::size_t p = html.find("<path class=\"" + cls + "\"", svg);
  if (p == std::string::npos || p > end) return "";
  const std::size_t d = html.find(" d=\"", p) + 4;
  return html.substr(d, html.find('"', d) - d);
}

// The y coordinates of a path made of M/L (x y) and H x / V y commands.
std::vector<double> Ys(const std::string& d) {
  std::vector<double> ys;
  static const std::regex kPoint(R"(([MLV])([-0-9.]+)(?: ([-0-9.]+))?)");
  for (auto it = std::sregex_iterator(d.begin(), d.end(), kPoint); it != std::sregex_iterator();
       ++it) {
    const std::smatch& m = *it;
    if (m[1] == "V") {
      ys.push_back(std::stod(m[2]));
    } else if (m[3].matched) {
      ys.push_back(std::stod(m[3]));
    }
  }
  return ys;
}

double AxisY(const std::string& html, const std::string& which) {
  const std::size_t svg = html.find("<svg class=\"chart " + which + "\"");
  const std::size_t a = html.find("<line class=\"axis\"", svg);
  const std::size_t y1 = html.find("y1=\"", a) + 4;
  return std::stod(html.substr(y1, html.find('"', y1) - y1));
}

TEST(ReportHtmlTest, SingleSampleSpikeAmong100000SamplesIsReachedByThePath) {
  constexpr int kN = 100'000;
  constexpr int kSpike = 61'237;  // not a multiple of any plausible sampling step
  const Html h = Replay(Capture(
      kN, [](int) { return std::string("forehead"); },
      [](int i) { return i == kSpike ? 2.5 : 0.4 + 0.05 * ((i / 1000) % 3); }));
  ASSERT_EQ(h.rc, 0) << h.err;
  const std::vector<double> series = Ys(PathD(h.out, "depth", "series depth"));
  const std::vector<double> limit = Ys(PathD(h.out, "depth", "limit max"));
  ASSERT_FALSE(series.empty());
  ASSERT_FALSE(limit.empty());
  // Map values to y from the chart itself: the axis is 0 mm, the max line forehead's 0.75 mm.
  const double y0 = AxisY(h.out, "depth");
  const double per_mm = (y0 - limit.front()) / 0.75;
  const double spike_y = y0 - 2.5 * per_mm;
  const double top = *std::min_element(series.begin(), series.end());
  EXPECT_NEAR(top, spike_y, 0.11) << "the path must reach the spike's 2.5 mm";
  // Nothing else comes near it: only the spike is above the limit.
  EXPECT_EQ(std::count_if(series.begin(), series.end(), [&](double y) { return y < limit.front(); }),
            1);
  // The excursion is marked, and the page stays small (decimated, not 100,000 points).
  EXPECT_NE(h.out.find("<circle class=\"breach\""), std::string::npos);
  EXPECT_LT(series.size(), 4u * 820u);
  EXPECT_LT(h.out.size(), 400'000u);
}

TEST(ReportHtmlTest, LimitLinesFollowTheZoneAndTheLimitsInForce) {
  // forehead (max 0.75) for the first third, cheek for the second, then a reload that sets
  // cheek's max to 0.9 for the rest.
  constexpr int kN = 3000;
  const std::string reload =
      Line(kStart + 2000LL * 20'000'000 - 1, "$needlewatch/limits",
           R"({"reason":"reload","source":"test.yaml","yaml":"limits:\n  default:\n    depth_mm: {max: 1.0}\n  zones:\n    forehead: {depth_mm: {max: 0.75}}\n    cheek: {depth_mm: {max: 0.9}}\n"})");
  const Html h = Replay(Capture(
      kN, [](int i) { return std::string(i < 1000 ? "forehead" : "cheek"); },
      [](int) { return 0.3; }, 2000, reload));
  ASSERT_EQ(h.rc, 0) << h.err;
  const std::vector<double> limit = Ys(PathD(h.out, "depth", "limit max"));
  const double y0 = AxisY(h.out, "depth");
  ASSERT_GE(limit.size(), 3u);
  const double per_mm = (y0 - limit.front()) / 0.75;  // forehead first
  std::vector<double> values;
  for (double y : limit) values.push_back(std::round((y0 - y) / per_mm * 100) / 100);
  values.erase(std::unique(values.begin(), values.end()), values.end());
  // forehead 0.75, cheek as shipped, cheek after the reload 0.9: three steps, in that order.
  ASSERT_EQ(values.size(), 3u) << PathD(h.out, "depth", "limit max");
  EXPECT_DOUBLE_EQ(values[0], 0.75);
  EXPECT_NE(values[1], 0.75);
  EXPECT_DOUBLE_EQ(values[2], 0.9);
  // The zone band names both zones.
  EXPECT_NE(h.out.find("<title>zone forehead</title>"), std::string::npos);
  EXPECT_NE(h.out.find("<title>zone cheek</title>"), std::string::npos);
}

TEST(ReportHtmlTest, TimeAxisIsInLocalTimeWithTheZoneName) {
  // Central European time without tzdata: a POSIX TZ string.
  const char* old = std::getenv("TZ");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
  ::tzset();
  const Html h = Replay(Capture(
      600, [](int) { return std::string("forehead"); }, [](int) { return 0.3; }));
  if (old != nullptr) {
    ::setenv("TZ", saved.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
  ASSERT_EQ(h.rc, 0) << h.err;
  // 12:52:13Z is 13:52:13 CET; 12 s of samples get ticks every 2 s from 13:52:14.
  EXPECT_NE(h.out.find("CET, UTC+01:00"), std::string::npos);
  EXPECT_NE(h.out.find(">13:52:14</text>"), std::string::npos);
  EXPECT_NE(h.out.find("start 2026-11-25 13:52:13 CET"), std::string::npos);
}

TEST(ChartSeriesTest, MemoryStaysBoundedAndExtremesSurviveMerging) {
  ChartSeries c;
  c.origin = 0;
  engine::ZoneLimits limits;
  for (int i = 0; i < 500'000; ++i) {
    c.Add(static_cast<engine::TimeNs>(i) * 1'000'000, i == 333'333 ? 9.5 : 0.5,
          i == 444'444 ? 2.0 : 100.0, "cheek", limits);
  }
  EXPECT_LE(c.buckets.size(), 2 * kChartBuckets);
  EXPECT_GE(c.buckets.size(), kChartBuckets / 2);
  double max_depth = 0, min_speed = 1e9;
  int over = 0, low = 0;
  for (const ChartBucket& b : c.buckets) {
    max_depth = std::max<double>(max_depth, b.depth.max);
    min_speed = std::min<double>(min_speed, b.speed.min);
    over += b.over_depth;
    low += b.speed_low;
  }
  EXPECT_EQ(max_depth, 9.5);
  EXPECT_EQ(min_speed, 2.0);
  EXPECT_EQ(over, 1);
  EXPECT_EQ(low, 1);
}

}  // namespace
}  // namespace needlewatch::replay
