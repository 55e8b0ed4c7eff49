"""The facts needlewatch relies on from a 3-node NATS cluster speaking MQTT 3.1.1 (docs/cluster.md).

Real nats-server children on loopback (natscluster.py). Each test starts its own cluster, so a
node killed in one test cannot influence another. Figures (times, orders) are printed as
MEASURED lines; the assertions are only about behaviour.
"""

import json
import threading
import time
import unittest

from natscluster import ClusterTestCase, GrantedMqttClient, MqttClient, RawMqtt, wait_until

TELEMETRY = "clinic/+/device/+/telemetry"


def fresh_read(port, topic, client_id, timeout=30.0):
    """The first message a new clean-session QoS 1 subscriber to `topic` gets (a retained one),
    and how many times the subscription was refused first.

    Right after a node loss NATS may refuse a QoS 1 subscription (SUBACK 0x80) while its
    JetStream metadata leader is re-elected, even after an earlier one was granted; a client
    has to subscribe again, so this retries within `timeout`.
    """
    refused = []

    def attempt():
        c = RawMqtt(port, f"{client_id}-{len(refused)}")
        try:
            granted = c.subscribe(topic, 1)
            if granted != 1:
                refused.append(granted)
                return None
            p = c.read(5)
            if p is None:
                raise AssertionError(f"no retained message on {topic} within 5 s")
            return p
        finally:
            c.disconnect()
    p = wait_until(attempt, timeout, f"a granted subscription to {topic}", interval=0.2)
    return p, len(refused)


class RetainedMessages(ClusterTestCase):

    def test_retained_qos1_message_is_read_on_every_node_and_after_a_node_kill(self):
        cl = self.start_cluster()
        topic = "clinic/c1/device/d1/alarm/depth_exceeded"
        writer = self.mqtt(cl.mqtt_port(0), client_id="writer")
        writer.publish(topic, {"state": "active"}, qos=1, retain=True)
        for i in (1, 2):
            m, _ = fresh_read(cl.mqtt_port(i), topic, f"reader-{i}")
            self.assertTrue(m.retain)
            self.assertEqual(json.loads(m.payload)["state"], "active")

        meta = cl.meta_leader()
        cl.kill(2)
        self.report("node 3 was the JetStream metadata leader", meta == cl.nodes[2].name)
        self.report("QoS 1 publish possible again after killing node 3 (s)",
                    round(cl.wait_publishable(1, 30), 2))
        self.report("QoS 1 subscription granted again after killing node 3 (s)",
                    round(cl.wait_ready(1, 30), 2))
        m, refused = fresh_read(cl.mqtt_port(1), topic, "reader-after-kill")
        self.report("QoS 1 subscriptions refused after that", refused)
        self.assertEqual(json.loads(m.payload)["state"], "active")

        # Written while node 3 is down: the restarted node comes to serve the new value, not its
        # own stale one (a stale retained alarm would show a state that is no longer true). Not
        # always at once: in one run (2026-12-02) a fresh reader on node 3, right after it
        # granted subscriptions again, still got the old "active" (docs/cluster.md). How long
        # it served the stale value is reported; it must end.
        writer.wait_connected(30)
        writer.publish(topic, {"state": "cleared"}, qos=1, retain=True)
        cl.start_node(2)
        cl.wait_ready(2, 30)
        t0, reads, stale = time.monotonic(), [0], [0]

        def fresh_state():
            reads[0] += 1
            m, _ = fresh_read(cl.mqtt_port(2), topic, f"reader-restarted-{reads[0]}")
            state = json.loads(m.payload)["state"]
            stale[0] += state != "cleared"
            return state == "cleared"
        wait_until(fresh_state, 30, "the restarted node serving the new retained value",
                   interval=0.5)
        self.report("restarted node: stale retained reads / s until the new value",
                    f"{stale[0]} / {round(time.monotonic() - t0, 2)}")
        m, _ = fresh_read(cl.mqtt_port(1), topic, "reader-restarted-1")
        self.assertEqual(json.loads(m.payload)["state"], "cleared")


