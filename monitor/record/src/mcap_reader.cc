#include "needlewatch/record/mcap_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <lz4frame.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "mcap_format.h"
#include "rejected.h"

namespace needlewatch::record {
namespace {

constexpr std::uint64_t kMaxChunkBytes = 1ULL << 30;  // one decompressed chunk, at most
// A returned cursor keeps its buffer for the next chunk unless it is larger than this.
constexpr std::size_t kKeepSpareBytes = 4 << 20;
constexpr std::uint64_t kLooseChunk = std::numeric_limits<std::uint64_t>::max();
constexpr std::size_t kMaxWarnings = 64;

struct Channel {
  bool known = false;
  bool rejected = false;  // a kRejectedTopicPrefix channel: messages are envelopes
  std::string topic;
  std::uint8_t qos = 0;
  bool retain = false;
};

// Where one chunk's messages come from: a Chunk record in the file, or (kLooseChunk) the
// messages a scan found outside chunks.
struct ChunkRef {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;  // the whole record, opcode and length included
  std::int64_t start = 0;
  std::int64_t end = 0;
  std::uint64_t order = 0;  // file position, for ties
  bool bad = false;         // found corrupt once: skipped (and counted) only once
  std::uint64_t usize = 0;  // uncompressed size from the Chunk Index (0: not known yet)
};

struct Entry {
  std::int64_t time;
  std::uint32_t offset;  // of the Message record content in Cursor::records
  std::uint32_t size;
};

// A decompressed chunk being merged: its messages sorted by log time.
struct Cursor {
  std::string records;
  std::vector<Entry> entries;
  std::size_t pos = 0;
  std::uint64_t order = 0;
  std::int64_t current() const { return entries[pos].time; }
};

}  // namespace

struct McapReader::Impl {
  McapReaderOptions options;
  std::string error;  // set once the budget stops the reader
  std::uint64_t bytes_done = 0;
  std::string path;
  int fd = -1;
  std::uint64_t size = 0;
  bool complete = false;
  std::uint64_t skipped = 0;
  std::uint64_t message_count = 0;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::uint64_t chunks_loaded = 0;
  std::vector<std::string> warnings;

  std::vector<Channel> channels;  // by channel id
  std::vector<ChunkRef> chunks;   // sorted by (start, order)
  std::string loose;              // Message/Channel records found outside chunks
  std::uint64_t loose_order = 0;

  // Merge state.
  std::size_t next_chunk = 0;
  std::int64_t seek_from = std::numeric_limits<std::int64_t>::min();
  std::vector<std::unique_ptr<Cursor>> active;
  std::vector<std::unique_ptr<Cursor>> spare;

  ZSTD_DCtx* dctx = nullptr;
  LZ4F_dctx* lz4 = nullptr;
  std::string buf;  // raw bytes read from the file

  ~Impl() {
    ZSTD_freeDCtx(dctx);
    if (lz4 != nullptr) LZ4F_freeDecompressionContext(lz4);
    if (fd >= 0) ::close(fd);
  }

  // Bytes held now by decompressed chunks (active and spare buffers), loose messages and the raw
  // read buffer: what max_memory_bytes bounds.
  std::uint64_t Held() const {
    std::uint64_t n = loose.capacity() + buf.capacity();
    for (const auto& c : active) n += c->records.capacity() + c->entries.capacity() * sizeof(Entry);
    for (const auto& c : spare) n += c->records.capacity() + c->entries.capacity() * sizeof(Entry);
    return n;
  }

  // Stops the reader (once): Next() returns false from now on.
  bool Stop(std::string why) {
    if (error.empty()) error = std::move(why);
    return false;
  }

  // Checks a chunk's claimed uncompressed size against both budgets before anything is
  // allocated for it. `held` excludes the buffer the chunk will be decompressed into.
  bool Admit(std::uint64_t offset, std::uint64_t usize, std::uint64_t held) {
    if (usize > options.max_chunk_bytes) {
      return Stop("chunk at offset " + std::to_string(offset) + " claims " +
                  std::to_string(usize) + " bytes uncompressed, more than the reader's limit of " +
                  std::to_string(options.max_chunk_bytes) + " bytes per chunk");
    }
    if (held + usize > options.max_memory_bytes) {
      return Stop("chunk at offset " + std::to_string(offset) + " needs " + std::to_string(usize) +
                  " bytes with " + std::to_string(held) + " already held by " +
                  std::to_string(active.size()) +
                  " chunks overlapping in time: over the reader's memory budget of " +
                  std::to_string(options.max_memory_bytes) + " bytes");
    }
    return true;
  }

