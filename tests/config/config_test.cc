// Configuration loader: error messages (file, line, key, expectation), limits merging,
// per-rule overrides, durations, the shipped files and check-config.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_set>

#include "needlewatch/config/config.h"

namespace needlewatch::config {
namespace {

using engine::kNsPerMs;
using engine::kNsPerSec;
using engine::Severity;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

LoadResult Load(const std::string& yaml) { return LoadConfigString(yaml, "t.yaml"); }

// Loads text that must be valid.
Config LoadOk(const std::string& yaml) {
  LoadResult r = Load(yaml);
  EXPECT_THAT(r.errors, IsEmpty());
  return r.config.value_or(Config{});
}

// Loads text that must fail with exactly one error, and returns it.
std::string OneError(const std::string& yaml) {
  LoadResult r = Load(yaml);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.errors.size(), 1u) << ::testing::PrintToString(r.errors);
  return r.errors.empty() ? "" : r.errors.front();
}

const engine::ZoneLimits* Zone(const Config& c, const std::string& name) {
  for (const auto& [n, z] : c.limits.zones) {
    if (n == name) return &z;
  }
  return nullptr;
}

// ---- durations ----

struct DurationCase {
  const char* text;
  std::optional<engine::TimeNs> ns;
};

class DurationTest : public ::testing::TestWithParam<DurationCase> {};

TEST_P(DurationTest, Parses) { EXPECT_EQ(ParseDuration(GetParam().text), GetParam().ns); }

INSTANTIATE_TEST_SUITE_P(
    Table, DurationTest,
    ::testing::Values(DurationCase{"250ms", 250 * kNsPerMs}, DurationCase{"3s", 3 * kNsPerSec},
                      DurationCase{"50m", 50 * 60 * kNsPerSec},
                      DurationCase{"1h", 3600 * kNsPerSec},
                      DurationCase{"1h30m", 90 * 60 * kNsPerSec},
                      DurationCase{"2s500ms", 2500 * kNsPerMs}, DurationCase{"0s", 0},
                      DurationCase{"3", std::nullopt}, DurationCase{"", std::nullopt},
                      DurationCase{"-3s", std::nullopt}, DurationCase{"1.5s", std::nullopt},
                      DurationCase{"3 s", std::nullopt}, DurationCase{"30m1h", std::nullopt},
                      DurationCase{"1s1s", std::nullopt}, DurationCase{"3d", std::nullopt},
                      DurationCase{"s", std::nullopt}, DurationCase{"3sec", std::nullopt},
                      DurationCase{"99999999999999999999h", std::nullopt}));

// ---- defaults and shipped files ----

TEST(ConfigTest, EmptyDocumentIsAllDefaultsWithShippedLimits) {
  Config c = LoadOk("");
  EXPECT_EQ(c.mqtt.url, "mqtt://127.0.0.1:1883");
  EXPECT_EQ(c.http.listen_address, "127.0.0.1:9464");
  EXPECT_EQ(c.limits.zones.size(), DefaultConfig().limits.zones.size());
  EXPECT_EQ(c.source, "t.yaml");
}

TEST(ConfigTest, ShippedLimitsLoadWithoutErrorsAndHaveEveryZone) {
  LoadResult r = LoadConfigFile(NW_SHIPPED_LIMITS);
  ASSERT_THAT(r.errors, IsEmpty());
  std::vector<std::string> names;
  for (const auto& [name, z] : r.config->limits.zones) names.push_back(name);
  const std::vector<std::string> expected = {
      "periorbital", "under_eye", "forehead",  "glabella",   "nose",   "perioral",
      "upper_lip",   "cheekbones", "cheek",    "cheeks",     "jawline", "chin",
      "scar",        "acne_scar", "neck",      "decolletage", "scalp", "body",
      "stretch_marks"};
  EXPECT_THAT(names, UnorderedElementsAreArray(expected));
  // The embedded copy is the file, byte for byte.
  std::ifstream in(NW_SHIPPED_LIMITS, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(ShippedLimitsYaml(), text.str());
  EXPECT_EQ(DefaultConfig().limits.zones.size(), expected.size());
}

TEST(ConfigTest, ShippedLimitsNumbers) {
  const Config c = DefaultConfig();
  EXPECT_EQ(c.limits.defaults.depth_max_mm, 1.0);
  EXPECT_EQ(c.limits.defaults.depth_warn_mm, 0.75);
  EXPECT_EQ(c.limits.defaults.speed_min_hz, 50);
  EXPECT_EQ(c.limits.defaults.speed_max_hz, 150);
  EXPECT_EQ(c.limits.defaults.speed.for_ns, kNsPerSec);
  EXPECT_EQ(c.limits.defaults.session_max_duration, 60 * 60 * kNsPerSec);
  EXPECT_EQ(c.limits.defaults.stale_after, 3 * kNsPerSec);
  const auto* peri = Zone(c, "periorbital");
  ASSERT_NE(peri, nullptr);
  EXPECT_EQ(peri->depth_max_mm, 0.5);
  EXPECT_EQ(peri->depth_warn_mm, 0.3);
  EXPECT_EQ(peri->session_max_duration, 45 * 60 * kNsPerSec);
  EXPECT_EQ(peri->speed_max_hz, 150);  // merged from default
  const auto* alias = Zone(c, "under_eye");
  ASSERT_NE(alias, nullptr);
  EXPECT_EQ(alias->depth_max_mm, 0.5);
  const auto* neck = Zone(c, "neck");
  ASSERT_NE(neck, nullptr);
  EXPECT_EQ(neck->session_warn_after, 15 * 60 * kNsPerSec);
  EXPECT_EQ(neck->session_max_duration, 20 * 60 * kNsPerSec);
  const auto* body = Zone(c, "body");
  ASSERT_NE(body, nullptr);
  EXPECT_EQ(body->depth_max_mm, 2.5);
  EXPECT_EQ(body->session_max_duration, 45 * 60 * kNsPerSec);
}

TEST(ConfigTest, ShippedDaemonConfigLoadsAndEqualsTheDefaults) {
  LoadResult r = LoadConfigFile(NW_SHIPPED_CONFIG);
  ASSERT_THAT(r.errors, IsEmpty());
  const Config& c = *r.config;
  const Config d = DefaultConfig();
  EXPECT_EQ(c.mqtt.url, d.mqtt.url);
  EXPECT_EQ(c.mqtt.qos, d.mqtt.qos);
  EXPECT_EQ(c.mqtt.version, d.mqtt.version);
  EXPECT_EQ(c.mqtt.keepalive, d.mqtt.keepalive);
  EXPECT_EQ(c.http.listen_address, d.http.listen_address);
  EXPECT_EQ(c.outputs.audit_log, d.outputs.audit_log);
  EXPECT_EQ(c.record.segment_max_bytes, d.record.segment_max_bytes);
  EXPECT_EQ(c.record.retention_max_age, d.record.retention_max_age);
  EXPECT_EQ(c.engine.evict_idle_after, d.engine.evict_idle_after);
  EXPECT_EQ(c.log.level, d.log.level);
  EXPECT_EQ(c.limits.zones.size(), d.limits.zones.size());
}

// ---- limits: merging and overrides ----

TEST(ConfigTest, ZoneMergesOverDefaultKeyByKey) {
  Config c = LoadOk(R"(
limits:
  default:
    depth_mm: {max: 1.0}
    speed_hz: {min: 50, max: 150, for: 1s}
    session:  {warn_after: 50m, max_duration: 60m}
    telemetry: {stale_after: 3s}
  zones:
    forehead: {depth_mm: {max: 0.5}}
    scar: {speed_hz: {max: 200}}
)");
  const auto* scar = Zone(c, "scar");
  ASSERT_NE(scar, nullptr);
  EXPECT_EQ(scar->speed_max_hz, 200);
  EXPECT_EQ(scar->speed_min_hz, 50);
  EXPECT_EQ(scar->speed.for_ns, kNsPerSec);
  EXPECT_EQ(scar->depth_max_mm, 1.0);
  const auto* forehead = Zone(c, "forehead");
  ASSERT_NE(forehead, nullptr);
  EXPECT_EQ(forehead->depth_max_mm, 0.5);
  EXPECT_EQ(forehead->session_max_duration, 60 * 60 * kNsPerSec);
  EXPECT_EQ(c.limits.zones.size(), 2u);
}

TEST(ConfigTest, PerRuleSeverityAndForOverrides) {
  Config c = LoadOk(R"(
limits:
  default:
    depth_mm: {max: 1.0, warn: 0.8, warn_severity: medium, warn_for: 100ms}
    telemetry: {stale_after: 2s, severity: high}
    device: {offline_severity: medium}
    session: {severity: medium, warn_severity: medium}
  zones:
    forehead: {depth_mm: {max: 0.5, warn: 0.4, severity: medium, for: 200ms}}
)");
  const auto* f = Zone(c, "forehead");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->depth_exceeded.severity, Severity::kMedium);
  EXPECT_EQ(f->depth_exceeded.for_ns, 200 * kNsPerMs);
  EXPECT_EQ(f->depth_warning.severity, Severity::kMedium);  // from default
  EXPECT_EQ(f->depth_warning.for_ns, 100 * kNsPerMs);
  EXPECT_EQ(f->telemetry_stale.severity, Severity::kHigh);
  EXPECT_EQ(f->stale_after, 2 * kNsPerSec);
  EXPECT_EQ(f->device_offline.severity, Severity::kMedium);
  EXPECT_EQ(f->session_overtime.severity, Severity::kMedium);
  EXPECT_EQ(f->session_overtime_warning.severity, Severity::kMedium);
  EXPECT_EQ(c.limits.defaults.depth_exceeded.severity, Severity::kHigh);  // untouched
}

TEST(ConfigTest, NullSwitchesWarningRulesOff) {
  Config c = LoadOk(R"(
limits:
  default: {depth_mm: {warn: 0.5}}
  zones:
    body: {depth_mm: {warn: null}, session: {warn_after: ~}}
)");
  EXPECT_EQ(c.limits.defaults.depth_warn_mm, 0.5);
  const auto* body = Zone(c, "body");
  ASSERT_NE(body, nullptr);
  EXPECT_FALSE(body->depth_warn_mm.has_value());
  EXPECT_FALSE(body->session_warn_after.has_value());
}

TEST(ConfigTest, OnlyLimitsIsValidAndOtherSectionsDefault) {
  Config c = LoadOk("limits:\n  zones:\n    cheek: {depth_mm: {max: 1.5}}\n");
  EXPECT_EQ(c.limits.zones.size(), 1u);
  EXPECT_EQ(c.limits.defaults.depth_max_mm, 1.0);  // ZoneLimits' built-in default
  EXPECT_EQ(c.mqtt.topic_root, "clinic");
  EXPECT_EQ(c.engine.topic_root, "clinic");
}

TEST(ConfigTest, OtherSections) {
  Config c = LoadOk(R"(
mqtt:
  url: mqtts://broker.example:8883
  instance: site-1
  topic_root: clinics/eu
  subscriptions: ["clinics/eu/c017/device/+/+"]
  qos: 0
  version: 3.1.1
  keepalive: 30s
  tls: {ca_file: ca.pem, cert_file: c.pem, key_file: k.pem}
http: {listen_address: "0.0.0.0:0"}
outputs: {audit_log: null, halt: {enabled: true, severities: [high, medium]}}
record: {enabled: true, segment_max_bytes: 16MiB, retention_max_bytes: 2GiB, zstd_level: 9}
engine: {evict_idle_after: 10m}
log: {level: debug, format: text}
)");
  EXPECT_EQ(c.mqtt.version, 4);
  EXPECT_EQ(c.mqtt.qos, 0);
  EXPECT_EQ(c.mqtt.keepalive, 30 * kNsPerSec);
  EXPECT_EQ(c.engine.topic_root, "clinics/eu");
  EXPECT_THAT(c.mqtt.subscriptions, ElementsAre("clinics/eu/c017/device/+/+"));
  EXPECT_EQ(c.http.listen_address, "0.0.0.0:0");
  EXPECT_EQ(c.outputs.audit_log, "");
  EXPECT_THAT(c.outputs.halt.severities, ElementsAre(Severity::kHigh, Severity::kMedium));
  EXPECT_EQ(c.record.segment_max_bytes, 16ULL << 20);
  EXPECT_EQ(c.record.retention_max_bytes, 2ULL << 30);
  EXPECT_EQ(c.engine.evict_idle_after, 600 * kNsPerSec);
  EXPECT_EQ(c.log.format, "text");
  EXPECT_EQ(LoadOk("mqtt: {version: 5}").mqtt.version, 5);
  EXPECT_EQ(LoadOk("mqtt: {version: \"3.1.1\"}").mqtt.version, 4);
  EXPECT_EQ(LoadOk("record: {segment_max_bytes: 1048576}").record.segment_max_bytes, 1048576u);
}

// ---- every error kind, with file, line, key path and expectation ----

TEST(ConfigErrorTest, WrongTypeNamesFileLineKeyAndValue) {
  EXPECT_EQ(OneError("limits:\n  zones:\n    cheek:\n      depth_mm: {max: deep}\n"),
            "t.yaml:4: limits.zones.cheek.depth_mm.max: expected a number from 0 to 10, got "
            "\"deep\"");
}

TEST(ConfigErrorTest, StateKeysNameWhatTheyExpect) {
  EXPECT_EQ(OneError("state: {snapshot_interval: 10}\n"),
            "t.yaml:1: state.snapshot_interval: expected a non-zero duration with a unit (ms, s, "
            "m, h), e.g. 3s or 1h30m, got 10");
  EXPECT_THAT(OneError("state: {dir: [a]}\n"), HasSubstr("t.yaml:1: state.dir: expected"));
  EXPECT_THAT(OneError("state: {directory: x}\n"),
              HasSubstr("state.directory: expected one of the keys dir, snapshot_interval"));
  const LoadResult r = LoadConfigString("state: {dir: /var/lib/nw, snapshot_interval: 2s}\n",
                                        "t.yaml");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config->state.dir, "/var/lib/nw");
  EXPECT_EQ(r.config->state.snapshot_interval, 2 * engine::kNsPerSec);
  EXPECT_EQ(DefaultConfig().state.dir, "");
  EXPECT_EQ(DefaultConfig().state.snapshot_interval, 10 * engine::kNsPerSec);
}

