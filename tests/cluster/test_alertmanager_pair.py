"""An Alertmanager pair in cluster mode: an alert posted to both is notified once (docs/cluster.md).

This is how a paired monitor's alert reaches a person exactly once: Prometheus sends every alert
to every Alertmanager, the pair gossips which notifications went out, and alerts from the two
replicas of a shard are one alert because their labels carry no replica (alert_relabel_configs).
"""

import datetime
import unittest

from natscluster import ClusterTestCase, alertmanager_pair, wait_until
from nwtest import WebhookSink


def depth_alert(replica=None):
    labels = {"alertname": "NeedlewatchDepthExceeded", "clinic": "c017", "device": "d00042",
              "severity": "high", "page": "true"}
    if replica:
        labels["replica"] = replica
    now = datetime.datetime.now(datetime.timezone.utc)
    return {"labels": labels, "annotations": {"summary": "depth above the zone limit"},
            "startsAt": now.isoformat(timespec="milliseconds").replace("+00:00", "Z")}


class AlertmanagerPair(ClusterTestCase):

    def start_pair(self):
        sink = self.track(WebhookSink())
        a, b = alertmanager_pair(self.workdir, sink.url)
        self.start(a)
        self.start(b)
        a.wait_settled()
        b.wait_settled()
        for am in (a, b):
            peers = am.status()["cluster"]["peers"]
            self.assertEqual(len(peers), 2, f"{am.name} sees {peers}")
            self.assertEqual(am.status()["cluster"]["status"], "ready")
        return sink, a, b

    def notifications(self, a, b):
        return sum(am.metric("alertmanager_notifications_total", integration="webhook") or 0
                   for am in (a, b))

    def test_an_alert_posted_to_both_peers_is_notified_once(self):
        sink, a, b = self.start_pair()
        a.post_alerts([depth_alert()])
        b.post_alerts([depth_alert()])
        wait_until(lambda: sink.bodies, 30, "a webhook notification")
        # Both peers have reached their dedup step (it queries the notification log) only once
        # the later one has waited out its position; only then is "once" decided.
        wait_until(lambda: all((am.metric("alertmanager_nflog_queries_total") or 0) >= 1
                               for am in (a, b)), 30, "both peers' notification log queries")
        self.assertEqual(len(sink.bodies), 1, sink.bodies)
        self.assertEqual(self.notifications(a, b), 1)
        alerts = sink.bodies[0]["alerts"]
        self.assertEqual(len(alerts), 1)
        self.assertEqual(alerts[0]["labels"]["device"], "d00042")
        self.assertEqual(alerts[0]["status"], "firing")

    def test_a_replica_label_makes_two_alerts_of_one(self):
        # Why the replica label must be dropped before alerts leave Prometheus: with it the
        # pair sees two different alerts (both in the one notification of their group here).
        sink, a, b = self.start_pair()
        a.post_alerts([depth_alert("a")])
        b.post_alerts([depth_alert("b")])
        wait_until(lambda: sum(len(x["alerts"]) for x in sink.bodies) >= 2, 30,
                   "both replicas' alerts notified")
        replicas = sorted(al["labels"]["replica"] for x in sink.bodies for al in x["alerts"])
        self.assertEqual(replicas, ["a", "b"])


if __name__ == "__main__":
    unittest.main()
