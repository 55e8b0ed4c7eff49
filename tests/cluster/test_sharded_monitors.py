"""Sharded monitors on a NATS cluster: every pen's messages reach exactly one shard, in order.

`needlewatch shard-plan` decides the shards (checked here against an independent XXH64, so the
plan is reproducible outside C++), each shard's daemon subscribes to the filters the plan
printed for it (the YAML fragment, as is), and pens publish through a third broker node.
"""

import json
import os
import subprocess
import unittest

import xxhash
import yaml

from natscluster import ClusterTestCase, wait_until
from nwtest import (Daemon, Device, Mosquitto, alarm_state, alarm_topic, limits_config,
                    metric_series, metric_value, needlewatch_bin)


def shard_of(clinic, count):
    """The documented rule (docs/cluster.md): highest XXH64(clinic, seed = shard index)."""
    weights = [xxhash.xxh64_intdigest(clinic.encode(), seed=i) for i in range(count)]
    return weights.index(max(weights))


def shard_plan(*args, stdin=None):
    r = subprocess.run([needlewatch_bin(), "shard-plan", *args], input=stdin,
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"shard-plan {' '.join(args)}: rc {r.returncode}: {r.stderr}")
    return r.stdout


class ShardPlanCommand(unittest.TestCase):

    def test_the_plan_matches_an_independent_xxh64_for_a_whole_fleet(self):
        clinics = [f"clinic-{i:05d}" for i in range(3000)] + ["berlin.mitte", "Z_9-x"]
        for count in (1, 2, 7, 16):
            doc = json.loads(shard_plan("--shards", str(count), "--clinics", "-",
                                        "--format", "json", stdin="\n".join(clinics)))
            got = {c: s["index"] for s in doc["shards"] for c in s["clinics"]}
            self.assertEqual(len(got), len(clinics))
            for c in clinics:
                self.assertEqual(got[c], shard_of(c, count), f"{c} of {count}")


class ShardedMonitors(ClusterTestCase):

    def test_every_pen_reaches_exactly_one_shard_in_order(self):
        cl = self.start_cluster()
        clinics = ["c001", "c002", "c003", "c004", "c005", "c006"]
        owner = {c: shard_of(c, 2) for c in clinics}
        self.assertEqual(set(owner.values()), {0, 1}, "both shards should own a clinic")

        daemons = []
        for shard in (0, 1):
            fragment = yaml.safe_load(shard_plan("--shards", "2", "--shard", str(shard),
                                                 "--clinics", "-", "--format", "yaml",
                                                 stdin="\n".join(clinics)))
            config = yaml.safe_load(limits_config(depth_max=1.0))
            config["mqtt"] = dict(fragment["mqtt"], version=4)  # NATS speaks MQTT 3.1.1 only
            d = self.start(Daemon(self.workdir, cl.mqtt_url(shard), config=yaml.safe_dump(config),
                                  instance=f"shard-{shard}", name=f"needlewatch-{shard}"))
            daemons.append(d)

        watcher = self.mqtt(cl.mqtt_port(2), client_id="watcher")
        watcher.subscribe("clinic/+/device/+/alarm/#")
        pen_client = self.mqtt(cl.mqtt_port(2), client_id="pens")
        samples = 40
        for c in clinics:
            dev = Device(pen_client, c, "d1")
            dev.start_session("S-1", "cheek")
            for i in range(samples):
                depth = 1.8 if i == samples // 2 else 0.6  # one unsafe sample per pen
                dev.sample("S-1", "cheek", depth, wait=False)
            dev.end_session("S-1")

        for shard, d in enumerate(daemons):
            mine = [c for c in clinics if owner[c] == shard]
            d.wait_metric("needlewatch_messages_received_total",
                          lambda v, n=len(mine) * samples: v == n, 30, channel="telemetry")
            m = d.metrics()
            self.assertEqual(metric_value(m, "needlewatch_messages_rejected_total") or 0, 0,
                             metric_series(m, "needlewatch_messages_rejected_total"))
            self.assertEqual(metric_value(m, "needlewatch_sequence_gaps_total") or 0, 0,
                             metric_series(m, "needlewatch_sequence_gaps_total"))
            for c in clinics:
                raised = metric_value(m, "needlewatch_alarms_raised_total", clinic=c,
                                      alarm="depth_exceeded") or 0
                self.assertEqual(raised, 1 if owner[c] == shard else 0, f"{c} on shard {shard}")

        for c in clinics:  # each pen's alarm topic was written (by its one shard)
            watcher.wait_message(alarm_state("latched", clinic=c),
                                 topic=alarm_topic(c, "d1", "depth_exceeded"), timeout=20)


