// Capture readers, MCAP adapter, format detection and the k-way merge.
#include "needlewatch/replay/source.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <ostream>
#include <utility>

#include "needlewatch/protocol/message.h"
#include "needlewatch/protocol/time_format.h"
#include "needlewatch/record/mcap_reader.h"

namespace needlewatch::replay {
namespace {

constexpr char kMcapMagic[] = "\x89MCAP0\r\n";
constexpr std::size_t kMcapMagicSize = 8;
constexpr std::int64_t kNsPerSec = 1'000'000'000;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads a file line by line through one growing buffer: no allocation per line.
class LineReader {
 public:
  explicit LineReader(std::FILE* f) : file_(f), buf_(1 << 20) {}
  ~LineReader() {
    if (file_ != nullptr) std::fclose(file_);
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its "\n" (and "\r"); false at the end. Valid until the next call.
  bool Next(std::string_view& line) {
    for (;;) {
      const char* start = buf_.data() + begin_;
      const void* nl = std::memchr(start, '\n', end_ - begin_);
      if (nl != nullptr) {
        const auto len = static_cast<std::size_t>(static_cast<const char*>(nl) - start);
        begin_ += len + 1;
        line = Trim(std::string_view(start, len));
        return true;
      }
      if (eof_) {
        if (begin_ == end_) return false;
        line = Trim(std::string_view(start, end_ - begin_));
        begin_ = end_;
        return true;
      }
      Fill();
    }
  }
  bool error() const { return error_; }
  // Bytes of the file taken from the buffer so far.
  std::uint64_t consumed() const { return read_ - (end_ - begin_); }

 private:
  static std::string_view Trim(std::string_view s) {
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    return s;
  }
  void Fill() {
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ == buf_.size()) buf_.resize(buf_.size() * 2);  // a line longer than the buffer
    const std::size_t n = std::fread(buf_.data() + end_, 1, buf_.size() - end_, file_);
    end_ += n;
    read_ += n;
    if (n == 0) {
      eof_ = true;
      error_ = std::ferror(file_) != 0;
    }
  }

  std::FILE* file_;
  std::vector<char> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::uint64_t read_ = 0;
  bool eof_ = false;
  bool error_ = false;
};

class CaptureSource : public MessageSource {
 public:
  CaptureSource(std::string path, FileFormat format, std::FILE* f, std::uint64_t size,
                std::ostream& diag)
      : path_(std::move(path)), format_(format), reader_(f), size_(size), diag_(diag) {}

  bool Next(record::RawMessage& out) override {
    std::string_view line;
    while (reader_.Next(line)) {
      ++line_no_;
      const bool ok = format_ == FileFormat::kCaptureText ? ParseCaptureTextLine(line, out)
                                                          : ParseCaptureJsonLine(line, out);
      if (ok) return true;
      ++skipped_;
      diag_ << path_ << ":" << line_no_ << ": not a "
            << FileFormatName(format_) << " capture line, skipped";
      if (line.empty()) {
        diag_ << " (empty line)";
      } else {
        diag_ << ": " << line.substr(0, 80) << (line.size() > 80 ? "…" : "");
      }
      diag_ << "\n";
    }
    if (reader_.error() && !read_error_reported_) {
      read_error_reported_ = true;
      ++skipped_;
      diag_ << path_ << ":" << line_no_ << ": read error, the rest of the file is lost\n";
    }
    return false;
  }
  std::uint64_t lines_skipped() const override { return skipped_; }
  FileFormat format() const override { return format_; }
  const std::string& path() const override { return path_; }
  std::uint64_t bytes_done() const override { return reader_.consumed(); }
  std::uint64_t bytes_total() const override { return size_; }

