"""Measures Prometheus memory per active series for needlewatch's per-pen metrics (docs/scaling.md).

Not a test. Serves an exposition shaped like a real daemon scrape of pens in session (per pen:
needle depth and frequency, two depth and two frequency limits, labels clinic/device/limit;
100 pens per clinic; readings change every scrape, limits do not) and lets a real Prometheus 2.42
scrape it every --interval seconds for --seconds; then reads Prometheus' own
prometheus_tsdb_head_series and process_resident_memory_bytes, against a baseline run that
scrapes an empty target.

  /usr/bin/python3 tests/cluster/measure_prometheus.py [--pens 20000] [--seconds 180] [--interval 5]
"""

import argparse
import http.server
import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import nwtest  # noqa: E402


def exposition(pens, rng):
    out = []
    rows = [(f"c{p // 100:05d}", f"d{p:07d}") for p in range(pens)]
    for name, fn in (("needlewatch_needle_depth_meters", lambda: rng.uniform(0.0002, 0.002)),
                     ("needlewatch_needle_frequency_hertz", lambda: rng.uniform(80, 140))):
        out.append(f"# TYPE {name} gauge")
        out += [f'{name}{{clinic="{c}",device="{d}"}} {fn():.6g}' for c, d in rows]
    out.append("# TYPE needlewatch_depth_limit_meters gauge")
    for c, d in rows:
        labels = f'clinic="{c}",device="{d}"'
        out.append(f'needlewatch_depth_limit_meters{{{labels},limit="warn"}} 0.0015')
        out.append(f'needlewatch_depth_limit_meters{{{labels},limit="max"}} 0.002')
    out.append("# TYPE needlewatch_frequency_limit_hertz gauge")
    for c, d in rows:
        labels = f'clinic="{c}",device="{d}"'
        out.append(f'needlewatch_frequency_limit_hertz{{{labels},limit="min"}} 50')
        out.append(f'needlewatch_frequency_limit_hertz{{{labels},limit="max"}} 150')
    return ("\n".join(out) + "\n").encode()


def serve(pens):
    rng = random.Random(1)

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = exposition(pens, rng) if pens else b""
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer((nwtest.HOST, 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def run(pens, seconds, interval):
    wd = nwtest.Workdir("nw-measure-prom-")
    srv = serve(pens)
    target = f"{nwtest.HOST}:{srv.server_address[1]}"
    prom = nwtest.Prometheus(wd, target)
    with open(prom.config_path, "w") as f:
        f.write(f"global: {{scrape_interval: {interval:g}s, evaluation_interval: {interval:g}s}}\n"
                "scrape_configs:\n"
                f"  - job_name: pens\n    static_configs: [{{targets: ['{target}']}}]\n"
                f"  - job_name: self\n"
                f"    static_configs: [{{targets: ['{nwtest.HOST}:{prom.port}']}}]\n")
    try:
        prom.start()
        time.sleep(seconds)  # a measurement window, not a synchronisation

        def q(expr):
            r = prom.query(expr)
            return float(r[0]["value"][1]) if r else 0.0
        return {"head_series": q("prometheus_tsdb_head_series"),
                "rss": q('process_resident_memory_bytes{job="self"}'),
                "heap_inuse": q('go_memstats_heap_inuse_bytes{job="self"}'),
                "scrape_s": q('scrape_duration_seconds{job="pens"}')}
    finally:
        prom.stop()
        srv.shutdown()
        wd.remove()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pens", type=int, default=20000)
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--interval", type=float, default=5)
    a = ap.parse_args()
    base = run(0, a.seconds, a.interval)
    full = run(a.pens, a.seconds, a.interval)
    extra = full["head_series"] - base["head_series"]
    print(f"Machine: load avg {os.getloadavg()[0]:.1f}; prometheus 2.42, "
          f"scrape every {a.interval:g}s, {a.seconds:g}s each run")
    print(f"baseline: {base}")
    print(f"{a.pens} pens: {full}")
    print(f"series added: {extra:.0f} ({extra / max(a.pens, 1):.2f} per pen); "
          f"RSS per series: {(full['rss'] - base['rss']) / extra:.0f} B; "
          f"heap in use per series: {(full['heap_inuse'] - base['heap_inuse']) / extra:.0f} B")


if __name__ == "__main__":
    main()
