"""Durable state (issue 12 items 1, 2 and 8; CONTRACT §3 v1.1 "Alarm state outlives the
process"): `needlewatch run --state.dir` keeps alarms, sessions and presence across kill -9,
judges a backlog the broker kept on the devices' clocks, and a state it cannot read starts
fresh with the `state_lost` monitor alarm. Real mosquitto, real daemon, on 127.0.0.1.
"""

import json
import os
import threading
import time
import unittest

import nwtest

# Sessions in "scalp" end by overtime within the test; everything else never does.
CONFIG = nwtest.limits_config(
    stale_after="3s",
    zones="{forehead: {depth_mm: {max: 0.5}}, "
          "scalp: {session: {warn_after: 9s, max_duration: 10s}}}")
ALARM_FILTER = "clinic/+/device/+/alarm/+"


def api_alarms(daemon):
    """{(clinic, device, alarm): (state, acknowledged, raised_at_ns, late)} from the API."""
    return {(a["clinic"], a["device"], a["alarm"]):
            (a["state"], a["acknowledged"], a["raised_at_ns"], a.get("late"))
            for a in nwtest.alarm_list(daemon.alarms())}


def retained_alarms(port, client_id):
    """{(clinic, device, alarm): (state, acknowledged, raised_at)} of the retained alarm topics
    that are not cleared, as a fresh subscriber sees them."""
    c = nwtest.MqttClient(port, client_id=client_id)
    c.connect()
    try:
        c.subscribe(ALARM_FILTER)
        # Retained messages come right after the SUBACK; a marker topic published after the
        # subscription arrives after them (same connection, in order).
        marker = f"nwtest/marker/{client_id}"
        c.subscribe(marker)
        c.publish(marker, "m", qos=1)
        c.wait_message(topic=marker, timeout=10)
        out = {}
        for m in c.messages:
            if m.topic == marker or not m.retain or not m.payload:
                continue
            p = m.json()
            key = (p["clinic"], p["device"], p["alarm"])
            if p["state"] == "cleared":
                out.pop(key, None)
            else:
                out[key] = (p["state"], p["acknowledged"], p["raised_at"])
        return out
    finally:
        c.disconnect()


def audit_since(daemon, offset):
    with open(daemon.audit_path, "rb") as f:
        f.seek(offset)
        data = f.read().decode()
    return [json.loads(line) for line in data.splitlines() if line.strip()]


