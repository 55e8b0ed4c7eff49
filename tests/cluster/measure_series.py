"""Counts the Prometheus series a daemon exports per pen in session (docs/scaling.md, F11).

Not a test. A real daemon ($NEEDLEWATCH_BIN) on mosquitto, a simulated fleet
($NEEDLEWATCH_SIM_BIN, 4 clinics x 25 pens, sessions and faults), the daemon's /metrics read once
a second while the fleet runs; the scrape with the most per-pen series is broken down by family
and by label (device, clinic, neither).

  NEEDLEWATCH_BIN=build/test/monitor/app/needlewatch \
  NEEDLEWATCH_SIM_BIN=build/test/tools/sim/needlewatch-sim \
    /usr/bin/python3 tests/cluster/measure_series.py
"""

import collections
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import nwtest  # noqa: E402

CLINICS, PENS = 4, 25


def breakdown(text):
    per_pen, per_clinic, fixed = collections.Counter(), collections.Counter(), 0
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{")[0].split(" ")[0]
        if 'device="' in line:
            per_pen[name] += 1
        elif 'clinic="' in line:
            per_clinic[name] += 1
        else:
            fixed += 1
    return per_pen, per_clinic, fixed


def main():
    sim = os.environ.get("NEEDLEWATCH_SIM_BIN")
    if not sim:
        sys.exit("NEEDLEWATCH_SIM_BIN is not set")
    wd = nwtest.Workdir("nw-measure-series-")
    broker = nwtest.Mosquitto(wd).start()
    daemon = nwtest.Daemon(wd, broker.url).start()
    try:
        idle = breakdown(daemon.metrics_text())
        fleet = subprocess.Popen([sim, "--mqtt.url", broker.url, "--clinics", str(CLINICS),
                                  "--devices", str(PENS), "--duration", "25s", "--time-scale", "60",
                                  "--faults", "over_depth=0.3,speed=0.2,offline=0.05",
                                  "--seed", "5", "--quiet"])
        best, sessions = None, 0
        for _ in range(20):
            time.sleep(1)  # sampling a running fleet, not synchronising
            text = daemon.metrics_text()
            b = breakdown(text)
            if best is None or sum(b[0].values()) > sum(best[0].values()):
                best = b
                sessions = nwtest.metric_value(nwtest.parse_metrics(text),
                                               "needlewatch_sessions_active") or 0
        fleet.wait(60)
        per_pen, per_clinic, fixed = best
        pens = CLINICS * PENS
        print(f"idle daemon: {idle[2]} series")
        print(f"{pens} pens, {sessions:.0f} sessions open at the counted scrape")
        print(f"per-pen series: {dict(per_pen)} = {sum(per_pen.values())}, "
              f"{sum(per_pen.values()) / pens:.2f} per pen")
        print(f"per-clinic series: {dict(per_clinic)} = {sum(per_clinic.values())}, "
              f"{sum(per_clinic.values()) / CLINICS:.1f} per clinic")
        print(f"fleet-independent series: {fixed}")
    finally:
        daemon.stop()
        broker.stop()
        wd.remove()


if __name__ == "__main__":
    main()