TEST(ConfigErrorTest, UnknownKeysAtEveryLevel) {
  EXPECT_EQ(OneError("mqqt: {}\n"),
            "t.yaml:1: mqqt: expected one of the keys mqtt, http, outputs, record, state, engine, "
            "log, limits, cluster, got an unknown key");
  EXPECT_THAT(OneError("limits:\n  default:\n    depth_mm: {maximum: 1}\n"),
              HasSubstr("t.yaml:3: limits.default.depth_mm.maximum: expected one of the keys "
                        "max, warn, severity, for, warn_severity, warn_for, got an unknown key"));
  EXPECT_THAT(OneError("limits:\n  zones:\n    nose: {deep: 1}\n"),
              HasSubstr("t.yaml:3: limits.zones.nose.deep: expected one of the keys"));
  EXPECT_THAT(OneError("limits: {defaults: {}}\n"),
              HasSubstr("t.yaml:1: limits.defaults: expected one of the keys default, zones"));
  EXPECT_THAT(OneError("mqtt:\n  tls: {cafile: x}\n"),
              HasSubstr("t.yaml:2: mqtt.tls.cafile: expected one of the keys"));
}

TEST(ConfigErrorTest, MaxPacketSizeFitsAContractPayloadOrIsOff) {
  EXPECT_EQ(LoadOk("").mqtt.max_packet_size, 65536u);
  EXPECT_EQ(LoadOk("mqtt: {max_packet_size: 0}").mqtt.max_packet_size, 0u);
  EXPECT_EQ(LoadOk("mqtt: {max_packet_size: 1048576}").mqtt.max_packet_size, 1048576u);
  EXPECT_EQ(OneError("mqtt:\n  max_packet_size: 4096\n"),
            "t.yaml:2: mqtt.max_packet_size: expected 0 (no limit) or 8192 to 268435455 bytes, "
            "got 4096");
}

