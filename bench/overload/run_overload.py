#!/usr/bin/env python3
"""Overload (issue 12 items 6 and 9): an alarm storm against `needlewatch run`.

1,000 pens (nw-mqtt-load, one connection each) whose every sample changes an alarm: depth
alternates between 1.5 mm (above the 1.0 mm limit: depth_exceeded raised) and 0.5 mm (cleared,
so latched: it is high severity), so each message is one alarm transition with its audit line
and retained alarm publication. (A limits file in the wrong unit, or a firmware reporting tenths
of a millimetre, does this.)

1. Ladder: constant-rate steps (QoS 1, 10 s each) up to the highest rate the daemon sustains:
   it handles >= 97 % of each step's messages within the step, is no more than 0.5 s of
   traffic behind when the step ends, and its RSS grows by less than 20 MiB. That rate, in
   alarm transitions per second, is the storm figure.
2. 3x: three times that rate for 30 s, QoS 1 and QoS 0, while a probe GETs /healthz every
   100 ms (target: answered within 100 ms) and /metrics every second; sampled every second:
   RSS (target < 150 MiB), how far the daemon is behind the published stream and how much of
   that sits in its own inbox (needlewatch_queue_depth; the rest waits at the broker, where
   flow control at QoS 1 is to keep it), the broker's $SYS/broker/store/messages/count, and the
   ingest_overload monitor alarm's retained topic. After the load: how long until the daemon
   caught up, and what it lost.
3. The issue's two measurements (20,000 and 60,000 msg/s, QoS 1; --no-issue-points skips
   them), to compare the daemon with the one the issue measured (96 MB, 380 MB).

The probes are Python on the same 2 cores as the daemon, the broker and the generator, so
their latencies include their own scheduling; the daemon logs at `error` here (at 20,000
alarms/s the log lines alone would flood the harness's pipe and slow the daemon down).

  NEEDLEWATCH_BIN=build/integration-rel/monitor/app/needlewatch \
  NW_LOAD_BIN=build/integration-rel/bench/live/nw-mqtt-load \
      bench/overload/run_overload.py [--quick] [--no-issue-points] [--rate R] [--out bench/overload/RESULTS-overload.md]
"""

import statistics
import sys
import time

import olib
from olib import benchlib, log, nwtest

DEVICES = 1000
STORM = ["--storm-depth", "1.5"]
STORM_DEPTH = 1.5
CONFIG = nwtest.limits_config(stale_after="1h", extra="log:\n  level: error\n")
BROKER_EXTRA = benchlib.BROKER_EXTRA + ["sys_interval 1"]


class Stack:
    """mosquitto (bench settings, $SYS every second) + the daemon + a $SYS watcher."""

    def __init__(self, workdir, name):
        self.broker = nwtest.Mosquitto(workdir, extra=BROKER_EXTRA, nofile=20000,
                                       name=f"mosquitto-{name}").start()
        self.daemon = olib.QuietDaemon(workdir, self.broker.url, config=CONFIG, instance=name,
                                    name=f"nw-{name}").start()
        self.target = benchlib.Target(name, self.daemon.child.pid,
                                      self.daemon.base_url + "/metrics",
                                      "needlewatch_messages_received_total")
        self.sys = nwtest.MqttClient(self.broker.port).connect()
        self.sys.subscribe("$SYS/broker/store/messages/count", qos=0)
        self.sys.subscribe(f"needlewatch/{name}/alarm/ingest_overload", qos=1)

    def last(self, topic_part):
        for m in reversed(self.sys.messages):
            if topic_part in m.topic:
                return m
        return None

    def broker_stored(self):
        m = self.last("$SYS/broker/store")
        return int(m.payload) if m else None

    def overload_state(self):
        """The ingest_overload monitor alarm's state (its retained topic), or None."""
        m = self.last("/alarm/ingest_overload")
        try:
            return m.json().get("state") if m else None
        except ValueError:
            return m.payload.decode()

    def metrics(self, timeout=5.0):
        status, body = nwtest.http("GET", self.daemon.base_url + "/metrics", timeout=timeout)
        if status != 200:
            raise RuntimeError(f"/metrics {status}")
        return nwtest.parse_metrics(body.decode())

    def stop(self):
        self.sys.disconnect()
        self.daemon.stop()
        self.broker.stop()


