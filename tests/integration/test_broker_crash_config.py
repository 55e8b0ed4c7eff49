"""The broker durability settings are the same everywhere they are shipped (issue 12 item 5):
docker/mosquitto.conf, the demo's mosquitto config (scripts/demo) and the test harness's
persistence option (nwtest.Mosquitto(persistence=True)), which test_broker_restart proves
against a mosquitto SIGKILL. A change to one of them must be made to all (and measured again:
bench/overload/durability.py)."""

import os
import re
import unittest

import nwtest

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


if __name__ == "__main__":
    unittest.main()