  void Recycle(std::unique_ptr<Cursor> c) {
    if (c->records.capacity() > kKeepSpareBytes) {
      c->records = std::string();
      c->entries = std::vector<Entry>();
    }
    spare.push_back(std::move(c));
  }

  void Warn(std::string text) {
    if (warnings.size() < kMaxWarnings) warnings.push_back(std::move(text));
  }

  bool ReadAt(std::uint64_t offset, std::uint64_t n, std::string& out) {
    if (offset > size || n > size - offset) return false;
    out.resize(static_cast<std::size_t>(n));
    std::size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd, out.data() + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      done += static_cast<std::size_t>(r);
    }
    return true;
  }

  void AddChannel(std::string_view content) {
    mcap::Decoder d(content);
    std::uint16_t id = 0;
    std::uint16_t schema = 0;
    std::string_view topic;
    std::string_view encoding;
    std::string_view metadata;
    if (!d.U16(id) || !d.U16(schema) || !d.String(topic) || !d.String(encoding) ||
        !d.String(metadata)) {
      Warn("malformed Channel record");
      return;
    }
    if (channels.size() <= id) channels.resize(static_cast<std::size_t>(id) + 1);
    Channel& c = channels[id];
    c.known = true;
    c.topic.assign(topic);
    c.rejected = topic.starts_with(kRejectedTopicPrefix);
    c.qos = 0;
    c.retain = false;
    mcap::Decoder m(metadata);
    std::string_view key;
    std::string_view value;
    while (m.remaining() > 0 && m.String(key) && m.String(value)) {
      if (key == mcap::kMetaQos && value.size() == 1 && value[0] >= '0' && value[0] <= '2') {
        c.qos = static_cast<std::uint8_t>(value[0] - '0');
      } else if (key == mcap::kMetaRetain) {
        c.retain = value == "true";
      }
    }
  }

  // Decodes a Chunk record's content into `records` (decompressed, CRC checked). False with
  // `*why` for a corrupt chunk (skipped and counted), or with the reader stopped (error set) when
  // the chunk breaks the memory budget.
  bool DecodeChunk(std::uint64_t offset, std::string_view content, std::string& records,
                   std::string* why) {
    mcap::Decoder d(content);
    std::uint64_t start = 0;
    std::uint64_t end = 0;
    std::uint64_t usize = 0;
    std::uint32_t crc = 0;
    std::string_view compression;
    std::string_view data;
    if (!d.U64(start) || !d.U64(end) || !d.U64(usize) || !d.U32(crc) || !d.String(compression) ||
        !d.LongBytes(data)) {
      *why = "malformed Chunk record";
      return false;
    }
    // Within the budget a claim costs nothing yet: Inflate allocates as output arrives.
    if (!Admit(offset, usize, Held())) return false;  // `records` is not counted in Held()
    if (compression.empty()) {
      if (data.size() != usize) {
        *why = "uncompressed chunk size mismatch";
        return false;
      }
      records.assign(data);
    } else if (compression == "zstd" || compression == "lz4") {
      if (!Inflate(compression == "zstd", data, static_cast<std::size_t>(usize), records, why)) {
        return false;
      }
    } else {
      *why = "unsupported chunk compression \"" + std::string(compression) + "\"";
      return false;
    }
    if (crc != 0 && mcap::Crc32(0, records.data(), records.size()) != crc) {
      *why = "chunk CRC mismatch";
      return false;
    }
    return true;
  }

