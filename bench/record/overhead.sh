#!/usr/bin/env bash
# Recording overhead on live ingest (issue 5 §6): the daemon's CPU time for the same load with
# and without `--record.dir`, at the live benchmark's rate. Release build, loopback only.
#
#   bench/record/overhead.sh [needlewatch] [nw-mqtt-load] [rate msg/s] [seconds] [devices] [rounds]
#
# Runs without and with recording alternately, `rounds` times each (the shared VM's CPU time for
# the same load varies by tens of percent from run to run), prints one line per run and the
# overhead of the medians in percent. Not a test.
set -euo pipefail
NW=${1:-build/integration-rel/monitor/app/needlewatch}
LOAD=${2:-build/integration-rel/bench/live/nw-mqtt-load}
RATE=${3:-10000}
SECS=${4:-20}
DEVICES=${5:-1000}
ROUNDS=${6:-3}
W=$(mktemp -d /tmp/nw-rec-overhead.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MQTT_PORT=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nlog_dest stderr\nmax_connections -1\nset_tcp_nodelay true\n' \
  "$MQTT_PORT" > "$W/mosquitto.conf"
mosquitto -c "$W/mosquitto.conf" 2>"$W/mosquitto.log" & PIDS+=($!)
for _ in $(seq 100); do grep -q "running" "$W/mosquitto.log" && break; sleep 0.05; done

cpu_seconds() {  # utime+stime of a pid, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"
}

run() {  # $1 = label, rest = extra daemon flags
  local label=$1; shift
  local port; port=$(free_port)
  "$NW" run --mqtt.url "mqtt://127.0.0.1:$MQTT_PORT" --web.listen-address "127.0.0.1:$port" \
    --mqtt.instance "ovh-$label" --outputs.audit-log "" --log.level warn "$@" \
    2>"$W/daemon-$label.log" &
  local pid=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.05; done
  local c0; c0=$(cpu_seconds "$pid")
  "$LOAD" pub --port "$MQTT_PORT" --devices "$DEVICES" --rate "$RATE" --qos 0 --duration "$SECS" \
    --prefix "$label" > "$W/load-$label.json"
  local c1; c1=$(cpu_seconds "$pid")
  local got; got=$(curl -s "http://127.0.0.1:$port/metrics" |
    awk '/^needlewatch_messages_received_total\{channel="telemetry"\}/{print $2}')
  local rec; rec=$(curl -s "http://127.0.0.1:$port/metrics" |
    awk '/^needlewatch_recorder_messages_total/{print $2}')
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  local cpu; cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')
  printf '%-10s cpu %.2f s for %s s of load (%s); received %s, recorded %s\n' \
    "$label" "$cpu" "$SECS" "$(cat "$W/load-$label.json")" "$got" "${rec:-0}" >&2
  echo "$cpu"
}

median() { sort -n | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
plain_runs=() rec_runs=()
for r in $(seq "$ROUNDS"); do
  plain_runs+=("$(run "plain$r")")
  rec_runs+=("$(run "rec$r" --record.dir "$W/rec$r")")
done
du -sh "$W"/rec1 >&2
plain=$(printf '%s\n' "${plain_runs[@]}" | median)
recording=$(printf '%s\n' "${rec_runs[@]}" | median)
echo "overhead: $(awk -v p="$plain" -v r="$recording" 'BEGIN{printf "%.1f", (r-p)*100/p}')% daemon CPU" \
  "(medians of $ROUNDS: $plain s without, $recording s with recording;" \
  "${RATE} msg/s, ${DEVICES} devices, ${SECS} s per run)"
