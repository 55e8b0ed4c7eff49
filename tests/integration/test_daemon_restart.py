"""The daemon SIGKILLed and restarted mid-stream (issue 4 §6): QoS 1 telemetry published while
it was down is processed after the restart, because its MQTT session is persistent (stable
client id, clean session off). Its Last Will marks it offline meanwhile.

As in test_broker_restart, every message is the first sample of its own device, so each one
processed shows up as exactly one needlewatch_needle_depth_meters series.
"""

import unittest

import nwtest


class DaemonRestartTest(nwtest.NwTestCase):
    def devices_seen(self, daemon):
        return {ls["device"] for ls, _ in nwtest.metric_series(
            daemon.metrics(), "needlewatch_needle_depth_meters", clinic="c5")}

    def publish_batch(self, pub, prefix, n):
        for i in range(n):
            dev = f"{prefix}{i:03d}"
            pub.publish(nwtest.device_topic("c5", dev, "telemetry"),
                        nwtest.telemetry(1, f"S-{dev}", "cheek", 0.2, 100.0), qos=1)
        return {f"{prefix}{i:03d}" for i in range(n)}

    def test_daemon_sigkill_restart_processes_messages_published_meanwhile(self):
        broker, daemon = self.start_stack(nwtest.limits_config(stale_after="1h"))
        status_topic = f"needlewatch/{daemon.instance}/status"
        watcher = self.mqtt(broker.port)
        watcher.subscribe(status_topic)
        watcher.wait_message(nwtest.status_is("online"), topic=status_topic)
        pub = self.mqtt(broker.port, client_id="nwtest-pub", clean_session=False)

        before = self.publish_batch(pub, "a", 20)
        nwtest.wait_until(lambda: before <= self.devices_seen(daemon), 10, "batch a processed")

        n = len(watcher.messages)
        daemon.kill()
        watcher.wait_message(nwtest.status_is("offline"), topic=status_topic, start=n, timeout=30)

        meanwhile = self.publish_batch(pub, "b", 100)  # every one PUBACKed by the broker
        daemon.start()
        try:
            nwtest.wait_until(lambda: meanwhile <= self.devices_seen(daemon), 20,
                              "messages published while the daemon was down to be processed")
        except nwtest.WaitTimeout:
            lost = sorted(meanwhile - self.devices_seen(daemon))
            self.fail(f"{len(lost)} of {len(meanwhile)} messages published during the outage "
                      f"never processed: {lost[:20]}")
        self.assertEqual(daemon.metric("needlewatch_mqtt_connected"), 1)
        watcher.wait_message(nwtest.status_is("online"), topic=status_topic, start=n)

        after = self.publish_batch(pub, "c", 5)
        nwtest.wait_until(lambda: after <= self.devices_seen(daemon), 10, "live again")


if __name__ == "__main__":
    unittest.main()
