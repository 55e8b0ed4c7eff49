#include "needlewatch/record/mcap_writer.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <utility>
#include <vector>

#include "json_schemas.h"
#include "mcap_format.h"

namespace needlewatch::record {
namespace {

constexpr char kLibrary[] = "needlewatch-record";
constexpr std::size_t kMaxChannels = 65535;  // ids 1..65535

// Starts a record in `out`; returns the position of its length field for PatchLength.
std::size_t BeginRecord(std::string& out, mcap::Opcode op) {
  mcap::PutU8(out, op);
  const std::size_t at = out.size();
  mcap::PutU64(out, 0);
  return at;
}
void EndRecord(std::string& out, std::size_t length_at) {
  mcap::PatchU64(out, length_at, out.size() - length_at - 8);
}

}  // namespace

struct McapWriter::State {
  struct Channel {
    std::string record;  // the full serialized Channel record (opcode, length, content)
    std::uint32_t sequence = 0;
    std::uint64_t messages = 0;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> index;  // this chunk: (log_time, offset)
  };
  std::unordered_map<std::string, std::uint16_t> ids;  // key: topic '\0' qos retain
  std::vector<Channel> channels;                       // channels[id - 1]
  std::vector<std::uint16_t> chunk_channels;           // ids with messages in the open chunk
  std::string key;                                     // scratch lookup key
  std::uint64_t chunk_start_time = 0;
  std::uint64_t chunk_end_time = 0;
  std::uint64_t start_time = 0;
  std::uint64_t end_time = 0;
  std::vector<std::string> schemas;        // serialized Schema records, ids 1..
  std::array<std::uint16_t, static_cast<std::size_t>(SchemaKind::kCount)> schema_ids{};
  std::vector<std::string> chunk_indexes;  // serialized Chunk Index records
  std::uint32_t data_crc = 0;              // CRC of every byte written so far
  ZSTD_CCtx* cctx = nullptr;
  std::string compressed;
  std::string out;

