#!/usr/bin/env python3
"""Restore time (issue 12 item 9): 10,000 devices with open sessions, the daemon SIGKILLed and
started again on the same state directory; target: restored within 1 s.

Needs durable state (`needlewatch run --state.dir`, issue 12 item 1). On a daemon without it
this prints why and exits 0 without figures (a skip, not a result).

Each run: the daemon with --state.dir; nw-mqtt-load publishes one sample for each of 10,000
devices (one connection each: 10,000 open sessions); once /metrics shows them all, SIGKILL;
start again with the same --state.dir and time, from the exec: the HTTP listener, /readyz 200,
and /metrics showing all 10,000 sessions again (needlewatch_sessions_active summed).

  NEEDLEWATCH_BIN=... NW_LOAD_BIN=... bench/overload/run_restore.py [--quick] [--runs N] [--out bench/overload/RESULTS-restore.md]
"""

import os
import sys
import time

import olib
from olib import benchlib, log, nwtest

DEVICES = 10000
# info: the harness waits for the "http listening" line.
CONFIG = nwtest.limits_config(stale_after="1h", extra="log:\n  level: info\n")


def sessions(daemon):
    status, body = nwtest.http("GET", daemon.base_url + "/metrics", timeout=10)
    if status != 200:
        return 0
    return nwtest.metric_value(nwtest.parse_metrics(body.decode()),
                               "needlewatch_sessions_active") or 0


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def one_run(workdir, i):
    broker = nwtest.Mosquitto(workdir, extra=benchlib.BROKER_EXTRA, nofile=30000,
                              name=f"mosquitto-restore-{i}").start()
    state = os.path.join(workdir.path, f"state-{i}")
    os.makedirs(state, exist_ok=True)
    args = ["--state.dir", state]
    d1 = nwtest.Daemon(workdir, broker.url, config=CONFIG, args=args, name=f"nw1-{i}").start()
    d2 = nwtest.Daemon(workdir, broker.url, config=CONFIG, args=args, name=f"nw2-{i}")
    try:
        benchlib.run_load(broker.port, DEVICES, 5000, 1, DEVICES / 5000 + 1, "r",
                          clinic="restore")
        nwtest.wait_until(lambda: sessions(d1) >= DEVICES, 120, "10,000 open sessions",
                          interval=0.5)
        d1.kill()
        t0 = time.monotonic()
        d2.start(ready=False)
        t_http = time.monotonic() - t0
        nwtest.wait_until(lambda: d2.http("GET", "/readyz")[0] == 200, 60, "/readyz",
                          interval=0.01)
        t_ready = time.monotonic() - t0
        nwtest.wait_until(lambda: sessions(d2) >= DEVICES, 60, "the sessions restored",
                          interval=0.01)
        t_sessions = time.monotonic() - t0
        row = {"run": i + 1, "http_s": round(t_http, 3), "ready_s": round(t_ready, 3),
               "sessions_s": round(t_sessions, 3), "state_bytes": dir_bytes(state),
               "rss_mib": round(nwtest.rss_mib(d2.child.pid), 1)}
        log(f"  {row}")
        return row
    finally:
        for d in (d1, d2):
            if d.child and d.running():
                d.stop()
        broker.stop()


def main():
    ap = olib.parser(__doc__)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if not nwtest.daemon_has_flag("--state.dir"):
        print("run_restore: SKIPPED -- `needlewatch run --help` has no --state.dir (durable "
              "state, issue 12 item 1, not in this build); nothing measured.", file=sys.stderr)
        return 0

    def body(wd):
        rows = [one_run(wd, i) for i in range(1 if a.quick else a.runs)]
        return ["Target: all 10,000 sessions back within 1 s of the restart.", "",
                benchlib.table(rows, [("run", "run"), ("exec -> HTTP listening s", "http_s"),
                                      ("exec -> /readyz 200 s", "ready_s"),
                                      ("exec -> 10,000 sessions in /metrics s", "sessions_s"),
                                      ("state dir bytes", "state_bytes"),
                                      ("RSS after MiB", "rss_mib")]), ""]
    olib.run("Restore time, 10,000 open sessions (issue 12 item 9)",
             "bench/overload/run_restore.py", body, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
