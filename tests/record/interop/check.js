// Reads an MCAP file written by needlewatch's McapWriter with the reference TypeScript reader
// (@mcap/core, zstd via fzstd) and compares every message with the writer's own list.
//   node check.js FILE.mcap EXPECTED.json   -> exit 0 when everything matches
"use strict";
const fs = require("fs");
const { McapStreamReader, McapIndexedReader } = require("@mcap/core");
const { decompress } = require("fzstd");

const [file, expectedFile] = process.argv.slice(2);
const bytes = new Uint8Array(fs.readFileSync(file));
const expected = JSON.parse(fs.readFileSync(expectedFile, "utf8")).map((e) => ({
  topic: e.topic,
  qos: String(e.qos),
  retain: String(e.retain),
  logTime: BigInt(e.log_time),
  data: Buffer.from(e.data_hex, "hex"),
}));
const decompressHandlers = {
  zstd: (data, size) => decompress(data, new Uint8Array(Number(size))),
};

let failures = 0;
function check(ok, what) {
  if (!ok) {
    failures++;
    if (failures <= 20) console.error("FAIL: " + what);
  }
}

function compare(label, messages, channels, want) {
  check(messages.length === want.length, `${label}: ${messages.length} messages, want ${want.length}`);
  const n = Math.min(messages.length, want.length);
  for (let i = 0; i < n; i++) {
    const m = messages[i];
    const w = want[i];
    const ch = channels.get(m.channelId);
    check(ch !== undefined, `${label}[${i}]: unknown channel ${m.channelId}`);
    if (!ch) continue;
    check(ch.topic === w.topic, `${label}[${i}]: topic ${ch.topic} != ${w.topic}`);
    check(ch.messageEncoding === "json", `${label}[${i}]: encoding ${ch.messageEncoding}`);
    check(ch.schemaId === 0, `${label}[${i}]: schema ${ch.schemaId}`);
    check(ch.metadata.get("qos") === w.qos, `${label}[${i}]: qos ${ch.metadata.get("qos")} != ${w.qos}`);
    check(ch.metadata.get("retain") === w.retain, `${label}[${i}]: retain ${ch.metadata.get("retain")}`);
    check(m.logTime === w.logTime, `${label}[${i}]: logTime ${m.logTime} != ${w.logTime}`);
    check(m.publishTime === w.logTime, `${label}[${i}]: publishTime ${m.publishTime}`);
    check(Buffer.from(m.data).equals(w.data), `${label}[${i}]: data differs`);
  }
}

async function main() {
  // 1. Streaming: every record from magic to magic, with chunk CRCs validated.
  const stream = new McapStreamReader({ decompressHandlers, validateCrcs: true, includeChunks: true });
  stream.append(bytes);
  const channels = new Map();
  const messages = [];
  const seen = new Map();
  for (let rec; (rec = stream.nextRecord()); ) {
    seen.set(rec.type, (seen.get(rec.type) || 0) + 1);
    if (rec.type === "Channel") channels.set(rec.id, rec);
    if (rec.type === "Message") messages.push(rec);
  }
  check(stream.done(), "stream reader did not reach the footer and closing magic");
  for (const t of ["Header", "Chunk", "MessageIndex", "DataEnd", "Statistics", "ChunkIndex", "SummaryOffset", "Footer"]) {
    check((seen.get(t) || 0) > 0, `no ${t} record seen`);
  }
  compare("stream", messages, channels, expected);

  // 2. Indexed: summary, statistics, chunk indexes, message indexes, log-time order.
  const readable = {
    size: async () => BigInt(bytes.length),
    read: async (offset, length) => bytes.subarray(Number(offset), Number(offset + length)),
  };
  const indexed = await McapIndexedReader.Initialize({ readable, decompressHandlers });
  check(indexed.statistics !== undefined, "no statistics");
  const byTime = expected
    .map((e, i) => ({ e, i }))
    .sort((a, b) => (a.e.logTime < b.e.logTime ? -1 : a.e.logTime > b.e.logTime ? 1 : a.i - b.i))
    .map((x) => x.e);
  if (indexed.statistics) {
    check(indexed.statistics.messageCount === BigInt(expected.length), `statistics.messageCount ${indexed.statistics.messageCount}`);
    check(indexed.statistics.channelCount === indexed.channelsById.size, "statistics.channelCount");
    check(indexed.statistics.chunkCount === indexed.chunkIndexes.length, "statistics.chunkCount");
    check(indexed.statistics.messageStartTime === byTime[0].logTime, "statistics.messageStartTime");
    check(indexed.statistics.messageEndTime === byTime[byTime.length - 1].logTime, "statistics.messageEndTime");
  }
  check(indexed.chunkIndexes.length > 5, `only ${indexed.chunkIndexes.length} chunk indexes`);
  check(indexed.dataSectionCrc !== undefined && indexed.dataSectionCrc !== 0, "no data section CRC");
  const indexedMessages = [];
  for await (const m of indexed.readMessages({ validateCrcs: true })) indexedMessages.push(m);
  // Equal log times may come back in any order from the indexed reader: compare as sorted sets
  // per timestamp by sorting both sides on (logTime, data).
  const key = (t, d) => t.toString().padStart(24, "0") + Buffer.from(d).toString("hex");
  const got = indexedMessages.map((m) => key(m.logTime, m.data)).sort();
  const want = byTime.map((e) => key(e.logTime, e.data)).sort();
  check(got.length === want.length && got.every((k, i) => k === want[i]), "indexed reader messages differ");
  for (let i = 1; i < indexedMessages.length; i++) {
    check(indexedMessages[i - 1].logTime <= indexedMessages[i].logTime, `indexed order at ${i}`);
  }
  // A time-range query through the chunk and message indexes.
  const from = byTime[Math.floor(byTime.length / 2)].logTime;
  let ranged = 0;
  for await (const m of indexed.readMessages({ startTime: from })) {
    check(m.logTime >= from, "ranged read returned an earlier message");
    ranged++;
  }
  check(ranged === byTime.filter((e) => e.logTime >= from).length, `ranged read returned ${ranged}`);

  if (failures > 0) {
    console.error(`${failures} check(s) failed`);
    process.exit(1);
  }
  console.log(`interop OK: ${messages.length} messages, ${indexed.chunkIndexes.length} chunks, ` +
    `${indexed.channelsById.size} channels read by @mcap/core (stream and indexed)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