  // Decompresses a zstd or LZ4 frame (or several in a row) that must come to exactly `usize`
  // bytes. The output buffer starts small and doubles only as output arrives, up to usize + 1
  // (one byte more shows a frame that runs past its claim).
  bool Inflate(bool zstd, std::string_view data, std::size_t usize, std::string& records,
               std::string* why) {
    const std::size_t limit = usize + 1;
    std::size_t room = std::min<std::size_t>(limit, std::max<std::size_t>(64 << 10, data.size() * 8));
    records.resize(room);
    std::size_t in = 0;
    std::size_t out = 0;
    if (zstd) {
      if (dctx == nullptr) dctx = ZSTD_createDCtx();
      ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
    } else {
      if (lz4 == nullptr && LZ4F_isError(LZ4F_createDecompressionContext(&lz4, LZ4F_VERSION))) {
        lz4 = nullptr;
        *why = "lz4: cannot create a decompression context";
        return false;
      }
      LZ4F_resetDecompressionContext(lz4);
    }
    bool frame_done = false;
    for (;;) {
      if (out == room) {
        if (room >= limit) break;  // more output than claimed: caught below
        room = std::min(limit, room * 2);
        records.resize(room);
      }
      std::size_t hint;
      if (zstd) {
        ZSTD_inBuffer ib{data.data(), data.size(), in};
        ZSTD_outBuffer ob{records.data(), room, out};
        hint = ZSTD_decompressStream(dctx, &ob, &ib);
        if (ZSTD_isError(hint)) {
          *why = std::string("zstd: ") + ZSTD_getErrorName(hint);
          return false;
        }
        in = ib.pos;
        out = ob.pos;
      } else {
        std::size_t dst = room - out;
        std::size_t src = data.size() - in;
        hint = LZ4F_decompress(lz4, records.data() + out, &dst, data.data() + in, &src, nullptr);
        if (LZ4F_isError(hint)) {
          *why = std::string("lz4: ") + LZ4F_getErrorName(hint);
          return false;
        }
        in += src;
        out += dst;
      }
      frame_done = hint == 0;
      if (in == data.size() && (frame_done || out < room)) break;  // all input taken
    }
    if (out > usize) {
      *why = "chunk decompresses to more than its uncompressed_size " + std::to_string(usize);
      return false;
    }
    if (!frame_done || out != usize) {
      *why = std::string(zstd ? "zstd" : "lz4") + ": truncated frame or size mismatch (" +
             std::to_string(out) + " of " + std::to_string(usize) + " bytes)";
      return false;
    }
    records.resize(out);
    return true;
  }

  // Registers the chunk's channels and lists its messages, sorted by log time.
  void IndexRecords(Cursor& c) {
    c.entries.clear();
    c.pos = 0;
    const std::string& r = c.records;
    std::size_t pos = 0;
    while (r.size() - pos >= mcap::kRecordPrefixSize) {
      const auto op = static_cast<std::uint8_t>(r[pos]);
      const std::uint64_t len = mcap::LoadU64(r.data() + pos + 1);
      const std::size_t content = pos + mcap::kRecordPrefixSize;
      if (len > r.size() - content) {
        Warn("record overruns its chunk");
        break;
      }
      if (op == mcap::kChannel) {
        AddChannel(std::string_view(r.data() + content, static_cast<std::size_t>(len)));
      } else if (op == mcap::kMessage && len >= mcap::kMessageFixedSize) {
        const auto time = static_cast<std::int64_t>(mcap::LoadU64(r.data() + content + 6));
        c.entries.push_back({time, static_cast<std::uint32_t>(content),
                             static_cast<std::uint32_t>(len)});
      }
      pos = content + static_cast<std::size_t>(len);
    }
    auto by_time = [](const Entry& a, const Entry& b) { return a.time < b.time; };
    if (!std::is_sorted(c.entries.begin(), c.entries.end(), by_time)) {
      std::stable_sort(c.entries.begin(), c.entries.end(), by_time);
    }
  }

  std::unique_ptr<Cursor> TakeCursor() {
    if (spare.empty()) return std::make_unique<Cursor>();
    auto c = std::move(spare.back());
    spare.pop_back();
    return c;
  }

  // Reads, decompresses and indexes one chunk; nullptr when it is corrupt or has nothing left
  // at or after seek_from.
  std::unique_ptr<Cursor> Load(ChunkRef& ref) {
    auto c = Decompress(ref);
    if (!c) return nullptr;
    auto first = std::lower_bound(c->entries.begin(), c->entries.end(), seek_from,
                                  [](const Entry& e, std::int64_t t) { return e.time < t; });
    c->pos = static_cast<std::size_t>(first - c->entries.begin());
    if (c->pos >= c->entries.size()) {
      Recycle(std::move(c));
      return nullptr;
    }
    return c;
  }

