"""Live vs replay equality (issue 5 item 2).

A real mosquitto on a free port, `needlewatch run` with recording on and an audit log, and a
scripted scenario from a paho client that raises every alarm kind (depth warning and exceeded,
speed with `for`, overtime warning and overtime, stale then resume, device offline via a status
message and back online), switches a session, sends malformed messages, and acknowledges one
latched and one active alarm through the HTTP API; every session is closed at the end and the
stream ends with a status message after the last deadline. The daemon is stopped (SIGTERM) and
`needlewatch replay --format json` on its recording, with the same config, must give:

- the same alarm instances as the audit log (alarm, clinic, device, session, raised_at_ns),
  each with the same cleared_at_ns, acknowledged_at_ns and final state, and the same number of
  raise, clear/latch and acknowledge transitions: equal to the nanosecond;
- the same acks (time to the nanosecond, clinic, device, alarm, result);
- the same message counts as the daemon's /metrics taken just before the SIGTERM.

Uses the integration harness tests/integration/nwtest.py.
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import nwtest  # noqa: E402
from nwtest import alarm_topic  # noqa: E402

CLINIC = "eq"
# Short limits so that every time-based alarm happens within seconds.
CONFIG = """limits:
  default:
    depth_mm: {max: 1.0, warn: 0.8}
    speed_hz: {min: 50, max: 150, for: 300ms}
    session: {warn_after: 1500ms, max_duration: 3s}
    telemetry: {stale_after: 500ms}
  zones: {cheek: {depth_mm: {max: 1.0}}}
"""
# Speed `for` by zone (CONTRACT §3 v1.1 test): a stricter and a longer `for` than the default.
ZONE_FOR_CONFIG = """limits:
  default:
    depth_mm: {max: 1.0}
    speed_hz: {min: 50, max: 150, for: 2s}
    telemetry: {stale_after: 5s}
  zones:
    periorbital: {speed_hz: {max: 120, for: 0s}}
    scalp: {speed_hz: {for: 500ms}}
