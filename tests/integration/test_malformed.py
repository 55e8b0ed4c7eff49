"""A flood of malformed payloads, every reject reason (protocol/README.md, Payloads), is counted by reason in
needlewatch_messages_rejected_total, and the daemon keeps serving: /healthz answers and a good
unsafe sample still raises its alarm (issue 4 §6)."""

import json
import unittest

import nwtest
from nwtest import alarm_state, alarm_topic

COPIES = 40  # of each malformed message


def tele(**over):
    m = nwtest.telemetry(1, "S-1", "cheek", 0.5, 100.0)
    m.update(over)
    return m


def without(d, key):
    d = dict(d)
    del d[key]
    return d


# reason -> [(topic, payload)], each payload failing exactly at that check (the first it fails).
T = nwtest.device_topic("c4", "dev1", "telemetry")
E = nwtest.device_topic("c4", "dev1", "event")
CASES = {
    "bad_topic": [
        (nwtest.device_topic("c4", "bad!dev", "telemetry"), tele()),
        (nwtest.device_topic("c4", "d" * 65, "telemetry"), tele()),
    ],
    "too_large": [(T, json.dumps(tele(pad="x" * 5000)))],
    "bad_json": [(T, "{not json"), (T, "[1,2,3]"), (T, b"\xff\xfe\x00garbage"), (T, "")],
    "bad_version": [(T, tele(v=2)), (T, tele(v="1"))],
    "missing_field": [(T, without(tele(), "v")), (T, without(tele(), "depth_mm")),
                      (T, without(tele(), "session"))],
    "bad_field": [(T, tele(depth_mm="deep")), (T, tele(depth_mm=11)), (T, tele(speed_hz=-1)),
                  (T, tele(session="bad id!")), (E, {"v": 1, "seq": 1, "ts": 1, "event": "boom",
                                                      "session": "S-1"})],
    "unknown_session_end": [(E, nwtest.event(1, "session_end", "S-never-opened"))],
}


class MalformedFloodTest(nwtest.NwTestCase):
    def test_flood_counted_by_reason_and_daemon_keeps_serving(self):
        broker, daemon = self.start_stack(nwtest.limits_config())
        watcher = self.alarm_watcher(broker.port)
        pub = self.mqtt(broker.port)
        before = daemon.metrics()
        for reason, cases in CASES.items():
            self.assertEqual(nwtest.metric_value(before, "needlewatch_messages_rejected_total",
                                                 reason=reason), 0, f"{reason} pre-created at 0")

        infos = []
        for _ in range(COPIES):
            for cases in CASES.values():
                for topic, payload in cases:
                    infos.append(pub.publish_async(topic, payload, qos=1))
        pub.wait_acked(infos)
        total = sum(len(c) for c in CASES.values()) * COPIES

        def all_counted():
            m = daemon.metrics()
            return sum(nwtest.metric_value(m, "needlewatch_messages_rejected_total",
                                           reason=r) for r in CASES) >= total
        nwtest.wait_until(all_counted, 30, f"{total} rejections counted")
        m = daemon.metrics()
        for reason, cases in CASES.items():
            self.assertEqual(
                nwtest.metric_value(m, "needlewatch_messages_rejected_total", reason=reason),
                len(cases) * COPIES, f"rejected_total{{reason={reason}}}")
        self.assertGreaterEqual(nwtest.metric_value(m, "needlewatch_messages_received_total"),
                                total)
        self.assertEqual(daemon.http("GET", "/healthz")[0], 200)
        self.assertEqual(daemon.http("GET", "/readyz")[0], 200)
        self.assertIsNone(daemon.metric("needlewatch_alarms_active"), "rejects change no state")

        good = nwtest.Device(pub, "c4", "dev2")
        good.sample("S-good", "cheek", 2.5)
        p = watcher.wait_message(alarm_state("active"), timeout=5,
                                 topic=alarm_topic("c4", "dev2", "depth_exceeded")).json()
        self.assertAlmostEqual(p["value"], 2.5)
        self.assertTrue(daemon.running())


if __name__ == "__main__":
    unittest.main()
