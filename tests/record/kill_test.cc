// kill -9 of a process that records through a Recorder: the unfinished segment is recovered,
// every message of each closed chunk is there, and the torn tail is reported.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <poll.h>

#include "needlewatch/record/mcap_reader.h"
#include "needlewatch/record/recorder.h"
#include "test_util.h"

extern char** environ;

namespace needlewatch::record {
namespace {

using testing::NumberedMessage;
using testing::ReadFile;
using testing::SameMessage;
using testing::TempDir;
using testing::WriteFile;

// Runs the helper and SIGKILLs it once it reports at least `threshold` messages on disk.
// Returns the last count it reported.
std::uint64_t RecordThenKill(const std::string& dir, std::uint64_t threshold) {
  int out[2];
  EXPECT_EQ(::pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::string helper = NW_RECORD_KILL_HELPER;
  std::string arg = dir;
  char* argv[] = {helper.data(), arg.data(), nullptr};
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, helper.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  EXPECT_EQ(rc, 0) << std::strerror(rc);
  if (rc != 0) return 0;

  std::uint64_t reported = 0;
  std::string pending;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (reported < threshold && std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;  // helper died
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.rfind("written ", 0) == 0) reported = std::stoull(line.substr(8));
    }
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(out[0]);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "helper exited early";
  EXPECT_GE(reported, threshold);
  return reported;
}

TEST(RecorderKill, SigkillLosesOnlyTheOpenChunk) {
  TempDir dir;
  const std::uint64_t reported = RecordThenKill(dir.path().string(), 20'000);
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);

  std::string error;
  auto reader = McapReader::Open(files[0], &error);
  ASSERT_NE(reader, nullptr) << error;
  EXPECT_FALSE(reader->complete());
  std::uint64_t n = 0;
  RawMessage m;
  while (reader->Next(m)) {
    ASSERT_TRUE(SameMessage(m, NumberedMessage(n))) << "message " << n;
    ++n;
  }
  // Everything reported as written (closed chunks) before the kill is there, as a prefix.
  EXPECT_GE(n, reported);
  EXPECT_EQ(n, reader->message_count());
  EXPECT_LE(reader->skipped_bytes(), reader->file_size());
  std::printf("killed after %llu reported; recovered %llu messages, %llu chunks, skipped %llu "
              "of %llu bytes\n",
              static_cast<unsigned long long>(reported), static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(reader->chunk_count()),
              static_cast<unsigned long long>(reader->skipped_bytes()),
              static_cast<unsigned long long>(reader->file_size()));

  // A kill during the write() of a chunk leaves a torn tail: simulate it on the same file.
  const std::string bytes = ReadFile(files[0]);
  WriteFile(dir.File("torn.mcap"), bytes + std::string("\x06\xff\x10\x00\x00\x00\x00\x00\x00zz", 11));
  auto torn = McapReader::Open(dir.File("torn.mcap"), &error);
  ASSERT_NE(torn, nullptr) << error;
  EXPECT_EQ(torn->skipped_bytes(), reader->skipped_bytes() + 11);
  EXPECT_EQ(torn->message_count(), n);
  EXPECT_FALSE(torn->warnings().empty());
}

}  // namespace
}  // namespace needlewatch::record
