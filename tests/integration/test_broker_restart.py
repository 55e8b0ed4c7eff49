"""mosquitto SIGKILLed and restarted on the same port mid-session, persistence on (issue 4 §6):
the daemon reconnects (mqtt_connected back to 1, the reconnect counter up) and no QoS 1
telemetry that publishers got accepted is lost.

The kill happens at a quiet point: the publishers pause, every message so far is PUBACKed and
processed, and only then is the broker killed. mosquitto writes its persistence file in batches
(no fsync per message), so a message PUBACKed in the instant before a SIGKILL can be lost by the
broker itself, whoever subscribes; that is the broker's durability, not the daemon's. What this
test holds the daemon to is the rest: its persistent session survives the broker restart, and
everything published after the restart, while the daemon is still reconnecting and queued for
it by the broker, is processed.

Loss is counted per message, independent of QoS 1 duplicates: every message is the first sample
of its own device, so each one processed makes exactly one needlewatch_needle_depth_meters
series (a redelivered duplicate adds none).
"""

import threading
import time
import unittest

import nwtest

PUBLISHERS = 2
PER_PUBLISHER = 150
RATE_HZ = 100  # per publisher


class BrokerRestartTest(nwtest.NwTestCase):
    def test_broker_sigkill_restart_loses_no_qos1_telemetry(self):
        broker, daemon = self.start_stack(nwtest.limits_config(stale_after="1h"),
                                          broker={"persistence": True})
        self.assertEqual(daemon.metric("needlewatch_mqtt_connected"), 1)
        reconnects_before = daemon.metric("needlewatch_mqtt_reconnects_total") or 0

        pubs = [self.mqtt(broker.port, client_id=f"nwtest-pub{i}", clean_session=False)
                for i in range(PUBLISHERS)]
        infos = [[] for _ in pubs]
        resume = threading.Event()
        paused = [threading.Event() for _ in pubs]
        failures = []

        def publish(i):
            # Paced by wall time; paho queues QoS 1 messages while the broker is away and sends
            # them again after its automatic reconnect (same client id, clean session off).
            try:
                interval = 1.0 / RATE_HZ
                t_next = time.monotonic()
                for n in range(PER_PUBLISHER):
                    dev = f"p{i}d{n:04d}"
                    msg = nwtest.telemetry(1, f"S-{dev}", "cheek", 0.2, 100.0)
                    infos[i].append(pubs[i].publish_async(
                        nwtest.device_topic("c9", dev, "telemetry"), msg, qos=1))
                    if n == PER_PUBLISHER // 3:
                        paused[i].set()
                        if not resume.wait(60):
                            raise RuntimeError("never resumed")
                        t_next = time.monotonic()
                    t_next += interval
                    delay = t_next - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)  # pacing of the load, not synchronisation
            except Exception as e:  # noqa: BLE001
                failures.append(e)

        threads = [threading.Thread(target=publish, args=(i,)) for i in range(PUBLISHERS)]
        for t in threads:
            t.start()
        for ev in paused:
            self.assertTrue(ev.wait(30), "publishers did not get going")
        for p, lst in zip(pubs, infos):
            p.wait_acked(list(lst), 30)
        before = {f"p{i}d{n:04d}" for i in range(PUBLISHERS) for n in range(PER_PUBLISHER // 3 + 1)}
        nwtest.wait_until(lambda: before <= self.processed(daemon), 30,
                          "the messages before the kill to be processed")
        broker.kill()
        broker.start()
        resume.set()  # publish while the daemon is still reconnecting
        for t in threads:
            t.join(60)
        self.assertFalse(failures, failures)
        for p in pubs:
            p.wait_connected()
        for p, lst in zip(pubs, infos):
            p.wait_acked(lst, 30)  # every message accepted by the broker (PUBACK)

        daemon.wait_metric("needlewatch_mqtt_connected", lambda v: v == 1, timeout=30)
        daemon.wait_metric("needlewatch_mqtt_reconnects_total",
                           lambda v: v is not None and v > reconnects_before, timeout=10)
        expected = {f"p{i}d{n:04d}" for i in range(PUBLISHERS) for n in range(PER_PUBLISHER)}

        def missing():
            return expected - self.processed(daemon)
        try:
            nwtest.wait_until(lambda: not missing(), 30, "every published device to be processed")
        except nwtest.WaitTimeout:
            lost = sorted(missing())
            self.fail(f"{len(lost)} of {len(expected)} accepted QoS 1 messages never processed: "
                      f"{lost[:20]}")
        daemon.wait_ready(10)  # subscribed again (it may still be waiting for SUBACKs)

    @staticmethod
    def processed(daemon):
        """Devices whose first sample the daemon processed (one depth series each)."""
        return {ls["device"] for ls, _ in nwtest.metric_series(
            daemon.metrics(), "needlewatch_needle_depth_meters", clinic="c9")}


if __name__ == "__main__":
    unittest.main()
