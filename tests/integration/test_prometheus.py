"""Metrics as Prometheus sees them (issue 4 §6): `promtool check metrics` passes on a live
scrape with alarms, sessions and rejects in it, and a real Prometheus scraping the daemon every
second returns needlewatch_alarms_active from its query API."""

import unittest

import nwtest
from nwtest import alarm_state, alarm_topic

CONTRACT_METRICS = [
    "needlewatch_messages_received_total", "needlewatch_messages_rejected_total",
    "needlewatch_sessions_active", "needlewatch_alarms_active", "needlewatch_alarms_raised_total",
    "needlewatch_needle_depth_meters", "needlewatch_needle_frequency_hertz",
    "needlewatch_session_duration_seconds_bucket", "needlewatch_sequence_gaps_total",
    "needlewatch_mqtt_connected",
]


class PrometheusTest(nwtest.NwTestCase):
    def test_live_scrape_passes_promtool_and_prometheus_queries_alarms(self):
        broker, daemon = self.start_stack(nwtest.limits_config())
        watcher = self.alarm_watcher(broker.port)
        client = self.mqtt(broker.port)
        dev = nwtest.Device(client, "c8", "pm1")
        dev.sample("S-p", "cheek", 2.0, speed_hz=120.0)
        watcher.wait_message(alarm_state("active"),
                             topic=alarm_topic("c8", "pm1", "depth_exceeded"))
        other = nwtest.Device(client, "c8", "pm2")
        other.start_session("S-q", "cheek")
        other.sample("S-q", "cheek", 0.3)
        other.sample("S-q", "cheek", 0.3)
        other.seq += 5  # a seq gap
        other.sample("S-q", "cheek", 0.3)
        other.end_session("S-q")  # one session duration observation
        client.publish(nwtest.device_topic("c8", "pm2", "telemetry"), "{broken")
        daemon.wait_metric("needlewatch_sequence_gaps_total", lambda v: v == 1, clinic="c8")
        daemon.wait_metric("needlewatch_messages_rejected_total", lambda v: v == 1,
                           reason="bad_json")

        text = daemon.metrics_text()
        rc, out = nwtest.promtool_check_metrics(text)
        self.assertEqual(rc, 0, f"promtool check metrics:\n{out}")
        names = {name for name, _ in nwtest.parse_metrics(text)}
        for name in CONTRACT_METRICS:
            self.assertIn(name, names)
        m = nwtest.parse_metrics(text)
        self.assertEqual(nwtest.metric_value(m, "needlewatch_session_duration_seconds_count",
                                             clinic="c8"), 1)
        self.assertAlmostEqual(nwtest.metric_value(m, "needlewatch_needle_frequency_hertz",
                                                   clinic="c8", device="pm1"), 120.0)

        prom = self.start(nwtest.Prometheus(self.workdir, f"127.0.0.1:{daemon.port}"))

        def alarm_series():
            return [r for r in prom.query("needlewatch_alarms_active")
                    if r["metric"].get("device") == "pm1"]
        result = nwtest.wait_until(alarm_series, 30, "Prometheus to return the alarm series")
        self.assertEqual(result[0]["metric"]["alarm"], "depth_exceeded")
        self.assertEqual(result[0]["metric"]["severity"], "high")
        self.assertEqual(result[0]["value"][1], "1")
        up = prom.query('up{job="needlewatch"}')
        self.assertEqual(up[0]["value"][1], "1")


if __name__ == "__main__":
    unittest.main()
