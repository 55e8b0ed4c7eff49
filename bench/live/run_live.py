#!/usr/bin/env python3
"""Live benchmark of `needlewatch run` (issue 4 §7): broker limit, highest sustained zero-loss
rate at QoS 0 and 1, daemon CPU and RSS, alarm latency p50/p99 at 10,000 msg/s, /metrics scrape
time with 10,000 devices. Run through scripts/bench (release build); writes Markdown.

  NEEDLEWATCH_BIN=build/integration-rel/monitor/app/needlewatch bench/live/run_live.py \
      [--quick] [--out bench/live/RESULTS.md]
"""

import argparse
import os
import sys
import threading
import time

import benchlib
from benchlib import log, nwtest

CONFIG = nwtest.limits_config(stale_after="1h", warn_after="50m", max_duration="60m",
                              extra="log:\n  level: info\n")


BROKER_COLS = benchlib.STEP_COLS[:5] + benchlib.STEP_COLS[-1:]


def start_daemon(workdir, broker):
    d = nwtest.Daemon(workdir, broker.url, config=CONFIG, instance="bench")
    d.start()
    return d, benchlib.Target("needlewatch", d.child.pid, d.base_url + "/metrics",
                              "needlewatch_messages_received_total", {"channel": "telemetry"})


def broker_limit(workdir, qos, rates, devices, duration):
    """A counting subscriber on the broker alone: the highest rate it forwards without loss."""
    broker = benchlib.start_broker(workdir, name=f"mosquitto-limit-q{qos}")

    def step(rate):
        sub = benchlib.subprocess.Popen(
            benchlib.LOAD + ["sub", "--port", str(broker.port), "--qos", str(qos), "--idle", "3"],
            stdout=benchlib.subprocess.PIPE, text=True)
        assert sub.stdout.readline().strip() == "ready"
        meter = []
        load = benchlib.run_load(broker.port, devices, rate, qos, duration, f"lim{rate}d",
                                 on_connected=lambda: meter.append(
                                     benchlib.CpuMeter(broker.child.pid)))
        broker_cpu = meter[0].stop()[0]
        got = benchlib.json.loads(sub.communicate(timeout=120)[0].strip().splitlines()[-1])
        row = {"target": rate, "achieved": load["rate"], "sent": load["sent"],
               "received": got["received"], "lost": load["sent"] - got["received"],
               "broker_cpu": broker_cpu}
        log(f"  broker qos{qos} {rate}/s -> {row}")
        return row
    try:
        return benchlib.ladder(step, rates)
    finally:
        broker.stop()


def alarm_latency(broker, probes, interval, qos=1):
    """Unsafe sample (at `qos`) for a fresh device -> its depth_exceeded topic received (ms),
    measured by `nw-mqtt-load probe` (C++, one thread, raw sockets), with a one-hop echo
    through the same broker at the same moment as the floor to compare with."""
    out = benchlib.subprocess.run(
        benchlib.LOAD + ["probe", "--port", str(broker.port), "--count", str(probes),
                         "--interval-ms", str(interval * 1000), "--qos", str(qos)],
        capture_output=True, text=True, timeout=probes * interval + 60)
    if out.returncode != 0:
        raise RuntimeError(f"probe failed: {out.stderr[-800:]}")
    r = benchlib.json.loads(out.stdout.strip().splitlines()[-1])
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()}


def latency_while_scraped(broker, target, probes):
    """alarm_latency() while another thread scrapes /metrics back to back."""
    stop, scrapes = threading.Event(), [0]

    def scraper():
        while not stop.is_set():
            target.scrape()
            scrapes[0] += 1
    t = threading.Thread(target=scraper, daemon=True)
    t.start()
    try:
        return alarm_latency(broker, probes, 0.05), scrapes
    finally:
        stop.set()
        t.join(timeout=30)


