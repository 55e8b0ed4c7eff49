#!/usr/bin/env python3
"""docker/mosquitto.conf is a working mosquitto 2.0 configuration.

mosquitto has no "check config" mode, so the test starts it with docker/mosquitto.conf, changing
only what a test on a shared machine must change: the listener (a free port on 127.0.0.1 instead
of 1883 on every interface), the persistence directory (a temp dir instead of /mosquitto/data/),
and `user root` (ignored unless started as root; lets it read the temp dir). Then a client
publishes a retained device status and a second client receives it, as the daemon would.
"""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import nwtest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONF = os.path.join(ROOT, "docker", "mosquitto.conf")


def adapt(text, port, data_dir):
    """The config with the listener and persistence location moved; asserts both were present."""
    out, n_listener, n_location = [], 0, 0
    for line in text.splitlines():
        if re.match(r"^listener\s+1883\b", line):
            line, n_listener = f"listener {port} 127.0.0.1", n_listener + 1
        elif re.match(r"^persistence_location\s", line):
            line, n_location = f"persistence_location {data_dir}/", n_location + 1
        out.append(line)
    if (n_listener, n_location) != (1, 1):
        raise AssertionError(f"expected one 'listener 1883' and one persistence_location line, "
                             f"got {n_listener} and {n_location}")
    return "user root\n" + "\n".join(out) + "\n"


class MosquittoConfTest(nwtest.NwTestCase):
    def test_docker_config_serves_clients(self):
        port = nwtest.free_port()
        d = nwtest.fixture_dir(self.workdir, "mosquitto")
        conf = os.path.join(d, "mosquitto.conf")
        with open(CONF, encoding="utf-8") as f:
            text = adapt(f.read(), port, d)
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text)

        class Broker(nwtest.Service):
            pass

        broker = self.track(Broker())
        broker.child = nwtest.Child("mosquitto", ["mosquitto", "-c", conf],
                                    os.path.join(d, "mosquitto.log"))
        nwtest.wait_until(lambda: nwtest.port_open(port) or not broker.child.running(), 10,
                          "mosquitto listening")
        self.assertTrue(broker.child.running(), broker.child.tail())

        pub = self.mqtt(port)
        topic = nwtest.device_topic("c001", "d0001", "status")
        pub.publish(topic, nwtest.status("online"), retain=True)
        sub = self.mqtt(port)
        sub.subscribe("clinic/+/device/+/status")
        msg = sub.wait_message(topic=topic, timeout=10)
        self.assertTrue(msg.retain)
        self.assertEqual(msg.json()["state"], "online")

        # Persistence is on: a clean shutdown writes the database into the data directory.
        self.assertEqual(broker.child.stop(), 0)
        self.assertTrue(os.path.exists(os.path.join(d, "mosquitto.db")), os.listdir(d))


if __name__ == "__main__":
    unittest.main()
