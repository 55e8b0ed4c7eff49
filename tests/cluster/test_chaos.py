"""The chaos test of issue 15: the whole topology, with a broker node and a monitor killed.

3 NATS nodes, 2 shards x 2 replicas of `needlewatch run` (cluster.* keys, mqtt.urls over all
nodes, writer lease; replica a subscribes at QoS 1 with a persistent session, b at QoS 0), one
Prometheus with the shipped rules (dashboards/prometheus/rules.yml) scraping every replica, an Alertmanager pair gossiping on loopback, a webhook sink. 12 pens in 4
clinics publish QoS 1 at 5 Hz throughout through nodes 1 and 2 while the test

  1. kills broker node 3, where shard0-a (shard 0's writer) is connected: it moves to another
     node through mqtt.urls and resumes its persistent session; node 3 is restarted;
  2. kills shard1-a, shard 1's writer: shard1-b takes the lease over; shard1-a is restarted and
     follows (the lease is sticky).

Every pen sends exactly one unsafe sample (depth over the limit), spread over the steady and the
broken phases. Asserted:

  - every unsafe event reaches the webhook exactly once (NeedlewatchDepthExceeded, one firing
    notification per pen, through the shipped rules and the Alertmanager pair);
  - no accepted (PUBACKed) QoS 1 message is lost, by seq, per pen: the two replicas of its
    shard together received every one (their recordings) that the broker delivered at all
    (two plain subscribers staying on node 1, QoS 1 and QoS 0, tell: NATS 2.9.10 overloaded
    acknowledged the odd message it then delivered to nobody; at most 1 % of such is
    tolerated, and reported), and no
    replica received a message of the other shard's clinics (each pen in exactly one shard;
    nothing refused as not_assigned).
    What one replica alone missed is reported, with a plain subscriber moved off the killed
    node beside it: NATS 2.9.10 loses QoS 1 messages in flight to a session whose node dies,
    and now and then one to a connected consumer (a JetStream consumer: QoS 0 delivery has
    not lost one here);
  - every retained alarm topic converges to the state its shard's writer holds, and none
    flapped (its states, in order, are "active" then "latched");
  - at most one `halt` per pen, exactly one for pens whose unsafe sample was in a steady phase;
  - /readyz stays 200: shard0-b and shard1-b throughout, shard1-a until it is killed,
    shard0-a from its move on.
"""

import json
import os
import subprocess
import threading
import time
import unittest

import xxhash
import yaml

from natscluster import ClusterTestCase, GrantedMqttClient, alertmanager_pair, wait_until
from nwtest import (HOST, Daemon, MqttClient, Prometheus, WebhookSink, free_port,
                    limits_config, metric_value, needlewatch_bin, now_ms)

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
RULES = os.path.join(ROOT, "dashboards", "prometheus", "rules.yml")
RATE_HZ = 5            # samples per second per pen
PENS_PER_CLINIC = 3
PHASES = ["steady", "node_down", "node_back", "replica_down", "replica_back"]
STEADY = {"steady", "node_back", "replica_back"}


def shard_of(clinic, count):
    weights = [xxhash.xxh64_intdigest(clinic.encode(), seed=i) for i in range(count)]
    return weights.index(max(weights))


def pick_clinics(per_shard=2):
    """The first clinic IDs c001, c002, … giving each of 2 shards `per_shard` clinics."""
    out = {0: [], 1: []}
    i = 0
    while min(len(v) for v in out.values()) < per_shard:
        i += 1
        c = f"c{i:03d}"
        if len(out[shard_of(c, 2)]) < per_shard:
            out[shard_of(c, 2)].append(c)
    return out