def measure_latency(rep, broker, target, devices, quick):
    log("alarm latency idle and at 10,000 msg/s")
    rep["lat_idle"] = alarm_latency(broker, 50 if quick else 100, 0.02)
    rep["lat_idle_slow"] = alarm_latency(broker, 30 if quick else 60, 0.1)
    rep["lat_idle_q0"] = alarm_latency(broker, 30 if quick else 60, 0.1, qos=0)
    bg = benchlib.run_load(broker.port, devices, 10000, 0, 12 if quick else 25, "lat",
                           background=True)
    time.sleep(1)  # let the background load reach its rate
    cpu = benchlib.CpuMeter(target.pid)
    rep["lat_10k"] = alarm_latency(broker, 150 if quick else 400, 0.05)
    rep["lat_cpu"] = cpu.stop()[0]
    rep["lat_load"] = benchlib.finish_load(bg)
    log(f"  {rep['lat_idle']} {rep['lat_idle_slow']} {rep['lat_idle_q0']} {rep['lat_10k']}")


def latency_lines(rep):
    def row(label, r, cpu="–"):
        return (f"| {label} | {r['probes']} | {r['received']} | {r['p50_ms']} | {r['p99_ms']} | "
                f"{r['max_ms']} | {r['hop_p50_ms']} | {r['hop_p99_ms']} | {cpu} |")
    return [
        "## Alarm latency (unsafe sample published -> retained alarm topic received)", "",
        "Probes are QoS 1 unless noted; each probe is the first sample of a fresh device, sent by",
        "`nw-mqtt-load probe` (C++, raw sockets, one thread). *hop* is an echo message sent right",
        "after each probe through the same broker: one broker hop at that moment, the floor (an",
        "alarm takes two hops plus the daemon).", "",
        "| background load | probes | alarms received | p50 ms | p99 ms | max ms | hop p50 ms | "
        "hop p99 ms | daemon CPU % |",
        "|---|---|---|---|---|---|---|---|---|",
        row("none, a probe every 20 ms", rep["lat_idle"]),
        row("none, a probe every 100 ms", rep["lat_idle_slow"]),
        row("none, a QoS 0 probe every 100 ms", rep["lat_idle_q0"]),
        row(f"{rep['lat_load']['rate']:.0f} msg/s QoS 0, 1,000 devices, a probe every 50 ms",
            rep["lat_10k"], rep["lat_cpu"]), ""]


