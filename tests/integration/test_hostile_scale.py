"""Hostile volume (issue 13, "Done when"): 100 MB payloads and 100,000 made-up clinics.

1. A pen (or anyone with publish rights) sends 100 MB payloads on a device topic. The daemon
   announces an MQTT 5 Maximum Packet Size on connect (mqtt.max_packet_size, default 64 KiB), so
   the broker never hands it such a packet: its memory does not move, the good messages around
   them are still accepted and recorded, and the recording stays readable.
2. Someone publishes for 100,000 clinics that do not exist, one pen each. With
   engine.max_devices the engine takes the first N pens and rejects the rest as
   `too_many_devices` (counted); the number of `clinic` label values on /metrics stays within N
   (series are bounded), memory stays bounded, and a real pen still raises its alarm.
"""

import os
import re
import unittest

import nwtest
from nwtest import alarm_state, alarm_topic

BIG = 100 * 1000 * 1000
CLINICS = 100_000
MAX_DEVICES = 1_000


class HostileScaleTest(nwtest.NwTestCase):
    def test_100_mb_payloads_never_reach_the_daemon_and_the_recording_survives(self):
        rec = os.path.join(self.workdir.path, "recording")
        config = nwtest.limits_config(
            extra=f"record:\n  enabled: true\n  dir: {rec}\n")
        broker, daemon = self.start_stack(config)
        pub = self.mqtt(broker.port)
        pen = nwtest.Device(pub, "c9", "p1")
        pen.sample("S-1", "cheek", 0.5)
        nwtest.wait_until(lambda: daemon.metric("needlewatch_messages_accepted_total") == 1, 10,
                          "the first good sample accepted")
        rss_before = nwtest.rss_mib(daemon.child.proc.pid)

        junk = b"{" + b"x" * (BIG - 2) + b"}"
        topic = nwtest.device_topic("c9", "p1", "telemetry")
        pub.wait_acked([pub.publish_async(topic, junk, qos=1) for _ in range(3)], timeout=120)
        del junk
        for _ in range(5):
            pen.sample("S-1", "cheek", 0.5)
        nwtest.wait_until(lambda: daemon.metric("needlewatch_messages_accepted_total") == 6, 30,
                          "the five good samples after the junk accepted")

        rss_after = nwtest.rss_mib(daemon.child.proc.pid)
        self.assertLess(rss_after - rss_before, 50,
                        f"RSS grew from {rss_before} to {rss_after} MiB: a 100 MB payload reached "
                        "the daemon")
        m = daemon.metrics()
        self.assertEqual(nwtest.metric_value(m, "needlewatch_messages_rejected_total",
                                             reason="too_large") or 0, 0,
                         "the broker must not deliver packets over the announced maximum")
        self.assertTrue(daemon.running())
        daemon.stop()
        records = nwtest.export_recording(rec)
        seqs = nwtest.recorded_seqs(records).get(("c9", "p1"), [])
        self.assertEqual(len(seqs), 6, "every accepted sample is in the recording")
        self.assertTrue(all(len(r["payload"]) < 4096 for r in records if "telemetry" in r["topic"]))

    def test_100000_made_up_clinics_are_bounded_in_memory_and_series(self):
        config = nwtest.limits_config(
            stale_after="1h", extra=f"engine:\n  max_devices: {MAX_DEVICES}\n")
        # Room at the broker for the whole flood while the daemon works through it (mosquitto's
        # default queue of 1,000 would drop the rest before the daemon saw them).
        # Under AddressSanitizer freed memory waits in a 256 MB quarantine: keep it small so RSS
        # shows what the daemon holds.
        asan = os.environ.get("ASAN_OPTIONS", "")
        broker, daemon = self.start_stack(config, broker={"extra": [
            "max_queued_messages 200000", "max_inflight_messages 1000"]},
            env={"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=4"})
        watcher = self.alarm_watcher(broker.port)
        pub = self.mqtt(broker.port)
        rss_before = nwtest.rss_mib(daemon.child.proc.pid)

        payload = nwtest.telemetry(1, "S-1", "cheek", 0.5, 100.0)
        infos = []
        for i in range(CLINICS):
            infos.append(pub.publish_async(
                nwtest.device_topic(f"fake{i:06d}", "p1", "telemetry"), payload, qos=1))
            if len(infos) >= 2000:
                pub.wait_acked(infos, timeout=120)
                infos = []
        pub.wait_acked(infos, timeout=120)

        def all_taken():
            m = daemon.metrics()
            return ((nwtest.metric_value(m, "needlewatch_messages_accepted_total") or 0) +
                    (nwtest.metric_value(m, "needlewatch_messages_rejected_total") or 0)) >= CLINICS
        nwtest.wait_until(all_taken, 240, f"{CLINICS} messages handled", 0.5)

        text = daemon.metrics_text()
        m = daemon.metrics()
        self.assertEqual(nwtest.metric_value(m, "needlewatch_messages_accepted_total"),
                         MAX_DEVICES, "the first max_devices pens are taken")
        self.assertEqual(nwtest.metric_value(m, "needlewatch_messages_rejected_total",
                                             reason="too_many_devices"),
                         CLINICS - MAX_DEVICES, "every further pen is rejected and counted")
        clinics = set(re.findall(r'clinic="([^"]*)"', text))
        self.assertLessEqual(len(clinics), MAX_DEVICES,
                             f"{len(clinics)} clinic label values on /metrics")
        series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        self.assertLess(series, 40 * MAX_DEVICES, f"{series} series on /metrics")
        rss_after = nwtest.rss_mib(daemon.child.proc.pid)
        print(f"\nRSS {rss_before} -> {rss_after} MiB, {len(clinics)} clinics and {series} series "
              "on /metrics", flush=True)
        self.assertLess(rss_after - rss_before, 150,
                        f"RSS grew from {rss_before} to {rss_after} MiB")
        self.assertEqual(daemon.http("GET", "/healthz")[0], 200)

        # A real pen of a clinic the engine already knows still raises its alarm.
        real = nwtest.Device(pub, "fake000000", "p1")
        real.seq = 1
        real.sample("S-1", "cheek", 2.5)
        watcher.wait_message(alarm_state("active"), timeout=10,
                             topic=alarm_topic("fake000000", "p1", "depth_exceeded"))


if __name__ == "__main__":
    unittest.main()