class Replica(Daemon):
    """A shard replica on a fixed HTTP port (Prometheus keeps scraping it across a restart)."""

    def __init__(self, workdir, shard, letter, urls, clinics):
        self.shard, self.letter = shard, letter
        self.fixed_port = free_port()
        config = yaml.safe_load(limits_config(depth_max=1.0, stale_after="60s"))
        config["mqtt"] = {
            "urls": urls, "version": 4, "keepalive": "5s",
            "reconnect_min": "1s", "reconnect_max": "2s",
            "subscriptions": [f"clinic/{c}/device/+/+" for c in clinics],
            # a: QoS 1, a persistent session (catches up after its moves and restarts); b: QoS 0,
            # core NATS delivery, which does not share a's JetStream losses (docs/cluster.md).
            "qos": 1 if letter == "a" else 0,
        }
        config["cluster"] = {"shard_index": shard, "shard_count": 2, "replica": letter}
        config["outputs"] = {"halt": {"enabled": True, "expiry": "5s"}}
        config["log"] = {"level": "debug"}  # sequence gaps are logged at debug
        # Every message it received, for the loss check (kept across its restarts).
        config["record"] = {"enabled": True,
                            "dir": os.path.join(workdir.path, f"rec-shard{shard}-{letter}")}
        self.record_dir = config["record"]["dir"]
        super().__init__(workdir, urls[0], config=yaml.safe_dump(config),
                         instance=f"shard{shard}-{letter}", name=f"shard{shard}-{letter}")

    def argv(self):
        a = super().argv()
        a[a.index("--mqtt.url"):a.index("--mqtt.url") + 2] = []  # mqtt.urls from the file
        a[a.index("--web.listen-address") + 1] = f"{HOST}:{self.fixed_port}"
        return a

    def ready(self):
        try:
            return self.port is not None and self.http("GET", "/readyz", timeout=2.0)[0] == 200
        except Exception:  # noqa: BLE001 - refused, reset, restarting: not ready
            return False

    def received(self):
        """{(clinic, device, seq)} of the device messages in its recording that reached the
        engine (accepted, or refused as a redelivery of one it had), from closed chunks."""
        r = subprocess.run([needlewatch_bin(), "recordings", "export", self.record_dir],
                           capture_output=True, text=True, timeout=60)
        out = set()
        for line in r.stdout.splitlines():
            m = json.loads(line)
            parts = m["topic"].split("/")
            if len(parts) == 5 and parts[4] in ("telemetry", "event") and \
                    m.get("reject") in (None, "duplicate"):
                out.add((parts[1], parts[3], json.loads(m["payload"])["seq"]))
        return out

    def received_commands(self):
        """{(topic, payload bytes)} of the halts in its recording (its own and its peer's)."""
        r = subprocess.run([needlewatch_bin(), "recordings", "export", self.record_dir],
                           capture_output=True, text=True, timeout=60)
        out = set()
        for line in r.stdout.splitlines():
            m = json.loads(line)
            if m["topic"].endswith("/command"):
                out.add((m["topic"], m["payload"].encode()))
        return out

    def gaps(self):
        """(clinic, device, expected, got) of every sequence gap it logged (log.level debug)."""
        return [(r["clinic"], r["device"], r["expected"], r["got"]) for r in self.log_records()
                if r.get("msg") == "sequence gap"]


