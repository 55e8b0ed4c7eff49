// Reads a daemon-style recording (a directory of segments) with @mcap/core and checks every
// recorded payload against its channel's JSON Schema with ajv: each channel must carry a
// "jsonschema" schema, and each kind the daemon records must be there.
//   node schemas.js DIR
"use strict";
const fs = require("fs");
const path = require("path");
const { McapIndexedReader } = require("@mcap/core");
const { decompress } = require("fzstd");
const Ajv = require("ajv");

const dir = process.argv[2];
const decompressHandlers = { zstd: (data, size) => decompress(data, new Uint8Array(Number(size))) };
const ajv = new Ajv({ allErrors: true, strict: false });

let failures = 0;
function check(ok, what) {
  if (!ok) {
    failures++;
    if (failures <= 20) console.error("FAIL: " + what);
  }
}

const wantKinds = ["needlewatch.Telemetry", "needlewatch.Event", "needlewatch.Status",
  "needlewatch.Alarm", "needlewatch.Command", "needlewatch.MonitorStatus",
  "needlewatch.MonitorAlarm", "needlewatch.Ack",
  "needlewatch.Limits", "needlewatch.Rejected"];

async function main() {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".mcap")).sort();
  check(files.some((f) => f.startsWith("needlewatch-rejected-")), "no rejected segment");
  const perKind = new Map();
  const validators = new Map();  // schema name -> compiled
  const reasons = new Set();
  for (const f of files) {
    const bytes = new Uint8Array(fs.readFileSync(path.join(dir, f)));
    const readable = {
      size: async () => BigInt(bytes.length),
      read: async (offset, length) => bytes.subarray(Number(offset), Number(offset + length)),
    };
    const reader = await McapIndexedReader.Initialize({ readable, decompressHandlers });
    for (const ch of reader.channelsById.values()) {
      const schema = reader.schemasById.get(ch.schemaId);
      check(schema !== undefined, `${f}: channel ${ch.topic} has no schema (id ${ch.schemaId})`);
      if (!schema) continue;
      check(schema.encoding === "jsonschema", `${f}: schema ${schema.name} encoding ${schema.encoding}`);
      check(ch.messageEncoding === "json", `${f}: channel ${ch.topic} encoding ${ch.messageEncoding}`);
      if (!validators.has(schema.name)) {
        validators.set(schema.name, ajv.compile(JSON.parse(new TextDecoder().decode(schema.data))));
      }
    }
    for await (const m of reader.readMessages({ validateCrcs: true })) {
      const ch = reader.channelsById.get(m.channelId);
      const schema = reader.schemasById.get(ch.schemaId);
      if (!schema) continue;
      let value;
      try {
        value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(m.data));
      } catch (e) {
        check(false, `${f}: ${ch.topic}: payload is not JSON: ${e.message}`);
        continue;
      }
      const validate = validators.get(schema.name);
      check(validate(value), `${f}: ${ch.topic} (${schema.name}): ${ajv.errorsText(validate.errors)}: ` +
        JSON.stringify(value).slice(0, 200));
      perKind.set(schema.name, (perKind.get(schema.name) || 0) + 1);
      if (schema.name === "needlewatch.Rejected") reasons.add(value.reason);
    }
  }
  for (const k of wantKinds) check((perKind.get(k) || 0) > 0, `no message validated against ${k}`);
  for (const r of ["bad_json", "too_large", "bad_version", "bad_topic"]) {
    check(reasons.has(r), `no rejected message with reason ${r}`);
  }
  // The schemas reject what the protocol rejects (so the checks above could fail).
  const telemetry = validators.get("needlewatch.Telemetry");
  if (telemetry) {
    const good = { v: 1, seq: 1, ts: 1, session: "S", zone: "cheek", depth_mm: 1, speed_hz: 100 };
    check(telemetry(good), "a valid sample fails the telemetry schema");
    check(!telemetry({ ...good, depth_mm: 10.5 }), "depth_mm 10.5 passes the telemetry schema");
    check(!telemetry({ ...good, session: "S 1" }), "a bad session ID passes the telemetry schema");
    const { zone, ...noZone } = good;
    check(!telemetry(noZone), "a sample without zone passes the telemetry schema");
  }
  const event = validators.get("needlewatch.Event");
  if (event) {
    check(!event({ v: 1, seq: 1, ts: 1, event: "session_start", session: "S" }), "a start without zone passes");
    check(event({ v: 1, seq: 1, ts: 1, event: "session_end", session: "S", zone: 5 }), "an end with an ignored zone fails");
  }
  if (failures > 0) {
    console.error(`${failures} check(s) failed`);
    process.exit(1);
  }
  const counts = wantKinds.map((k) => `${k.replace("needlewatch.", "")} ${perKind.get(k)}`).join(", ");
  console.log(`schemas OK: ${files.length} segments; validated with ajv: ${counts}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