class Sessions(ClusterTestCase):

    def test_persistent_session_gets_what_was_published_meanwhile_on_another_node(self):
        cl = self.start_cluster()
        sub = GrantedMqttClient(cl.mqtt_port(1), client_id="monitor-a",
                                clean_session=False).connect()
        sub.subscribe(TELEMETRY, qos=1)
        sub.kill()  # the monitor dies without DISCONNECT...
        cl.kill(1)  # ...and so does the node it was connected to
        cl.wait_ready(0, 30)
        cl.wait_ready(2, 30)

        pub = self.mqtt(cl.mqtt_port(0), client_id="pen")
        n = 50
        pub.wait_acked([pub.publish_async("clinic/c1/device/d1/telemetry", str(i), qos=1)
                        for i in range(n)])

        # Same client ID, clean_session false, on the third node; no new SUBSCRIBE.
        t0 = time.monotonic()
        back = self.start(MqttClient(cl.mqtt_port(2), client_id="monitor-a",
                                     clean_session=False))
        wait_until(lambda: len(back.messages) >= n, 30, f"{n} queued messages")
        self.report("first queued message after reconnecting (s)",
                    round(back.messages[0].received_at - t0, 2))
        self.assertEqual([int(m.payload) for m in back.messages], list(range(n)))

    def test_one_client_id_is_one_connection_across_the_cluster(self):
        cl = self.start_cluster()
        first = RawMqtt(cl.mqtt_port(0), "monitor-b", clean_session=False)
        self.addCleanup(first.close)
        try:
            second = RawMqtt(cl.mqtt_port(1), "monitor-b", clean_session=False)
            self.addCleanup(second.close)
        except ConnectionError:  # refused while the first one's session is being handed over
            second = None

        def alive(c):
            try:
                return c.read(3) is None  # no traffic for it; a closed socket raises
            except (ConnectionError, OSError):
                return False
        first_alive = alive(first)
        second_alive = second is not None and alive(second)
        self.report("first / second connection with the same client ID",
                    f"{'kept' if first_alive else 'closed'} / "
                    f"{'kept' if second_alive else 'refused' if second is None else 'closed'}")
        self.assertFalse(first_alive and second_alive, "two live connections share a client ID")


    def test_a_pens_last_will_reaches_a_monitor_on_another_node(self):
        cl = self.start_cluster()
        mon = self.mqtt(cl.mqtt_port(1), client_id="monitor", clean_session=False)
        mon.subscribe("clinic/+/device/+/+", qos=1)
        status = "clinic/c1/device/{}/status"

        def will_of(device):
            return (status.format(device), '{"v":1,"state":"offline"}', 1, True)

        # The connection dies without DISCONNECT: the broker publishes the Will.
        pen = RawMqtt(cl.mqtt_port(0), "pen-d1", will=will_of("d1"))
        pen.publish(status.format("d1"), '{"v":1,"state":"online"}', qos=1, retain=True)
        pen.close()
        mon.wait_message(lambda m: b"offline" in m.payload, topic=status.format("d1"), timeout=15)

        # Measured, not relied on: a takeover (the pen reconnects with its client ID while the
        # broker still holds the old connection) publishes the old connection's Will on
        # mosquitto 2.0, not on NATS 2.9, so device_offline is then not raised.
        old = RawMqtt(cl.mqtt_port(0), "pen-d2", will=will_of("d2"))
        old.publish(status.format("d2"), '{"v":1,"state":"online"}', qos=1, retain=True)
        new = RawMqtt(cl.mqtt_port(0), "pen-d2")
        self.addCleanup(new.close)
        self.addCleanup(old.close)
        new.publish(status.format("d2"), '{"v":1,"state":"back"}', qos=1)
        mon.wait_message(lambda m: b"back" in m.payload, topic=status.format("d2"), timeout=15)
        wills = [m for m in mon.messages
                 if m.topic == status.format("d2") and b"offline" in m.payload]
        self.report("Will published on a takeover", bool(wills))