def overload_counters(m):
    """Every non-zero counter about dropping or overload (the names are the daemon's to choose;
    the recorder's own drops are left out)."""
    out = {}
    for (name, labels), v in m.items():
        if ("drop" in name or "overload" in name) and "recorder" not in name and v:
            out[name + ("{" + ",".join(f"{k}={x}" for k, x in sorted(labels)) + "}"
                        if labels else "")] = v
    return out


def raised(m):
    return nwtest.metric_value(m, "needlewatch_alarms_raised_total") or 0


def step(stack, rate, qos, duration, prefix):
    """One constant-rate storm step; returns its row."""
    pid = stack.daemon.child.pid
    m0 = stack.metrics(timeout=60)
    r0, a0 = nwtest.metric_value(m0, "needlewatch_messages_received_total"), raised(m0)
    rss0 = nwtest.rss_mib(pid)
    meter = []
    p = benchlib.run_load(stack.broker.port, DEVICES, rate, qos, duration, prefix,
                          background=True, extra=STORM,
                          on_connected=lambda: meter.append(benchlib.CpuMeter(pid)))
    t0 = time.monotonic()
    out, err = p.communicate(timeout=600)
    elapsed = time.monotonic() - t0
    load = benchlib.json.loads(out.strip().splitlines()[-1])
    m1 = stack.metrics(timeout=60)
    handled = nwtest.metric_value(m1, "needlewatch_messages_received_total") - r0
    cpu = meter[0].stop()[0]
    behind = load["sent"] - handled
    got = benchlib.wait_drained(stack.target, r0 + load["sent"], timeout=60) - r0
    transitions = 2 * (raised(stack.metrics(timeout=60)) - a0)
    row = {"target": rate, "achieved": load["rate"], "sent": load["sent"],
           "handled_in_step": int(handled), "behind_at_end": int(behind),
           "lost": int(load["sent"] - got), "transitions_per_s": round(transitions / elapsed),
           "cpu_pct": cpu, "rss_start": round(rss0, 1), "rss_end": round(nwtest.rss_mib(pid), 1)}
    row["sustained"] = (handled >= 0.97 * load["sent"] and behind <= 0.5 * load["rate"]
                        and row["rss_end"] - row["rss_start"] < 20 and row["lost"] == 0
                        and load["rate"] >= 0.95 * rate)
    log(f"  storm qos{qos} {rate}/s -> {row}")
    return row


def ladder(workdir, rates, duration):
    stack = Stack(workdir, "ladder")
    rows, best = [], None
    try:
        for i, rate in enumerate(rates):
            row = step(stack, rate, 1, duration, f"l{i}d")
            rows.append(row)
            if row["sustained"]:
                best = row
            else:
                break
    finally:
        stack.stop()
    return best, rows