  // Reads, decompresses and indexes one chunk (all of it); nullptr when it is corrupt or breaks
  // the memory budget (then error is set).
  std::unique_ptr<Cursor> Decompress(ChunkRef& ref) {
    if (ref.bad || !error.empty()) return nullptr;
    const bool loose_chunk = ref.offset == kLooseChunk;
    // Before reading anything: the raw record and what the index says it inflates to.
    if (!Admit(loose_chunk ? 0 : ref.offset,
               loose_chunk ? loose.size() : std::max(ref.usize, ref.length), Held())) {
      return nullptr;
    }
    auto c = TakeCursor();
    c->order = ref.order;
    ++chunks_loaded;
    if (loose_chunk) {
      c->records = loose;
    } else {
      std::string why = "cannot read chunk";
      bool ok = ReadAt(ref.offset, ref.length, buf) && buf.size() >= mcap::kRecordPrefixSize &&
                static_cast<std::uint8_t>(buf[0]) == mcap::kChunk &&
                mcap::LoadU64(buf.data() + 1) == ref.length - mcap::kRecordPrefixSize;
      if (ok) {
        ok = DecodeChunk(ref.offset, std::string_view(buf).substr(mcap::kRecordPrefixSize),
                         c->records, &why);
      }
      if (!ok) {
        Recycle(std::move(c));
        if (!error.empty()) return nullptr;  // the budget, not the file
        ref.bad = true;
        skipped += ref.length;
        Warn("chunk at offset " + std::to_string(ref.offset) + " skipped: " + why);
        return nullptr;
      }
    }
    IndexRecords(*c);
    return c;
  }

  // Reads the footer and summary. True when the file is complete and indexed.
  bool OpenIndexed() {
    constexpr std::uint64_t kTail = mcap::kFooterRecordSize + mcap::kMagicSize;
    if (size < mcap::kMagicSize + kTail) return false;
    std::string tail;
    if (!ReadAt(size - kTail, kTail, tail)) return false;
    if (std::memcmp(tail.data() + mcap::kFooterRecordSize, mcap::kMagic, mcap::kMagicSize) != 0 ||
        static_cast<std::uint8_t>(tail[0]) != mcap::kFooter ||
        mcap::LoadU64(tail.data() + 1) != mcap::kFooterContentSize) {
      return false;
    }
    const std::uint64_t footer_at = size - kTail;
    const std::uint64_t summary_start = mcap::LoadU64(tail.data() + 9);
    const std::uint32_t summary_crc = mcap::LoadU32(tail.data() + 25);
    if (summary_start == 0) return false;  // no summary: scan (the footer still marks the end)
    if (summary_start < mcap::kMagicSize || summary_start > footer_at) {
      Warn("footer points outside the file; recovering by scan");
      return false;
    }
    std::string summary;
    if (!ReadAt(summary_start, footer_at - summary_start, summary)) return false;
    if (summary_crc != 0) {
      std::uint32_t crc = mcap::Crc32(0, summary.data(), summary.size());
      crc = mcap::Crc32(crc, tail.data(), 1 + 8 + 8 + 8);
      if (crc != summary_crc) {
        Warn("summary CRC mismatch; recovering by scan");
        return false;
      }
    }
    std::vector<ChunkRef> refs;
    bool have_stats = false;
    std::size_t pos = 0;
    while (pos < summary.size()) {
      if (summary.size() - pos < mcap::kRecordPrefixSize) return false;
      const auto op = static_cast<std::uint8_t>(summary[pos]);
      const std::uint64_t len = mcap::LoadU64(summary.data() + pos + 1);
      const std::size_t at = pos + mcap::kRecordPrefixSize;
      if (len > summary.size() - at) return false;
      std::string_view content(summary.data() + at, static_cast<std::size_t>(len));
      mcap::Decoder d(content);
      if (op == mcap::kChannel) {
        AddChannel(content);
      } else if (op == mcap::kChunkIndex) {
        ChunkRef ref;
        std::uint64_t s = 0;
        std::uint64_t e = 0;
        if (!d.U64(s) || !d.U64(e) || !d.U64(ref.offset) || !d.U64(ref.length)) return false;
        if (ref.offset < mcap::kMagicSize || ref.offset > summary_start ||
            ref.length > summary_start - ref.offset) {
          return false;
        }
        ref.start = static_cast<std::int64_t>(s);
        ref.end = static_cast<std::int64_t>(e);
        ref.order = ref.offset;
        // The rest: message index offsets and length, compression, compressed and uncompressed
        // sizes. A claim beyond the per-chunk limit stops the reader here, before any chunk.
        std::string_view offsets;
        std::uint64_t index_length = 0;
        std::string_view compression;
        std::uint64_t compressed = 0;
        if (d.String(offsets) && d.U64(index_length) && d.String(compression) &&
            d.U64(compressed) && d.U64(ref.usize) && !Admit(ref.offset, ref.usize, 0)) {
          return false;
        }
        refs.push_back(ref);
      } else if (op == mcap::kStatistics) {
        std::uint64_t count = 0;
        std::uint16_t schemas = 0;
        std::uint32_t n = 0;
        std::uint64_t s = 0;
        std::uint64_t e = 0;
        if (!d.U64(count) || !d.U16(schemas) || !d.U32(n) || !d.U32(n) || !d.U32(n) ||
            !d.U32(n) || !d.U64(s) || !d.U64(e)) {
          return false;
        }
        have_stats = true;
        message_count = count;
        start_ns = static_cast<std::int64_t>(s);
        end_ns = static_cast<std::int64_t>(e);
      }
      pos = at + static_cast<std::size_t>(len);
    }
    complete = true;
    if (refs.empty() && (!have_stats || message_count > 0)) return false;  // unchunked: scan
    chunks = std::move(refs);
    if (!have_stats && !chunks.empty()) {
      start_ns = chunks.front().start;
      end_ns = chunks.front().end;
      for (const auto& c : chunks) {
        start_ns = std::min(start_ns, c.start);
        end_ns = std::max(end_ns, c.end);
      }
    }
    return true;
  }

