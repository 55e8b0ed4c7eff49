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
from nwtest import (Daemon, Device, alarm_state, alarm_topic, limits_config, metric_series,
                    metric_value, needlewatch_bin)


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


if __name__ == "__main__":
    unittest.main()