  ~State() { ZSTD_freeCCtx(cctx); }
};

McapWriter::McapWriter(std::string path, int fd, const McapWriterOptions& options)
    : path_(std::move(path)), fd_(fd), options_(options), state_(std::make_unique<State>()) {}

std::unique_ptr<McapWriter> McapWriter::Create(const std::string& path,
                                               const McapWriterOptions& options,
                                               std::string* error) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (options.fail_if_exists ? O_EXCL : O_TRUNC);
  // 0640: a recording holds clinics' raw telemetry; readable by the service's group only.
  int fd = ::open(path.c_str(), flags, 0640);
  if (fd < 0) {
    if (error != nullptr) *error = "cannot create " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<McapWriter> w(new McapWriter(path, fd, options));
  std::string& out = w->state_->out;
  out.assign(mcap::kMagic, mcap::kMagicSize);
  std::size_t at = BeginRecord(out, mcap::kHeader);
  mcap::PutString(out, options.profile);
  mcap::PutString(out, kLibrary);
  EndRecord(out, at);
  if (!w->WriteOut(out)) {
    if (error != nullptr) *error = w->error_;
    return nullptr;
  }
  return w;
}

McapWriter::~McapWriter() { Close(); }

std::uint64_t McapWriter::chunk_count() const { return state_->chunk_indexes.size(); }
std::size_t McapWriter::channel_count() const { return state_->channels.size(); }

bool McapWriter::Fail(const std::string& what) {
  failed_ = true;
  error_ = what;
  return false;
}

bool McapWriter::WriteOut(const std::string& bytes) {
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail("write " + path_ + ": " + std::strerror(errno));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  state_->data_crc = mcap::Crc32(state_->data_crc, bytes.data(), bytes.size());
  file_bytes_ += bytes.size();
  return true;
}

std::uint16_t McapWriter::SchemaIdFor(std::string_view topic) {
  State& s = *state_;
  const SchemaKind kind = SchemaKindOf(topic);
  if (kind == SchemaKind::kNone) return 0;
  std::uint16_t& id = s.schema_ids[static_cast<std::size_t>(kind)];
  if (id != 0) return id;
  id = static_cast<std::uint16_t>(s.schemas.size() + 1);
  const JsonSchema& js = SchemaOf(kind);
  std::string& record = s.schemas.emplace_back();
  std::size_t at = BeginRecord(record, mcap::kSchema);
  mcap::PutU16(record, id);
  mcap::PutString(record, js.name);
  mcap::PutString(record, mcap::kSchemaEncoding);
  mcap::PutString(record, js.text);  // uint32 length-prefixed bytes: the same layout
  EndRecord(record, at);
  // Like channels, defined in the chunk that first uses it (before that channel).
  chunk_records_.append(record);
  return id;
}

bool McapWriter::Write(const RawMessage& message) {
  if (failed_ || closed_) return false;
  State& s = *state_;
  const std::uint64_t t = message.receive_ns < 0 ? 0 : static_cast<std::uint64_t>(message.receive_ns);

  s.key.assign(message.topic);
  s.key.push_back('\0');
  s.key.push_back(static_cast<char>(message.qos));
  s.key.push_back(message.retain ? '1' : '0');
  std::uint16_t id;
  auto it = s.ids.find(s.key);
  if (it != s.ids.end()) {
    id = it->second;
  } else {
    if (s.channels.size() >= kMaxChannels) {
      error_ = path_ + ": too many channels (MCAP allows 65535 per file)";
      return false;
    }
    id = static_cast<std::uint16_t>(s.channels.size() + 1);
    s.ids.emplace(s.key, id);
    const std::uint16_t schema = options_.json_schemas ? SchemaIdFor(message.topic) : 0;
    State::Channel& c = s.channels.emplace_back();
    std::size_t at = BeginRecord(c.record, mcap::kChannel);
    mcap::PutU16(c.record, id);
    mcap::PutU16(c.record, schema);  // 0: no schema (a topic of no known shape)
    mcap::PutString(c.record, message.topic);
    mcap::PutString(c.record, mcap::kMessageEncoding);
    const std::string qos = std::to_string(message.qos);
    const std::string retain = message.retain ? "true" : "false";
    mcap::PutU32(c.record, static_cast<std::uint32_t>(4 + 3 + 4 + qos.size() + 4 + 6 + 4 +
                                                      retain.size()));
    mcap::PutString(c.record, mcap::kMetaQos);
    mcap::PutString(c.record, qos);
    mcap::PutString(c.record, mcap::kMetaRetain);
    mcap::PutString(c.record, retain);
    EndRecord(c.record, at);
    // Defined inside the chunk that first uses it, so every chunk a recovery scan accepts has
    // its channels before its messages.
    chunk_records_.append(c.record);
  }

  State::Channel& c = s.channels[id - 1];
  if (c.index.empty()) s.chunk_channels.push_back(id);
  c.index.emplace_back(t, chunk_records_.size());
  mcap::PutU8(chunk_records_, mcap::kMessage);
  mcap::PutU64(chunk_records_, mcap::kMessageFixedSize + message.payload.size());
  mcap::PutU16(chunk_records_, id);
  mcap::PutU32(chunk_records_, ++c.sequence);
  mcap::PutU64(chunk_records_, t);
  mcap::PutU64(chunk_records_, t);
  chunk_records_.append(message.payload);
  ++c.messages;

  if (chunk_messages_ == 0) {
    s.chunk_start_time = s.chunk_end_time = t;
  } else {
    s.chunk_start_time = std::min(s.chunk_start_time, t);
    s.chunk_end_time = std::max(s.chunk_end_time, t);
  }
  if (message_count_ == 0) {
    s.start_time = s.end_time = t;
  } else {
    s.start_time = std::min(s.start_time, t);
    s.end_time = std::max(s.end_time, t);
  }
  ++chunk_messages_;
  ++message_count_;
  if (chunk_records_.size() >= options_.chunk_max_bytes) return FlushChunk();
  return true;
}

bool McapWriter::FlushChunk() {
  if (failed_) return false;
  if (chunk_records_.empty()) return true;
  State& s = *state_;

  std::string_view records = chunk_records_;
  const char* compression = "";
  if (options_.zstd_level != 0) {
    if (s.cctx == nullptr) s.cctx = ZSTD_createCCtx();
    s.compressed.resize(ZSTD_compressBound(chunk_records_.size()));
    std::size_t n = ZSTD_compressCCtx(s.cctx, s.compressed.data(), s.compressed.size(),
                                      chunk_records_.data(), chunk_records_.size(),
                                      options_.zstd_level);
    if (ZSTD_isError(n)) return Fail(path_ + ": zstd: " + ZSTD_getErrorName(n));
    records = std::string_view(s.compressed.data(), n);
    compression = "zstd";
  }

  std::string& out = s.out;
  out.clear();
  const std::uint64_t chunk_start = file_bytes_;
  std::size_t at = BeginRecord(out, mcap::kChunk);
  mcap::PutU64(out, s.chunk_start_time);
  mcap::PutU64(out, s.chunk_end_time);
  mcap::PutU64(out, chunk_records_.size());
  mcap::PutU32(out, mcap::Crc32(0, chunk_records_.data(), chunk_records_.size()));
  mcap::PutString(out, compression);
  mcap::PutU64(out, records.size());
  out.append(records);
  EndRecord(out, at);
  const std::uint64_t chunk_length = out.size();

  std::sort(s.chunk_channels.begin(), s.chunk_channels.end());
  std::string offsets;  // Map<uint16, uint64> entries for the Chunk Index
  for (std::uint16_t id : s.chunk_channels) {
    auto& index = s.channels[id - 1].index;
    std::stable_sort(index.begin(), index.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    mcap::PutU16(offsets, id);
    mcap::PutU64(offsets, chunk_start + out.size());
    std::size_t mi = BeginRecord(out, mcap::kMessageIndex);
    mcap::PutU16(out, id);
    mcap::PutU32(out, static_cast<std::uint32_t>(index.size() * 16));
    for (const auto& [time, offset] : index) {
      mcap::PutU64(out, time);
      mcap::PutU64(out, offset);
    }
    EndRecord(out, mi);
    index.clear();
  }

  std::string ci;
  std::size_t ci_at = BeginRecord(ci, mcap::kChunkIndex);
  mcap::PutU64(ci, s.chunk_start_time);
  mcap::PutU64(ci, s.chunk_end_time);
  mcap::PutU64(ci, chunk_start);
  mcap::PutU64(ci, chunk_length);
  mcap::PutString(ci, offsets);  // byte-length-prefixed map: same layout as a string
  mcap::PutU64(ci, out.size() - chunk_length);
  mcap::PutString(ci, compression);
  mcap::PutU64(ci, records.size());
  mcap::PutU64(ci, chunk_records_.size());
  EndRecord(ci, ci_at);

  if (!WriteOut(out)) return false;
  if (options_.sync_each_chunk && ::fdatasync(fd_) != 0) {
    return Fail("fdatasync " + path_ + ": " + std::strerror(errno));
  }
  s.chunk_indexes.push_back(std::move(ci));
  s.chunk_channels.clear();
  flushed_messages_ += chunk_messages_;
  chunk_messages_ = 0;
  chunk_records_.clear();
  return true;
}

bool McapWriter::Close() {
  if (closed_) return !failed_;
  closed_ = true;
  bool ok = FlushChunk();
  if (ok) {
    State& s = *state_;
    std::string& out = s.out;
    out.clear();
    // Data End carries the CRC of every byte before it.
    mcap::PutU8(out, mcap::kDataEnd);
    mcap::PutU64(out, 4);
    mcap::PutU32(out, s.data_crc);

    const std::uint64_t summary_start = file_bytes_ + out.size();
    struct Group {
      mcap::Opcode op;
      std::uint64_t start;
      std::uint64_t length;
    };
    std::vector<Group> groups;
    auto group = [&](mcap::Opcode op, auto&& write_records) {
      const std::uint64_t start = file_bytes_ + out.size();
      write_records();
      const std::uint64_t end = file_bytes_ + out.size();
      if (end > start) groups.push_back({op, start, end - start});
    };
    group(mcap::kSchema, [&] {
      for (const auto& r : s.schemas) out.append(r);
    });
    group(mcap::kChannel, [&] {
      for (const auto& c : s.channels) out.append(c.record);
    });
    group(mcap::kStatistics, [&] {
      std::size_t at = BeginRecord(out, mcap::kStatistics);
      mcap::PutU64(out, message_count_);
      mcap::PutU16(out, static_cast<std::uint16_t>(s.schemas.size()));
      mcap::PutU32(out, static_cast<std::uint32_t>(s.channels.size()));
      mcap::PutU32(out, 0);  // attachments
      mcap::PutU32(out, 0);  // metadata
      mcap::PutU32(out, static_cast<std::uint32_t>(s.chunk_indexes.size()));
      mcap::PutU64(out, s.start_time);
      mcap::PutU64(out, s.end_time);
      mcap::PutU32(out, static_cast<std::uint32_t>(s.channels.size() * 10));
      for (std::size_t i = 0; i < s.channels.size(); ++i) {
        mcap::PutU16(out, static_cast<std::uint16_t>(i + 1));
        mcap::PutU64(out, s.channels[i].messages);
      }
      EndRecord(out, at);
    });
    group(mcap::kChunkIndex, [&] {
      for (const auto& ci : s.chunk_indexes) out.append(ci);
    });
    const std::uint64_t summary_offset_start = file_bytes_ + out.size();
    for (const Group& g : groups) {
      std::size_t at = BeginRecord(out, mcap::kSummaryOffset);
      mcap::PutU8(out, g.op);
      mcap::PutU64(out, g.start);
      mcap::PutU64(out, g.length);
      EndRecord(out, at);
    }
    mcap::PutU8(out, mcap::kFooter);
    mcap::PutU64(out, mcap::kFooterContentSize);
    mcap::PutU64(out, summary_start);
    mcap::PutU64(out, summary_offset_start);
    const std::size_t crc_from = static_cast<std::size_t>(summary_start - file_bytes_);
    mcap::PutU32(out, mcap::Crc32(0, out.data() + crc_from, out.size() - crc_from));
    out.append(mcap::kMagic, mcap::kMagicSize);
    ok = WriteOut(out);
    if (ok && ::fdatasync(fd_) != 0) ok = Fail("fdatasync " + path_ + ": " + std::strerror(errno));
  }
  if (::close(fd_) != 0 && ok) ok = Fail("close " + path_ + ": " + std::strerror(errno));
  fd_ = -1;
  return ok;
}

}  // namespace needlewatch::record