def timed_run(workdir, rate, qos, duration, name, catch_up_timeout=180):
    """`rate` for `duration` s with the probes; returns (summary, timeline rows). After the load
    the daemon gets `catch_up_timeout` s to handle the rest; what it has not by then counts
    as lost (the table says which runs ran out of that time)."""
    stack = Stack(workdir, name)
    pid = stack.daemon.child.pid
    base = stack.daemon.base_url
    health = []

    def probe_health():
        t = time.monotonic()
        status, _ = nwtest.http("GET", base + "/healthz", timeout=2.0)
        return (time.monotonic() - t) * 1000 if status == 200 else None

    def probe_second():
        t = time.monotonic()
        try:
            m = stack.metrics(timeout=5.0)
            ms = (time.monotonic() - t) * 1000
        except Exception:  # noqa: BLE001 - not answering is the figure
            m, ms = None, None
        return {"rss": nwtest.rss_mib(pid), "metrics_ms": ms,
                "received": nwtest.metric_value(m, "needlewatch_messages_received_total")
                if m else None,
                "queue_depth": nwtest.metric_value(m, "needlewatch_queue_depth") if m else None,
                "overload": stack.overload_state(),
                "stored": stack.broker_stored()}
    try:
        r0 = nwtest.metric_value(stack.metrics(), "needlewatch_messages_received_total")
        hs = olib.Sampler(probe_health, 0.1)
        ss = olib.Sampler(probe_second, 1.0)
        health = hs.rows
        started = []
        load = benchlib.run_load(stack.broker.port, DEVICES, rate, qos, duration, f"{name}d",
                                 extra=STORM, on_connected=lambda: started.append(time.monotonic()))
        t_end = time.monotonic()
        got = benchlib.wait_drained(stack.target, r0 + load["sent"],
                                    timeout=catch_up_timeout) - r0
        catch_up = time.monotonic() - t_end
        hs.stop()
        seconds = ss.stop()
        m = stack.metrics(timeout=60)
        dropped = overload_counters(m)
    finally:
        stack.stop()
    lat = [v for _, v in health if isinstance(v, float)]
    failed = sum(1 for _, v in health if not isinstance(v, float))
    rss = [s["rss"] for _, s in seconds if isinstance(s, dict)]
    summary = {
        "name": name, "qos": qos, "target": rate, "achieved": load["rate"], "sent": load["sent"],
        "handled": int(got), "lost": int(load["sent"] - got), "catch_up_s": round(catch_up, 1),
        "rss_max": round(max(rss), 1) if rss else None,
        "healthz_p50": round(statistics.median(lat), 1) if lat else None,
        "healthz_p99": round(benchlib.percentile(lat, 99), 1) if lat else None,
        "healthz_max": round(max(lat), 1) if lat else None,
        "healthz_over_100ms": sum(1 for v in lat if v > 100), "healthz_failed": failed,
        "healthz_probes": len(health),
        "metrics_failed": sum(1 for _, s in seconds if isinstance(s, dict)
                              and s["metrics_ms"] is None),
        "stored_max": max((s["stored"] or 0 for _, s in seconds if isinstance(s, dict)),
                          default=None),
        "dropped": dropped or None,
    }
    # The samplers' clock starts at hs.t0/ss.t0; the timeline's at the first published message.
    # Behind = published so far (the generator's achieved rate x time: it paces evenly) minus
    # handled; of that, queue depth is inside the daemon, the rest at the broker or in flight.
    t_load = started[0] - ss.t0
    timeline = []
    prev = None
    for t, s in seconds:
        if not isinstance(s, dict):
            continue
        window = [v for tt, v in health if t - 1.0 <= tt + (hs.t0 - ss.t0) < t]
        ok = [v for v in window if isinstance(v, float)]
        rate_now = behind = None
        if prev and s["received"] is not None and prev[1]["received"] is not None:
            rate_now = round((s["received"] - prev[1]["received"]) / (t - prev[0]))
        if s["received"] is not None:
            published = min(load["sent"], max(0.0, (t - t_load) * load["rate"]))
            behind = max(0, round(published - (s["received"] - r0)))
        timeline.append({"t": round(t - t_load, 1), "rss": round(s["rss"], 1),
                         "healthz_max": round(max(ok), 1) if ok else None,
                         "healthz_failed": len(window) - len(ok),
                         "metrics_ms": round(s["metrics_ms"], 1) if s["metrics_ms"] else "no answer",
                         "handled_per_s": rate_now, "behind": behind,
                         "queue_depth": s["queue_depth"], "broker_stored": s["stored"],
                         "ingest_overload": s["overload"]})
        if s["received"] is not None:
            prev = (t, s)
    log(f"  {name}: {summary}")
    return summary, timeline


LADDER_COLS = [("target msg/s", "target"), ("achieved msg/s", "achieved"), ("sent", "sent"),
               ("handled in step", "handled_in_step"), ("behind at end", "behind_at_end"),
               ("lost", "lost"), ("transitions/s", "transitions_per_s"),
               ("daemon CPU %", "cpu_pct"), ("RSS start MiB", "rss_start"),
               ("RSS end MiB", "rss_end"), ("sustained", "sustained")]