class Fleet:
    """Pens publishing QoS 1 samples at RATE_HZ from a thread; each pen one unsafe sample in
    its phase. Pens of every clinic are spread over two broker connections (nodes 1 and 2)."""

    def __init__(self, clients, clinics):
        self.clients = clients
        self.pens = []  # (clinic, device, client index, phase)
        n = 0
        for shard in (0, 1):
            for c in clinics[shard]:
                for k in range(PENS_PER_CLINIC):
                    self.pens.append((c, f"d{k + 1}", n % len(clients), PHASES[n % len(PHASES)]))
                    n += 1
        self.seq = {p[:2]: 0 for p in self.pens}
        self.sent_at = {}  # (clinic, device, seq) -> time.monotonic() of its publish
        self.infos = {i: [] for i in range(len(clients))}
        self.sent = {p[:2]: 0 for p in self.pens}
        self.unsafe_at = {}
        self.phase = PHASES[0]
        self._stop = threading.Event()
        self._thread = None
        self.error = None

    def _publish(self, pen, channel, payload):
        clinic, device, ci, _ = pen
        key = (clinic, device)
        self.seq[key] += 1
        payload["seq"] = self.seq[key]
        self.sent_at[key + (self.seq[key],)] = time.monotonic()
        info = self.clients[ci].publish_async(
            f"clinic/{clinic}/device/{device}/{channel}", payload, qos=1)
        self.infos[ci].append(info)
        self.sent[key] += 1

    def start(self):
        for pen in self.pens:
            self._publish(pen, "event", {"v": 1, "ts": now_ms(), "event": "session_start",
                                         "session": "S-1", "zone": "cheek"})
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            t = time.monotonic()
            while not self._stop.is_set():
                phase = self.phase
                for pen in self.pens:
                    key = pen[:2]
                    unsafe = pen[3] == phase and key not in self.unsafe_at
                    if unsafe:
                        self.unsafe_at[key] = phase
                    self._publish(pen, "telemetry", {
                        "v": 1, "ts": now_ms(), "session": "S-1", "zone": "cheek",
                        "depth_mm": 1.8 if unsafe else 0.6, "speed_hz": 100.0})
                t += 1.0 / RATE_HZ
                self._stop.wait(max(0.0, t - time.monotonic()))
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self.error = e

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        if self.error:
            raise self.error
        for pen in self.pens:
            self._publish(pen, "event", {"v": 1, "ts": now_ms(), "event": "session_end",
                                         "session": "S-1"})

    def wait_acked(self, timeout):
        for ci, c in enumerate(self.clients):
            c.wait_acked(self.infos[ci], timeout)

    def sent_by_shard(self, clinics):
        return {s: sum(n for (c, _), n in self.sent.items() if c in clinics[s]) for s in (0, 1)}


class ReadyzProbe:
    """Samples /readyz of every replica every 0.25 s from a thread: (time, name, ready)."""

    def __init__(self, replicas):
        self.replicas = replicas
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for r in self.replicas:
                if r.child is not None and r.child.running():
                    self.samples.append((time.monotonic(), r.name, r.ready()))
            self._stop.wait(0.25)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)

    def failures(self, name, t0, t1):
        return [t for t, n, ok in self.samples if n == name and t0 <= t <= t1 and not ok]

    def count(self, name, t0, t1):
        return sum(1 for t, n, _ in self.samples if n == name and t0 <= t <= t1)