class Qos1Redelivery(ClusterTestCase):

    def test_unacknowledged_messages_come_again_flagged_dup(self):
        ack_wait = 2.0
        cl = self.start_cluster(ack_wait=f"{ack_wait:g}s")
        topic = "clinic/c1/device/d1/telemetry"
        sub = RawMqtt(cl.mqtt_port(1), "raw-monitor", clean_session=False)
        self.assertEqual(sub.subscribe(topic, 1), 1)
        pub = RawMqtt(cl.mqtt_port(0), "raw-pen")
        self.addCleanup(pub.close)
        for i in range(3):
            pub.publish(topic, f"m{i}", qos=1)

        first = [sub.read(10) for _ in range(3)]
        self.assertEqual([p.payload for p in first], [b"m0", b"m1", b"m2"])
        self.assertFalse(any(p.dup for p in first))

        # No PUBACK: while still connected, each comes again with DUP set and the same packet id.
        again = [sub.read(ack_wait * 5) for _ in range(3)]
        self.assertNotIn(None, again)
        self.assertEqual([p.payload for p in again], [b"m0", b"m1", b"m2"])
        self.assertTrue(all(p.dup for p in again))
        self.assertEqual([p.packet_id for p in again], [p.packet_id for p in first])
        self.report("redelivery while connected, after (s)",
                    round(again[0].received_at - first[0].received_at, 2))

        # Acknowledge m0 only, die without DISCONNECT; two more are published meanwhile.
        sub.puback(again[0].packet_id)
        sub.close()
        for i in (3, 4):
            pub.publish(topic, f"m{i}", qos=1)

        t0 = time.monotonic()
        back = RawMqtt(cl.mqtt_port(2), "raw-monitor", clean_session=False)
        self.addCleanup(back.close)
        self.assertTrue(back.session_present)
        got = []
        while len(got) < 4:
            p = back.read(ack_wait * 5)
            self.assertIsNotNone(p, f"only {got} after reconnecting")
            back.puback(p.packet_id)
            got.append(p)
        # Every unacknowledged or new message arrives; the redelivered ones flagged DUP. The
        # order is not kept around a disconnect (measured: see the report line).
        self.assertEqual(sorted(p.payload for p in got), [b"m1", b"m2", b"m3", b"m4"])
        self.assertTrue(all(p.dup for p in got if p.payload in (b"m1", b"m2")))
        self.report("order after reconnecting on another node",
                    " ".join(f"{p.payload.decode()}{'(dup)' if p.dup else ''}"
                             f"@{p.received_at - t0:.2f}s" for p in got))
        # The acknowledged m0 does not come back (an ack_wait and more without anything).
        self.assertIsNone(back.read(ack_wait * 1.5))


def settled(client, n, idle=10.0, timeout=180.0):
    """Waits until `client` has `n` messages, or none came for `idle` seconds; its messages.

    See Ordering: on an overloaded machine NATS 2.9 may never deliver a few acknowledged QoS 1
    messages, so "all n" is not a condition to wait for alone.
    """
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = len(client.messages)
        if count >= n:
            break
        if count != last:
            last, last_change = count, time.monotonic()
        elif time.monotonic() - last_change >= idle:
            break
        time.sleep(0.1)
    return list(client.messages)


