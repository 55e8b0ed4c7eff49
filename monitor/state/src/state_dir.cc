#include "needlewatch/state/state_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace needlewatch::state {
namespace {

constexpr char kSnapshotName[] = "snapshot.json";
constexpr char kJournalPrefix[] = "journal-";

std::string Errno() { return std::strerror(errno); }

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// The whole file; nullopt when it does not exist; `error` when it cannot be read.
std::optional<std::string> ReadFile(const std::string& path, std::string* error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) *error = path + ": " + Errno();
    return std::nullopt;
  }
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = path + ": " + Errno();
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

// Generations of the journal files present, ascending.
std::vector<std::uint64_t> JournalGenerations(const std::string& dir) {
  std::vector<std::uint64_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(kJournalPrefix)) continue;
    const std::string digits = name.substr(std::strlen(kJournalPrefix));
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    out.push_back(std::stoull(digits));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::unique_ptr<StateDir> StateDir::Open(const std::string& dir, std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    *error = "state.dir \"" + dir + "\": cannot create it: " + ec.message();
    return nullptr;
  }
  std::unique_ptr<StateDir> d(new StateDir(dir));
  d->dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d->dir_fd_ < 0) {
    *error = "state.dir \"" + dir + "\": " + Errno();
    return nullptr;
  }
  d->lock_fd_ = ::open(d->File("lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (d->lock_fd_ < 0) {
    *error = "state.dir \"" + dir + "\": cannot write in it: " + Errno();
    return nullptr;
  }
  if (::flock(d->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    *error = "state.dir \"" + dir + "\": in use by another needlewatch process (" + Errno() +
             ")";
    return nullptr;
  }
  return d;
}

StateDir::~StateDir() {
  for (int fd : {journal_fd_, dir_fd_, lock_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

std::string StateDir::File(std::string_view name) const {
  return (std::filesystem::path(dir_) / std::string(name)).string();
}

std::string StateDir::JournalFile(std::uint64_t generation) const {
  char name[40];
  std::snprintf(name, sizeof(name), "%s%016llu", kJournalPrefix,
                static_cast<unsigned long long>(generation));
  return File(name);
}

Loaded StateDir::Load() {
  Loaded out;
  const std::vector<std::uint64_t> journals = JournalGenerations(dir_);
  if (!journals.empty()) generation_ = journals.back();
  std::string error;
  const std::string snapshot_path = File(kSnapshotName);
  const std::optional<std::string> text = ReadFile(snapshot_path, &error);
  if (!text) {
    if (!error.empty()) {
      out.lost = error;
    } else if (!journals.empty()) {
      out.lost = snapshot_path + ": missing, but a journal is present";
    } else {
      out.note = "no saved state in " + dir_ + ": starting fresh";
    }
    return out;
  }
  out.snapshot_bytes = text->size();
  std::optional<Snapshot> snapshot = DecodeSnapshot(*text, &error);
  if (!snapshot) {
    out.lost = snapshot_path + ": " + error;
    return out;
  }
  generation_ = std::max(generation_, snapshot->journal_generation);
  const std::string journal_path = JournalFile(snapshot->journal_generation);
  const std::optional<std::string> journal = ReadFile(journal_path, &error);
  if (!journal) {
    // The snapshot is used; what happened after it is not known.
    out.lost = journal_path + ": " + (error.empty() ? std::string("missing") : error) +
               " (changes since the snapshot are lost)";
  } else {
    out.journal_bytes = journal->size();
    DecodedJournal decoded = DecodeJournal(*journal);
    if (!decoded.tail_error.empty()) {
      out.note = journal_path + ": " + decoded.tail_error + ": the rest (" +
                 std::to_string(journal->size() - decoded.valid_bytes) +
                 " bytes, never acknowledged as written) dropped";
    }
    out.journal = std::move(decoded.records);
  }
  out.snapshot = std::move(snapshot);
  return out;
}

bool StateDir::WriteSnapshot(std::string_view snapshot_json, std::string* error) {
  const std::uint64_t generation = generation_ + 1;
  const std::string journal_path = JournalFile(generation);
  const int journal =
      ::open(journal_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (journal < 0) {
    *error = journal_path + ": " + Errno();
    return false;
  }
  const std::string tmp = File(std::string(kSnapshotName) + ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && WriteAll(fd, snapshot_json) && ::fsync(fd) == 0;
  if (!ok) *error = tmp + ": " + Errno();
  if (fd >= 0) ::close(fd);
  // The new journal's directory entry and the renamed snapshot are durable with the directory.
  if (ok && ::rename(tmp.c_str(), File(kSnapshotName).c_str()) != 0) {
    ok = false;
    *error = File(kSnapshotName) + ": rename: " + Errno();
  }
  if (ok && ::fsync(dir_fd_) != 0) {
    ok = false;
    *error = dir_ + ": fsync: " + Errno();
  }
  if (!ok) {
    ::close(journal);
    ::unlink(journal_path.c_str());
    ::unlink(tmp.c_str());
    return false;
  }
  if (journal_fd_ >= 0) ::close(journal_fd_);
  journal_fd_ = journal;
  journal_bytes_ = 0;
  generation_ = generation;
  for (const std::uint64_t g : JournalGenerations(dir_)) {
    if (g < generation) ::unlink(JournalFile(g).c_str());
  }
  return true;
}

bool StateDir::Append(std::string_view frames, std::string* error) {
  if (journal_fd_ < 0) {
    *error = "no journal open";
    return false;
  }
  if (!WriteAll(journal_fd_, frames) || ::fdatasync(journal_fd_) != 0) {
    *error = JournalFile(generation_) + ": " + Errno();
    // No partial frame may stay in front of the next batch's frames.
    if (::ftruncate(journal_fd_, static_cast<off_t>(journal_bytes_)) != 0) {
      *error += "; truncating it back: " + Errno();
    }
    return false;
  }
  journal_bytes_ += frames.size();
  return true;
}

}  // namespace needlewatch::state