 private:
  std::string path_;
  FileFormat format_;
  LineReader reader_;
  std::uint64_t size_;
  std::ostream& diag_;
  std::uint64_t line_no_ = 0;
  std::uint64_t skipped_ = 0;
  bool read_error_reported_ = false;
};

class McapSource : public MessageSource {
 public:
  McapSource(std::string path, std::unique_ptr<record::McapReader> reader, std::ostream& diag)
      : path_(std::move(path)), reader_(std::move(reader)), diag_(diag) {
    for (const std::string& w : reader_->warnings()) diag_ << path_ << ": " << w << "\n";
  }
  bool Next(record::RawMessage& out) override {
    if (reader_->Next(out)) {
      if (out.truncated()) {
        // Past the largest valid payload again, so it is rejected as too_large once more.
        const std::size_t keep = std::max(out.payload.size(), protocol::kMaxPayloadBytes);
        out.payload.resize(static_cast<std::size_t>(
                               std::min<std::uint64_t>(out.original_size, keep + 1)),
                           ' ');
      }
      return true;
    }
    if (!end_reported_) {
      end_reported_ = true;
      if (!reader_->error().empty()) {
        diag_ << path_ << ": reading stopped: " << reader_->error() << "\n";
      }
      if (reader_->skipped_bytes() > 0) {
        diag_ << path_ << ": " << reader_->skipped_bytes()
              << " bytes could not be read as messages (torn or corrupt parts)\n";
      }
    }
    return false;
  }
  std::uint64_t lines_skipped() const override { return 0; }
  FileFormat format() const override { return FileFormat::kMcap; }
  const std::string& path() const override { return path_; }
  void SeekTo(std::int64_t from_ns) override { reader_->SeekTo(from_ns); }
  bool LatestBefore(std::string_view topic, std::int64_t before_ns,
                    record::RawMessage& out) override {
    return reader_->LatestBefore(topic, before_ns, out);
  }
  std::uint64_t chunks_loaded() const override { return reader_->chunks_loaded(); }
  std::string error() const override { return reader_->error(); }
  std::uint64_t bytes_done() const override { return reader_->bytes_done(); }
  std::uint64_t bytes_total() const override { return reader_->file_size(); }

 private:
  std::string path_;
  std::unique_ptr<record::McapReader> reader_;
  std::ostream& diag_;
  bool end_reported_ = false;
};

class EmptySource : public MessageSource {
 public:
  explicit EmptySource(std::string path) : path_(std::move(path)) {}
  bool Next(record::RawMessage&) override { return false; }
  std::uint64_t lines_skipped() const override { return 0; }
  FileFormat format() const override { return FileFormat::kEmpty; }
  const std::string& path() const override { return path_; }

