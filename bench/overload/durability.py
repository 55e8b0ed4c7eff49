#!/usr/bin/env python3
"""Broker durability (issue 12 item 5): what mosquitto persistence costs and what a mosquitto
SIGKILL loses with each configuration in olib.BROKERS.

1. Cost: QoS 1 telemetry from nw-mqtt-load (1,000 and 20 connections) through mosquitto to the
   daemon (persistent session), steps of increasing rate: achieved rate, loss, broker CPU,
   database saves per second.
2. Backlog: the daemon SIGSTOPped for 8 s at 2,000 msg/s (the broker queues for it, as it does
   for a disconnected or flow-controlling daemon), then SIGCONTed: does the broker keep taking
   messages, and how long until the daemon has them all.
3. Crash: tests/integration/test_broker_restart's scenario (20 pens, 1,000 msg/s, mosquitto
   SIGKILLed mid-stream and restarted) run N times per configuration, counting per pen by seq
   the messages the broker acknowledged that never reached the engine.

  NEEDLEWATCH_BIN=build/integration-rel/monitor/app/needlewatch \
  NW_LOAD_BIN=build/integration-rel/bench/live/nw-mqtt-load \
      bench/overload/durability.py [--quick] [--runs N] [--out bench/overload/RESULTS-durability.md]
"""

import signal
import sys
import time

import olib
from olib import benchlib, log, nwtest

import test_broker_restart  # noqa: E402 (tests/integration, on the path through olib)

CONFIG = nwtest.limits_config(stale_after="1h", extra="log:\n  level: info\n")


def start_daemon(workdir, broker, name):
    d = nwtest.Daemon(workdir, broker.url, config=CONFIG, instance=name, name=name).start()
    return d, benchlib.Target(name, d.child.pid, d.base_url + "/metrics",
                              "needlewatch_messages_received_total", {"channel": "telemetry"})


def cost(workdir, key, devices, rates, duration):
    broker = olib.start_broker(workdir, key, name=f"mosquitto-{key}-{devices}")
    daemon, target = start_daemon(workdir, broker, f"nw-{key}-{devices}")
    rows = []
    try:
        for rate in rates:
            line0, t0 = broker.child.line_count(), time.monotonic()
            row = benchlib.load_step(target, broker.port, devices, rate, 1, duration,
                                     broker.child.pid)
            row["saves_per_s"] = round(olib.saves(broker, line0) / (time.monotonic() - t0), 1)
            rows.append(row)
            if row["achieved"] < 0.9 * rate or row["lost"] > 0:
                break
    finally:
        daemon.stop()
        broker.stop()
    return rows


def backlog(workdir, key, rate=2000, devices=1000, stop_after=2.0, stopped=8.0, total=14.0):
    broker = olib.start_broker(workdir, key, name=f"mosquitto-{key}-backlog")
    daemon, target = start_daemon(workdir, broker, f"nw-{key}-backlog")
    try:
        line0 = broker.child.line_count()
        p = benchlib.run_load(broker.port, devices, rate, 1, total, f"bl{key}", background=True)
        t0 = time.monotonic()
        meter = benchlib.CpuMeter(broker.child.pid)
        time.sleep(stop_after)  # load pacing: let the stream run before the stop
        daemon.send_signal(signal.SIGSTOP)
        time.sleep(stopped)     # the outage being measured
        daemon.send_signal(signal.SIGCONT)
        t_cont = time.monotonic()
        load = benchlib.finish_load(p)
        broker_cpu = meter.stop()[0]
        got = benchlib.wait_drained(target, load["sent"], timeout=120)
        drained = time.monotonic() - t_cont
        return {"config": key, "achieved": load["rate"], "sent": load["sent"],
                "acked": load["acked"], "skipped": load["skipped"], "received": int(got),
                "lost": int(load["sent"] - got), "broker_cpu": broker_cpu,
                "saves": olib.saves(broker, line0), "drain_s": round(drained, 1),
                "seconds": round(time.monotonic() - t0, 1)}
    finally:
        daemon.send_signal(signal.SIGCONT)
        daemon.stop()
        broker.stop()