  // Reads the data section record by record from the start. Used when the summary is missing
  // or unusable (then complete stays false) and for unchunked files.
  void Scan() {
    chunks.clear();
    loose.clear();
    const bool counted = complete;  // complete files already have Statistics
    std::uint64_t count = 0;
    bool any = false;
    std::int64_t lo = 0;
    std::int64_t hi = 0;
    auto note_time = [&](std::int64_t t) {
      lo = any ? std::min(lo, t) : t;
      hi = any ? std::max(hi, t) : t;
      any = true;
    };
    std::uint64_t pos = mcap::kMagicSize;
    std::string head;
    Cursor scratch;
    while (pos < size) {
      const std::uint64_t left = size - pos;
      const std::uint64_t want = std::min<std::uint64_t>(left, mcap::kRecordPrefixSize);
      if (!ReadAt(pos, want, head)) {
        skipped += left;
        Warn("read error at offset " + std::to_string(pos));
        break;
      }
      const auto op = static_cast<std::uint8_t>(head[0]);
      // Past Data End (even a torn one) come only summary records: no message data is lost.
      if (op == mcap::kDataEnd || op == mcap::kFooter) break;
      if (want < mcap::kRecordPrefixSize) {
        skipped += left;
        Warn("torn record at offset " + std::to_string(pos) + " (" + std::to_string(left) +
             " bytes skipped)");
        break;
      }
      const std::uint64_t len = mcap::LoadU64(head.data() + 1);
      const std::uint64_t avail = left - mcap::kRecordPrefixSize;
      if (op == 0 || len > avail) {
        skipped += size - pos;
        Warn(std::string(op == 0 ? "invalid record" : "torn record") + " at offset " +
             std::to_string(pos) + " (" + std::to_string(size - pos) + " bytes skipped)");
        break;
      }
      const std::uint64_t total = mcap::kRecordPrefixSize + len;
      if (op == mcap::kChunk || op == mcap::kChannel || op == mcap::kMessage) {
        if (op == mcap::kChunk && !Admit(pos, total, Held() - buf.capacity())) break;
        if (!ReadAt(pos, total, buf)) {
          skipped += size - pos;
          Warn("read error at offset " + std::to_string(pos));
          break;
        }
        std::string_view content = std::string_view(buf).substr(mcap::kRecordPrefixSize);
        if (op == mcap::kChunk) {
          std::string why;
          ++chunks_loaded;
          if (!DecodeChunk(pos, content, scratch.records, &why)) {
            if (!error.empty()) break;
            skipped += total;
            Warn("chunk at offset " + std::to_string(pos) + " skipped: " + why);
          } else {
            IndexRecords(scratch);
            if (!scratch.entries.empty()) {
              ChunkRef ref{pos, total, scratch.entries.front().time,
                           scratch.entries.back().time, pos, false};
              chunks.push_back(ref);
              count += scratch.entries.size();
              note_time(ref.start);
              note_time(ref.end);
            }
          }
        } else if (loose.size() + total > std::min(kMaxChunkBytes, options.max_memory_bytes)) {
          // Keeps offsets within 32 bits too.
          Stop("more than " + std::to_string(std::min(kMaxChunkBytes, options.max_memory_bytes)) +
               " bytes of messages outside chunks: over the reader's memory budget");
          break;
        } else {
          if (op == mcap::kChannel) AddChannel(content);
          if (op == mcap::kMessage && len >= mcap::kMessageFixedSize) {
            if (loose.empty()) loose_order = pos;
            ++count;
            note_time(static_cast<std::int64_t>(mcap::LoadU64(content.data() + 6)));
          }
          loose.append(buf);  // channels too, so the loose pseudo-chunk is self-contained
        }
      }
      pos += total;
    }
    if (count > 0 && !loose.empty()) {
      scratch.records = loose;
      IndexRecords(scratch);
      if (!scratch.entries.empty()) {
        chunks.push_back({kLooseChunk, 0, scratch.entries.front().time,
                          scratch.entries.back().time, loose_order, false});
      }
    }
    if (!counted) {
      message_count = count;
      start_ns = any ? lo : 0;
      end_ns = any ? hi : 0;
    }
  }
};

