#!/usr/bin/env python3
"""The daemon's crash window (issue 12 item 7): how many QoS 1 messages a `kill -9` of
`needlewatch run` loses at 1,000 and 10,000 msg/s.

Lost = acknowledged to the broker by the daemon's Paho client but never handled by the engine
(in Paho's queue or the daemon's inbox at the kill): the broker has let go of them and the
restarted daemon never sees them. Counted exactly, per device and seq:
- the load (nw-mqtt-load, 1,000 devices, QoS 1) is an alarm storm, so every message the first
  daemon handled left one line in its audit log (raised / latched alternately; the audit log is
  written and flushed on the loop as the engine makes the transition): per device, the number
  of its lines is the last seq handled, L;
- the second daemon records (`--record.dir`, complete after its SIGTERM): per device the first
  seq it handled, F. Lost = F - 1 - L when positive; when F <= L, the broker delivered again
  what the first daemon had handled but not yet acknowledged (duplicates).

Two moments for the kill, three times each: `steady` (mid-stream, at 6 s) and `catch-up` (the
daemon SIGSTOPped for 5 s while the broker queues for it, then SIGCONTed and killed as soon as
its audit log grows again: the backlog is being taken in). With alarm topics off and on: each
transition's retained publication goes out through the same Paho connection, and while Paho has
writes pending it queues its PUBACKs behind them, so with alarm topics on the broker holds more
of the backlog (unacknowledged, delivered again after the restart) and less is at risk.

  NEEDLEWATCH_BIN=... NW_LOAD_BIN=... bench/overload/run_crash.py [--quick] [--out bench/overload/RESULTS-crash.md]
"""

import collections
import json
import os
import signal
import sys
import time

import olib
from olib import benchlib, log, nwtest

DEVICES = 1000


def config(alarm_topics):
    return nwtest.limits_config(
        stale_after="1h", extra="log:\n  level: error\n"
        f"outputs:\n  alarm_topics: {'true' if alarm_topics else 'false'}\n")


def audit_counts(path):
    """{device: audit lines} = last seq each device had handled (every message a transition)."""
    c = collections.Counter()
    with open(path) as f:
        for line in f:
            try:
                c[json.loads(line)["device"]] += 1
            except (ValueError, KeyError):
                pass  # a line cut by the kill
    return c


def one_kill(workdir, rate, mode, alarm_topics, i):
    tag = f"{mode}-{rate}-{int(alarm_topics)}-{i}"
    broker = nwtest.Mosquitto(workdir, extra=benchlib.BROKER_EXTRA, nofile=20000,
                              name=f"mosquitto-{tag}").start()
    cfg = config(alarm_topics)
    life1 = olib.QuietDaemon(workdir, broker.url, config=cfg, instance="crash",
                             name=f"life1-{tag}").start()
    rec = os.path.join(workdir.path, f"rec-{tag}")
    life2 = olib.QuietDaemon(workdir, broker.url, config=cfg, instance="crash",
                             name=f"life2-{tag}", args=["--record.dir", rec])
    try:
        duration = 14
        p = benchlib.run_load(broker.port, DEVICES, rate, 1, duration, "k", clinic="crash",
                              background=True, extra=["--storm-depth", "1.5"])
        # Load pacing below: where in the stream the kill lands.
        if mode == "steady":
            time.sleep(6)
        else:
            time.sleep(3)
            life1.send_signal(signal.SIGSTOP)
            time.sleep(5)
            size = os.path.getsize(life1.audit_path)
            life1.send_signal(signal.SIGCONT)
            nwtest.wait_until(lambda: os.path.getsize(life1.audit_path) > size, 10,
                              "the daemon to resume", interval=0.001)
        life1.kill()
        t_restart = time.monotonic()
        life2.start(timeout=180)  # /readyz waits behind the backlog the loop is handling
        restart_s = time.monotonic() - t_restart
        load = benchlib.finish_load(p)
        handled1 = audit_counts(life1.audit_path)
        target = benchlib.Target("life2", life2.child.pid, life2.base_url + "/metrics",
                                 "needlewatch_messages_received_total", {"channel": "telemetry"})
        benchlib.wait_drained(target, load["sent"] - sum(handled1.values()), timeout=120)
        life2.stop()
        first = {}
        for (clinic, dev), seqs in nwtest.recorded_seqs(nwtest.export_recording(rec)).items():
            first[dev] = min(seqs)
        lost = dup = 0
        for dev, f in first.items():
            gap = f - 1 - handled1.get(dev, 0)
            lost += max(0, gap)
            dup += max(0, -gap)
        row = {"rate": rate, "mode": mode, "alarm_topics": "on" if alarm_topics else "off",
               "run": i + 1, "achieved": load["rate"],
               "sent": load["sent"], "handled_before_kill": sum(handled1.values()),
               "lost": lost, "devices_with_loss": sum(1 for d, f in first.items()
                                                      if f - 1 > handled1.get(d, 0)),
               "redelivered": dup, "restart_s": round(restart_s, 2)}
        log(f"  {row}")
        return row
    finally:
        for d in (life1, life2):
            if d.child and d.running():
                d.send_signal(signal.SIGCONT)
                d.stop()
        broker.stop()


COLS = [("msg/s", "rate"), ("kill", "mode"), ("alarm topics", "alarm_topics"), ("run", "run"),
        ("achieved msg/s", "achieved"),
        ("sent", "sent"), ("handled before the kill", "handled_before_kill"),
        ("lost", "lost"), ("devices with a loss", "devices_with_loss"),
        ("delivered again", "redelivered"), ("restart to ready s", "restart_s"),
        ("error", "error")]


def main():
    a = olib.parser(__doc__).parse_args()

    def body(wd):
        rows = []
        for alarm_topics in (False, True):
            for rate in (1000, 10000):
                for mode in ("steady", "catch-up"):
                    for i in range(1 if a.quick else 3):
                        try:
                            rows.append(one_kill(wd, rate, mode, alarm_topics, i))
                        except Exception as e:  # noqa: BLE001 - one failed run is a result
                            rows.append({"rate": rate, "mode": mode, "run": i + 1,
                                         "alarm_topics": "on" if alarm_topics else "off",
                                         "error": str(e).splitlines()[0][:160]})
                            log(f"  {rows[-1]}")
        return [__doc__.split("\n\n", 1)[1].split("\n  NEEDLEWATCH_BIN")[0].strip(), "",
                benchlib.table(rows, COLS), ""]
    olib.run("kill -9 of the daemon under load (issue 12 item 7)",
             "bench/overload/run_crash.py" + (" --quick" if a.quick else ""), body, a.out)


if __name__ == "__main__":
    sys.exit(main())
