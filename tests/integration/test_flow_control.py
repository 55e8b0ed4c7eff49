"""Flow control under an alarm storm (issue 12 item 6) must not deadlock.

With the inbox full, Paho's receive thread waits in the message callback for room (so the
backlog stays at the broker). Paho C holds its client mutex during that callback: if the event
loop then called into Paho (publishing the batch's alarm topics) it would wait for that mutex
and never drain the inbox. Measured before the fix: a Release daemon at 4,000 alarm transitions
per second stopped answering /healthz within 3 s, for good.

Here the inbox holds 16 messages (the smallest allowed), so the receive thread waits on almost
every message, while every sample changes an alarm, so every batch publishes. Every message must
still be handled, every alarm topic must reach its final state, and /healthz must answer all the
way through.
"""

import threading
import unittest

import nwtest
from nwtest import alarm_topic

PENS = 20
SAMPLES = 150  # per pen; depths alternate above and below the limit


class FlowControlTest(nwtest.NwTestCase):
    def test_a_full_inbox_and_alarm_publications_do_not_deadlock(self):
        config = nwtest.limits_config(stale_after="1h", extra="mqtt:\n  inbox_capacity: 16\n")
        broker, daemon = self.start_stack(config, broker={"extra": [
            "max_queued_messages 100000", "max_inflight_messages 1000"]})
        watcher = self.alarm_watcher(broker.port)
        pubs = [self.mqtt(broker.port) for _ in range(4)]
        health = []
        stop = threading.Event()

        def probe():
            while not stop.is_set():
                try:
                    health.append(daemon.http("GET", "/healthz", timeout=10)[0])
                except Exception as e:  # noqa: BLE001 - recorded, asserted below
                    health.append(repr(e))
                stop.wait(0.2)

        t = threading.Thread(target=probe, daemon=True)
        t.start()
        try:
            infos = {id(pub): [] for pub in pubs}
            for i in range(SAMPLES):
                depth = 1.5 if i % 2 == 0 else 0.5
                for p in range(PENS):
                    pub = pubs[p % len(pubs)]
                    infos[id(pub)].append(pub.publish_async(
                        nwtest.device_topic("cf", f"p{p:02d}", "telemetry"),
                        nwtest.telemetry(i + 1, f"S-{p}", "cheek", depth, 100.0), qos=1))
            for pub in pubs:
                pub.wait_acked(infos[id(pub)], timeout=120)
            total = PENS * SAMPLES
            nwtest.wait_until(
                lambda: daemon.metric("needlewatch_messages_accepted_total") == total, 120,
                f"all {total} samples handled", 0.2)
        finally:
            stop.set()
            t.join(15)
        m = daemon.metrics()
        self.assertGreater(nwtest.metric_value(m, "needlewatch_ingest_throttled_total") or 0, 0,
                           "the receive thread never waited: the test did not fill the inbox")
        bad = [h for h in health if h != 200]
        self.assertFalse(bad, f"/healthz during the storm: {bad[:5]}")
        self.assertGreater(len(health), 0)
        # The last sample of each pen (#150) is within limits: every depth alarm latched.
        for p in range(PENS):
            watcher.wait_message(nwtest.alarm_state("latched"), timeout=15,
                                 topic=alarm_topic("cf", f"p{p:02d}", "depth_exceeded"))
        self.assertTrue(daemon.running())


if __name__ == "__main__":
    unittest.main()
