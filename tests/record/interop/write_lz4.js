// Writes an MCAP file with @mcap/core whose chunks are lz4-compressed (the LZ4 frame format,
// from lz4js), as other MCAP writers make them; our reader and `needlewatch replay` must read
// it. Prints the number of messages written.
//   node write_lz4.js OUT.mcap
"use strict";
const fs = require("fs");
const { McapWriter } = require("@mcap/core");
const lz4 = require("lz4js");

async function main() {
  const chunks = [];
  const writable = {
    position: () => BigInt(chunks.reduce((n, c) => n + c.length, 0)),
    write: async (buffer) => { chunks.push(Buffer.from(buffer)); },
  };
  const writer = new McapWriter({
    writable,
    useChunks: true,
    chunkSize: 4 * 1024,
    compressChunk: (data) => ({ compression: "lz4", compressedData: lz4.compress(data) }),
  });
  await writer.start({ profile: "", library: "needlewatch-interop-lz4" });
  const enc = new TextEncoder();
  const channel = async (topic) => writer.registerChannel({
    topic, messageEncoding: "json", schemaId: 0, metadata: new Map([["qos", "1"], ["retain", "false"]]),
  });
  const ev = await channel("clinic/c1/device/d1/event");
  const tel = await channel("clinic/c1/device/d1/telemetry");
  let t = 1795611133000000000n;
  let n = 0;
  const add = async (ch, obj) => {
    t += 20000000n;
    await writer.addMessage({ channelId: ch, sequence: ++n, logTime: t, publishTime: t, data: enc.encode(JSON.stringify(obj)) });
  };
  await add(ev, { v: 1, seq: 1, ts: 1, event: "session_start", session: "S1", zone: "forehead" });
  for (let i = 0; i < 1000; i++) {
    await add(tel, { v: 1, seq: i + 2, ts: 1, session: "S1", zone: "forehead", depth_mm: i === 500 ? 0.9 : 0.4, speed_hz: 120 });
  }
  await add(ev, { v: 1, seq: 1002, ts: 1, event: "session_end", session: "S1" });
  await writer.end();
  fs.writeFileSync(process.argv[2], Buffer.concat(chunks));
  console.log(n);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