TEST(ConfigErrorTest, DuplicateKey) {
  EXPECT_EQ(OneError("limits:\n  zones:\n    nose: {}\n    nose: {}\n"),
            "t.yaml:4: limits.zones.nose: expected each key once, got a duplicate");
}

TEST(ConfigErrorTest, BareNumberDurationNeedsAUnit) {
  EXPECT_EQ(OneError("limits:\n  default:\n    speed_hz: {for: 3}\n"),
            "t.yaml:3: limits.default.speed_hz.for: expected a duration with a unit (ms, s, m, "
            "h), e.g. 3s or 1h30m, got 3");
  EXPECT_THAT(OneError("limits:\n  default:\n    telemetry: {stale_after: 0s}\n"),
              HasSubstr("telemetry.stale_after: expected a non-zero duration"));
}

TEST(ConfigErrorTest, MinAboveMax) {
  EXPECT_EQ(OneError("limits:\n  zones:\n    scar:\n      speed_hz: {min: 200}\n"),
            "t.yaml:4: limits.zones.scar.speed_hz: expected min <= max, got min 200 > max 150");
}

TEST(ConfigErrorTest, WarnAboveMax) {
  EXPECT_EQ(OneError("limits:\n  default:\n    depth_mm:\n      max: 0.5\n      warn: 0.7\n"),
            "t.yaml:5: limits.default.depth_mm: expected warn <= max, got warn 0.7 > max 0.5");
}