def crash_runs(key, runs):
    out = []
    for i in range(runs):
        with olib.Scenario() as ctx:
            try:
                run = test_broker_restart.run_broker_crash(ctx, broker_kwargs=olib.BROKERS[key])
            except Exception as e:  # noqa: BLE001 - a run that could not finish is a result
                out.append({"config": key, "run": i + 1, "error": str(e).splitlines()[0][:160]})
                log(f"  crash {key} #{i + 1}: {out[-1]['error']}")
                continue
        lost = before = away = 0
        for dev, acked in run.acked.items():
            missing = acked - set(run.processed.get(dev, ()))
            lost += len(missing)
            before += len(missing & run.acked_before_kill.get(dev, set()))
            away += len(missing & run.acked_while_away.get(dev, set()))
        row = {"config": key, "run": i + 1,
               "acked": sum(len(s) for s in run.acked.values()),
               "in_flight": run.unacked_at_kill, "lost": lost, "lost_before_kill": before,
               "lost_while_away": away,
               "redeliveries": sum(len(s) - len(set(s)) for s in run.processed.values())}
        out.append(row)
        log(f"  crash {key} #{i + 1}: {row}")
    return out


COST_COLS = [("target msg/s", "target"), ("achieved msg/s", "achieved"), ("sent", "sent"),
             ("received", "received"), ("lost", "lost"), ("broker CPU %", "broker_cpu"),
             ("daemon CPU %", "cpu_pct"), ("saves/s", "saves_per_s")]
BACKLOG_COLS = [("config", "config"), ("achieved msg/s", "achieved"), ("sent", "sent"),
                ("acked", "acked"), ("skipped (window full)", "skipped"),
                ("received", "received"), ("lost", "lost"), ("broker CPU %", "broker_cpu"),
                ("saves", "saves"), ("drain after SIGCONT s", "drain_s")]
CRASH_COLS = [("config", "config"), ("run", "run"), ("acknowledged", "acked"),
              ("in flight at kill", "in_flight"), ("lost", "lost"),
              ("of them acked before the kill", "lost_before_kill"),
              ("acked while the daemon was away", "lost_while_away"),
              ("redeliveries", "redeliveries"), ("error", "error")]


def main():
    ap = olib.parser(__doc__)
    ap.add_argument("--runs", type=int, default=3, help="broker crashes per configuration")
    ap.add_argument("--only", choices=["cost", "backlog", "crash"], action="append")
    a = ap.parse_args()
    parts = a.only or ["cost", "backlog", "crash"]

    def body(wd):
        md = ["Configurations:", ""] + [f"- **{k}**: {v}" for k, v in olib.BROKER_DESC.items()]
        md.append("")
        if "cost" in parts:
            md += ["## 1. Cost: QoS 1 through the broker to the daemon", ""]
            dur = 3 if a.quick else 6
            for devices, rates in ((1000, [5000, 10000, 20000, 40000]),
                                   (20, [1000, 2000, 5000, 10000])):
                for key in ("off", "shipped", "per-change"):
                    log(f"cost {key} {devices} connections")
                    rows = cost(wd, key, devices, rates, dur)
                    md += [f"### {key}, {devices} connections", "",
                           benchlib.table(rows, COST_COLS), ""]
        if "backlog" in parts:
            md += ["## 2. Backlog: daemon stopped for 8 s at 2,000 msg/s (1,000 connections)",
                   ""]
            rows = []
            for key in ("off", "shipped", "per-change"):
                log(f"backlog {key}")
                rows.append(backlog(wd, key))
            md += [benchlib.table(rows, BACKLOG_COLS), ""]
        if "crash" in parts:
            md += ["## 3. mosquitto SIGKILL mid-stream (test_broker_restart's scenario)", ""]
            rows = []
            for key in ("off", "old", "shipped", "per-change"):
                log(f"crash {key}")
                rows += crash_runs(key, 1 if a.quick else a.runs)
            md += [benchlib.table(rows, CRASH_COLS), ""]
        return md
    olib.run("Broker durability (issue 12 item 5)", "bench/overload/durability.py"
             + (" --quick" if a.quick else ""), body, a.out)


if __name__ == "__main__":
    sys.exit(main())