"""
ALL_KINDS = {"depth_warning", "depth_exceeded", "speed_out_of_range", "session_overtime_warning",
             "session_overtime", "telemetry_stale", "device_offline"}
# A simulated device's sample period while it keeps a condition going (its sample rate, not a
# synchronisation: every step below waits for the daemon's published alarm state).
SAMPLE_PERIOD = 0.1


class LiveReplayEqualityTest(nwtest.NwTestCase):
    def start_live(self, env=None, config=CONFIG):
        """Mosquitto and a ready daemon recording into <workdir>/recordings."""
        self.record_dir = nwtest.fixture_dir(self.workdir, "recordings")
        self.broker, self.daemon = self.start_stack(
            config, args=["--record.dir", self.record_dir], env=env)
        self.watcher = self.alarm_watcher(self.broker.port)
        self.client = self.mqtt(self.broker.port)

    # -- scenario helpers ----------------------------------------------------------------------

    def mark(self):
        return len(self.watcher.messages)

    def step(self, action, *expected, timeout=10):
        """Runs action(), then waits for each (device, alarm, state) published after it."""
        since = self.mark()
        action()
        for device, alarm, state in expected:
            self.watcher.wait_message(nwtest.alarm_state(state), timeout=timeout, start=since,
                                      topic=alarm_topic(CLINIC, device, alarm))

    def pump(self, dev, session, device, alarm, state, depth=0.5, speed=100.0, timeout=10,
             zone="cheek"):
        """Samples every SAMPLE_PERIOD until `alarm` is published in `state`."""
        since = self.mark()
        deadline = time.monotonic() + timeout
        while True:
            dev.sample(session, zone, depth, speed)
            try:
                return self.watcher.wait_message(
                    nwtest.alarm_state(state), timeout=SAMPLE_PERIOD, start=since,
                    topic=alarm_topic(CLINIC, device, alarm)).json()
            except nwtest.WaitTimeout:
                if time.monotonic() > deadline:
                    raise

    def ack(self, device, alarm, want):
        status, body = self.daemon.ack(CLINIC, device, alarm)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["result"], want)

    def scenario(self):
        a = nwtest.Device(self.client, CLINIC, "pa")
        b = nwtest.Device(self.client, CLINIC, "pb")
        c = nwtest.Device(self.client, CLINIC, "pc")

        # Device pa: a session started by an event.
        a.online()
        a.start_session("S-a1", "cheek")
        a.sample("S-a1", "cheek", 0.5)

        def sample_a(depth):
            return lambda: a.sample("S-a1", "cheek", depth)
        self.step(sample_a(0.9), ("pa", "depth_warning", "active"))
        self.step(sample_a(1.2), ("pa", "depth_exceeded", "active"))
        self.step(sample_a(0.5), ("pa", "depth_exceeded", "latched"),
                  ("pa", "depth_warning", "cleared"))
        # Ack of a latched alarm: it ends.
        self.step(lambda: self.ack("pa", "depth_exceeded", "cleared"),
                  ("pa", "depth_exceeded", "cleared"))
        # Ack of an active alarm: acknowledged, then it ends when it clears (no latch).
        self.step(sample_a(1.2), ("pa", "depth_exceeded", "active"))
        self.ack("pa", "depth_exceeded", "acknowledged")
        self.step(sample_a(0.5), ("pa", "depth_exceeded", "cleared"))
        # Speed out of range for its `for` (300 ms), then back.
        self.pump(a, "S-a1", "pa", "speed_out_of_range", "active", speed=200.0)
        self.step(sample_a(0.5), ("pa", "speed_out_of_range", "cleared"))
        # Overtime warning (1.5 s) and overtime (3 s) while samples keep coming.
        self.pump(a, "S-a1", "pa", "session_overtime_warning", "active")
        self.pump(a, "S-a1", "pa", "session_overtime", "active")
        # Stale: no telemetry for more than 500 ms, then it resumes.
        self.step(lambda: None, ("pa", "telemetry_stale", "active"))
        self.step(sample_a(0.5), ("pa", "telemetry_stale", "cleared"))
        # Session end: the high overtime latches, the warning clears; ack the latched one.
        self.step(lambda: a.end_session("S-a1"), ("pa", "session_overtime", "latched"),
                  ("pa", "session_overtime_warning", "cleared"))
        self.step(lambda: self.ack("pa", "session_overtime", "cleared"),
                  ("pa", "session_overtime", "cleared"))

        # Device pb: a session opened by telemetry, offline by a status message and back.
        b.online()
        b.sample("S-b1", "cheek", 0.5)
        self.step(lambda: self.client.publish(b.topic("status"), nwtest.status("offline"),
                                              retain=True),
                  ("pb", "device_offline", "active"))
        # Back online: high, so it latches until acknowledged.
        self.step(b.online, ("pb", "device_offline", "latched"))
        b.sample("S-b1", "cheek", 0.5)
        # Session switch: telemetry for another session ends S-b1 at that instant.
        b.sample("S-b2", "cheek", 0.5)
        # Malformed messages: rejected and counted, no state change.
        self.client.publish(b.topic("telemetry"), b"{not json")
        self.client.publish(b.topic("telemetry"),
                            nwtest.telemetry(99, "S-b2", "cheek", 42.0, 100.0))  # bad_field
        b.sample("S-b2", "cheek", 0.5)
        b.end_session("S-b2")

        # The last record: a status of another device, after every deadline (no session is
        # open, so none is pending).
        c.online()
        return a, b, c

    # -- the test ------------------------------------------------------------------------------

    def stop_and_replay(self, statuses, config=""):
        """Waits until the daemon took in the last message (the `statuses`-th status; one
        publishing connection keeps them in order), captures /metrics, SIGTERMs the daemon and
        replays its recording: (audit lines, metrics, report)."""
        self.daemon.wait_metric("needlewatch_messages_received_total",
                                lambda v: v == statuses, channel="status")
        self.daemon.wait_metric("needlewatch_sessions_active", lambda v: v in (None, 0),
                                clinic=CLINIC)
        metrics = self.daemon.metrics()
        rc = self.daemon.stop()
        self.assertEqual(rc, 0, "daemon exit code after SIGTERM")
        audit = [json.loads(line) for line in nwtest.read_text(self.daemon.audit_path).splitlines()
                 if line.strip()]
        files = sorted(glob.glob(os.path.join(self.record_dir, "**", "*.mcap"), recursive=True))
        self.assertTrue(files, f"no recording in {self.record_dir}")
        return audit, metrics, self.replay(files, config=config)

    def test_replay_of_the_recording_gives_exactly_the_live_alarms(self):
        self.start_live()
        self.scenario()
        audit, metrics, report = self.stop_and_replay(statuses=5)
        self.compare_alarms(audit, report, kinds=ALL_KINDS)
        self.assertGreaterEqual(self.counts["latched"], 2)
        self.assertGreaterEqual(self.counts["acknowledged"], 1)
        self.assertGreaterEqual(self.counts["ack_cleared"], 2)
        self.compare_acks(audit, report, 3)
        self.compare_counts(metrics, report)
        self.assertEqual(report["messages"]["rejected"]["bad_json"], 1)
        self.assertEqual(report["messages"]["rejected"]["bad_field"], 1)

    def test_a_sighup_reload_mid_stream_replays_without_the_config_file(self):
        """Limits change by SIGHUP mid-session: the recording carries them, so a replay with no
        --config.file gives the live alarms, while one with the first file (old limits) keeps
        those and says it ignored the recorded ones."""
        self.start_live()
        d = nwtest.Device(self.client, CLINIC, "pr")
        c = nwtest.Device(self.client, CLINIC, "pc")
        d.online()
        d.start_session("S-r1", "cheek")

        def sample_d(depth):
            return lambda: d.sample("S-r1", "cheek", depth)
        self.step(sample_d(0.9), ("pr", "depth_warning", "active"))  # 0.9 <= max 1.0
        # New limits: max 0.85. The same 0.9 now exceeds them.
        self.daemon.write_config(CONFIG.replace("max: 1.0, warn: 0.8", "max: 0.85, warn: 0.6")
                                 .replace("depth_mm: {max: 1.0}", "depth_mm: {max: 0.85}"))
        self.daemon.send_signal(signal.SIGHUP)
        self.daemon.wait_metric("needlewatch_config_reloads_total", lambda v: v == 1,
                                result="success")
        self.step(sample_d(0.9), ("pr", "depth_exceeded", "active"))
        self.step(sample_d(0.5), ("pr", "depth_exceeded", "latched"),
                  ("pr", "depth_warning", "cleared"))
        d.end_session("S-r1")
        c.online()

        first_config = self.workdir.file("first.yaml")
        with open(first_config, "w") as f:
            f.write(CONFIG)
        audit, metrics, report = self.stop_and_replay(statuses=2, config=None)
        self.compare_alarms(audit, report, kinds={"depth_warning", "depth_exceeded"})
        self.compare_counts(metrics, report)
        self.assertEqual([(r["reason"], r["result"]) for r in report["limits"]],
                         [("start", "applied"), ("reload", "applied")])
        reload_ns = [e["at_ns"] for e in audit if e.get("type") == "config_reload"]
        self.assertEqual([r["at_ns"] for r in report["limits"]][1:], reload_ns,
                         "the reload applies at the daemon's instant")

        files = sorted(glob.glob(os.path.join(self.record_dir, "**", "*.mcap"), recursive=True))
        old = self.replay(files, config=first_config)
        self.assertEqual({r["alarm"] for r in old["alarms"]}, {"depth_warning"},
                         "with the old limits 0.9 never exceeds")
        self.assertEqual({r["result"] for r in old["limits"]}, {"ignored"})

    def test_a_reconnect_catch_up_replays_equal(self):
        """Issue 12: the daemon is cut off from a broker that keeps its session (another client
        takes its client id over and leaves), a pen goes out of its speed range meanwhile, and
        the daemon reconnects 4 s later: it judges the backlog on the pen's clock (the alarm is
        `late`, raised when it happened) between two `$needlewatch/catchup` records, so a replay
        of the recording gives the very same alarms."""
        config = "mqtt: {reconnect_min: 4s, reconnect_max: 4s}\n" + CONFIG.replace(
            "for: 300ms", "for: 1s").replace("max_duration: 3s", "max_duration: 60s").replace(
            "warn_after: 1500ms", "warn_after: 50s").replace("stale_after: 500ms",
                                                              "stale_after: 3s")
        self.start_live(config=config)
        d = nwtest.Device(self.client, CLINIC, "pk")
        c = nwtest.Device(self.client, CLINIC, "pc")
        d.online()
        d.start_session("S-k1", "cheek")
        for _ in range(10):  # live: the daemon learns the pen's clock offset
            d.sample("S-k1", "cheek", 0.5)
            time.sleep(SAMPLE_PERIOD)
        self.daemon.wait_metric("needlewatch_messages_accepted_total", lambda v: v and v >= 12)
        thief = nwtest.MqttClient(self.broker.port, client_id=f"needlewatch-{self.daemon.instance}",
                                  clean_session=False)
        thief.connect()
        thief.disconnect()  # the session stays, the daemon is away until its backoff is over
        for speed in [100.0] * 5 + [200.0] * 20 + [100.0] * 5:
            d.sample("S-k1", "cheek", 0.5, speed)
            time.sleep(SAMPLE_PERIOD)
        # The pen keeps sampling (within limits) until the daemon is back and has judged the
        # backlog: its telemetry never stops, so no telemetry_stale is due, however long the
        # reconnect takes on a loaded machine.
        cleared = nwtest.alarm_state("cleared")
        topic = alarm_topic(CLINIC, "pk", "speed_out_of_range")
        deadline = time.monotonic() + 30
        def seen_cleared():
            for m in list(self.watcher.messages):
                try:
                    if m.topic == topic and cleared(m):
                        return True
                except ValueError:
                    pass
            return False
        while not seen_cleared():
            self.assertLess(time.monotonic(), deadline, "the excursion was never cleared")
            d.sample("S-k1", "cheek", 0.5, 100.0)
            time.sleep(SAMPLE_PERIOD)
        d.end_session("S-k1")
        c.online()
        audit, metrics, report = self.stop_and_replay(statuses=2)
        late = [e for e in audit if e.get("type") == "alarm" and e.get("late")]
        self.assertTrue(late, "the excursion was judged late, on the pen's clock")
        self.compare_alarms(audit, report, kinds={"speed_out_of_range"})
        self.compare_counts(metrics, report)

    def test_a_zone_change_in_the_middle_of_a_for_replays_equal(self):
        """CONTRACT §3 v1.1: a pending speed condition takes the `for` of each sample's zone.
        Pending on the cheek (`for: 2s`), the pen moves to the periorbital zone (`for: 0s`) and
        still offends: raised at that sample. Pending on the scalp (`for: 500ms`), it moves to
        the cheek: the wait is extended to the first offending sample + 2 s."""
        self.start_live(config=ZONE_FOR_CONFIG)
        z = nwtest.Device(self.client, CLINIC, "pz")
        c = nwtest.Device(self.client, CLINIC, "pc")
        z.online()
        z.start_session("S-z1", "cheek")
        z.sample("S-z1", "cheek", 0.5, 45.0)  # pending, 2 s
        first = self.pump(z, "S-z1", "pz", "speed_out_of_range", "active", speed=38.0,
                          zone="periorbital")
        self.assertEqual((first["zone"], first["value"], first["limit"]), ("periorbital", 38, 50))
        self.step(lambda: z.sample("S-z1", "periorbital", 0.5, 100.0),
                  ("pz", "speed_out_of_range", "cleared"))
        z.sample("S-z1", "scalp", 0.5, 200.0)  # pending, 500 ms
        second = self.pump(z, "S-z1", "pz", "speed_out_of_range", "active", speed=200.0)
        self.assertEqual(second["zone"], "scalp")
        self.step(lambda: z.sample("S-z1", "cheek", 0.5, 100.0),
                  ("pz", "speed_out_of_range", "cleared"))
        z.end_session("S-z1")
        c.online()

        audit, metrics, report = self.stop_and_replay(statuses=2)
        self.compare_alarms(audit, report, kinds={"speed_out_of_range"})
        self.compare_counts(metrics, report)
        rows = report["alarms"]
        self.assertEqual(len(rows), 2)
        # The first was raised at the periorbital sample; the second 2 s after its first
        # offending sample (the scalp one), which the report's session start bounds from below.
        self.assertEqual(rows[0]["zone"], "periorbital")
        self.assertGreaterEqual(rows[1]["raised_at_ns"] - rows[0]["cleared_at_ns"], 2_000_000_000)

    def replay(self, files, *extra, config=""):
        """`needlewatch replay --format json` of `files`; with the daemon's config file unless
        `config` names another, or is None (then the recording's own limits apply)."""
        if config == "":
            config = self.daemon.config_path
        argv = [nwtest.needlewatch_bin(), "replay", "--format", "json", *extra, *files]
        if config is not None:
            argv[2:2] = ["--config.file", config]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, f"{' '.join(argv)}\n{r.stderr}")
        with open(self.workdir.file("replay.json"), "w") as f:  # kept on failure
            f.write(r.stdout)
        return json.loads(r.stdout)

    def compare_alarms(self, audit, report, kinds):
        """Folds the audit log's alarm transitions into alarm instances and compares them
        with the report's alarm rows, field by field, to the nanosecond."""
        counts = {"raised": 0, "cleared": 0, "latched": 0, "acknowledged": 0, "ack_cleared": 0}
        live = {}    # instance key -> {cleared_at_ns, acknowledged_at_ns, state}
        order = []   # instance keys in raise order
        for e in audit:
            if e.get("type") != "alarm":
                continue
            t = e["transition"]
            counts[t] += 1
            key = (e["alarm"], e["clinic"], e["device"], e["session"], e["raised_at_ns"])
            if t == "raised":
                self.assertNotIn(key, live, f"raised twice: {e}")
                live[key] = {"cleared_at_ns": None, "acknowledged_at_ns": None,
                             "state": e["state"], "severity": e["severity"]}
                order.append(key)
                continue
            self.assertIn(key, live, f"{t} of an alarm the audit log never raised: {e}")
            inst = live[key]
            inst["state"] = e["state"]
            if t in ("cleared", "latched"):
                self.assertIsNone(inst["cleared_at_ns"], f"cleared twice: {e}")
                inst["cleared_at_ns"] = e["cleared_at_ns"]
            else:
                self.assertIsNone(inst["acknowledged_at_ns"], f"acknowledged twice: {e}")
                inst["acknowledged_at_ns"] = e["at_ns"]
                if t == "ack_cleared":  # the latched instance ends; its cleared_at stays
                    self.assertEqual(e["cleared_at_ns"], inst["cleared_at_ns"], e)

        self.counts = counts
        self.assertEqual({k[0] for k in order}, kinds, "alarm kinds the scenario raised")

        rows = report["alarms"]
        replayed = [(r["alarm"], r["clinic"], r["device"], r["session"], r["raised_at_ns"])
                    for r in rows]
        self.assertEqual(replayed, order, "raises (alarm, clinic, device, session, raised_at_ns)")
        for r, key in zip(rows, order):
            want = live[key]
            got = {"cleared_at_ns": r["cleared_at_ns"],
                   "acknowledged_at_ns": r["acknowledged_at_ns"], "state": r["state"],
                   "severity": r["severity"]}
            self.assertEqual(got, want, f"alarm {key}")
        self.assertEqual(sum(1 for r in rows if r["cleared_at_ns"] is not None),
                         counts["cleared"] + counts["latched"])
        self.assertEqual(sum(1 for r in rows if r["acknowledged_at_ns"] is not None),
                         counts["acknowledged"] + counts["ack_cleared"])

    def compare_acks(self, audit, report, n):
        live = [(e["at_ns"], e["clinic"], e["device"], e["alarm"], e["result"])
                for e in audit if e.get("type") == "ack"]
        replayed = [(a["at_ns"], a["clinic"], a["device"], a["alarm"], a["result"])
                    for a in report["acks"]]
        self.assertEqual(len(live), n)
        self.assertEqual(replayed, live)

    def compare_counts(self, metrics, report):
        msgs = report["messages"]
        received = nwtest.metric_series(metrics, "needlewatch_messages_received_total")
        by_channel = {labels["channel"]: v for labels, v in received}
        self.assertEqual(sum(by_channel.values()), msgs["total"])
        for channel, n in msgs["by_channel"].items():
            self.assertEqual(by_channel.get(channel, 0), n, f"received, channel {channel}")
        self.assertEqual(nwtest.metric_value(metrics, "needlewatch_messages_accepted_total") or 0,
                         msgs["accepted"])
        rejected = {labels["reason"]: v for labels, v in
                    nwtest.metric_series(metrics, "needlewatch_messages_rejected_total")}
        for reason, n in msgs["rejected"].items():
            self.assertEqual(rejected.get(reason, 0), n, f"rejected, reason {reason}")
        self.assertEqual(nwtest.metric_value(metrics, "needlewatch_sequence_gaps_total") or 0,
                         msgs["seq_gaps"])


if __name__ == "__main__":
    unittest.main()