TEST(ConfigErrorTest, WarnAfterAboveMaxDuration) {
  EXPECT_EQ(OneError("limits:\n  zones:\n    neck:\n      session: {max_duration: 20m}\n"),
            "t.yaml:4: limits.zones.neck.session: expected warn_after <= max_duration, got "
            "warn_after 3000s > max_duration 1200s");
}

TEST(ConfigErrorTest, InheritedInconsistencyIsReportedOnceAtDefault) {
  LoadResult r = Load(
      "limits:\n  default: {depth_mm: {max: 1.0, warn: 2}}\n  zones:\n    a: {}\n"
      "    scar: {speed_hz: {max: 20}}\n");
  EXPECT_THAT(r.errors,
              ElementsAre("t.yaml:2: limits.default.depth_mm: expected warn <= max, got warn 2 > "
                          "max 1",
                          "t.yaml:5: limits.zones.scar.speed_hz: expected min <= max, got min "
                          "50 > max 20"));
}

TEST(ConfigErrorTest, NegativeAndOutOfRange) {
  EXPECT_EQ(OneError("limits: {default: {depth_mm: {max: -1}}}\n"),
            "t.yaml:1: limits.default.depth_mm.max: expected a number from 0 to 10, got -1");
  EXPECT_THAT(OneError("limits: {default: {depth_mm: {max: 11}}}\n"),
              HasSubstr("expected a number from 0 to 10, got 11"));
  EXPECT_THAT(OneError("limits: {default: {speed_hz: {max: 1001}}}\n"),
              HasSubstr("limits.default.speed_hz.max: expected a number from 0 to 1000, got 1001"));
}

