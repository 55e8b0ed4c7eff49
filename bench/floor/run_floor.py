#!/usr/bin/env python3
"""Floor page push benchmark (issue 14 §2): what N open pages cost the daemon, and how fast an
alarm reaches them.

For each N in --pages: a fresh load of --rate msg/s (QoS 0, --devices pens with open
sessions, `nw-mqtt-load pub`) runs through mosquitto into `needlewatch run`; N Server-Sent
Events connections are open on GET /api/v1/events (up to three parse every event and time the
alarms, the rest only drain their bytes, each group in its own process so the measuring side
does not starve itself); `nw-mqtt-load probe` publishes one unsafe sample on a fresh pen every
--probe-ms. Reported per N: the daemon's CPU (from /proc, over the probe window), its RSS, the
bytes each page receives per second, and push latency:
  raise -> page   the alarm's raised_at (the daemon's clock when it handled the sample) to the
                  event parsed by a page (this machine's clock: the same clock)
  MQTT topic      the same probes' retained alarm topic, for comparison (nw-mqtt-load probe)

  NEEDLEWATCH_BIN=… NW_LOAD_BIN=… bench/floor/run_floor.py [--pages 0,1,10,50] [--rate 10000]
      [--devices 1000] [--probes 100] [--probe-ms 100] [--out bench/floor/RESULTS.md]

scripts/bench floor builds the release binaries and runs it. Needs the floor routes wired: it
stops with a message when GET / answers 404. Benchmarks only: nothing here is a test.
"""

import argparse
import json
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "live"))
import benchlib  # noqa: E402
from benchlib import log, nwtest  # noqa: E402

CONFIG = nwtest.limits_config(stale_after="1h", warn_after="50m", max_duration="60m",
                              extra="log:\n  level: info\n")
PARSERS = 3  # connections that parse every event (the others drain)


# ---------------------------------------------------------------------------------------------
# Page processes: `run_floor.py pages --port P --count N [--parse]`. Each opens N streams on
# one selector loop, prints "ready" once every stream answered 200, and on stdin EOF prints one
# JSON line: bytes received per stream, and (--parse) every alarm raise it saw with the time
# it was parsed.