SUMMARY_COLS = [("run", "name"), ("QoS", "qos"), ("target msg/s", "target"),
                ("achieved", "achieved"), ("sent", "sent"), ("handled", "handled"),
                ("lost", "lost"), ("catch-up s", "catch_up_s"), ("RSS max MiB", "rss_max"),
                ("/healthz p50 ms", "healthz_p50"), ("p99 ms", "healthz_p99"),
                ("max ms", "healthz_max"), ("> 100 ms", "healthz_over_100ms"),
                ("failed", "healthz_failed"), ("probes", "healthz_probes"),
                ("/metrics unanswered (of 1/s)", "metrics_failed"),
                ("broker stored max", "stored_max"), ("dropped", "dropped")]
TIMELINE_COLS = [("t s (load from 0)", "t"), ("RSS MiB", "rss"),
                 ("/healthz max ms", "healthz_max"), ("/healthz failed", "healthz_failed"),
                 ("/metrics ms", "metrics_ms"), ("handled/s", "handled_per_s"),
                 ("behind (published - handled)", "behind"),
                 ("in the daemon (queue depth)", "queue_depth"),
                 ("broker store ($SYS)", "broker_stored"), ("ingest_overload", "ingest_overload")]


def main():
    ap = olib.parser(__doc__)
    ap.add_argument("--no-issue-points", dest="issue_points", action="store_false",
                    help="skip 20,000 and 60,000 msg/s (the issue's measurements)")
    ap.add_argument("--rate", type=float, help="skip the ladder: the sustainable rate to use")
    a = ap.parse_args()

    def body(wd):
        md = [f"Every sample changes an alarm: {DEVICES:,} pens, depth alternating 0.5 / "
              f"{STORM_DEPTH} mm around the 1.0 mm limit (depth_exceeded raised, then latched). "
              "mosquitto with `" + "`, `".join(BROKER_EXTRA) + "`, no persistence (the daemon "
              "is measured, not the disk). Daemon: audit log on, alarm topics on, log level "
              "error.", ""]
        md += ["Daemon under test: the inbox between Paho and the loop holds at most "
               "`mqtt.inbox_capacity` (10,000) messages (QoS 1: Paho's thread waits, the broker "
               "keeps the backlog; QoS 0: the excess is dropped and counted); at most 1,000 "
               "publications are with Paho at once, the rest wait conflated per topic.", ""]
        dur = 5 if a.quick else 10
        if a.rate:
            best_rate = a.rate
            md += [f"## 1. Sustainable rate: given as {best_rate:.0f} msg/s (--rate)", ""]
        else:
            rates = [1000, 2000, 5000, 10000, 15000, 20000, 30000, 40000]
            best, rows = ladder(wd, rates, dur)
            best_rate = best["achieved"] if best else rates[0]
            md += [f"## 1. Sustainable storm: {best['transitions_per_s'] if best else 'none'} "
                   f"alarm transitions/s ({best_rate:.0f} msg/s)", "",
                   benchlib.table(rows, LADDER_COLS), ""]
        runs, timelines = [], []
        length = 15 if a.quick else 30
        for qos in (1, 0):
            s, tl = timed_run(wd, round(3 * best_rate), qos, length, f"x3q{qos}")
            runs.append(s)
            timelines.append((s["name"], tl))
        if a.issue_points:
            for rate in (20000, 60000):
                s, tl = timed_run(wd, rate, 1, 10 if a.quick else 20, f"issue{rate // 1000}k",
                                  catch_up_timeout=30)
                runs.append(s)
                timelines.append((s["name"], tl))
        md += [f"## 2. Three times the sustainable rate ({3 * best_rate:.0f} msg/s)"
               + (" and the issue's points" if a.issue_points else ""), "",
               "Targets: RSS < 150 MiB, /healthz within 100 ms, /metrics answering.", "",
               benchlib.table(runs, SUMMARY_COLS), ""]
        for name, tl in timelines:
            md += [f"### Timeline {name}", "", benchlib.table(tl, TIMELINE_COLS), ""]
        return md
    olib.run("Overload: an alarm storm (issue 12 items 6 and 9)",
             "bench/overload/run_overload.py" + (" --quick" if a.quick else "")
             + ("" if a.issue_points else " --no-issue-points"), body, a.out)


if __name__ == "__main__":
    sys.exit(main())