 private:
  std::string path_;
};

}  // namespace

std::string_view FileFormatName(FileFormat f) {
  switch (f) {
    case FileFormat::kEmpty:
      return "empty";
    case FileFormat::kCaptureText:
      return "mosquitto_sub '%U %t %p'";
    case FileFormat::kCaptureJson:
      return "mosquitto_sub %j/%J";
    case FileFormat::kMcap:
      return "mcap";
  }
  return "?";
}

std::optional<std::int64_t> ParseEpochSeconds(std::string_view text) {
  std::size_t i = 0;
  std::int64_t secs = 0;
  if (text.empty() || !IsDigit(text[0])) return std::nullopt;
  while (i < text.size() && IsDigit(text[i])) {
    if (secs > (INT64_MAX / kNsPerSec) / 10) return std::nullopt;
    secs = secs * 10 + (text[i] - '0');
    ++i;
  }
  std::int64_t frac = 0;
  if (i < text.size()) {
    if (text[i] != '.') return std::nullopt;
    ++i;
    const std::size_t digits = text.size() - i;
    if (digits == 0 || digits > 9) return std::nullopt;
    for (std::size_t k = 0; k < 9; ++k) {
      frac *= 10;
      if (k < digits) {
        const char c = text[i + k];
        if (!IsDigit(c)) return std::nullopt;
        frac += c - '0';
      }
    }
  }
  if (secs > INT64_MAX / kNsPerSec - 1) return std::nullopt;
  return secs * kNsPerSec + frac;
}

std::optional<std::int64_t> ParseTimeArgument(std::string_view text) {
  if (auto t = ParseEpochSeconds(text)) return t;
  return protocol::ParseRfc3339(text);
}


bool ParseCaptureTextLine(std::string_view line, record::RawMessage& out) {
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  const auto t = ParseEpochSeconds(line.substr(0, sp1));
  if (!t) return false;
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return false;
  out.receive_ns = *t;
  out.topic.assign(line.data() + sp1 + 1, sp2 - sp1 - 1);
  out.payload.assign(line.data() + sp2 + 1, line.size() - sp2 - 1);
  out.qos = 0;
  out.retain = false;
  return true;
}

bool ParseCaptureJsonLine(std::string_view line, record::RawMessage& out) {
  if (line.empty() || line.front() != '{') return false;
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  const auto tst = j.find("tst");
  const auto topic = j.find("topic");
  const auto payload = j.find("payload");
  if (tst == j.end() || !tst->is_string() || topic == j.end() || !topic->is_string() ||
      topic->get_ref<const std::string&>().empty() || payload == j.end()) {
    return false;
  }
  const auto t = protocol::ParseRfc3339(tst->get_ref<const std::string&>());
  if (!t) return false;
  out.receive_ns = *t;
  out.topic = topic->get_ref<const std::string&>();
  if (payload->is_string()) {
    out.payload = payload->get_ref<const std::string&>();
  } else if (payload->is_null()) {
    out.payload.clear();
  } else {
    out.payload = payload->dump();  // %J: the payload was embedded as JSON
  }
  out.qos = 0;
  if (const auto q = j.find("qos"); q != j.end() && q->is_number_integer()) {
    const auto v = q->get<std::int64_t>();
    out.qos = static_cast<std::uint8_t>(v >= 0 && v <= 2 ? v : 0);
  }
  out.retain = false;
  if (const auto r = j.find("retain"); r != j.end()) {
    out.retain = (r->is_boolean() && r->get<bool>()) ||
                 (r->is_number_integer() && r->get<std::int64_t>() != 0);
  }
  return true;
}

std::unique_ptr<MessageSource> OpenSource(const std::string& path, std::ostream& diag,
                                          std::string* error,
                                          const record::McapReaderOptions& mcap) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    *error = path + ": cannot open: " + std::strerror(errno);
    return nullptr;
  }
  char head[kMcapMagicSize] = {};
  const std::size_t got = std::fread(head, 1, sizeof head, f);
  if (std::ferror(f) != 0) {
    *error = path + ": cannot read: " + std::strerror(errno);
    std::fclose(f);
    return nullptr;
  }
  if (got == kMcapMagicSize && std::memcmp(head, kMcapMagic, kMcapMagicSize) == 0) {
    std::fclose(f);
    std::string reason;
    auto reader = record::McapReader::Open(path, mcap, &reason);
    if (!reader) {
      *error = reason.empty() ? path + ": cannot read the recording" : reason;
      return nullptr;
    }
    return std::make_unique<McapSource>(path, std::move(reader), diag);
  }
  // Text: the first non-empty line decides.
  std::rewind(f);
  FileFormat format = FileFormat::kEmpty;
  {
    char buf[4096];
    bool at_line_start = true;
    std::size_t n = 0;
    while (format == FileFormat::kEmpty && (n = std::fread(buf, 1, sizeof buf, f)) > 0) {
      for (std::size_t i = 0; i < n; ++i) {
        const char c = buf[i];
        if (c == '\n' || c == '\r') {
          at_line_start = true;
          continue;
        }
        if (c == ' ' || c == '\t') continue;
        if (!at_line_start) continue;
        if (c == '{') {
          format = FileFormat::kCaptureJson;
        } else if (IsDigit(c)) {
          format = FileFormat::kCaptureText;
        } else {
          *error = path +
                   ": unknown format: the first line is neither a mosquitto_sub -F '%U %t %p' "
                   "line, nor -F %j JSON, nor an MCAP recording";
          std::fclose(f);
          return nullptr;
        }
        break;
      }
    }
    if (std::ferror(f) != 0) {
      *error = path + ": cannot read: " + std::strerror(errno);
      std::fclose(f);
      return nullptr;
    }
  }
  if (format == FileFormat::kEmpty) {
    std::fclose(f);
    return std::make_unique<EmptySource>(path);
  }
  std::fseek(f, 0, SEEK_END);
  const long size = std::ftell(f);
  std::rewind(f);
  return std::make_unique<CaptureSource>(path, format, f,
                                         size > 0 ? static_cast<std::uint64_t>(size) : 0, diag);
}

