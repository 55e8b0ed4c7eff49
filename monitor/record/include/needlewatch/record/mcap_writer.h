// McapWriter: writes RawMessages into one MCAP file (layout in monitor/record/README.md).
//
// One Channel per (topic, qos, retain), message_encoding "json", channel metadata
// {"qos": "0|1|2", "retain": "true|false"}; the payload bytes are the message data unchanged.
// A channel whose topic has a known shape (telemetry, event, status, alarm, command, monitor
// status, the control records, rejected messages) refers to a JSON Schema of that kind (schema
// encoding "jsonschema", one Schema record per kind used, README.md); other topics get schema
// id 0.
// log_time = publish_time = receive_ns; the sequence counts per channel from 1. Messages are
// buffered into a chunk (zstd-compressed, CRC-32 of the uncompressed records) which is written
// with its Message Index records in one write() once it reaches `chunk_max_bytes` or when
// FlushChunk() is called. Close() adds Data End, the summary (Channels, Statistics, Chunk
// Indexes), Summary Offsets, Footer and the closing magic.
//
// Crash safety: everything in a closed chunk is in the file (in the page cache: it survives
// kill -9, not a power cut unless `sync_each_chunk`). Messages still buffered when the process
// dies are lost; the caller bounds that window by calling FlushChunk() periodically.
//
// Not thread-safe: one thread owns a writer.
#ifndef NEEDLEWATCH_RECORD_MCAP_WRITER_H_
#define NEEDLEWATCH_RECORD_MCAP_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "needlewatch/record/raw_message.h"

namespace needlewatch::record {

struct McapWriterOptions {
  // zstd level for chunks; 0 writes chunks uncompressed (compression "").
  int zstd_level = 3;
  // A chunk is closed once its uncompressed records reach this size.
  std::size_t chunk_max_bytes = 256 * 1024;
  // Header profile ("" = none; readers treat it as a generic file).
  std::string profile;
  // fdatasync after every chunk (power-cut safety at a throughput cost). Close() always syncs.
  bool sync_each_chunk = false;
  // Refuse to overwrite an existing file (O_EXCL) instead of truncating it.
  bool fail_if_exists = false;
  // Give channels of known topic shapes their JSON Schema (for Foxglove and other tools).
  bool json_schemas = true;
};

class McapWriter {
 public:
  // Creates (or truncates) `path` and writes the magic and the Header. nullptr and `*error` set
  // when the file cannot be created.
  static std::unique_ptr<McapWriter> Create(const std::string& path,
                                            const McapWriterOptions& options,
                                            std::string* error);
  // Close()s the file if the caller did not.
  ~McapWriter();
  McapWriter(const McapWriter&) = delete;
  McapWriter& operator=(const McapWriter&) = delete;

  // Appends one message to the open chunk (closing it when full). Negative receive_ns is
  // recorded as 0. False on an I/O error or when the file already has 65,535 channels (the
  // MCAP channel id is 16 bits): the message is not written, error() says why; after an I/O
  // error the writer stays failed.
  bool Write(const RawMessage& message);
  // Writes the open chunk (if any) and its message indexes. False on an I/O error.
  bool FlushChunk();
  // Flushes, writes the summary and footer, syncs and closes. Idempotent; false on error.
  bool Close();

  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }
  bool failed() const { return failed_; }
  // Bytes written to the file so far (excluding the open chunk).
  std::uint64_t file_bytes() const { return file_bytes_; }
  // Uncompressed bytes waiting in the open chunk.
  std::size_t buffered_bytes() const { return chunk_records_.size(); }
  std::size_t buffered_messages() const { return chunk_messages_; }
  // Messages accepted by Write() / messages already in closed chunks.
  std::uint64_t message_count() const { return message_count_; }
  std::uint64_t flushed_messages() const { return flushed_messages_; }
  std::uint64_t chunk_count() const;
  std::size_t channel_count() const;

 private:
  struct State;
  McapWriter(std::string path, int fd, const McapWriterOptions& options);
  bool WriteOut(const std::string& bytes);
  // The id of the JSON Schema for `topic`'s kind (writing its record on first use); 0 for none.
  std::uint16_t SchemaIdFor(std::string_view topic);
  bool Fail(const std::string& what);

  std::string path_;
  int fd_;
  McapWriterOptions options_;
  std::unique_ptr<State> state_;
  std::string chunk_records_;
  std::size_t chunk_messages_ = 0;
  std::uint64_t file_bytes_ = 0;
  std::uint64_t message_count_ = 0;
  std::uint64_t flushed_messages_ = 0;
  std::string error_;
  bool failed_ = false;
  bool closed_ = false;
};

}  // namespace needlewatch::record

#endif  // NEEDLEWATCH_RECORD_MCAP_WRITER_H_
