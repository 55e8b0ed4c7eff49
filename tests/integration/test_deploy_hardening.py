"""The shipped deployment files, run or checked as shipped (issue 13 §3, §6): the production
broker config (deploy/mosquitto/mosquitto.conf with its ACL and add-pen) in a real mosquitto,
and the compose file's hardening (docker-compose config, offline). The compose demo's broker
config runs in tests/dashboards/test_mosquitto_conf.py."""

import os
import re
import shutil
import signal
import subprocess
import unittest

import nwtest
from nwtest import device_topic, telemetry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ShippedBroker(nwtest.Service):
    """mosquitto on a shipped config file, rewritten only where a test must differ: file paths
    into `workdir`, listeners onto free loopback ports, and `user root` (STACK.md §3 pitfall 1).
    `listeners` maps each shipped `listener …` line to the attribute that gets its port."""

    def __init__(self, workdir, conf, paths, listeners, name="broker"):
        self.name = name
        self.dir = nwtest.fixture_dir(workdir, name)
        text = nwtest.read_text(os.path.join(ROOT, conf))
        for shipped, local in paths.items():
            text = text.replace(shipped, local)
        for line, attr in listeners.items():
            port = nwtest.free_port()
            setattr(self, attr, port)
            text = re.sub(rf"(?m)^{re.escape(line)}$", f"listener {port} {nwtest.HOST}", text)
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("user root\n" + text)
        self.ports = [getattr(self, a) for a in listeners.values()]
        self.child = None

    def start(self, timeout=10.0):
        self.child = nwtest.Child(self.name, ["mosquitto", "-c", self.conf],
                                  os.path.join(self.dir, "mosquitto.log"))
        self.child.wait_for_line(r"mosquitto version \S+ running", timeout)
        for p in self.ports:
            nwtest.wait_until(lambda p=p: nwtest.port_open(p), timeout, f"port {p}")
        return self


def add_pen(passwd, clinic, device):
    """deploy/mosquitto/add-pen as an operator runs it: returns (username, password)."""
    r = subprocess.run([os.path.join(ROOT, "deploy", "mosquitto", "add-pen"), clinic, device,
                        passwd], capture_output=True, text=True, check=True)
    fields = dict(line.split(": ", 1) for line in r.stdout.splitlines())
    return fields["user"], fields["password"]


class DeployBrokerTest(nwtest.NwTestCase):
    def test_the_production_broker_config_authenticates_bounds_and_applies_the_acl(self):
        etc = nwtest.fixture_dir(self.workdir, "etc")
        tls = nwtest.make_tls_material(nwtest.fixture_dir(self.workdir, "etc/tls"))
        data = nwtest.fixture_dir(self.workdir, "data")
        passwd = os.path.join(etc, "passwd")
        pen = add_pen(passwd, "c1", "p1")
        self.assertEqual(pen[0], "c1/device/p1")
        subprocess.run(["mosquitto_passwd", "-b", passwd, "viewer", "viewer-pw"], check=True)
        shutil.copy(os.path.join(ROOT, "deploy", "mosquitto", "acl"), os.path.join(etc, "acl"))
        with self.assertRaises(subprocess.CalledProcessError):  # not a contract ID
            add_pen(passwd, "c1", "p1/#")
        broker = self.start(ShippedBroker(
            self.workdir, "deploy/mosquitto/mosquitto.conf",
            {"/etc/mosquitto/needlewatch/": etc + "/", "/var/lib/mosquitto/": data + "/"},
            {"listener 8883": "tls_port", "listener 1883 127.0.0.1": "port"}))
        anonymous = self.track(nwtest.MqttClient(broker.port))
        with self.assertRaisesRegex(AssertionError, "refused"):
            anonymous.connect()
        viewer = self.mqtt(broker.port, username="viewer", password="viewer-pw")
        viewer.subscribe("clinic/#")
        # Over max_packet_size (64 KiB): the broker drops the client, the message goes nowhere.
        # (On the plain listener: paho's thread dies on a TLS EOF without reporting it.)
        big = self.mqtt(broker.port, username=pen[0], password=pen[1], client_id="c1-p1-big")
        big.publish_async(device_topic("c1", "p1", "telemetry"), b"x" * (70 * 1024), qos=0)
        nwtest.wait_until(lambda: not big.connected, 10, "the broker to drop the client")
        big.kill()  # no reconnect
        p1 = self.mqtt(broker.tls_port, username=pen[0], password=pen[1], tls_ca=tls["ca"],
                       client_id="c1-p1")
        p1.publish(device_topic("c1", "p1", "telemetry"), telemetry(1, "S-1", "cheek", 0.5, 100))
        got = viewer.wait_message(topic=device_topic("c1", "p1", "telemetry"))
        self.assertLess(len(got.payload), 4096)
        self.assertEqual([len(m.payload) for m in viewer.messages if len(m.payload) > 4096], [])
        # Its own topics only: another pen's telemetry goes nowhere (checked after a control).
        p1.publish(device_topic("c1", "p2", "telemetry"), telemetry(1, "S-2", "cheek", 9.0, 100))
        p1.publish(device_topic("c1", "p1", "event"), {"v": 1, "seq": 2, "ts": 1,
                                                       "event": "session_end", "session": "S-1"})
        viewer.wait_message(topic=device_topic("c1", "p1", "event"))
        self.assertNotIn(device_topic("c1", "p2", "telemetry"), {m.topic for m in viewer.messages})
        # Removing the pen's account and reloading the broker ends its connection.
        subprocess.run(["mosquitto_passwd", "-D", passwd, pen[0]], check=True)
        broker.send_signal(signal.SIGHUP)
        nwtest.wait_until(lambda: not p1.connected, 10, "the removed pen to be disconnected")
        again = self.track(nwtest.MqttClient(broker.port, username=pen[0], password=pen[1]))
        with self.assertRaisesRegex(AssertionError, "refused"):
            again.connect()


class ComposeHardeningTest(unittest.TestCase):
    def test_every_service_is_read_only_without_capabilities_or_new_privileges(self):
        compose = shutil.which("docker-compose")
        if not compose:
            self.skipTest("docker-compose (apt docker-compose) is not installed")
        import yaml
        r = subprocess.run([compose, "-f", os.path.join(ROOT, "docker", "compose.yaml"),
                            "--profile", "demo", "config"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        services = yaml.safe_load(r.stdout)["services"]
        self.assertIn("mosquitto-init", services)
        for name, s in services.items():
            self.assertIs(s.get("read_only"), True, name)
            self.assertEqual(s.get("cap_drop"), ["ALL"], name)
            self.assertIn("no-new-privileges:true", s.get("security_opt", []), name)
            self.assertNotIn("--web.enable-lifecycle", " ".join(s.get("command") or []), name)
        self.assertNotIn("allow_anonymous true",
                         nwtest.read_text(os.path.join(ROOT, "docker", "mosquitto.conf")))


if __name__ == "__main__":
    unittest.main()
