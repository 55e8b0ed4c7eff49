#!/usr/bin/env bash
# End-to-end replay throughput: generates a capture of 1,000 devices at 10 Hz for 60 s (600k
# lines) in a temp dir and times `needlewatch replay --format json` on it (median of 3 runs).
#   [FORMAT=json|html|text] bench/replay/run.sh [path/to/needlewatch] [devices] [rate] [seconds]
# Build first (Release, no sanitizers):
#   cmake -S . -B build/replay-bench -DCMAKE_BUILD_TYPE=Release -DNEEDLEWATCH_BUILD_TESTS=OFF \
#     -DNEEDLEWATCH_BUILD_BENCH=OFF && cmake --build build/replay-bench --target needlewatch
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build/replay-bench/monitor/app/needlewatch}
DEVICES=${2:-1000}; RATE=${3:-10}; SECONDS_=${4:-60}
FORMAT=${FORMAT:-json}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 bench/replay/gen_capture.py "$tmp/capture.txt" "$DEVICES" "$RATE" "$SECONDS_"
lines=$(wc -l < "$tmp/capture.txt")
size=$(du -m "$tmp/capture.txt" | cut -f1)
echo "capture: $lines lines, ${size} MiB"
results=()
for i in 1 2 3; do
  # %e wall s, %U user s, %S sys s, %M max RSS KiB
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "$BIN" replay --format "$FORMAT" \
    "$tmp/capture.txt" > "$tmp/report.$FORMAT"
  read -r wall user sys rss < "$tmp/time"
  cpu=$(python3 -c "print($user + $sys)")
  echo "run $i: wall ${wall}s, cpu ${cpu}s (user $user, sys $sys), max RSS $((rss / 1024)) MiB," \
    "$(python3 -c "print(f'{$lines / $wall / 1e6:.2f}')") M msg/s wall," \
    "$(python3 -c "print(f'{$lines / $cpu / 1e6:.2f}')") M msg/s cpu"
  results+=("$wall")
done
[ "$FORMAT" = json ] || { echo "report: $(wc -c < "$tmp/report.$FORMAT") bytes of $FORMAT"; exit 0; }
python3 - "$tmp/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("report:", r["messages"]["total"], "messages,", r["messages"]["accepted"], "accepted,",
      len(r["sessions"]), "sessions,", len(r["alarms"]), "alarms")
PY