TEST(ConfigErrorTest, BadSeverity) {
  EXPECT_EQ(OneError("limits: {default: {depth_mm: {severity: critical}}}\n"),
            "t.yaml:1: limits.default.depth_mm.severity: expected a severity (low, medium or "
            "high), got \"critical\"");
}

TEST(ConfigErrorTest, SectionValues) {
  EXPECT_EQ(OneError("mqtt: {url: \"tcp://h:1883\"}\n"),
            "t.yaml:1: mqtt.url: expected a URL mqtt://HOST:PORT or mqtts://HOST:PORT, got "
            "\"tcp://h:1883\"");
  EXPECT_THAT(OneError("mqtt: {url: \"mqtt://h:99999\"}\n"), HasSubstr("mqtt.url: expected"));
  EXPECT_EQ(OneError("mqtt:\n  qos: 3\n"),
            "t.yaml:2: mqtt.qos: expected an integer from 0 to 2, got 3");
  EXPECT_EQ(OneError("mqtt:\n  version: 3\n"),
            "t.yaml:2: mqtt.version: expected 5, 4 or \"3.1.1\", got 3");
  EXPECT_EQ(OneError("http: {listen_address: \"9464\"}\n"),
            "t.yaml:1: http.listen_address: expected HOST:PORT, e.g. 127.0.0.1:9464, got "
            "\"9464\"");
  EXPECT_EQ(OneError("record: {segment_max_bytes: 64 MiB}\n"),
            "t.yaml:1: record.segment_max_bytes: expected a size in bytes, e.g. 64MiB, 1GiB or "
            "1048576, got \"64 MiB\"");
  EXPECT_EQ(OneError("log: {level: loud}\n"),
            "t.yaml:1: log.level: expected trace, debug, info, warn or error, got \"loud\"");
  EXPECT_EQ(OneError("outputs: {alarm_topics: yes}\n"),
            "t.yaml:1: outputs.alarm_topics: expected true or false, got \"yes\"");
  EXPECT_EQ(OneError("mqtt: []\n"), "t.yaml:1: mqtt: expected a map, got a list");
  EXPECT_EQ(OneError("mqtt: {instance: \"a b\"}\n"),
            "t.yaml:1: mqtt.instance: expected an ID of 1 to 64 characters A-Z a-z 0-9 _ . -, "
            "got \"a b\"");
}

