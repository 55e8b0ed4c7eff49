#!/usr/bin/env bash
# ctest entry: writes a file with our McapWriter and checks it with @mcap/core (check.js).
#   run.sh <record_interop_writer> <this folder>
set -euo pipefail
writer=$1
here=$2
if [ ! -d "$here/node_modules/@mcap/core" ] || [ ! -d "$here/node_modules/fzstd" ]; then
  echo "interop: node_modules missing; run 'npm ci' in $here (scripts/test does)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$writer" "$tmp/interop.mcap" "$tmp/expected.json"
node "$here/check.js" "$tmp/interop.mcap" "$tmp/expected.json"