def latency_only(a):
    """--latency-only: a fresh broker and daemon, just the alarm latency table."""
    wd = nwtest.Workdir(prefix="nwbench-lat-")
    rep = {}
    try:
        broker = benchlib.start_broker(wd)
        daemon, target = start_daemon(wd, broker)
        measure_latency(rep, broker, target, 1000, a.quick)
    finally:
        nwtest._stop_all_children()
        wd.remove()
    print(f"Generated by `bench/live/run_live.py --latency-only` on "
          f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; machine: {benchlib.machine()}.\n")
    print("\n".join(latency_lines(rep)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer and shorter steps")
    ap.add_argument("--out", help="write the Markdown report here (default: stdout)")
    ap.add_argument("--latency-only", action="store_true", help="only the alarm latency table")
    a = ap.parse_args()
    if a.latency_only:
        return latency_only(a)
    rates = [2000, 5000, 10000, 20000, 30000, 40000, 60000, 80000, 100000, 120000]
    dur = 3 if a.quick else 6
    devices = 1000
    wd = nwtest.Workdir(prefix="nwbench-live-")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    mach = benchlib.machine()
    rep = {}
    try:
        log("broker limit")
        rep["broker0"] = broker_limit(wd, 0, rates, devices, dur)
        rep["broker1"] = broker_limit(wd, 1, rates, devices, dur)

        broker = benchlib.start_broker(wd)
        daemon, target = start_daemon(wd, broker)
        rep["idle_rss"] = round(benchlib.rss_mib(target.pid), 1)
        log("needlewatch max zero-loss rate")
        for q in (0, 1):
            rep[f"nw{q}"] = benchlib.max_zero_loss(target, broker, devices, q, rates, dur)

        measure_latency(rep, broker, target, devices, a.quick)

        log("10,000 devices: scrape time (daemon restarted: only these devices)")
        daemon.stop()
        daemon, target = start_daemon(wd, broker)
        bg = benchlib.run_load(broker.port, 10000, 10000, 0, 30 if a.quick else 50, "big",
                               clinic="big", background=True)
        nwtest.wait_until(lambda: (nwtest.metric_value(nwtest.parse_metrics(
            target.scrape()[1].decode()), "needlewatch_sessions_active", clinic="big") or 0)
            >= 10000, 90, "10,000 open sessions", interval=0.5)
        rep["scrape_10k"] = benchlib.scrape_stats(target, 5)
        log("  alarm latency with 10,000 devices, without and with back-to-back scrapes")
        n = 100 if a.quick else 200
        rep["lat_big"] = alarm_latency(broker, n, 0.05)
        rep["lat_big_scraped"], rep["scrapes_during"] = latency_while_scraped(broker, target, n)
        cpu = benchlib.CpuMeter(target.pid)  # after the scrapes: the load alone
        rep["big_load"] = benchlib.finish_load(bg)
        rep["scrape_10k"]["cpu_pct_during_load"] = cpu.stop()[0]
        rep["big_rss"] = round(benchlib.rss_mib(target.pid), 1)
        log(f"  {rep['scrape_10k']}")
        daemon.stop()
        broker.stop()
    finally:
        nwtest._stop_all_children()
        wd.remove()
    md = report(rep, started, mach, a)
    if a.out:
        with open(a.out, "w") as f:
            f.write(md)
    print(md)


def report(rep, started, mach, a):
    cmd = "scripts/bench live" + (" --quick" if a.quick else "")
    lines = [
        "# needlewatch live benchmark (issue 4 §7)", "",
        f"Generated by `{cmd}` ({os.path.relpath(__file__, benchlib.ROOT)}) on {started}.",
        f"Machine: {mach}.",
        "Release build without sanitizers (build/integration-rel). Everything on one machine over",
        "loopback: mosquitto 2.0.11, the daemon, the load generator (bench/live/mqtt_load.cc,",
        "raw sockets, one TCP connection per device, telemetry per protocol/README.md, Payloads) and the probes",
        "share the 2 cores, so the figures are a floor for the daemon, not a ceiling.",
        "mosquitto runs with `" + "`, `".join(benchlib.BROKER_EXTRA) + "` (QoS 1 needs a larger",
        "in-flight window and queue than the defaults of 20 and 1000 per client).", "",
        "## Broker alone (counting subscriber), 1,000 devices", "",
    ]
    for q in (0, 1):
        best, rows, why = rep[f"broker{q}"]
        lines += [f"### QoS {q}: {best['achieved'] if best else 'none'} msg/s ({why})", "",
                  benchlib.table(rows, BROKER_COLS), ""]
    lines += [
        "## needlewatch: highest sustained rate with zero loss, 1,000 devices", "",
        "Loss = messages the generator sent minus needlewatch_messages_received_total"
        "{channel=\"telemetry\"} after the queue drained.", "",
    ]
    for q in (0, 1):
        best, rows, why = rep[f"nw{q}"]
        lines += [f"### QoS {q}: {best['achieved'] if best else 'none'} msg/s ({why})", "",
                  benchlib.table(rows, benchlib.STEP_COLS), ""]
    lines += latency_lines(rep)
    lines += [
        "## /metrics with 10,000 devices (each with an open session)", "",
        "| devices | load msg/s | scrape median ms | scrape max ms | bytes | samples | "
        "daemon CPU % | daemon RSS MiB | idle RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| 10,000 | {rep['big_load']['rate']:.0f} | {rep['scrape_10k']['median_ms']} | "
        f"{rep['scrape_10k']['max_ms']} | {rep['scrape_10k']['bytes']} | "
        f"{rep['scrape_10k']['series']} | {rep['scrape_10k']['cpu_pct_during_load']} | "
        f"{rep['big_rss']} | {rep['idle_rss']} |", "",
        "Alarm latency in the same run (10,000 devices, 10,000 msg/s): a scrape renders its",
        "text off the event loop, so alarms should not wait behind it.", "",
        "| scrapes meanwhile | probes | alarms received | p50 ms | p99 ms | max ms | hop p50 ms | "
        "hop p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, r in (("none", rep["lat_big"]),
                     (f"back to back ({rep['scrapes_during'][0]} scrapes)",
                      rep["lat_big_scraped"])):
        lines.append(f"| {label} | {r['probes']} | {r['received']} | {r['p50_ms']} | "
                     f"{r['p99_ms']} | {r['max_ms']} | {r['hop_p50_ms']} | {r['hop_p99_ms']} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
