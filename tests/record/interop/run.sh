#!/usr/bin/env bash
# ctest entry for the MCAP interoperability tests with the reference TypeScript library.
#   run.sh interop <record_interop_writer> <this folder>   our McapWriter's file read by @mcap/core (check.js)
#   run.sh schemas <record_interop_daemon> <this folder>   a daemon-style recording: every payload
#                                                          valid against its channel's JSON Schema (schemas.js, ajv)
#   run.sh lz4 <needlewatch> <this folder>                 lz4 chunks written by @mcap/core (write_lz4.js)
#                                                          read by `needlewatch replay` and `recordings export`
set -euo pipefail
mode=$1
bin=$2
here=$3
for m in @mcap/core fzstd ajv lz4js; do
  if [ ! -d "$here/node_modules/$m" ]; then
    echo "interop: node_modules/$m missing; run 'npm ci' in $here (scripts/test does)" >&2
    exit 1
  fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
case "$mode" in
  interop)
    "$bin" "$tmp/interop.mcap" "$tmp/expected.json"
    node "$here/check.js" "$tmp/interop.mcap" "$tmp/expected.json"
    ;;
  schemas)
    "$bin" "$tmp/rec"
    node "$here/schemas.js" "$tmp/rec"
    ;;
  lz4)
    written=$(node "$here/write_lz4.js" "$tmp/lz4.mcap")
    "$bin" replay --format json "$tmp/lz4.mcap" >"$tmp/report.json" 2>"$tmp/replay.err"
    "$bin" recordings export --format jsonl "$tmp/lz4.mcap" >"$tmp/export.jsonl"
    node -e '
      const fs = require("fs");
      const [report, exported, written, err] = process.argv.slice(1);
      const r = JSON.parse(fs.readFileSync(report, "utf8"));
      const lines = fs.readFileSync(exported, "utf8").trim().split("\n");
      const fail = (why) => { console.error("FAIL: " + why); console.error(fs.readFileSync(err, "utf8")); process.exit(1); };
      if (r.messages.total !== Number(written)) fail(`replay read ${r.messages.total} of ${written} messages`);
      if (r.messages.accepted !== Number(written)) fail(`replay accepted ${r.messages.accepted}`);
      if (!r.alarms.some((a) => a.alarm === "depth_exceeded")) fail("the spike in an lz4 chunk raised no depth_exceeded");
      if (lines.length !== Number(written)) fail(`export gave ${lines.length} lines`);
      if (fs.readFileSync(err, "utf8").includes("skipped")) fail("replay skipped something");
      console.log(`lz4 OK: ${written} messages in lz4 chunks written by @mcap/core, read by needlewatch replay and export`);
    ' "$tmp/report.json" "$tmp/export.jsonl" "$written" "$tmp/replay.err"
    ;;
  *)
    echo "run.sh: unknown mode $mode" >&2
    exit 2
    ;;
esac