TEST(ConfigErrorTest, InvalidYamlNamesTheLine) {
  const std::string e = OneError("limits:\n  zones: {a: [}\n");
  EXPECT_THAT(e, HasSubstr("t.yaml:2: (document): expected valid YAML"));
}

TEST(ConfigErrorTest, CollectsAllErrorsNotJustTheFirst) {
  LoadResult r = Load(R"(
mqtt: {qos: 9}
log: {format: xml}
limits:
  default: {speed_hz: {for: 1}}
  zones:
    nose: {depth_mm: {max: -0.5}}
)");
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 4u);
  EXPECT_THAT(r.errors[0], HasSubstr("t.yaml:2: mqtt.qos"));
  EXPECT_THAT(r.errors[1], HasSubstr("t.yaml:3: log.format"));
  EXPECT_THAT(r.errors[2], HasSubstr("t.yaml:5: limits.default.speed_hz.for"));
  EXPECT_THAT(r.errors[3], HasSubstr("t.yaml:7: limits.zones.nose.depth_mm.max"));
}

// ---- check-config ----

class CheckConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("nw-config-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const auto p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  std::filesystem::path dir_;
};

TEST_F(CheckConfigTest, OkCountsZones) {
  const std::string f = Write("ok.yaml", "limits:\n  zones: {a: {}, b: {}}\n");
  std::ostringstream out, err;
  EXPECT_EQ(RunCheckConfig(f, out, err), 0);
  EXPECT_EQ(out.str(), f + ": OK (2 zones)\n");
  EXPECT_EQ(err.str(), "");
}

TEST_F(CheckConfigTest, ErrorsOnePerLine) {
  const std::string f = Write("bad.yaml", "mqtt: {qos: 5}\nlog: {level: x}\n");
  std::ostringstream out, err;
  EXPECT_EQ(RunCheckConfig(f, out, err), 1);
  EXPECT_EQ(err.str(), f + ":1: mqtt.qos: expected an integer from 0 to 2, got 5\n" + f +
                           ":2: log.level: expected trace, debug, info, warn or error, got \"x\"\n");
  EXPECT_EQ(out.str(), "");
}