// ---- MergedSource ----

namespace {
// std::*_heap build a max-heap; "greater" puts the earliest (time, source) on top.
struct Later {
  template <typename H>
  bool operator()(const H& a, const H& b) const {
    if (a.message.receive_ns != b.message.receive_ns) {
      return a.message.receive_ns > b.message.receive_ns;
    }
    return a.source > b.source;
  }
};
}  // namespace

MergedSource::MergedSource(std::vector<std::unique_ptr<MessageSource>> sources)
    : sources_(std::move(sources)) {}
MergedSource::~MergedSource() = default;

bool MergedSource::Refill(std::size_t source, Head& head) {
  head.source = source;
  return sources_[source]->Next(head.message);
}

bool MergedSource::Next(record::RawMessage& out) {
  if (sources_.size() == 1) return sources_[0]->Next(out);  // no merge needed
  if (!started_) {
    started_ = true;
    heap_.reserve(sources_.size());
    for (std::size_t i = 0; i < sources_.size(); ++i) {
      Head h;
      if (Refill(i, h)) heap_.push_back(std::move(h));
    }
    std::make_heap(heap_.begin(), heap_.end(), Later{});
  }
  if (heap_.empty()) return false;
  std::pop_heap(heap_.begin(), heap_.end(), Later{});
  Head& top = heap_.back();
  // Hand the message out by swapping buffers, then refill the head from the same source.
  std::swap(out, top.message);
  if (Refill(top.source, top)) {
    std::push_heap(heap_.begin(), heap_.end(), Later{});
  } else {
    heap_.pop_back();
  }
  return true;
}

bool MergedSource::LatestBefore(std::string_view topic, std::int64_t before_ns,
                                record::RawMessage& out) {
  bool found = false;
  record::RawMessage m;
  for (const auto& s : sources_) {
    if (s->LatestBefore(topic, before_ns, m) && (!found || m.receive_ns >= out.receive_ns)) {
      out = m;
      found = true;
    }
  }
  return found;
}

void MergedSource::SeekTo(std::int64_t from_ns) {
  for (const auto& s : sources_) s->SeekTo(from_ns);
}

std::uint64_t MergedSource::chunks_loaded() const {
  std::uint64_t n = 0;
  for (const auto& s : sources_) n += s->chunks_loaded();
  return n;
}

std::string MergedSource::error() const {
  for (const auto& s : sources_) {
    if (std::string e = s->error(); !e.empty()) return s->path() + ": " + e;
  }
  return {};
}

std::uint64_t MergedSource::bytes_done() const {
  std::uint64_t n = 0;
  for (const auto& s : sources_) n += s->bytes_done();
  return n;
}

std::uint64_t MergedSource::bytes_total() const {
  std::uint64_t n = 0;
  for (const auto& s : sources_) n += s->bytes_total();
  return n;
}

std::uint64_t MergedSource::lines_skipped() const {
  std::uint64_t n = 0;
  for (const auto& s : sources_) n += s->lines_skipped();
  return n;
}

}  // namespace needlewatch::replay
