#include "audit_log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_fleet.h"

namespace needlewatch::daemon {
namespace {

using nlohmann::json;

engine::AlarmEvent LatchedDepthAlarm() {
  engine::AlarmEvent e =
      testing::SampleAlarm(engine::AlarmKind::kDepthExceeded, engine::Severity::kHigh);
  e.transition = engine::Transition::kLatched;
  e.state = engine::AlarmState::kLatched;
  e.raised_at = 1795611133125000001;
  e.cleared_at = 1795611134000000002;
  e.at = 1795611134000000002;
  return e;
}

TEST(FormatAlarmAudit, CarriesEveryFieldInSecondsAndIntegerNanoseconds) {
  const json j = json::parse(FormatAlarmAudit(LatchedDepthAlarm()));
  EXPECT_EQ(j["type"], "alarm");
  EXPECT_EQ(j["transition"], "latched");
  EXPECT_EQ(j["alarm"], "depth_exceeded");
  EXPECT_EQ(j["severity"], "high");
  EXPECT_EQ(j["state"], "latched");
  EXPECT_EQ(j["acknowledged"], false);
  EXPECT_EQ(j["clinic"], "c017");
  EXPECT_EQ(j["device"], "d00042");
  EXPECT_EQ(j["session"], "S-7f3a91");
  EXPECT_EQ(j["zone"], "forehead");
  EXPECT_DOUBLE_EQ(j["value"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(j["limit"].get<double>(), 0.5);
  // The ns fields are exact; the seconds fields are the same instants as doubles.
  EXPECT_EQ(j["raised_at_ns"].get<std::int64_t>(), 1795611133125000001);
  EXPECT_EQ(j["cleared_at_ns"].get<std::int64_t>(), 1795611134000000002);
  EXPECT_EQ(j["at_ns"].get<std::int64_t>(), 1795611134000000002);
  EXPECT_NEAR(j["raised_at"].get<double>(), 1795611133.125, 1e-6);
  EXPECT_NEAR(j["at"].get<double>(), 1795611134.0, 1e-6);
}

TEST(FormatAlarmAudit, OfflineAlarmHasNullValueLimitAndClearedAt) {
  engine::AlarmEvent e = LatchedDepthAlarm();
  e.transition = engine::Transition::kRaised;
  e.alarm = engine::AlarmKind::kDeviceOffline;
  e.state = engine::AlarmState::kActive;
  e.value.reset();
  e.limit.reset();
  e.cleared_at.reset();
  const json j = json::parse(FormatAlarmAudit(e));
  EXPECT_TRUE(j["value"].is_null());
  EXPECT_TRUE(j["limit"].is_null());
  EXPECT_TRUE(j["cleared_at"].is_null());
  EXPECT_TRUE(j["cleared_at_ns"].is_null());
}

TEST(FormatAckAudit, NamesWhoAndWhereFrom) {
  const json j = json::parse(
      FormatAckAudit(5'000'000'000, "c1", "d1", "depth_exceeded", "cleared", "alice",
                     "127.0.0.1:5555"));
  EXPECT_EQ(j["type"], "ack");
  EXPECT_EQ(j["result"], "cleared");
  EXPECT_EQ(j["user"], "alice");
  EXPECT_EQ(j["remote"], "127.0.0.1:5555");
  EXPECT_EQ(j["at_ns"], 5'000'000'000);
  const json anon = json::parse(
      FormatAckAudit(1, "c1", "d1", "depth_exceeded", "acknowledged", "", "127.0.0.1:1"));
  EXPECT_TRUE(anon["user"].is_null());
}

TEST(FormatReloadAudit, ListsErrorsOfAFailedReload) {
  const json j = json::parse(FormatReloadAudit(
      7, false, "nw.yaml", {"nw.yaml:3: limits.default.depth_mm.max: expected a number"}));
  EXPECT_EQ(j["type"], "config_reload");
  EXPECT_EQ(j["result"], "failure");
  EXPECT_EQ(j["source"], "nw.yaml");
  ASSERT_EQ(j["errors"].size(), 1U);
  const json ok = json::parse(FormatReloadAudit(7, true, "nw.yaml", {}));
  EXPECT_EQ(ok["result"], "success");
  EXPECT_TRUE(ok["errors"].empty());
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class TempFile {
 public:
  TempFile() {
    char tmpl[] = "/tmp/nw-audit-XXXXXX";
    const int fd = mkstemp(tmpl);
    if (fd >= 0) close(fd);
    path_ = tmpl;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(AuditLog, AppendsOneLinePerCallAndKeepsEarlierContent) {
  TempFile f;
  {
    std::ofstream(f.path()) << "{\"earlier\":1}\n";
  }
  AuditLog log;
  std::string error;
  ASSERT_TRUE(log.Open(f.path(), &error)) << error;
  EXPECT_TRUE(log.enabled());
  EXPECT_TRUE(log.Append("{\"a\":1}"));
  EXPECT_TRUE(log.Append("{\"b\":2}"));
  EXPECT_EQ(ReadLines(f.path()),
            (std::vector<std::string>{"{\"earlier\":1}", "{\"a\":1}", "{\"b\":2}"}));
  EXPECT_EQ(log.write_errors(), 0U);
}

TEST(AuditLog, EmptyPathMeansOff) {
  AuditLog log;
  std::string error;
  EXPECT_TRUE(log.Open("", &error));
  EXPECT_FALSE(log.enabled());
  EXPECT_TRUE(log.Append("{}"));
}

TEST(AuditLog, UnopenablePathIsAClearError) {
  AuditLog log;
  std::string error;
  EXPECT_FALSE(log.Open("/nonexistent-dir/audit.jsonl", &error));
  EXPECT_NE(error.find("/nonexistent-dir/audit.jsonl"), std::string::npos) << error;
}

TEST(AuditLog, WriteFailuresAreCounted) {
  AuditLog log;
  std::string error;
  // /dev/full accepts the open and fails every flush with ENOSPC.
  ASSERT_TRUE(log.Open("/dev/full", &error)) << error;
  EXPECT_FALSE(log.Append("{\"x\":1}"));
  EXPECT_FALSE(log.Append("{\"x\":2}"));
  EXPECT_EQ(log.write_errors(), 2U);
}

TEST(AuditLog, CreatesTheFile0640) {
  TempFile f;
  std::remove(f.path().c_str());
  const mode_t old = ::umask(022);
  AuditLog log;
  std::string error;
  ASSERT_TRUE(log.Open(f.path(), &error)) << error;
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(f.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640U);
}

TEST(AuditLog, ReopenSwitchesToANewFileAfterRotation) {
  TempFile f;
  const std::string rotated = f.path() + ".1";
  AuditLog log;
  std::string error;
  ASSERT_TRUE(log.Open(f.path(), &error)) << error;
  ASSERT_TRUE(log.Append("{\"n\":1}"));
  ASSERT_EQ(std::rename(f.path().c_str(), rotated.c_str()), 0);  // what logrotate does
  ASSERT_TRUE(log.Append("{\"n\":2}"));                           // still the old file
  ASSERT_TRUE(log.Reopen(&error)) << error;
  ASSERT_TRUE(log.Append("{\"n\":3}"));
  EXPECT_EQ(ReadLines(rotated), (std::vector<std::string>{"{\"n\":1}", "{\"n\":2}"}));
  EXPECT_EQ(ReadLines(f.path()), std::vector<std::string>{"{\"n\":3}"});
  std::remove(rotated.c_str());
}

TEST(AuditLog, AFailedReopenKeepsWritingTheOldFile) {
  const std::string dir = ::testing::TempDir() + "nw-audit-reopen-" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  const std::string path = dir + "/audit.jsonl";
  AuditLog log;
  std::string error;
  ASSERT_TRUE(log.Open(path, &error)) << error;
  std::remove(path.c_str());
  ASSERT_EQ(::rmdir(dir.c_str()), 0);  // the directory is gone: the path cannot be created
  EXPECT_FALSE(log.Reopen(&error));
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_TRUE(log.enabled());
  EXPECT_TRUE(log.Append("{}"));  // the unlinked old file still takes lines
}

TEST(AuditLineIsTransition, AlarmAndAckLinesAreSyncedUnderTheDefaultPolicy) {
  EXPECT_TRUE(AuditLineIsTransition(FormatAlarmAudit(LatchedDepthAlarm())));
  EXPECT_TRUE(AuditLineIsTransition(
      FormatAckAudit(1, "c1", "d1", "depth_exceeded", "cleared", "alice", "127.0.0.1:1")));
  EXPECT_FALSE(AuditLineIsTransition(FormatReloadAudit(1, true, "x.yaml", {})));
}

TEST(AuditLog, EveryFsyncPolicyWritesTheLines) {
  for (config::AuditFsync policy : {config::AuditFsync::kNever, config::AuditFsync::kTransitions,
                                    config::AuditFsync::kAlways}) {
    TempFile f;
    std::remove(f.path().c_str());
    AuditLog log;
    log.set_fsync(policy);
    std::string error;
    ASSERT_TRUE(log.Open(f.path(), &error)) << error;
    EXPECT_TRUE(log.Append(FormatAlarmAudit(LatchedDepthAlarm())));
    EXPECT_TRUE(log.Append(FormatReloadAudit(1, true, "x.yaml", {})));
    EXPECT_EQ(ReadLines(f.path()).size(), 2u);
    EXPECT_EQ(log.write_errors(), 0U);
  }
}

}  // namespace
}  // namespace needlewatch::daemon
