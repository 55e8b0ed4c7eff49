#!/usr/bin/env python3
"""Peer benchmark (issue 6 §4): needlewatch next to mqtt2prometheus (Debian
prometheus-mqtt-exporter, exporting depth and speed as gauges) on the same broker, load
generator and machine, for 1,000 and 10,000 devices: highest zero-loss rate at QoS 0 and 1,
CPU, RSS, /metrics scrape time. Run through scripts/bench; writes Markdown.

  NEEDLEWATCH_BIN=build/integration-rel/monitor/app/needlewatch bench/peers/run_peers.py \
      [--quick] [--out bench/peers/RESULTS.md]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "live"))
import benchlib  # noqa: E402
from benchlib import log, nwtest  # noqa: E402
import run_live  # noqa: E402

M2P_BIN = "prometheus-mqtt-exporter"


def start_mqtt2prometheus(workdir, broker, qos, name):
    port = nwtest.free_port()
    cfg = workdir.file(f"{name}.yaml", f"""mqtt:
  server: tcp://127.0.0.1:{broker.port}
  client_id: {name}
  topic_path: clinic/+/device/+/telemetry
  device_id_regex: "clinic/[^/]+/device/(?P<deviceid>[^/]+)/telemetry"
  qos: {qos}
  object_per_topic_config:
    encoding: JSON
cache:
  timeout: 24h
metrics:
  - prom_name: needle_depth_mm
    mqtt_name: depth_mm
    help: Needle depth in millimetres
    type: gauge
  - prom_name: needle_speed_hz
    mqtt_name: speed_hz
    help: Needle strokes per second
    type: gauge
""")
    child = nwtest.Child(name, [M2P_BIN, "-config", cfg, "-listen-address", "127.0.0.1",
                                "-listen-port", str(port)], workdir.file(f"{name}.log"))
    url = f"http://127.0.0.1:{port}/metrics"
    nwtest.wait_until(lambda: nwtest.http("GET", url)[0] == 200, 20, f"{name} /metrics")
    child.wait_for_line(r"Will subscribe", 20)
    return child, benchlib.Target("mqtt2prometheus", child.pid, url, "received_messages")


def measure_rate(r, q, target, broker, devices, rates, dur):
    """Fills r["q{q}*"] with the highest zero-loss rate at QoS q and its CPU and RSS."""
    best, rows, why = benchlib.max_zero_loss(target, broker, devices, q, rates, dur)
    r[f"q{q}"] = best["achieved"] if best else 0
    r[f"q{q}_why"] = why
    r[f"q{q}_cpu"] = best["cpu_pct"] if best else None
    r[f"q{q}_rss"] = best["rss_mib"] if best else None
    r[f"q{q}_rows"] = rows


def measure_scrape(r, target, broker, devices):
    """Scrape time with every device holding a value (1 msg/s per device meanwhile)."""
    bg = benchlib.run_load(broker.port, devices, devices, 0, 15, "scr", clinic="scrape",
                           background=True)
    nwtest.wait_until(lambda: target.received() >= r.get("base", 0) + 2 * devices, 60,
                      "every device to publish twice", interval=0.5)
    r["scrape"] = benchlib.scrape_stats(target, 5)
    benchlib.finish_load(bg)
    r["rss"] = round(benchlib.rss_mib(target.pid), 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    dur = 3 if a.quick else 6
    ladders = {1000: [2000, 5000, 10000, 20000, 30000, 40000],
               10000: [5000, 10000, 20000, 30000]}
    wd = nwtest.Workdir(prefix="nwbench-peers-")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    mach = benchlib.machine()
    results = []
    try:
        for devices, rates in ladders.items():
            broker = benchlib.start_broker(wd, name=f"mosquitto-{devices}")
            log(f"needlewatch, {devices} devices")
            daemon, target = run_live.start_daemon(wd, broker)
            r = {"name": "needlewatch", "devices": devices,
                 "idle_rss": round(benchlib.rss_mib(target.pid), 1)}
            results.append(r)
            for q in (0, 1):
                measure_rate(r, q, target, broker, devices, rates, dur)
            r["base"] = target.received()
            measure_scrape(r, target, broker, devices)
            daemon.stop()
            for q in (0, 1):
                log(f"mqtt2prometheus qos {q}, {devices} devices")
                child, target = start_mqtt2prometheus(wd, broker, q, f"m2p-{devices}-q{q}")
                if q == 0:
                    r = {"name": "mqtt2prometheus", "devices": devices,
                         "idle_rss": round(benchlib.rss_mib(target.pid), 1)}
                    results.append(r)
                measure_rate(r, q, target, broker, devices, rates, dur)
                if q == 0:
                    r["base"] = target.received()
                    measure_scrape(r, target, broker, devices)
                child.stop()
            broker.stop()
    finally:
        nwtest._stop_all_children()
        wd.remove()
    md = report(results, started, mach, a)
    if a.out:
        with open(a.out, "w") as f:
            f.write(md)
    print(md)


def report(results, started, mach, a):
    cmd = "scripts/bench peers" + (" --quick" if a.quick else "")
    lines = [
        "# needlewatch vs mqtt2prometheus (issue 6 §4)", "",
        f"Generated by `{cmd}` ({os.path.relpath(__file__, benchlib.ROOT)}) on {started}.",
        f"Machine: {mach}.",
        "Same broker (mosquitto 2.0.11, `" + "`, `".join(benchlib.BROKER_EXTRA) + "`), same",
        "load generator (bench/live/mqtt_load.cc: one TCP connection per device, protocol/README.md, Payloads",
        "telemetry), all on one 2-core machine over loopback. needlewatch: release build, no",
        "sanitizers. mqtt2prometheus: Debian prometheus-mqtt-exporter, JSON object per topic,",
        "depth_mm and speed_hz as gauges (device label from the topic), cache timeout 24h; it",
        "subscribes with a clean session at the configured QoS. Loss = sent minus the",
        "exporter's own received counter (needlewatch_messages_received_total{channel=",
        "\"telemetry\"}, mqtt2prometheus received_messages summed). CPU % is of one core,",
        "measured over the highest zero-loss step; RSS at the end of it.", "",
        "| exporter | devices | max zero-loss msg/s QoS 0 | CPU % | RSS MiB | "
        "max zero-loss msg/s QoS 1 | CPU % | RSS MiB | idle RSS MiB | /metrics median ms | "
        "/metrics bytes | samples | alarm latency p50/p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lat = ("see bench/live/RESULTS.md" if r["name"] == "needlewatch"
               else "n/a (no alarms)")
        lines.append(
            f"| {r['name']} | {r['devices']:,} | {r['q0']:.0f} | {r['q0_cpu']} | {r['q0_rss']} | "
            f"{r['q1']:.0f} | {r['q1_cpu']} | {r['q1_rss']} | {r['idle_rss']} | "
            f"{r['scrape']['median_ms']} | {r['scrape']['bytes']} | {r['scrape']['series']} | "
            f"{lat} |")
    lines += ["", "Why each ladder stopped:", ""]
    for r in results:
        lines.append(f"- {r['name']}, {r['devices']:,} devices: QoS 0 {r['q0_why']}; "
                     f"QoS 1 {r['q1_why']}")
    lines += ["", "## Every step", ""]
    for r in results:
        for q in (0, 1):
            lines += [f"### {r['name']}, {r['devices']:,} devices, QoS {q}", "",
                      benchlib.table(r[f"q{q}_rows"], benchlib.STEP_COLS), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