class DurableStateTest(nwtest.NwTestCase):
    def stack(self, config=CONFIG, extra_args=()):
        broker = self.start(nwtest.Mosquitto(self.workdir))
        self.state_dir = os.path.join(self.workdir.path, "state")
        daemon = self.start(nwtest.Daemon(self.workdir, broker.url, config=config,
                                          args=["--state.dir", self.state_dir, *extra_args]))
        return broker, daemon

    def series(self, daemon, name):
        return sorted((tuple(sorted(labels.items())), v)
                      for labels, v in nwtest.metric_series(daemon.metrics(), name))

    def test_kill9_keeps_alarms_sessions_and_overtime(self):
        broker, daemon = self.stack()
        pub = self.mqtt(broker.port, client_id="nwtest-pens")
        d1 = nwtest.Device(pub, "c1", "d1")   # depth_exceeded, then latched
        d2 = nwtest.Device(pub, "c1", "d2")   # depth_exceeded, acknowledged while active
        d3 = nwtest.Device(pub, "c1", "d3")   # an open session in "scalp" (overtime at 10 s)
        for d in (d1, d2):
            d.start_session(f"S-{d.device}", "cheek")
            d.sample(f"S-{d.device}", "cheek", 1.5)
        d1.sample("S-d1", "cheek", 0.4)
        t_start_pub = time.time()
        d3.start_session("S-d3", "scalp")
        daemon.wait_metric("needlewatch_sessions_active", lambda v: v == 3, clinic="c1")
        t_start_seen = time.time()
        nwtest.wait_until(lambda: api_alarms(daemon).get(("c1", "d1", "depth_exceeded"),
                                                         ("",))[0] == "latched", 10, "latched")
        status, _ = daemon.ack("c1", "d2", "depth_exceeded")
        self.assertEqual(status, 200)
        before = api_alarms(daemon)
        self.assertEqual(before[("c1", "d1", "depth_exceeded")][:2], ("latched", False))
        self.assertEqual(before[("c1", "d2", "depth_exceeded")][:2], ("active", True))
        nwtest.wait_until(lambda: retained_alarms(broker.port, "nwtest-r1") == {
            k: (v[0], v[1], v[2] / 1e9) for k, v in before.items()}, 10,
            "retained alarm topics showing the API's state")
        metrics_before = {n: self.series(daemon, n) for n in (
            "needlewatch_alarms_active", "needlewatch_alarms_latched",
            "needlewatch_alarms_acknowledged", "needlewatch_sessions_active",
            "needlewatch_alarms_raised_total", "needlewatch_sessions_started_total")}

        daemon.kill()
        audit_offset = os.path.getsize(daemon.audit_path)
        daemon.start()

        self.assertEqual(api_alarms(daemon), before, "GET /api/v1/alarms after kill -9")
        for name, series in metrics_before.items():
            self.assertEqual(self.series(daemon, name), series, name)
        self.assertEqual(retained_alarms(broker.port, "nwtest-r2"),
                         {k: (v[0], v[1], v[2] / 1e9) for k, v in before.items()})
        # Nothing the first life did is audited again.
        self.assertEqual([r for r in audit_since(daemon, audit_offset) if r.get("type") == "alarm"
                          and r.get("alarm") == "depth_exceeded"], [])

        # The latched alarm is acknowledged after the restart: it ends, its topic says cleared.
        watcher = self.alarm_watcher(broker.port)
        status, _ = daemon.ack("c1", "d1", "depth_exceeded")
        self.assertEqual(status, 200)
        self.assertNotIn(("c1", "d1", "depth_exceeded"), api_alarms(daemon))
        watcher.wait_message(nwtest.alarm_state("cleared"),
                             topic=nwtest.alarm_topic("c1", "d1", "depth_exceeded"))

        # Overtime at the original session start + 10 s, not the restart + 10 s.
        nwtest.wait_until(lambda: ("c1", "d3", "session_overtime") in api_alarms(daemon), 20,
                          "session_overtime of d3")
        raised = api_alarms(daemon)[("c1", "d3", "session_overtime")][2] / 1e9
        self.assertGreaterEqual(raised, t_start_pub + 10 - 0.05)
        self.assertLessEqual(raised, t_start_seen + 10 + 0.05)

    def test_excursion_while_stopped_is_raised_late_on_its_own_time(self):
        broker, daemon = self.stack()
        pen = self.mqtt(broker.port, client_id="nwtest-pen")
        speed = {"hz": 100.0}
        excursion = {}
        stop = threading.Event()
        dev = nwtest.Device(pen, "c2", "p1")
        dev.start_session("S-p1", "cheek")

        def publish():
            while not stop.is_set():
                hz = speed["hz"]
                ts = nwtest.now_ms()
                if hz != 100.0 and "first_ts" not in excursion:
                    excursion["first_ts"] = ts / 1000.0
                dev.client.publish(dev.topic("telemetry"),
                                   nwtest.telemetry(dev._next(), "S-p1", "cheek", 0.3, hz, ts=ts),
                                   qos=1, wait=False)
                time.sleep(0.1)
        t = threading.Thread(target=publish, daemon=True)
        t.start()
        self.addCleanup(stop.set)
        # Live for a while: the daemon learns the pen's clock offset.
        daemon.wait_metric("needlewatch_messages_accepted_total", lambda v: v and v >= 20)
        daemon.kill()
        audit_offset = os.path.getsize(daemon.audit_path)
        time.sleep(1.0)  # the outage, with in-range samples
        speed["hz"] = 200.0
        time.sleep(3.0)  # 3 s out of range (for: 1s) while the daemon is down
        speed["hz"] = 100.0
        time.sleep(1.0)
        daemon.start()
        nwtest.wait_until(lambda: any(r.get("alarm") == "speed_out_of_range"
                                      and r.get("transition") == "cleared"
                                      for r in audit_since(daemon, audit_offset)), 20,
                          "the excursion raised and cleared after the restart")
        stop.set()
        t.join(5)
        lines = audit_since(daemon, audit_offset)
        raised = [r for r in lines if r.get("alarm") == "speed_out_of_range"
                  and r.get("transition") == "raised"]
        self.assertEqual(len(raised), 1, raised)
        self.assertIs(raised[0]["late"], True)
        # raised_at = first offending sample (its ts, corrected by the learned offset) + for.
        self.assertAlmostEqual(raised[0]["raised_at"], excursion["first_ts"] + 1.0, delta=0.3)
        self.assertEqual([r for r in lines if r.get("alarm") == "telemetry_stale"], [],
                         "the outage raised telemetry_stale although telemetry kept flowing")
        # The retained topic carries late too.
        watcher = self.alarm_watcher(broker.port)
        m = watcher.wait_message(topic=nwtest.alarm_topic("c2", "p1", "speed_out_of_range"))
        self.assertIs(m.json().get("late"), True)

    def test_corrupt_snapshot_starts_fresh_with_state_lost(self):
        broker, daemon = self.stack()
        pub = self.mqtt(broker.port, client_id="nwtest-pens")
        d = nwtest.Device(pub, "c3", "d1")
        d.start_session("S-1", "cheek")
        d.sample("S-1", "cheek", 1.5)
        nwtest.wait_until(lambda: ("c3", "d1", "depth_exceeded") in api_alarms(daemon), 10,
                          "the alarm")
        self.assertEqual(daemon.stop(), 0)
        snapshot = os.path.join(self.state_dir, "snapshot.json")
        with open(snapshot, "r+b") as f:
            f.seek(40)
            f.write(b"\x00garbage")
        sys_watch = self.mqtt(broker.port)
        lost_topic = f"needlewatch/{daemon.instance}/alarm/state_lost"
        sys_watch.subscribe(lost_topic)
        daemon.start()
        m = sys_watch.wait_message(lambda m: m.json().get("state") == "active", topic=lost_topic,
                                   timeout=20)
        self.assertEqual(m.json()["severity"], "high")
        self.assertEqual(daemon.metric("needlewatch_state_lost"), 1)
        self.assertEqual(api_alarms(daemon), {})
        lost = [r for r in daemon.log_records() if r.get("msg", "").startswith("durable state lost")]
        self.assertTrue(lost, "the log says why the state was lost")
        self.assertIn("snapshot.json", lost[0].get("reason", ""))
        # Still monitoring, and the next restart keeps the new state.
        d.sample("S-1", "cheek", 1.6)
        nwtest.wait_until(lambda: ("c3", "d1", "depth_exceeded") in api_alarms(daemon), 10,
                          "a new alarm after the fresh start")
        self.assertEqual(daemon.stop(), 0)
        daemon.start()
        self.assertIn(("c3", "d1", "depth_exceeded"), api_alarms(daemon))


if __name__ == "__main__":
    unittest.main()