TEST_F(CheckConfigTest, UnreadableFileIsAClearError) {
  std::ostringstream out, err;
  const std::string missing = (dir_ / "missing.yaml").string();
  EXPECT_EQ(RunCheckConfig(missing, out, err), 1);
  EXPECT_EQ(err.str(), missing + ": cannot read the configuration file (no such file)\n");
  std::ostringstream out2, err2;
  EXPECT_EQ(RunCheckConfig(dir_.string(), out2, err2), 1);
  EXPECT_THAT(err2.str(), HasSubstr("cannot read the configuration file"));
}

// ---- engine: catch-up, bounds and the registry (issues 12 and 13) ----

TEST(ConfigTest, EngineKeys) {
  const Config d = LoadOk("");
  EXPECT_EQ(d.engine.late_after, kNsPerSec);
  EXPECT_EQ(d.engine.max_devices, 100000u);
  EXPECT_FALSE(d.engine.known_clinics);
  EXPECT_FALSE(d.engine.known_devices);
  const Config c = LoadOk("engine: {late_after: 2500ms, max_devices: 20}\n");
  EXPECT_EQ(c.engine.late_after, 2500 * kNsPerMs);
  EXPECT_EQ(c.engine.max_devices, 20u);
  EXPECT_EQ(OneError("engine: {max_devices: 0}\n"),
            "t.yaml:1: engine.max_devices: expected an integer from 1 to 100000000, got 0");
  EXPECT_THAT(OneError("engine: {late_after: 0s}\n"),
              HasSubstr("t.yaml:1: engine.late_after: expected a non-zero duration"));
}

TEST_F(CheckConfigTest, RegistryFileOfClinicsAndDevices) {
  const std::string reg = Write("registry.yaml", "clinics:\n  c017: [d00042, d00043]\n  c018: []\n");
  const LoadResult r = LoadConfigString("engine: {registry_file: " + reg + "}\n", "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors[0];
  const engine::EngineOptions& e = r.config->engine;
  ASSERT_TRUE(e.known_clinics && e.known_devices);
  EXPECT_EQ(*e.known_clinics, (std::unordered_set<std::string>{"c017", "c018"}));
  EXPECT_EQ(*e.known_devices, (std::unordered_set<std::string>{"c017/d00042", "c017/d00043"}));
  EXPECT_EQ(r.config->registry_file, reg);
}

TEST_F(CheckConfigTest, RegistryFileOfClinicsOnly) {
  const std::string reg = Write("registry.yaml", "clinics: [c017, c018]\n");
  const LoadResult r = LoadConfigString("engine: {registry_file: " + reg + "}\n", "t.yaml");
  ASSERT_TRUE(r.ok()) << r.errors[0];
  EXPECT_EQ(*r.config->engine.known_clinics, (std::unordered_set<std::string>{"c017", "c018"}));
  EXPECT_FALSE(r.config->engine.known_devices);  // any device of those clinics
}

TEST_F(CheckConfigTest, RegistryFileErrorsNameThatFile) {
  const std::string reg = Write("registry.yaml", "clinics:\n  c017: [d00042, \"bad id\"]\n");
  LoadResult r = LoadConfigString("engine: {registry_file: " + reg + "}\n", "t.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0], reg + ":2: clinics.c017[1]: expected an ID of 1 to 64 characters A-Z "
                               "a-z 0-9 _ . -, got \"bad id\"");
  const std::string missing = (dir_ / "none.yaml").string();
  r = LoadConfigString("engine: {registry_file: " + missing + "}\n", "t.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0], "t.yaml: engine.registry_file: cannot read " + missing + " (no such file)");
  r = LoadConfigString("engine: {registry_file: " + Write("r2.yaml", "devices: []\n") + "}\n",
                       "t.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.errors[0], HasSubstr("devices: expected one of the keys clinics"));
}

}  // namespace
}  // namespace needlewatch::config
