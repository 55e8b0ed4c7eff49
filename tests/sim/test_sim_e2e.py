"""Simulator end to end: mosquitto -> `needlewatch run` -> `needlewatch-sim` with known faults.

With a fixed seed and short limits the simulator injects every alarm-raising fault (over_depth,
speed, overtime, dropout, offline) plus seq gaps, malformed payloads and spoofed topics. An
observer subscribed to every alarm topic before the simulator starts then checks, per
(clinic, device, session):

- every alarm the simulator's --report expects was raised (an `active` or `latched` message);
- no alarm was raised where no fault was injected (no false alarms from healthy sessions,
  spin-up ramps, zone changes or reconnects);
- the rejection counters cover every malformed and spoofed message, and the sequence-gap
  counter every injected gap.

All waits are bounded polls; the whole test takes about 50 s.
"""

import collections
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import nwtest  # noqa: E402

# Short real-time thresholds so overtime, stale and the speed `for` all happen within the run.
CONFIG = """\
limits:
  default:
    depth_mm: {max: 1.0, warn: 0.7}
    speed_hz: {min: 50, max: 150, for: 500ms}
    session: {warn_after: 12s, max_duration: 16s}
    telemetry: {stale_after: 1500ms}
  zones:
    forehead: {depth_mm: {max: 0.75, warn: 0.5}}
    cheek: {depth_mm: {max: 2.0, warn: 1.5}, speed_hz: {min: 60, max: 140}}
    nose: {depth_mm: {max: 0.75, warn: 0.5}}
    jawline: {depth_mm: {max: 2.0, warn: 1.0}}
"""

FAULTS = ("over_depth=0.15,speed=0.15,overtime=0.1,dropout=0.25,offline=0.2,seq_gap=0.1,"
          "malformed=0.01,spoofed_topic=0.01")
SEED = 11
DURATION_S = 35
ALARM_FAULTS = ("over_depth", "speed", "overtime", "dropout", "offline")


def sim_bin():
    b = os.environ.get("NEEDLEWATCH_SIM_BIN")
    if not b:
        raise unittest.SkipTest("NEEDLEWATCH_SIM_BIN is not set (run through ctest)")
    return b


class SimEndToEndTest(nwtest.NwTestCase):
    def run_fleet(self, extra_args=()):
        broker, daemon = self.start_stack(CONFIG)
        watcher = self.alarm_watcher(broker.port)
        report_path = self.workdir.file("report.json")
        sim_log = self.workdir.file("sim.log")
        argv = [sim_bin(), "--mqtt.url", broker.url, "--config.file", daemon.config_path,
                "--clinics", "2", "--devices", "3", "--sample-rate", "10",
                "--time-scale", "120", "--duration", f"{DURATION_S}s", "--seed", str(SEED),
                "--faults", FAULTS, "--report", report_path, *extra_args]
        sim = nwtest.Child("needlewatch-sim", argv, sim_log)
        self.track(sim)
        rc = sim.wait(timeout=DURATION_S + 30)
        self.assertEqual(rc, 0, "simulator failed:\n" + sim.tail())
        with open(report_path) as f:
            report = json.load(f)
        return daemon, watcher, report

    def check(self, daemon, watcher, report):
        self.assertEqual(report["messages"]["failed"], 0, "every publish reached the broker")
        counts = report["fault_counts"]
        for kind in ALARM_FAULTS:
            self.assertGreater(counts[kind], 0, f"seed {SEED} injects at least one {kind}")

        expected = collections.defaultdict(set)  # (clinic, device, session) -> alarm names
        allowed = collections.defaultdict(set)   # expected plus what a fault may also raise
        for f in report["faults"]:
            key = (f["clinic"], f["device"], f["session"])
            expected[key].update(f["expected_alarms"])
            allowed[key].update(f["expected_alarms"], f.get("possible_alarms", []))

        def raised():
            seen = collections.defaultdict(set)
            for m in list(watcher.messages):
                if "/alarm/" not in m.topic or not m.payload:
                    continue
                p = m.json()
                if p.get("state") in ("active", "latched"):
                    seen[(p["clinic"], p["device"], p["session"])].add(p["alarm"])
            return seen

        def missing():
            seen = raised()
            return {k: v - seen.get(k, set()) for k, v in expected.items() if v - seen.get(k, set())}

        # Time-based alarms can trail the last message by a tick; the simulator only injects
        # faults that end a second before it stops, so this wait is short.
        try:
            nwtest.wait_until(lambda: not missing(), timeout=10, what="every expected alarm")
        except nwtest.WaitTimeout:
            self.fail(f"faults whose alarm was never raised: {dict(missing())}\n"
                      f"daemon log:\n{daemon.tail()}")

        false_alarms = {k: v - allowed.get(k, set()) for k, v in raised().items()
                        if v - allowed.get(k, set())}
        self.assertEqual(false_alarms, {}, "alarms raised without an injected fault")

        metrics = daemon.metrics()
        rejects = collections.Counter(f["expected_reject"] for f in report["faults"]
                                      if f["expected_reject"])
        self.assertGreater(sum(rejects.values()), 0)
        for reason, n in rejects.items():
            got = nwtest.metric_value(metrics, "needlewatch_messages_rejected_total",
                                      reason=reason) or 0
            self.assertGreaterEqual(got, n, f"rejections counted as {reason}")
        gaps = sum(v for (name, _), v in metrics.items()
                   if name == "needlewatch_sequence_gaps_total")
        self.assertGreaterEqual(gaps, counts["seq_gap"])

    def test_every_injected_fault_raises_its_alarm_and_nothing_else(self):
        daemon, watcher, report = self.run_fleet()
        self.check(daemon, watcher, report)


if __name__ == "__main__":
    unittest.main()
