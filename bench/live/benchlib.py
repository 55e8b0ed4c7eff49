"""Shared pieces of the live and peer benchmarks: load steps, loss counting, CPU/RSS from /proc,
latency probes, scrape timing. Fixtures (mosquitto, the daemon) come from the integration
harness tests/integration/nwtest.py. Benchmarks only: nothing here is a test.
"""

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import nwtest  # noqa: E402

PY = sys.executable
# The load generator and counting subscriber (target nw-mqtt-load, bench/live/mqtt_load.cc),
# built and passed in by scripts/bench.
LOAD = [os.environ.get("NW_LOAD_BIN") or os.path.join(ROOT, "build", "integration-rel", "bench",
                                                      "live", "nw-mqtt-load")]
CLK_TCK = os.sysconf("SC_CLK_TCK")
# QoS 1 needs room in the broker: the defaults (20 in flight, 1000 queued per client) throttle a
# single subscriber to a few thousand messages per second and drop the rest of a burst.
BROKER_EXTRA = ["max_inflight_messages 1000", "max_queued_messages 1000000",
                "max_connections -1",
                # Nagle off: otherwise a PUBLISH to the daemon can wait ~40 ms for the daemon's
                # delayed ACK of the broker's previous small packet (monitor/daemon/README.md).
                "set_tcp_nodelay true"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.platform()}, "
            f"load avg at start {os.getloadavg()[0]:.2f}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start_broker(workdir, name="mosquitto"):
    return nwtest.Mosquitto(workdir, extra=BROKER_EXTRA, nofile=20000, name=name).start()


def run_load(port, devices, rate, qos, duration, prefix, clinic="bench", background=False,
             on_connected=None, extra=()):
    """Runs the load generator; returns its JSON result (or the Popen with background=True).
    on_connected() is called once every device is connected, just before publishing starts.
    extra: more `pub` flags (e.g. ["--storm-depth", "1.5"])."""
    argv = LOAD + ["pub", "--port", str(port), "--devices", str(devices), "--rate", str(rate),
            "--qos", str(qos), "--duration", str(duration), "--prefix", prefix,
            "--clinic", clinic, "--inflight", "100", *extra]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()  # "connected": every device is up, publishing starts
    if line != "connected":
        p.kill()
        raise RuntimeError(f"load generator: {line!r} {p.stderr.read()[-800:]}")
    if on_connected:
        on_connected()
    if background:
        return p
    return finish_load(p)


def finish_load(p):
    out, err = p.communicate(timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"load generator failed: {err[-800:]}")
    return json.loads(out.strip().splitlines()[-1])


class Target:
    """What is measured: a pid, a received-messages counter, a /metrics URL."""

    def __init__(self, name, pid, metrics_url, received_metric, received_labels=None):
        self.name, self.pid, self.metrics_url = name, pid, metrics_url
        self.received_metric = received_metric
        self.received_labels = received_labels or {}

    def scrape(self):
        t0 = time.monotonic()
        status, body = nwtest.http("GET", self.metrics_url, timeout=60)
        dt = time.monotonic() - t0
        if status != 200:
            raise RuntimeError(f"{self.metrics_url}: {status}")
        return dt, body

    def received(self):
        _, body = self.scrape()
        v = nwtest.metric_value(nwtest.parse_metrics(body.decode()), self.received_metric,
                                **self.received_labels)
        return v or 0


def wait_drained(target, expected, timeout=30.0):
    """Polls the target's received counter until it reaches `expected` or stops moving for 3 s."""
    last, last_change = target.received(), time.monotonic()
    deadline = time.monotonic() + timeout
    while last < expected and time.monotonic() < deadline:
        time.sleep(0.2)  # bounded poll of a counter
        v = target.received()
        if v != last:
            last, last_change = v, time.monotonic()
        elif time.monotonic() - last_change > 3:
            break
    return last


_step_no = [0]


class CpuMeter:
    """CPU % (of one core) of some pids between start and stop."""

    def __init__(self, *pids):
        self.pids = pids
        self.c0 = [cpu_seconds(p) for p in pids]
        self.t0 = time.monotonic()

    def stop(self):
        dt = time.monotonic() - self.t0
        return [round(100 * (cpu_seconds(p) - c) / dt, 1) for p, c in zip(self.pids, self.c0)]


def load_step(target, port, devices, rate, qos, duration, broker_pid):
    """One constant-rate step: sent vs received by the target, its CPU % and RSS, broker CPU %."""
    _step_no[0] += 1
    prefix = f"s{_step_no[0]}q{qos}d"  # fresh devices: seq starts at 1, no cross-step gaps
    r0 = target.received()
    meter = []
    load = run_load(port, devices, rate, qos, duration, prefix,
                    on_connected=lambda: meter.append(CpuMeter(target.pid, broker_pid)))
    target_cpu, broker_cpu = meter[0].stop()
    got = wait_drained(target, r0 + load["sent"]) - r0
    row = {"target": rate, "achieved": load["rate"], "sent": load["sent"],
           "received": int(got), "lost": int(load["sent"] - got), "cpu_pct": target_cpu,
           "rss_mib": round(rss_mib(target.pid), 1), "broker_cpu": broker_cpu}
    log(f"  {target.name} qos{qos} {devices} devices {rate}/s -> {row}")
    return row


def ladder(step, rates):
    """Runs step(rate) -> row for ascending rates until one loses messages or the generator
    cannot keep the rate. A step that falls short is repeated once (the machine is shared).
    Returns (the zero-loss row with the highest achieved rate or None, all rows, why it
    stopped)."""
    rows, best, why = [], None, "highest step tried"
    for rate in rates:
        row = step(rate)
        rows.append(row)
        if row["lost"] > 0 or row["achieved"] < 0.95 * rate:
            row = step(rate)
            rows.append(row)
        if row["lost"] > 0:
            why = f"loss at {rate}/s"
            break
        for r in rows[-2:]:  # the best zero-loss row, a short first try included
            if r["lost"] == 0 and (best is None or r["achieved"] > best["achieved"]):
                best = r
        if row["achieved"] < 0.95 * rate:
            why = f"load generator reached only {row['achieved']:.0f}/s at {rate}/s"
            break
    return best, rows, why


def max_zero_loss(target, broker, devices, qos, rates, duration=6):
    """The highest rate `target` takes from `broker` without loss (see ladder())."""
    return ladder(lambda rate: load_step(target, broker.port, devices, rate, qos, duration,
                                         broker.child.pid), rates)


def scrape_stats(target, n=5):
    times, size = [], 0
    for _ in range(n):
        dt, body = target.scrape()
        times.append(dt)
        size = len(body)
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    return {"median_ms": round(1000 * statistics.median(times), 1),
            "max_ms": round(1000 * max(times), 1), "bytes": size, "series": series}


def percentile(values, p):
    v = sorted(values)
    if not v:
        return None
    k = max(0, min(len(v) - 1, math.ceil(p / 100 * len(v)) - 1))  # nearest rank
    return v[k]


def table(rows, cols):
    out = ["| " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(str(r.get(k, "")) if r.get(k) is not None else "–"
                                      for _, k in cols) + " |")
    return "\n".join(out)


STEP_COLS = [("target msg/s", "target"), ("achieved msg/s", "achieved"), ("sent", "sent"),
             ("received", "received"), ("lost", "lost"), ("daemon CPU %", "cpu_pct"),
             ("daemon RSS MiB", "rss_mib"), ("broker CPU %", "broker_cpu")]