class Chaos(ClusterTestCase):

    def lease_holder(self, port, shard):
        c = MqttClient(port, client_id=f"lease-reader-{shard}-{time.monotonic_ns()}")
        c.connect()
        try:
            c.subscribe(f"needlewatch/shard/{shard}/writer", qos=0)
            return json.loads(c.wait_message(timeout=5).payload).get("holder")
        finally:
            c.disconnect()

    def retained_alarm_states(self, port, expect):
        """{(clinic, device, alarm): state} of the retained alarm topics, read by a fresh
        client; waits (bounded) until the topics of `expect` are all in."""
        c = MqttClient(port, client_id=f"retained-reader-{time.monotonic_ns()}")
        c.connect()
        out = {}

        def read():
            for m in list(c.messages):
                if m.retain and m.payload:
                    parts = m.topic.split("/")
                    out[(parts[1], parts[3], parts[5])] = json.loads(m.payload)["state"]
            return set(expect) <= set(out)
        try:
            c.subscribe("clinic/+/device/+/alarm/+", qos=0)
            try:
                wait_until(read, 5, "the retained alarm topics")
            except AssertionError:
                pass  # compared (and reported) by the caller
            return out
        finally:
            c.disconnect()

    def test_broker_node_and_writer_killed_while_pens_publish(self):
        t_start = time.monotonic()
        clinics = pick_clinics()
        cl = self.start_cluster(ack_wait="5s")
        urls = [cl.mqtt_url(i) for i in range(3)]
        self.report("cluster start s", round(time.monotonic() - t_start, 1))

        # Alertmanager pair + webhook (settling takes a while: start them first).
        sink = self.track(WebhookSink())
        am_a, am_b = alertmanager_pair(self.workdir, sink.url)
        self.start(am_a)
        self.start(am_b)

        # Replicas: the two of a shard start on different nodes; node 3 (index 2), the one that
        # is killed, holds shard0-a, shard 0's writer. The a replicas start first and take the
        # lease (sticky afterwards).
        first = {(0, "a"): 2, (0, "b"): 0, (1, "a"): 1, (1, "b"): 0}
        reps = {}
        for letter in ("a", "b"):
            for shard in (0, 1):
                n = first[(shard, letter)]
                order = [urls[n]] + [u for i, u in enumerate(urls) if i != n]
                reps[(shard, letter)] = self.start(
                    Replica(self.workdir, shard, letter, order, clinics[shard]), timeout=90)
            if letter == "a":
                for shard in (0, 1):
                    wait_until(lambda s=shard: self.lease_holder(cl.mqtt_port(0), s) == f"shard{s}-a",
                               30, f"shard{shard}-a holding the lease")
                    reps[(shard, "a")].child.wait_for_line(r"writer: publishing", 10)
        for r in reps.values():  # the shard and its filters are printed at start
            r.child.wait_for_line(r'"msg":"shard".*"filters":"clinic/c', 5)

        prom = Prometheus(self.workdir, [], rule_files=[RULES])
        targets = "\n".join(
            f"      - targets: ['{HOST}:{r.fixed_port}']\n"
            f"        labels: {{shard: '{r.shard}', replica: {r.letter}}}" for r in reps.values())
        with open(prom.config_path, "w") as f:
            f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                    f"rule_files: [{json.dumps(RULES)}]\n"
                    "alerting:\n"
                    "  alert_relabel_configs: [{action: labeldrop, regex: replica}]\n"
                    "  alertmanagers:\n"
                    f"    - static_configs: [{{targets: ['{am_a.address}', '{am_b.address}']}}]\n"
                    "scrape_configs:\n  - job_name: needlewatch\n    static_configs:\n"
                    f"{targets}\n")
        self.start(prom)
        am_a.wait_settled()
        am_b.wait_settled()

        # Observers: every alarm-topic publication and every halt, in order, on node 1; halts
        # also on node 2 (NATS 2.9 now and then drops a QoS 1 message to one subscriber: a halt
        # counts as sent when any observer, or a replica's recording, has it).
        watcher = self.mqtt(cl.mqtt_port(0), client_id="chaos-watcher", clean_session=False)
        watcher.subscribe("clinic/+/device/+/alarm/+")
        watcher.subscribe("clinic/+/device/+/command")
        watcher2 = self.mqtt(cl.mqtt_port(1), client_id="chaos-watcher-2", clean_session=False)
        watcher2.subscribe("clinic/+/device/+/command")
        # A plain persistent subscriber beside the monitors, moved from node 3 to node 1 the way
        # shard0-a moves: what it misses, the broker lost (docs/cluster.md, "Loss under overload").
        mirrors = [self.mqtt(cl.mqtt_port(2), client_id="chaos-mirror", clean_session=False)]
        # And one on node 1 that stays: what neither it nor a shard's replicas received, the
        # broker lost for everyone (acknowledged to the pen, delivered to nobody).
        control = self.mqtt(cl.mqtt_port(0), client_id="chaos-control", clean_session=False)
        # And a QoS 0 one beside it: core NATS delivery, no JetStream consumer in the path.
        control0 = self.mqtt(cl.mqtt_port(0), client_id="chaos-control-qos0")
        for shard in (0, 1):
            for c in clinics[shard]:
                mirrors[0].subscribe(f"clinic/{c}/device/+/+")
                control.subscribe(f"clinic/{c}/device/+/+")
                control0.subscribe(f"clinic/{c}/device/+/+", qos=0)
        pen_clients = [self.start(MqttClient(cl.mqtt_port(i), client_id=f"pens-{i}"))
                       for i in (0, 1)]
        fleet = Fleet(pen_clients, clinics)
        probe = ReadyzProbe(list(reps.values())).start()
        self.addCleanup(probe.stop)
        self.report("topology up s", round(time.monotonic() - t_start, 1))

        marks = {"start": time.monotonic()}
        fleet.start()
        time.sleep(6)  # steady phase: the pens' traffic is the workload, not a synchronisation

        # 1. Broker node 3 dies.
        fleet.phase = "node_down"
        marks["node_kill"] = time.monotonic()
        cl.kill(2)
        wait_until(lambda: not mirrors[0].connected, 10, "the mirror's connection lost")
        mirrors[0].kill()  # no reconnect to node 3: the session resumes on node 1

        def move_mirror():
            c = GrantedMqttClient(cl.mqtt_port(0), client_id="chaos-mirror", clean_session=False)
            try:
                c.connect(timeout=3)
            except AssertionError:
                c.kill()
                raise
            mirrors.append(self.track(c))
            return True
        wait_until(move_mirror, 40, "the mirror's session resumed on node 1", interval=0.5)
        for key in ((0, "a"),):
            wait_until(reps[key].ready, 40, f"{reps[key].name} ready on another node")
        marks["moved"] = time.monotonic()
        self.report("replicas on the killed node ready elsewhere after s",
                    round(marks["moved"] - marks["node_kill"], 1))
        time.sleep(3)
        cl.start_node(2)
        cl.wait_ready(2, 60)
        marks["node_back"] = time.monotonic()
        fleet.phase = "node_back"
        time.sleep(6)

        # 2. Shard 1's writer dies; shard1-b takes the lease over.
        holder = self.lease_holder(cl.mqtt_port(0), 1)
        self.assertEqual(holder, "shard1-a", "the lease is sticky across the node loss")
        fleet.phase = "replica_down"
        marks["replica_kill"] = time.monotonic()
        reps[(1, "a")].kill()
        reps[(1, "b")].child.wait_for_line(r"writer: publishing", 20)
        marks["takeover"] = time.monotonic()
        self.report("writer takeover after the writer's kill s",
                    round(marks["takeover"] - marks["replica_kill"], 1))
        time.sleep(5)
        reps[(1, "a")].start(timeout=60)
        marks["replica_back"] = time.monotonic()
        fleet.phase = "replica_back"
        time.sleep(6)
        fleet.stop()
        marks["stop"] = time.monotonic()
        fleet.wait_acked(60)
        sent = fleet.sent_by_shard(clinics)
        self.report("messages published and acknowledged", sum(sent.values()))
        self.assertEqual(set(fleet.unsafe_at), {p[:2] for p in fleet.pens},
                         "every pen sent its unsafe sample")

        # -- no accepted QoS 1 message lost, each pen in exactly one shard ----------------------
        def missing_at(clients):
            got = set()
            for c in clients:
                for m in list(c.messages):
                    parts = m.topic.split("/")
                    if parts[-1] in ("telemetry", "event"):
                        got.add((parts[1], parts[3], json.loads(m.payload)["seq"]))
            return sorted((c, d, q) for (c, d), n in fleet.seq.items() for q in range(1, n + 1)
                          if (c, d, q) not in got)

        def mirror_missing():
            return missing_at(mirrors)
        # Delivery done: a replica of each shard has accepted every message of its shard (the
        # exact, per-seq check is on the recordings at the end; this only waits).
        def delivered():
            return all(any(r.metric("needlewatch_messages_accepted_total") == sent[r.shard]
                           for r in reps.values() if r.shard == shard) for shard in (0, 1))
        try:
            wait_until(delivered, 60, "a replica of each shard with every message")
        except AssertionError:
            pass  # reported precisely below
        for r in reps.values():
            self.assertEqual(r.metric("needlewatch_messages_rejected_total",
                                      reason="not_assigned"), 0, r.name)
            m = r.metrics()
            self.report(f"{r.name} accepted / duplicates / sequence gaps (expected {sent[r.shard]})",
                        " / ".join(str(metric_value(m, name, **labels)) for name, labels in (
                            ("needlewatch_messages_accepted_total", {}),
                            ("needlewatch_messages_rejected_total", {"reason": "duplicate"}),
                            ("needlewatch_sequence_gaps_total", {}))))

        # -- every unsafe event notified exactly once ---------------------------------------------
        def depth_notifications():
            out = {}
            for body in list(sink.bodies):
                for a in body.get("alerts", []) if isinstance(body, dict) else []:
                    lab = a["labels"]
                    if lab.get("alertname") == "NeedlewatchDepthExceeded" and \
                            a["status"] == "firing":
                        key = (lab["clinic"], lab["device"])
                        out[key] = out.get(key, 0) + 1
            return out
        wait_until(lambda: set(depth_notifications()) == set(fleet.unsafe_at), 90,
                   "a NeedlewatchDepthExceeded notification for every pen")
        marks["notified"] = time.monotonic()
        self.report("last notification after the pens stopped s",
                    round(marks["notified"] - marks["stop"], 1))

        # -- retained alarm topics converge to the writers' state ----------------------------------
        # The lease holders now: shard1-b; shard0-a, or shard0-b when NATS published shard0-a's
        # Will as its session moved (seen in some runs: then b took over, one switch).
        writers = {}
        for shard in (0, 1):
            holder = self.lease_holder(cl.mqtt_port(0), shard)
            writers[shard] = reps[(shard, holder[-1])]
        self.assertEqual(writers[1].name, "shard1-b")
        self.report("writers at the end", sorted(w.name for w in writers.values()))

        def expected_states():
            out = {}
            for shard, w in writers.items():
                doc = w.alarms()
                items = doc if isinstance(doc, list) else doc.get("alarms", doc.get("data", []))
                for a in items:
                    out[(a["clinic"], a["device"], a["alarm"])] = a["state"]
            return out
        box = {}

        def converged():
            box["expected"] = expected_states()
            box["retained"] = self.retained_alarm_states(cl.mqtt_port(1), box["expected"])
            return box["expected"] == box["retained"]
        try:
            wait_until(converged, 30, "retained alarm topics equal to the writers' alarms",
                       interval=1.0)
        except AssertionError as e:
            raise AssertionError(f"{e}\nexpected {box.get('expected')}\n"
                                 f"retained {box.get('retained')}") from None
        self.assertEqual({k[:2] for k in box["expected"]}, set(fleet.unsafe_at))
        self.assertEqual(set(box["expected"].values()), {"latched"})

        # Observation window for duplicates: the later Alertmanager sends only after its peer
        # position x peer_timeout (3 s) and group_wait; a duplicate would show by now + 8 s.
        time.sleep(8)
        notes = depth_notifications()
        self.assertEqual(notes, {k: 1 for k in fleet.unsafe_at},
                         f"notifications per pen (unsafe phases {fleet.unsafe_at})")

        # -- /readyz of the survivors -------------------------------------------------------------
        probe.stop()
        end = time.monotonic()
        checks = [("shard0-b", marks["start"], end),
                  ("shard1-b", marks["start"], end),
                  ("shard1-a", marks["start"], marks["replica_kill"] - 0.5),
                  ("shard0-a", marks["moved"] + 1, end)]
        for name, t0, t1 in checks:
            self.assertGreater(probe.count(name, t0, t1), 10, name)
            self.assertEqual(probe.failures(name, t0, t1), [], f"{name} /readyz not 200")

        # -- no flapping; halts once ------------------------------------------------------------
        states = {}
        for m in watcher.messages:
            parts = m.topic.split("/")
            if parts[-2] == "alarm" and m.payload:
                s = states.setdefault(m.topic, [])
                st = json.loads(m.payload)["state"]
                if not s or s[-1] != st:
                    s.append(st)
        # Each halt sent is one payload (its ts is the sender's clock): count distinct ones.
        sent_halts = {(m.topic, bytes(m.payload)) for w in (watcher, watcher2)
                      for m in list(w.messages) if m.topic.endswith("/command")}
        seen_by = {"watchers": len(sent_halts)}
        for r in reps.values():
            r.stop()  # their recorders close the last chunk (also for the loss check below)
            mine = r.received_commands()
            seen_by[r.name] = len(mine)
            sent_halts |= mine
        halts = {}
        for topic, _ in sent_halts:
            parts = topic.split("/")
            halts[(parts[1], parts[3])] = halts.get((parts[1], parts[3]), 0) + 1
        self.report("halts seen by the watchers / in each replica's recording", seen_by)
        for topic, seq in states.items():
            self.assertIn(seq, (["active", "latched"], ["latched"]), f"{topic} flapped: {seq}")
        for key, phase in fleet.unsafe_at.items():
            self.assertLessEqual(halts.get(key, 0), 1, f"halts to {key} ({phase})")
            if phase in STEADY:
                self.assertEqual(halts.get(key, 0), 1, f"halts to {key} ({phase})")
        self.report("halts per pen", sorted(halts.values()))

        # -- one writer at a time: two writers correct each other's retained topics endlessly --
        corrections = {r.name: sum(1 for rec in r.log_records()
                                   if rec.get("msg") == "retained alarm topic corrected")
                       for r in reps.values()}
        self.report("retained alarm topics corrected, per replica", corrections)
        for name, n in corrections.items():
            self.assertLessEqual(n, 2 * len(fleet.pens), f"{name}: two writers at once?")

        # -- no accepted QoS 1 message lost, each pen in exactly one shard ----------------------
        # The replicas have stopped (above: their recorders closed the last chunk); per shard
        # the pair together must have received every PUBACKed message of its pens, and no replica any of
        # the other shard's. One replica alone may miss some: NATS 2.9.10 loses QoS 1 messages
        # in flight to a session whose node dies, and now and then one to a connected consumer
        # on a loaded machine (docs/cluster.md, "The chaos test").
        all_sent = {(c, d, q) for (c, d), n in fleet.seq.items() for q in range(1, n + 1)}
        want = {s: {k for k in all_sent if k[0] in clinics[s]} for s in (0, 1)}
        got = {r.name: r.received() for r in reps.values()}
        missing = {s: sorted(want[s] - got[f"shard{s}-a"] - got[f"shard{s}-b"]) for s in (0, 1)}
        self.report("messages one replica alone did not receive (the restarted one: also its "
                    "downtime)", {r.name: len(want[r.shard] - got[r.name]) for r in reps.values()})
        self.report("messages the plain subscriber moved off the killed node did not receive",
                    len(mirror_missing()))
        # A message neither replica of its shard received is the monitors' loss unless the
        # broker delivered it to nobody: neither the plain QoS 1 subscriber that stayed on node 1
        # (a JetStream consumer, like the monitors') nor its QoS 0 twin (core NATS delivery, no
        # JetStream in the path) has it.
        control_missing = set(missing_at([control]))
        control0_missing = set(missing_at([control0]))
        broker_lost = control_missing & control0_missing
        self.report("messages the plain subscriber staying on node 1 did not receive",
                    len(control_missing))
        self.report("messages its QoS 0 twin did not receive / neither of the two",
                    f"{len(control0_missing)} / {len(broker_lost)}")
        self.assertEqual({s: [k for k in missing[s] if k not in broker_lost] for s in (0, 1)},
                         {0: [], 1: []},
                         f"lost at both replicas of a shard, though the broker delivered them; "
                         f"gaps: { {r.name: r.gaps() for r in reps.values()} }")
        # What the pairs lost end to end: by the check above, only messages NATS acknowledged to
        # the pen and delivered to no subscriber at all, QoS 0 or 1 (none in the serial runs of
        # docs/cluster.md; 2 in one run beside the broker tests, when this test still shared the
        # two cores). A monitor cannot receive those; tolerated up to 1 % and reported.
        lost_both = missing[0] + missing[1]
        self.report("messages neither replica of their shard received (the broker's loss)",
                    len(lost_both))
        self.assertLessEqual(len(lost_both), 0.01 * len(all_sent),
                             f"the broker lost more than 1 %: {lost_both[:20]}")
        for r in reps.values():
            self.assertEqual({k[0] for k in got[r.name]} - set(clinics[r.shard]), set(),
                             f"{r.name} received another shard's clinics")
        self.report("test s", round(time.monotonic() - t_start, 1))


if __name__ == "__main__":
    unittest.main()
