// `needlewatch recordings ls` and `needlewatch recordings export`.
#include "needlewatch/record/recordings_command.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string_view>

#include "needlewatch/protocol/time_format.h"
#include "needlewatch/record/mcap_reader.h"
#include "rejected.h"

namespace needlewatch::record {
namespace {

namespace fs = std::filesystem;


// The *.mcap files of a directory, sorted by name (segment names sort chronologically).
bool ListMcapFiles(const std::string& dir, std::vector<std::string>* files, std::ostream& err) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".mcap" && it->is_regular_file(ec)) {
      files->push_back(it->path().string());
    }
  }
  if (ec) {
    err << dir << ": " << ec.message() << "\n";
    return false;
  }
  std::sort(files->begin(), files->end());
  return true;
}

// Opens a segment; on failure prints why and sets *rc to 1.
std::unique_ptr<McapReader> OpenOrReport(const std::string& file, std::ostream& err, int* rc) {
  std::string error;
  auto reader = McapReader::Open(file, &error);
  if (!reader) {
    err << error << "\n";
    *rc = 1;
  }
  return reader;
}

}  // namespace

int RunRecordingsLs(const std::string& dir, std::ostream& out, std::ostream& err) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    err << dir << ": not a directory\n";
    return 1;
  }
  std::vector<std::string> files;
  if (!ListMcapFiles(dir, &files, err)) return 1;
  int rc = 0;
  out << "FILE\tSTART\tEND\tMESSAGES\tBYTES\tSTATUS\n";
  for (const std::string& file : files) {
    auto reader = OpenOrReport(file, err, &rc);
    if (!reader) continue;
    const bool empty = reader->message_count() == 0;
    out << fs::path(file).filename().string() << '\t'
        << (empty ? "-" : protocol::FormatRfc3339(reader->start_ns(), 3)) << '\t'
        << (empty ? "-" : protocol::FormatRfc3339(reader->end_ns(), 3)) << '\t' << reader->message_count() << '\t'
        << reader->file_size() << '\t';
    if (reader->complete()) {
      out << "complete";
    } else {
      out << "recovered (skipped " << reader->skipped_bytes() << " bytes)";
    }
    out << '\n';
  }
  return rc;
}

int RunRecordingsExport(const std::vector<std::string>& paths, const std::string& format,
                        std::ostream& out, std::ostream& err) {
  if (format != "jsonl") {
    err << "recordings export: --format: expected jsonl, got \"" << format << "\"\n";
    return 2;
  }
  std::vector<std::string> files;
  int rc = 0;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      if (!ListMcapFiles(path, &files, err)) rc = 1;
    } else {
      files.push_back(path);
    }
  }
  RawMessage m;
  for (const std::string& file : files) {
    auto reader = OpenOrReport(file, err, &rc);
    if (!reader) continue;
    while (reader->Next(m)) {
      nlohmann::ordered_json j;
      j["receive_ns"] = m.receive_ns;
      j["time"] = protocol::FormatRfc3339(m.receive_ns, 9);
      j["topic"] = IsValidUtf8(m.topic) ? m.topic : Base64Encode(m.topic);
      j["qos"] = m.qos;
      j["retain"] = m.retain;
      if (IsValidUtf8(m.payload)) {
        j["payload"] = m.payload;
      } else {
        j["payload_base64"] = Base64Encode(m.payload);
      }
      if (!m.reject.empty()) {
        j["reject"] = m.reject;
        j["size"] = m.truncated() ? m.original_size : m.payload.size();
      }
      out << j.dump() << '\n';
    }
    if (!reader->error().empty()) {
      err << file << ": " << reader->error() << "\n";
      rc = 1;
    }
    if (!reader->complete()) {
      err << file << ": incomplete segment, recovered " << reader->message_count()
          << " messages, skipped " << reader->skipped_bytes() << " bytes\n";
    }
  }
  return rc;
}

}  // namespace needlewatch::record