class Ordering(ClusterTestCase):
    """Order is asserted on what arrived. Loss is reported, not asserted here: with the 2-core
    machine overloaded (load average 14-20) NATS 2.9.10 silently never delivered 1-35 of 2,000
    PUBACKed QoS 1 messages to a connected persistent subscriber in 7 of 12 runs (none at lower
    load); docs/cluster.md. LeaderLoss and Sessions assert completeness at lower rates."""

    def check_order(self, name, seq, n):
        self.assertEqual(seq, sorted(set(seq)), f"{name}: out of order or duplicated")
        self.assertGreaterEqual(len(seq), 0.95 * n, f"{name}: most messages missing")
        self.report(f"{name}: acknowledged but never delivered (of {n})", n - len(seq))

    def test_each_publishers_order_is_kept_on_a_subscriber_of_another_node(self):
        cl = self.start_cluster()
        sub = self.mqtt(cl.mqtt_port(1), client_id="monitor", clean_session=False)
        sub.subscribe(TELEMETRY, qos=1)
        n = 1000
        pens = [("A", 0, ["d1", "d2"]), ("B", 2, ["d3"])]  # A alternates over two topics

        def run(name, node, devices):
            c = MqttClient(cl.mqtt_port(node), client_id=f"pen-{name}").connect()
            try:
                c.wait_acked([c.publish_async(
                    f"clinic/c1/device/{devices[i % len(devices)]}/telemetry",
                    f"{name}:{i}", qos=1) for i in range(n)], timeout=60)
            finally:
                c.disconnect()
        threads = [threading.Thread(target=run, args=p) for p in pens]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        by_pen = {"A": [], "B": []}
        for m in settled(sub, 2 * n):
            name, i = m.payload.decode().split(":")
            by_pen[name].append(int(i))
        for name, seq in by_pen.items():
            self.check_order(f"pen {name}", seq, n)

    def test_one_filter_keeps_a_pens_order_across_its_channels(self):
        # A pen's telemetry and events are different topics. On NATS each QoS 1 subscription is
        # its own JetStream consumer, so a monitor with a filter per channel gets them in two
        # independent streams; one filter covering both keeps the pen's order (shard.h).
        cl = self.start_cluster()
        per_channel = self.mqtt(cl.mqtt_port(1), client_id="per-channel", clean_session=False)
        for ch in ("telemetry", "event", "status"):
            per_channel.subscribe(f"clinic/c1/device/+/{ch}", qos=1)
        one = self.mqtt(cl.mqtt_port(1), client_id="one-filter", clean_session=False)
        one.subscribe("clinic/c1/device/+/+", qos=1)
        pen = self.mqtt(cl.mqtt_port(2), client_id="pen")
        n = 2000
        pen.wait_acked([pen.publish_async(
            f"clinic/c1/device/d1/{'event' if i % 10 == 0 else 'telemetry'}", str(i), qos=1)
            for i in range(n)], timeout=60)
        seq = [int(m.payload) for m in settled(per_channel, n)]
        self.report(f"out-of-order steps with a filter per channel (of {n})",
                    sum(1 for a, b in zip(seq, seq[1:]) if b < a))
        self.assertEqual(len(seq), len(set(seq)))
        self.check_order("one filter", [int(m.payload) for m in settled(one, n)], n)


class TopicCharacters(ClusterTestCase):

    def test_a_dot_in_a_topic_is_refused(self):
        cl = self.start_cluster()
        port = cl.mqtt_port(0)
        # Positive control: the same shapes without a dot work.
        ok = RawMqtt(port, "pen-ok")
        ok.publish("clinic/c-1/device/d_1/telemetry", "x", qos=1)
        ok.disconnect()

        # A publish on a topic with '.': the connection is closed, no PUBACK.
        pen = RawMqtt(port, "pen-dot")
        with self.assertRaises(ConnectionError):
            pen.publish("clinic/c.1/device/d1/telemetry", "x", qos=1, timeout=5)
        pen = RawMqtt(port, "pen-dot-device")
        with self.assertRaises(ConnectionError):
            pen.publish("clinic/c1/device/d.1/telemetry", "x", qos=1, timeout=5)

        # A subscription with '.': refused in the SUBACK (0x80); the connection stays usable.
        mon = RawMqtt(port, "monitor-dot")
        self.addCleanup(mon.close)
        self.assertEqual(mon.subscribe("clinic/c.1/device/+/telemetry", 1), 0x80)
        self.assertEqual(mon.subscribe("clinic/c1/device/+/telemetry", 1), 1)
        mon.publish("clinic/c1/device/d1/status", "still connected", qos=1)

        # A Last Will on a topic with '.' (a device status topic, or needlewatch/{instance}/status
        # with a dotted instance name): the CONNECT itself is refused, no CONNACK.
        with self.assertRaises(ConnectionError):
            RawMqtt(port, "pen-dot-will", will=("clinic/c.1/device/d1/status", "offline", 1, True))
        with self.assertRaises(ConnectionError):
            RawMqtt(port, "monitor-dot-will", will=("needlewatch/eu.1/status", "offline", 1, True))


