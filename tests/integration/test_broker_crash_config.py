"""The broker durability settings (issue 12 item 5).

1. They are the same everywhere they are shipped: docker/mosquitto.conf, the demo's mosquitto
   config (scripts/demo) and the test harness's persistence option (nwtest.Mosquitto(
   persistence=True)), which test_broker_restart proves against a mosquitto SIGKILL. A change to
   one of them must be made to all (and measured again: bench/overload/durability.py).
2. What mosquitto 2.0.11 does with QoS 1 messages in flight to a persistent-session subscriber
   when it is SIGKILLed after a save: the subscriber's session is back (session present), and
   every message it had been sent but not acknowledged comes again, in order, with the DUP flag,
   before what is published after the restart. The daemon's duplicates after a broker crash
   come from here (test_broker_crash_duplicates).
"""

import os
import re
import threading
import unittest

import nwtest

paho = nwtest.paho  # paho.mqtt.client, as the harness found it

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS = ("persistence", "autosave_interval", "autosave_on_changes", "max_inflight_messages",
        "max_queued_messages")


def settings(text):
    """{key: value} of the durability keys in a mosquitto config (the last one wins)."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in KEYS:
            out[parts[0]] = parts[1]
    return out


class BrokerConfigTest(nwtest.NwTestCase):
    def test_docker_demo_and_harness_agree_on_durability(self):
        with open(os.path.join(ROOT, "docker", "mosquitto.conf")) as f:
            docker = settings(f.read())
        with open(os.path.join(ROOT, "scripts", "demo")) as f:
            m = re.search(r'cat > "\$W/mosquitto.conf" <<EOF\n(.*?)\nEOF\n', f.read(), re.S)
        self.assertIsNotNone(m, "scripts/demo: the mosquitto.conf here-document")
        demo = settings(m.group(1))
        harness = settings(nwtest.read_text(nwtest.Mosquitto(self.workdir,
                                                             persistence=True).conf))
        self.assertEqual(docker["persistence"], "true")
        self.assertEqual(set(docker), set(KEYS), "docker/mosquitto.conf sets every key")
        self.assertEqual(demo, docker, "scripts/demo vs docker/mosquitto.conf")
        self.assertEqual(harness, docker, "nwtest.Mosquitto(persistence=True) vs docker")

    def test_in_flight_qos1_comes_again_with_dup_after_a_broker_sigkill(self):
        broker = self.start(nwtest.Mosquitto(self.workdir, persistence=True))
        hold = threading.Event()
        self.addCleanup(hold.set)
        first, second = [], []
        subacked, connected = threading.Event(), []
        cond = threading.Condition()

        def holding(client, userdata, msg):  # paho sends the PUBACK after this returns
            with cond:
                first.append(msg.payload)
                cond.notify_all()
            hold.wait(30)

        def collecting(client, userdata, msg):
            with cond:
                second.append((msg.payload.decode(), msg.dup))
                cond.notify_all()

        def client(on_message):
            c = paho.Client(client_id="nwtest-held", clean_session=False,
                            protocol=paho.MQTTv311)
            c.on_message = on_message
            c.on_subscribe = lambda *a: subacked.set()
            c.on_connect = lambda cl, u, flags, rc: connected.append(flags["session present"])
            c.connect(nwtest.HOST, broker.port)
            c.loop_start()
            return c

        def wait(pred, what):
            with cond:
                self.assertTrue(cond.wait_for(pred, 20), what)

        held = client(holding)
        self.addCleanup(held.loop_stop)
        nwtest.wait_until(lambda: connected, 10, "CONNACK")
        held.subscribe("q/#", 1)
        self.assertTrue(subacked.wait(10), "SUBACK")
        pub = self.mqtt(broker.port)
        for i in range(10):
            pub.publish(f"q/{i}", str(i), qos=1)  # each acknowledged by the broker
        wait(lambda: first, "the first message at the held subscriber")
        broker.wait_saved()  # the in-flight messages are in the database
        broker.kill()
        broker.start()
        hold.set()
        held.loop_stop()
        again = client(collecting)
        self.addCleanup(again.loop_stop)
        wait(lambda: len(second) >= 10, "the in-flight messages again")
        pub.wait_connected()
        for i in range(10, 13):
            pub.publish(f"q/{i}", str(i), qos=1)
        wait(lambda: len(second) >= 13, "the messages published after the restart")
        self.assertEqual(connected[-1], 1, "session present after the restart")
        self.assertEqual(second, [(str(i), i < 10) for i in range(13)])
        again.disconnect()


if __name__ == "__main__":
    unittest.main()
