"""`needlewatch replay` on a terminal: with stderr on a pseudo-terminal, a long input (16 MiB or
more) shows the progress line from the start and ends with a summary; with stderr on a pipe
nothing is printed there; the report on stdout is the same either way, and --fail-on exits 3.
"""
import json
import os
import pty
import subprocess
import tempfile
import unittest

NEEDLEWATCH = os.environ.get("NEEDLEWATCH_BIN", "needlewatch")
START_NS = 1_795_611_133_000_000_000


def capture(path, lines):
    with open(path, "w") as f:
        for i in range(lines):
            t = START_NS + i * 20_000_000
            depth = 1.2 if i == lines // 2 else 0.4
            payload = json.dumps({"v": 1, "seq": i + 1, "ts": t // 1_000_000, "session": "S-1",
                                  "zone": "forehead", "depth_mm": depth, "speed_hz": 120.0,
                                  "note": "x" * 40}, separators=(",", ":"))
            f.write(f"{t // 10**9}.{t % 10**9:09d} clinic/c1/device/d{i % 50}/telemetry {payload}\n")


class ReplayProgressTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory(prefix="nw-progress-")
        cls.big = os.path.join(cls.dir.name, "big.txt")
        capture(cls.big, 110_000)
        assert os.path.getsize(cls.big) >= 16 << 20, os.path.getsize(cls.big)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def run_on_pty(self, args):
        """Runs with stderr on a pseudo-terminal; returns (rc, stdout, what the terminal got)."""
        master, slave = pty.openpty()
        with tempfile.TemporaryFile() as stdout:
            try:
                with subprocess.Popen([NEEDLEWATCH, *args], stdout=stdout, stderr=slave) as p:
                    os.close(slave)
                    slave = -1
                    screen = b""
                    while True:
                        try:
                            chunk = os.read(master, 65536)
                        except OSError:  # EIO: the child closed its end
                            break
                        if not chunk:
                            break
                        screen += chunk
                    rc = p.wait(timeout=300)
            finally:
                os.close(master)
                if slave >= 0:
                    os.close(slave)
            stdout.seek(0)
            return rc, stdout.read(), screen.decode(errors="replace")

    def test_terminal_gets_a_progress_line_and_a_summary(self):
        rc, out, screen = self.run_on_pty(["replay", "--format", "json", self.big])
        self.assertEqual(rc, 0, screen)
        self.assertIn("\rreplay: 0 records", screen.replace("\x1b[K", ""))  # shown at once
        self.assertRegex(screen, r"replay: 110,000 records in [0-9.]+ s \([0-9,]+/s\)")
        report = json.loads(out)
        self.assertEqual(report["messages"]["total"], 110_000)

    def test_pipe_gets_nothing_and_the_same_report(self):
        r = subprocess.run([NEEDLEWATCH, "replay", "--format", "json", self.big],
                           capture_output=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, b"")
        self.assertEqual(json.loads(r.stdout)["messages"]["total"], 110_000)

    def test_fail_on_exits_three_for_ci(self):
        r = subprocess.run([NEEDLEWATCH, "replay", "--fail-on", "high", "--format", "json", self.big],
                           capture_output=True, timeout=300)
        self.assertEqual(r.returncode, 3, r.stderr)
        alarms = json.loads(r.stdout)["alarms"]
        self.assertTrue(any(a["alarm"] == "depth_exceeded" for a in alarms))
        r = subprocess.run([NEEDLEWATCH, "replay", "--fail-on", "high", "--format", "json",
                            "--to", "1795611134", self.big], capture_output=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)  # the spike lies after --to


if __name__ == "__main__":
    unittest.main()
