"""Process lifecycle (issue 4 §6): SIGHUP reloads a changed limits file (a threshold changes), a
broken file is refused with a clear log line and the old limits stay; SIGTERM exits 0 and the
retained needlewatch/{instance}/status becomes offline."""

import signal
import unittest

import nwtest
from nwtest import alarm_state, alarm_topic


class ReloadTest(nwtest.NwTestCase):
    def reload(self, daemon, result):
        before = daemon.metric("needlewatch_config_reloads_total", result=result) or 0
        daemon.send_signal(signal.SIGHUP)
        daemon.wait_metric("needlewatch_config_reloads_total", lambda v: v == before + 1,
                           result=result)

    def test_sighup_changes_threshold_and_refuses_broken_file(self):
        broker, daemon = self.start_stack(nwtest.limits_config(depth_max=1.0))
        watcher = self.alarm_watcher(broker.port)
        client = self.mqtt(broker.port)
        d1 = nwtest.Device(client, "c7", "r1")

        d1.sample("S-r", "cheek", 0.9)
        daemon.wait_metric("needlewatch_needle_depth_meters",
                           lambda v: v is not None and abs(v - 0.0009) < 1e-12,
                           clinic="c7", device="r1")
        self.assertIsNone(daemon.metric("needlewatch_alarms_active"), "0.9 is within 1.0")

        daemon.write_config(nwtest.limits_config(depth_max=0.8))
        self.reload(daemon, "success")
        d1.sample("S-r", "cheek", 0.9)
        p = watcher.wait_message(alarm_state("active"), timeout=5,
                                 topic=alarm_topic("c7", "r1", "depth_exceeded")).json()
        self.assertAlmostEqual(p["limit"], 0.8)

        daemon.write_config(nwtest.limits_config(depth_max='"deep"'))
        lines = daemon.child.line_count()
        self.reload(daemon, "failure")
        line = daemon.child.wait_for_line(r"needlewatch\.yaml", timeout=5, start=lines).string
        self.assertRegex(line, r"depth_mm", "the refusal names the key")
        self.assertTrue(daemon.running())

        d2 = nwtest.Device(client, "c7", "r2")
        d2.sample("S-r2", "cheek", 0.85)
        p = watcher.wait_message(alarm_state("active"), timeout=5,
                                 topic=alarm_topic("c7", "r2", "depth_exceeded")).json()
        self.assertAlmostEqual(p["limit"], 0.8, msg="old limits stay after a refused reload")


class ShutdownTest(nwtest.NwTestCase):
    def test_sigterm_exits_0_and_status_goes_offline(self):
        broker, daemon = self.start_stack(nwtest.limits_config(), instance="term1")
        watcher = self.mqtt(broker.port)
        watcher.subscribe("needlewatch/term1/status")
        watcher.wait_message(nwtest.status_is("online"))
        n = len(watcher.messages)
        self.assertEqual(daemon.stop(timeout=15), 0, daemon.tail())
        watcher.wait_message(nwtest.status_is("offline"), start=n, timeout=10)
        late = self.mqtt(broker.port)
        late.subscribe("needlewatch/term1/status")
        msg = late.wait_message()
        self.assertTrue(msg.retain)
        self.assertTrue(nwtest.status_is("offline")(msg), msg)


if __name__ == "__main__":
    unittest.main()