def open_stream(port):
    s = socket.create_connection((nwtest.HOST, port), timeout=10)
    s.sendall(f"GET /api/v1/events HTTP/1.1\r\nHost: {nwtest.HOST}:{port}\r\n"
              "Accept: text/event-stream\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("stream closed before its header")
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        raise RuntimeError(f"GET /api/v1/events: {status.decode(errors='replace')}")
    rest = head.split(b"\r\n\r\n", 1)[1]
    s.setblocking(False)
    return s, rest


def pages_main(a):
    sel = selectors.DefaultSelector()
    streams = []
    for i in range(a.count):
        s, rest = open_stream(a.port)
        st = {"i": i, "bytes": len(rest), "buf": rest if a.parse else b"", "raises": []}
        streams.append(st)
        sel.register(s, selectors.EVENT_READ, st)
    sel.register(sys.stdin, selectors.EVENT_READ, None)
    for st in streams:
        st["bytes"] = 0  # count from here: the rate is over the time the run held them open
    t_ready = time.monotonic()
    print("ready", flush=True)
    # Stdin EOF ends the run, after every parsing stream saw --expect raises (at most 15 s more:
    # a daemon that is behind still delivers the last probes' events).
    deadline = None
    while deadline is None or time.monotonic() < deadline:
        if deadline is not None and all(len(st["raises"]) >= a.expect for st in streams):
            break
        for key, _ in sel.select(timeout=0.2):
            st = key.data
            if st is None:
                if not sys.stdin.readline():
                    sel.unregister(sys.stdin)
                    deadline = time.monotonic() + (15 if a.parse else 0)
                continue
            try:
                chunk = key.fileobj.recv(1 << 20)
            except BlockingIOError:
                continue
            now = time.time()
            if not chunk:
                sel.unregister(key.fileobj)
                continue
            st["bytes"] += len(chunk)
            if not a.parse:
                continue
            st["buf"] += chunk
            while b"\n\n" in st["buf"]:
                event, st["buf"] = st["buf"].split(b"\n\n", 1)
                if b"event: alarm" not in event or b'"transition":"raised"' not in event:
                    continue
                for line in event.split(b"\n"):
                    if line.startswith(b"data: "):
                        alarm = json.loads(line[6:])["alarm"]
                        if alarm["clinic"] == "probe":
                            st["raises"].append([alarm["device"], alarm["raised_at"], now])
    print(json.dumps({"bytes": [st["bytes"] for st in streams],
                      "seconds": time.monotonic() - t_ready,
                      "raises": [st["raises"] for st in streams]}), flush=True)


class Pages:
    """A `pages` child process with `count` streams open."""

    def __init__(self, port, count, parse, expect=0):
        self.p = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "pages", "--port", str(port),
             "--count", str(count), "--expect", str(expect)] + (["--parse"] if parse else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().strip()
        if line != "ready":
            self.p.kill()
            raise RuntimeError(f"pages process: {line!r}")

    def finish(self):
        self.p.stdin.close()
        out = self.p.stdout.readline()
        self.p.wait(30)
        return json.loads(out)


# ---------------------------------------------------------------------------------------------
# The run


def start_daemon(workdir, broker):
    d = nwtest.Daemon(workdir, broker.url, config=CONFIG, instance="floorbench")
    d.start()
    status, _ = d.http("GET", "/")
    if status == 404:
        raise SystemExit("the daemon does not serve the floor page (GET / answered 404): wire "
                         "the routes first (monitor/daemon/README.md, \"Floor page and its API\")")
    return d


def step(broker, daemon, pages, a):
    log(f"{pages} pages, {a.rate} msg/s")
    dropped_before = daemon.metric("needlewatch_http_event_streams_dropped_total") or 0
    load = benchlib.run_load(broker.port, a.devices, a.rate, 0, a.probes * a.probe_ms / 1000 + 12,
                             f"f{pages}d", clinic="bench", background=True)
    time.sleep(3)  # the load reaches its rate and every pen has an open session
    groups = []
    if pages:
        groups.append(Pages(daemon.port, min(PARSERS, pages), parse=True, expect=a.probes))
        if pages > PARSERS:
            groups.append(Pages(daemon.port, pages - PARSERS, parse=False))
    time.sleep(1)  # past each stream's first frames
    received0 = daemon.metric("needlewatch_messages_received_total")
    cpu0, t0 = benchlib.cpu_seconds(daemon.child.pid), time.monotonic()
    meter = benchlib.CpuMeter(daemon.child.pid, broker.child.pid, *(g.p.pid for g in groups))
    probe = subprocess.run(
        benchlib.LOAD + ["probe", "--port", str(broker.port), "--count", str(a.probes),
                         "--interval-ms", str(a.probe_ms), "--qos", "1"],
        capture_output=True, text=True, timeout=a.probes * a.probe_ms / 1000 + 60)
    daemon_cpu, broker_cpu, *pages_cpu = meter.stop()
    # What the daemon handled in the window and its CPU per message: steadier than CPU % on a
    # shared machine, where a starved daemon also handles less.
    cpu1, t1 = benchlib.cpu_seconds(daemon.child.pid), time.monotonic()
    handled = daemon.metric("needlewatch_messages_received_total") - received0
    rss = round(benchlib.rss_mib(daemon.child.pid), 1)
    results = [g.finish() for g in groups]
    achieved = benchlib.finish_load(load)
    if probe.returncode != 0:
        raise RuntimeError(f"probe failed: {probe.stderr[-800:]}")
    mqtt = json.loads(probe.stdout.strip().splitlines()[-1])
    dropped = (daemon.metric("needlewatch_http_event_streams_dropped_total") or 0) - dropped_before
    row = {"pages": pages, "rate": round(achieved["rate"]), "daemon_cpu": daemon_cpu,
           "dropped": int(dropped), "handled": round(handled / (t1 - t0)),
           "us_per_msg": round(1e6 * (cpu1 - cpu0) / handled, 1) if handled else None,
           "broker_cpu": broker_cpu, "pages_cpu": round(sum(pages_cpu), 1) if pages_cpu else None,
           "rss": rss, "probes": a.probes,
           "mqtt_p50": round(mqtt["p50_ms"], 2), "mqtt_p99": round(mqtt["p99_ms"], 2)}
    if results:
        rates = [b / r["seconds"] for r in results for b in r["bytes"]]
        row["kib_s"] = round(statistics.median(rates) / 1024, 1)
        lat, got = [], []
        for raises in results[0]["raises"]:
            got.append(len(raises))
            lat += [1000 * (recv - raised) for _, raised, recv in raises]
        row["received"] = f"{min(got)}–{max(got)}" if min(got) != max(got) else str(got[0])
        row["p50"] = round(benchlib.percentile(lat, 50), 2) if lat else None
        row["p99"] = round(benchlib.percentile(lat, 99), 2) if lat else None
        row["max"] = round(max(lat), 2) if lat else None
    log(f"  {row}")
    return row


def window(daemon, seconds):
    """The daemon's CPU (% of one core) and handled msg/s over the next `seconds`."""
    received0 = daemon.metric("needlewatch_messages_received_total")
    cpu0, t0 = benchlib.cpu_seconds(daemon.child.pid), time.monotonic()
    time.sleep(seconds)
    cpu1, t1 = benchlib.cpu_seconds(daemon.child.pid), time.monotonic()
    handled = daemon.metric("needlewatch_messages_received_total") - received0
    return round(100 * (cpu1 - cpu0) / (t1 - t0), 1), round(handled / (t1 - t0))


def ab(broker, daemon, pages, a):
    """--ab: one load for the whole run and the same pens throughout; each round measures a
    window without pages, then one with `pages` open. Between separate steps (fresh load, new
    pens) the daemon's CPU varies by several points on its own; paired windows on one load
    show what the pages add."""
    log(f"A/B: {a.ab} rounds of {a.window} s without and with {pages} pages")
    seconds = a.ab * 2 * (a.window + 3) + 15
    load = benchlib.run_load(broker.port, a.devices, a.rate, 0, seconds, "fab", clinic="bench",
                             background=True)
    time.sleep(5)
    rows = []
    for r in range(a.ab):
        off, off_rate = window(daemon, a.window)
        group = Pages(daemon.port, pages, parse=False)
        time.sleep(1)  # past each stream's first (full) frame
        on, on_rate = window(daemon, a.window)
        group.finish()
        time.sleep(1)
        rows.append({"round": r + 1, "off": off, "off_rate": off_rate, "on": on,
                     "on_rate": on_rate, "diff": round(on - off, 1)})
        log(f"  {rows[-1]}")
    benchlib.finish_load(load)
    return rows


AB_COLS = [("round", "round"), ("no pages: daemon CPU %", "off"), ("handled msg/s", "off_rate"),
           ("pages open: daemon CPU %", "on"), ("handled msg/s ", "on_rate"),
           ("difference, points of one core", "diff")]


COLS = [("open pages", "pages"), ("load msg/s", "rate"), ("daemon handled msg/s", "handled"),
        ("daemon CPU %", "daemon_cpu"), ("daemon CPU µs per message", "us_per_msg"),
        ("daemon RSS MiB", "rss"), ("KiB/s per page", "kib_s"), ("probes", "probes"),
        ("raises per parsing page", "received"), ("raise → page p50 ms", "p50"),
        ("p99 ms", "p99"), ("max ms", "max"), ("streams dropped as slow", "dropped"),
        ("MQTT topic p50 ms", "mqtt_p50"),
        ("MQTT p99 ms", "mqtt_p99"), ("broker CPU %", "broker_cpu"),
        ("page readers CPU %", "pages_cpu")]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "pages":
        ap = argparse.ArgumentParser()
        ap.add_argument("mode")
        ap.add_argument("--port", type=int, required=True)
        ap.add_argument("--count", type=int, required=True)
        ap.add_argument("--parse", action="store_true")
        ap.add_argument("--expect", type=int, default=0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        return pages_main(ap.parse_args())
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", default="0,1,10,50", help="comma-separated numbers of open pages")
    ap.add_argument("--rate", type=int, default=10000, help="background msg/s (QoS 0)")
    ap.add_argument("--devices", type=int, default=1000, help="pens sending the background load")
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--probe-ms", type=int, default=100)
    ap.add_argument("--out", help="write the Markdown report here (default: stdout only)")
    ap.add_argument("--quick", action="store_true", help="30 probes per step (a smoke run)")
    ap.add_argument("--ab", type=int, default=0,
                    help="also N paired rounds without/with the largest --pages on one load")
    ap.add_argument("--window", type=int, default=15, help="seconds per --ab window")
    a = ap.parse_args()
    if a.quick:
        a.probes = 30
    wd = nwtest.Workdir(prefix="nwbench-floor-")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    mach = benchlib.machine()
    rows = []
    try:
        broker = benchlib.start_broker(wd)
        daemon = start_daemon(wd, broker)
        for n in (int(x) for x in a.pages.split(",")):
            rows.append(step(broker, daemon, n, a))
        ab_rows = ab(broker, daemon, max(int(x) for x in a.pages.split(",")), a) if a.ab else []
    finally:
        nwtest._stop_all_children()
        wd.remove()
    md = "\n".join([
        "# Floor page push: open pages vs daemon CPU and alarm latency", "",
        f"Generated by `bench/floor/run_floor.py --pages {a.pages} --rate {a.rate} --devices "
        f"{a.devices} --probes {a.probes} --probe-ms {a.probe_ms}"
        f"{f' --ab {a.ab} --window {a.window}' if a.ab else ''}` on {started}; machine: {mach}.",
        "",
        f"Background: {a.rate} msg/s QoS 0 from {a.devices} pens with open sessions (every pen "
        "changes in every 250 ms devices frame). Probes: one unsafe sample (QoS 1) on a fresh pen "
        f"every {a.probe_ms} ms. CPU % is of one core, over the probe window. *raise → page*: "
        "the alarm's `raised_at` (daemon clock) to the `alarm` event parsed by a page, on the "
        f"first {PARSERS} connections; the other pages only read their bytes. *page readers*: "
        "this harness's own reading processes (they share the machine with the daemon, the "
        "broker and the load generator: a step whose load msg/s falls short of the target was "
        "starved of CPU and its figures are not the daemon's). *Streams dropped as slow*: pages "
        "the daemon disconnected because they fell more than its per-stream queue behind (the "
        "harness does not reconnect them, so their bytes stop and KiB/s falls).", "",
        benchlib.table(rows, COLS), ""])
    if ab_rows:
        diffs = [r["diff"] for r in ab_rows]
        md += "\n".join([
            "", f"## Paired windows: no pages, then {max(int(x) for x in a.pages.split(','))} "
            f"pages, on one load (--ab {a.ab}, {a.window} s windows)", "",
            f"What the pages add to the daemon's CPU: median **{statistics.median(diffs):+.1f}** "
            f"points of one core (range {min(diffs):+.1f} to {max(diffs):+.1f}); without pages "
            f"the daemon used {min(r['off'] for r in ab_rows)}–{max(r['off'] for r in ab_rows)} %.",
            "", benchlib.table(ab_rows, AB_COLS), ""])
    if a.out:
        with open(a.out, "w") as f:
            f.write(md)
    print(md)


if __name__ == "__main__":
    main()
