// Shared helpers for the record tests: temp dirs, deterministic messages, file bytes.
#ifndef NEEDLEWATCH_TESTS_RECORD_TEST_UTIL_H_
#define NEEDLEWATCH_TESTS_RECORD_TEST_UTIL_H_

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "needlewatch/record/raw_message.h"

namespace needlewatch::record::testing {

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("nw-record-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  // Unlink first: truncating an existing file makes ext4 flush it on close (slow in a loop).
  std::error_code ec;
  std::filesystem::remove(path, ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Message number `i` of a deterministic stream: 7 devices, JSON payloads, 1 ms apart.
inline RawMessage NumberedMessage(std::uint64_t i) {
  RawMessage m;
  m.receive_ns = 1'780'000'000'000'000'000LL + static_cast<std::int64_t>(i) * 1'000'000;
  m.topic = "clinics/c1/devices/d" + std::to_string(i % 7) + "/telemetry";
  m.payload = "{\"seq\":" + std::to_string(i) + ",\"depth_mm\":0." + std::to_string(i % 10) +
              ",\"pad\":\"" + std::string(i % 50, 'x') + "\"}";
  m.qos = static_cast<std::uint8_t>(i % 3);
  m.retain = i % 11 == 0;
  return m;
}

// Random messages: topics from a small set, arbitrary payload bytes (binary, empty, long).
inline std::vector<RawMessage> RandomMessages(std::mt19937_64& rng, std::size_t n,
                                              std::int64_t start_ns) {
  std::vector<RawMessage> out;
  std::uniform_int_distribution<int> byte(0, 255);
  std::int64_t t = start_ns;
  for (std::size_t i = 0; i < n; ++i) {
    RawMessage m;
    t += static_cast<std::int64_t>(rng() % 3'000'000);  // ties happen (gap 0)
    m.receive_ns = t;
    m.topic = "clinics/c" + std::to_string(rng() % 5) + "/devices/d" + std::to_string(rng() % 9) +
              (rng() % 2 ? "/telemetry" : "/événement");
    const std::size_t len = rng() % 8 == 0 ? 0 : rng() % 400;
    m.payload.resize(len);
    for (char& c : m.payload) c = static_cast<char>(byte(rng));
    m.qos = static_cast<std::uint8_t>(rng() % 3);
    m.retain = rng() % 4 == 0;
    out.push_back(std::move(m));
  }
  return out;
}

inline bool SameMessage(const RawMessage& a, const RawMessage& b) {
  return a.receive_ns == b.receive_ns && a.topic == b.topic && a.payload == b.payload &&
         a.qos == b.qos && a.retain == b.retain;
}

}  // namespace needlewatch::record::testing

#endif  // NEEDLEWATCH_TESTS_RECORD_TEST_UTIL_H_