McapReader::McapReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
McapReader::~McapReader() = default;

std::unique_ptr<McapReader> McapReader::Open(const std::string& path, std::string* error) {
  return Open(path, McapReaderOptions{}, error);
}

std::unique_ptr<McapReader> McapReader::Open(const std::string& path,
                                             const McapReaderOptions& options,
                                             std::string* error) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  impl->options.max_chunk_bytes = std::min(options.max_chunk_bytes, kMaxChunkBytes);
  auto fail = [&](const std::string& why) {
    if (error != nullptr) *error = path + ": " + why;
    return nullptr;
  };
  impl->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (impl->fd < 0) return fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(impl->fd, &st) != 0) return fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  impl->size = static_cast<std::uint64_t>(st.st_size);
  std::string magic;
  if (!impl->ReadAt(0, mcap::kMagicSize, magic) ||
      std::memcmp(magic.data(), mcap::kMagic, mcap::kMagicSize) != 0) {
    return fail("not an MCAP file (no MCAP magic at the start)");
  }
  if (!impl->OpenIndexed() && impl->error.empty()) {
    impl->chunks.clear();
    impl->Scan();
  }
  if (!impl->error.empty()) return fail(impl->error);
  std::sort(impl->chunks.begin(), impl->chunks.end(), [](const ChunkRef& a, const ChunkRef& b) {
    return a.start != b.start ? a.start < b.start : a.order < b.order;
  });
  return std::unique_ptr<McapReader>(new McapReader(std::move(impl)));
}

bool McapReader::Next(RawMessage& out) {
  Impl& m = *impl_;
  for (;;) {
    // Bring in every chunk that may hold a message earlier than the current candidate.
    while (m.next_chunk < m.chunks.size()) {
      ChunkRef& ref = m.chunks[m.next_chunk];
      if (ref.end < m.seek_from) {
        ++m.next_chunk;
        m.bytes_done += ref.length;  // passed over: counts as done for progress
        continue;
      }
      if (!m.active.empty()) {
        std::int64_t min = m.active.front()->current();
        for (const auto& c : m.active) min = std::min(min, c->current());
        if (ref.start > min) break;
      }
      ++m.next_chunk;
      m.bytes_done += ref.length;
      if (auto c = m.Load(ref)) m.active.push_back(std::move(c));
      if (!m.error.empty()) return false;
    }
    if (m.active.empty()) return false;

    std::size_t best = 0;
    for (std::size_t i = 1; i < m.active.size(); ++i) {
      const Cursor& a = *m.active[i];
      const Cursor& b = *m.active[best];
      if (a.current() < b.current() || (a.current() == b.current() && a.order < b.order)) best = i;
    }
    Cursor& c = *m.active[best];
    const Entry e = c.entries[c.pos++];
    const std::uint16_t id = mcap::LoadU16(c.records.data() + e.offset);
    bool known = id < m.channels.size() && m.channels[id].known;
    if (known) {
      const Channel& ch = m.channels[id];
      const std::string_view data(c.records.data() + e.offset + mcap::kMessageFixedSize,
                                  e.size - mcap::kMessageFixedSize);
      out.receive_ns = e.time;
      if (ch.rejected) {
        std::string why;
        if (!DecodeRejected(data, out, &why)) {
          m.Warn(why + " on channel " + ch.topic + "; message skipped");
          known = false;
        }
      } else {
        out.topic = ch.topic;
        out.qos = ch.qos;
        out.retain = ch.retain;
        out.payload.assign(data);
        out.reject.clear();
        out.original_size = 0;
      }
    } else {
      m.Warn("message on undefined channel " + std::to_string(id) + " skipped");
    }
    if (c.pos >= c.entries.size()) {
      m.Recycle(std::move(m.active[best]));
      m.active.erase(m.active.begin() + static_cast<std::ptrdiff_t>(best));
    }
    if (!known) continue;
    return true;
  }
}

