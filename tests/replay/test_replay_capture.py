"""End to end: a real mosquitto on a free loopback port, a `mosquitto_sub -F '%U %t %p'` capture
of a published scenario, then `needlewatch replay --format json` on the capture.

Uses the integration harness (tests/integration/nwtest.py): Mosquitto, Child, Workdir, wait_until.
"""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import nwtest  # noqa: E402

NEEDLEWATCH = os.environ.get("NEEDLEWATCH_BIN", "needlewatch")
TOPIC = "clinic/c017/device/d00042/"


def scenario():
    """Forehead session (max 0.75 mm): 3 samples within limits, 2 above, 2 back, end."""
    now_ms = int(time.time() * 1000)
    msgs, seq = [], 0

    def add(channel, body):
        nonlocal seq
        seq += 1
        payload = {"v": 1, "seq": seq, "ts": now_ms + seq}
        payload.update(body)
        msgs.append((TOPIC + channel, json.dumps(payload, separators=(",", ":"))))

    add("event", {"event": "session_start", "session": "S-it1", "zone": "forehead"})
    for depth in (0.4, 0.4, 0.4, 0.9, 0.9, 0.4, 0.4):
        add("telemetry", {"session": "S-it1", "zone": "forehead", "depth_mm": depth,
                          "speed_hz": 120.0})
    add("event", {"event": "session_end", "session": "S-it1"})
    return msgs


class ReplayCaptureTest(unittest.TestCase):
    def setUp(self):
        self.work = nwtest.Workdir(prefix="nw-replay-it-")
        self.broker = nwtest.Mosquitto(self.work, verbose=True).start()

    def tearDown(self):
        self.broker.stop()
        self.work.remove()

    def test_capture_then_replay_reports_session_and_alarm(self):
        msgs = scenario()
        capture = self.work.file("capture.txt")
        with open(capture, "w"):
            pass
        # -C: exit after exactly the scenario's messages; -W: never hang past the test.
        argv = ["mosquitto_sub", "-h", nwtest.HOST, "-p", str(self.broker.port), "-q", "1",
                "-t", "clinic/#", "-F", "%U %t %p", "-C", str(len(msgs)), "-W", "60",
                "-i", "nw-replay-capture"]
        out = open(capture, "w")
        self.addCleanup(out.close)
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        # Ready when the broker has acknowledged the subscription (logged with log_type all).
        nwtest.wait_until(
            lambda: "Sending SUBACK to nw-replay-capture" in nwtest.read_text(
                self.broker.log_path), 10, "subscriber SUBACK")
        for topic, payload in msgs:
            subprocess.run(["mosquitto_pub", "-h", nwtest.HOST, "-p", str(self.broker.port),
                            "-q", "1", "-t", topic, "-m", payload], check=True, timeout=10)
        self.assertEqual(proc.wait(timeout=30), 0, "mosquitto_sub did not get every message")
        out.close()
        lines = nwtest.read_text(capture).splitlines()
        self.assertEqual(len(lines), len(msgs))

        r = subprocess.run([NEEDLEWATCH, "replay", "--format", "json", capture],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        report = json.loads(r.stdout)
        self.assertEqual(report["messages"]["total"], len(msgs))
        self.assertEqual(report["messages"]["accepted"], len(msgs))
        self.assertEqual(report["lines_skipped"], 0)
        self.assertEqual(len(report["sessions"]), 1)
        s = report["sessions"][0]
        self.assertEqual((s["clinic"], s["device"], s["session"]), ("c017", "d00042", "S-it1"))
        self.assertEqual(s["max_depth_mm"], 0.9)
        self.assertIsNotNone(s["ended_at"])
        alarms = {a["alarm"]: a for a in report["alarms"]}
        self.assertEqual(sorted(alarms), ["depth_exceeded", "depth_warning"])
        high = alarms["depth_exceeded"]
        self.assertEqual((high["severity"], high["value"], high["limit"]), ("high", 0.9, 0.75))
        self.assertEqual(high["state"], "latched")
        # Raised at the first 0.9 mm sample's receive time, cleared at the next 0.4 mm one.
        t = [int(line.split(" ", 1)[0].replace(".", "")) for line in lines]
        self.assertEqual(high["raised_at_ns"], t[4])
        self.assertEqual(high["cleared_at_ns"], t[6])


if __name__ == "__main__":
    unittest.main()