class SubscriptionLimits(ClusterTestCase):

    def test_a_session_holds_at_most_65535_unacknowledged_messages_over_its_subscriptions(self):
        cl = self.start_cluster(max_ack_pending=16384)  # 4 x 16384 > 65535
        mon = RawMqtt(cl.mqtt_port(0), "monitor", clean_session=False)
        self.addCleanup(mon.close)
        t0 = time.monotonic()
        granted = [mon.subscribe(f"clinic/c{i}/device/+/telemetry", 1) for i in range(3)]
        self.report("seconds per QoS 1 subscription (replicated consumer)",
                    round((time.monotonic() - t0) / 3, 2))
        self.assertEqual(granted, [1, 1, 1])
        self.assertEqual(mon.subscribe("clinic/c3/device/+/telemetry", 1), 0x80)
        # QoS 0 subscriptions have no consumer and no such limit.
        t0 = time.monotonic()
        self.assertEqual([mon.subscribe(f"clinic/q{i}/device/+/telemetry", 0) for i in range(50)],
                         [0] * 50)
        self.report("seconds per QoS 0 subscription", round((time.monotonic() - t0) / 50, 3))


    def test_unreplicated_memory_consumers_subscribe_fast(self):
        # The trade: consumer_replicas 1 + memory storage makes a QoS 1 subscription cheap,
        # but a session's delivery state then lives on one node only (docs/cluster.md).
        cl = self.start_cluster(mqtt_extra={"consumer_replicas": 1,
                                            "consumer_memory_storage": "true"})
        mon = RawMqtt(cl.mqtt_port(0), "monitor", clean_session=False)
        self.addCleanup(mon.close)
        t0 = time.monotonic()
        granted = [mon.subscribe(f"clinic/c{i}/device/+/+", 1) for i in range(20)]
        self.report("seconds per QoS 1 subscription (consumer_replicas 1, memory)",
                    round((time.monotonic() - t0) / 20, 3))
        self.assertEqual(granted, [1] * 20)


class LeaderLoss(ClusterTestCase):

    def test_qos1_publishing_resumes_and_loses_nothing_when_the_stream_leader_is_killed(self):
        cl = self.start_cluster()
        names = [n.name for n in cl.nodes]
        leader = names.index(wait_until(lambda: cl.stream_leader("$MQTT_msgs"), 10,
                                        "a $MQTT_msgs leader"))
        pub_node, sub_node = [i for i in range(3) if i != leader]
        sub = self.mqtt(cl.mqtt_port(sub_node), client_id="monitor", clean_session=False)
        sub.subscribe(TELEMETRY, qos=1)
        pen = self.mqtt(cl.mqtt_port(pub_node), client_id="pen")

        acked, longest, killed_at = [], 0.0, None
        i = 0
        while True:  # one QoS 1 publish at a time; the longest wait is the outage
            t0 = time.monotonic()
            pen.publish("clinic/c1/device/d1/telemetry", str(i), qos=1, timeout=60)
            longest = max(longest, time.monotonic() - t0)
            acked.append(i)
            i += 1
            if i == 50:
                cl.kill(leader)
                killed_at = len(acked)
            if killed_at is not None and len(acked) >= killed_at + 50:
                break
        self.report("longest QoS 1 publish while the leader died (s)", round(longest, 2))
        self.report("new $MQTT_msgs leader", cl.stream_leader("$MQTT_msgs"))
        self.assertLess(longest, 60)
        wait_until(lambda: len({int(m.payload) for m in sub.messages}) >= len(acked), 60,
                   "every acknowledged message at the subscriber")
        self.assertEqual(sorted({int(m.payload) for m in sub.messages}), acked)
        self.report("duplicates at the subscriber", len(sub.messages) - len(acked))


if __name__ == "__main__":
    unittest.main()
