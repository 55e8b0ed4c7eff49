#!/usr/bin/env python3
"""docker/mosquitto.conf is a working mosquitto 2.0 configuration.

mosquitto has no "check config" mode, so the test starts it with docker/mosquitto.conf, changing
only what a test on a shared machine must change: the listener (a free port on 127.0.0.1 instead
of 1883 on every interface), the persistence directory (a temp dir instead of /mosquitto/data/),
and `user root` (ignored unless started as root; lets it read the temp dir); and the accounts,
which compose's mosquitto-init writes into /mosquitto/auth/, are made in the temp dir the same
way (password file; ACL = deploy/mosquitto/acl + docker/mosquitto/acl-demo). Then the demo's
simulator publishes a retained device status and a read-only viewer receives it.
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
    """The config with the listener, persistence location and accounts moved; asserts the
    listener and persistence location were present."""
    out, n_listener, n_location = [], 0, 0
    for line in text.replace("/mosquitto/auth/", data_dir + "/").splitlines():
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

        with open(os.path.join(d, "acl"), "w", encoding="utf-8") as f:  # as init.sh does
            for part in (("deploy", "mosquitto", "acl"), ("docker", "mosquitto", "acl-demo")):
                f.write(nwtest.read_text(os.path.join(ROOT, *part)))
        passwd = os.path.join(d, "passwd")
        nwtest._run(["mosquitto_passwd", "-c", "-b", passwd, "simulator", "sim-pw"])
        nwtest._run(["mosquitto_passwd", "-b", passwd, "viewer", "viewer-pw"])

        broker = self.track(Broker())
        broker.child = nwtest.Child("mosquitto", ["mosquitto", "-c", conf],
                                    os.path.join(d, "mosquitto.log"))
        nwtest.wait_until(lambda: nwtest.port_open(port) or not broker.child.running(), 10,
                          "mosquitto listening")
        self.assertTrue(broker.child.running(), broker.child.tail())

        pub = self.mqtt(port, username="simulator", password="sim-pw")
        topic = nwtest.device_topic("c001", "d0001", "status")
        pub.publish(topic, nwtest.status("online"), retain=True)
        sub = self.mqtt(port, username="viewer", password="viewer-pw")
        sub.subscribe("clinic/+/device/+/status")
        msg = sub.wait_message(topic=topic, timeout=10)
        self.assertTrue(msg.retain)
        self.assertEqual(msg.json()["state"], "online")

        # Persistence is on: a clean shutdown writes the database into the data directory.
        self.assertEqual(broker.child.stop(), 0)
        self.assertTrue(os.path.exists(os.path.join(d, "mosquitto.db")), os.listdir(d))


if __name__ == "__main__":
    unittest.main()