class ShardKeys(ClusterTestCase):
    """The daemon's cluster.* keys (docs/cluster.md, "Daemon configuration keys")."""

    def test_admission_mode_refuses_the_other_shards_clinics_counted(self):
        # One wildcard subscription (admission mode) on mosquitto: the broker sends every
        # clinic, the daemon keeps its shard's and counts the rest as not_assigned.
        clinics = ["c001", "c002", "c003", "c004", "c005", "c006"]
        owner = {c: shard_of(c, 2) for c in clinics}
        b = self.start(Mosquitto(self.workdir))
        d = self.start(Daemon(self.workdir, b.url, config=limits_config(depth_max=1.0),
                              instance="shard1-a", args=["--cluster.shard-index", "1",
                                                         "--cluster.shard-count", "2"]))
        d.child.wait_for_line(r'"msg":"shard".*"shard_index":1.*"shard_count":2', 5)
        pens = self.mqtt(b.port, client_id="pens")
        for c in clinics:
            dev = Device(pens, c, "d1")
            dev.start_session("S-1", "cheek")
            dev.sample("S-1", "cheek", 1.8)
        foreign = sum(1 for c in clinics if owner[c] != 1) * 2
        d.wait_metric("needlewatch_messages_rejected_total", lambda v: v == foreign, 20,
                      reason="not_assigned")
        self.assertEqual(d.metric("needlewatch_messages_accepted_total"),
                         sum(1 for c in clinics if owner[c] == 1) * 2)
        held = {a["clinic"] for a in d.alarms()["alarms"]}
        self.assertEqual(held, {c for c in clinics if owner[c] == 1})

    def test_bad_cluster_flags_stop_the_daemon_with_the_key_named(self):
        b = self.start(Mosquitto(self.workdir))
        d = Daemon(self.workdir, b.url, instance="shard0-x",
                   args=["--cluster.shard-count", "2", "--cluster.shard-index", "2",
                         "--cluster.replica", "a"])
        r = subprocess.run(d.argv(), capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cluster.shard_index: expected an integer from 0 to shard_count-1 (1), "
                      "got 2", r.stderr)
        self.assertIn('mqtt.instance: expected a name ending in \\"-a\\"', r.stderr)

    def test_a_refused_subscription_is_subscribed_again(self):
        # NATS grants a session QoS 1 subscriptions while their in-flight windows fit 65,535:
        # with max_ack_pending 16384 the 4th is refused (SUBACK 0x80), every time. The daemon
        # stays not ready, says why, and keeps asking with back-off.
        cl = self.start_cluster(max_ack_pending=16384)
        config = yaml.safe_load(limits_config())
        config["mqtt"] = {"version": 4, "reconnect_min": "1s", "reconnect_max": "2s",
                          "subscriptions": [f"clinic/c{i}/device/+/+" for i in range(4)]}
        config["outputs"] = {"alarm_topics": False}
        d = self.start(Daemon(self.workdir, cl.mqtt_url(0), config=yaml.safe_dump(config)),
                       ready=False)
        d.child.wait_for_line(r'"msg":"mqtt subscribe failed"', 30)
        wait_until(lambda: sum(1 for line in d.child.lines
                               if '"mqtt subscribing again"' in line) >= 2, 15,
                   "two retries")
        status, body = d.http("GET", "/readyz")
        self.assertEqual(status, 503)
        self.assertIn(b"subscribe failed", body)


if __name__ == "__main__":
    unittest.main()