bool McapReader::LatestBefore(std::string_view topic, std::int64_t before_ns, RawMessage& out) {
  Impl& m = *impl_;
  auto on_topic = [&](std::uint16_t id) {
    return id < m.channels.size() && m.channels[id].known && m.channels[id].topic == topic;
  };
  // Complete files list every channel in their summary: no channel, no chunk to read.
  if (std::none_of(m.channels.begin(), m.channels.end(),
                   [&](const Channel& c) { return c.known && c.topic == topic; })) {
    return false;
  }
  bool found = false;
  std::int64_t best = 0;
  std::uint64_t best_order = 0;
  for (std::size_t i = m.chunks.size(); i-- > 0;) {
    ChunkRef& ref = m.chunks[i];
    if (ref.start >= before_ns || (found && ref.end < best)) continue;
    auto c = m.Decompress(ref);
    if (!c) continue;
    for (const Entry& e : c->entries) {
      if (e.time >= before_ns) break;
      const std::uint16_t id = mcap::LoadU16(c->records.data() + e.offset);
      if (!on_topic(id)) continue;
      // The latest time wins; among equal times the last in file order (as Next yields them).
      if (found && (e.time < best || (e.time == best && ref.order < best_order))) continue;
      found = true;
      best = e.time;
      best_order = ref.order;
      const Channel& ch = m.channels[id];
      out.receive_ns = e.time;
      out.topic = ch.topic;
      out.qos = ch.qos;
      out.retain = ch.retain;
      out.payload.assign(c->records.data() + e.offset + mcap::kMessageFixedSize,
                         e.size - mcap::kMessageFixedSize);
      out.reject.clear();
      out.original_size = 0;
    }
    m.Recycle(std::move(c));
  }
  return found;
}

void McapReader::SeekTo(std::int64_t from_ns) {
  Impl& m = *impl_;
  for (auto& c : m.active) m.Recycle(std::move(c));
  m.active.clear();
  m.bytes_done = 0;
  m.next_chunk = 0;
  m.seek_from = from_ns;
}

bool McapReader::complete() const { return impl_->complete; }
const std::string& McapReader::error() const { return impl_->error; }
std::uint64_t McapReader::bytes_done() const { return impl_->bytes_done; }
std::uint64_t McapReader::skipped_bytes() const { return impl_->skipped; }
std::uint64_t McapReader::message_count() const { return impl_->message_count; }
std::int64_t McapReader::start_ns() const { return impl_->start_ns; }
std::int64_t McapReader::end_ns() const { return impl_->end_ns; }
std::uint64_t McapReader::chunk_count() const { return impl_->chunks.size(); }
std::uint64_t McapReader::file_size() const { return impl_->size; }
std::uint64_t McapReader::chunks_loaded() const { return impl_->chunks_loaded; }
const std::vector<std::string>& McapReader::warnings() const { return impl_->warnings; }

bool ReadRecording(const std::string& path,
                   const std::function<bool(const RawMessage&)>& callback, std::string* error) {
  auto reader = McapReader::Open(path, error);
  if (!reader) return false;
  RawMessage m;
  while (reader->Next(m)) {
    if (!callback(m)) return true;
  }
  if (!reader->error().empty()) {
    if (error != nullptr) *error = path + ": " + reader->error();
    return false;
  }
  return true;
}

}  // namespace needlewatch::record
