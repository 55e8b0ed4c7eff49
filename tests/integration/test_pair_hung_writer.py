"""A pair whose writer hangs (docs/cluster.md, "Paired monitors", failure modes; issue 15).

A writer's event loop can stop while its MQTT connection lives on: the library's own thread
answers the keepalive, so no Last Will says it is gone, and its status stays `online`. Here
the writer is frozen with SIGSTOP under a 60 s keepalive (the broker would notice only after
90 s): its peer must take the lease over from the missing heartbeats, send the halt for an
unsafe sample of the frozen time, and when the old writer resumes it must follow and send no
halt of its own from the backlog it then reads. Real mosquitto, two real daemons, 127.0.0.1.
"""

import json
import signal
import time
import unittest

import yaml

import nwtest

LEASE = "needlewatch/shard/0/writer"


def replica_config(letter):
    cfg = yaml.safe_load(nwtest.limits_config(depth_max=1.0, stale_after="60s"))
    # Heartbeats on (off by default): a holder silent for 5 s is deposed.
    cfg["cluster"] = {"shard_index": 0, "shard_count": 1, "replica": letter,
                      "writer_timeout": "5s"}
    # The broker would notice a frozen client only after 1.5 x 60 s: longer than this test.
    cfg["mqtt"] = {"keepalive": "60s"}
    # Long enough that the follower, taking over ~5 s after the freeze, still sends it.
    cfg["outputs"] = {"halt": {"enabled": True, "expiry": "60s"}}
    return yaml.safe_dump(cfg)


class HungWriterTest(nwtest.NwTestCase):
    def lease_holder(self, port):
        c = self.mqtt(port, client_id=f"nwtest-lease-{time.monotonic_ns()}")
        c.subscribe(LEASE)
        m = c.wait_message(topic=LEASE, timeout=10)
        c.disconnect()
        return json.loads(m.payload)["holder"]

    def test_a_frozen_writer_is_deposed_and_sends_nothing_when_it_resumes(self):
        broker = self.start(nwtest.Mosquitto(self.workdir))
        a = self.start(nwtest.Daemon(self.workdir, broker.url, config=replica_config("a"),
                                     instance="shard0-a", name="shard0-a"))
        a.child.wait_for_line(r"writer: publishing alarm topics and halts", 15)
        b = self.start(nwtest.Daemon(self.workdir, broker.url, config=replica_config("b"),
                                     instance="shard0-b", name="shard0-b"))
        # b has settled when it has heard a's heartbeats for a while and made no claim.
        b.wait_metric("needlewatch_messages_accepted_total", lambda v: v is not None)
        self.assertEqual(self.lease_holder(broker.port), "shard0-a")

        watcher = self.mqtt(broker.port, client_id="nwtest-watcher")
        watcher.subscribe("clinic/+/device/+/command")
        pens = self.mqtt(broker.port, client_id="nwtest-pens")
        devices = {d: nwtest.Device(pens, "c1", d) for d in ("d1", "d2", "d3")}
        for dev in devices.values():
            dev.start_session("S-1", "cheek")
            dev.sample("S-1", "cheek", 0.6)
        b.wait_metric("needlewatch_messages_accepted_total", lambda v: v == 6)
        a.wait_metric("needlewatch_messages_accepted_total", lambda v: v == 6)

        # Freeze the writer; an unsafe sample arrives while it is frozen.
        a_log_mark = a.child.line_count()
        a.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        self.addCleanup(lambda: a.child.running() and a.send_signal(signal.SIGCONT))
        devices["d1"].sample("S-1", "cheek", 1.8)
        b.child.wait_for_line(r"writer: publishing alarm topics and halts", 20)
        took_over = time.monotonic() - frozen_at
        print(f"MEASURED follower took the lease over {took_over:.1f} s after the freeze")
        self.assertGreaterEqual(took_over, 4.0, "deposed before the 5 s heartbeat timeout")
        watcher.wait_message(topic=devices["d1"].topic("command"), timeout=10)
        self.assertEqual(self.lease_holder(broker.port), "shard0-b")

        # The new writer halts what comes next; then the old one resumes.
        devices["d2"].sample("S-1", "cheek", 1.8)
        watcher.wait_message(topic=devices["d2"].topic("command"), timeout=10)
        a.send_signal(signal.SIGCONT)
        a.child.wait_for_line(r"follower: alarm topics and halts left to the writer", 15,
                              start=a_log_mark)
        a.wait_metric("needlewatch_messages_accepted_total", lambda v: v == 8)

        devices["d3"].sample("S-1", "cheek", 1.8)
        watcher.wait_message(topic=devices["d3"].topic("command"), timeout=10)
        for r in (a, b):
            r.wait_metric("needlewatch_messages_accepted_total", lambda v: v == 9)
        # Observation window for a late duplicate (a halt is sent within milliseconds of the
        # sample; both replicas have handled everything by now).
        time.sleep(2)
        halts = {}
        for m in list(watcher.messages):
            halts[m.topic] = halts.get(m.topic, 0) + 1
        self.assertEqual(halts, {dev.topic("command"): 1 for dev in devices.values()})
        self.assertEqual(self.lease_holder(broker.port), "shard0-b")
        resumed = a.child.lines[a_log_mark:]
        self.assertFalse([line for line in resumed if '"halt sent"' in line],
                         "the resumed replica sent a halt")
        self.assertFalse([line for line in resumed if "writer: publishing" in line],
                         "the resumed replica took the lease back")


if __name__ == "__main__":
    unittest.main()
