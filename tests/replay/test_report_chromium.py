"""The html incident report in a real browser: a session of 100,000 samples with one depth
spike, rendered by `needlewatch replay --format html`, screenshotted by headless Chromium; the
spike must be visible in the pixels (the series reaches above the depth limit line, up to the
spike's height). The report and the screenshot are kept under NW_ARTIFACT_DIR.
"""
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest
import zlib

NEEDLEWATCH = os.environ.get("NEEDLEWATCH_BIN", "needlewatch")
CHROMIUM = os.environ.get("CHROMIUM_BIN", "chromium")
ARTIFACTS = os.environ.get("NW_ARTIFACT_DIR", tempfile.gettempdir())

START_NS = 1_795_611_133_000_000_000  # 2026-11-25T12:52:13Z
N, SPIKE, SPIKE_MM, LIMIT_MM = 100_000, 61_237, 2.5, 0.75  # forehead: depth max 0.75 mm


def capture(path):
    """mosquitto_sub -F '%U %t %p' lines: one forehead session, 50 samples/s."""
    with open(path, "w") as f:
        for i in range(N):
            t = START_NS + i * 20_000_000
            depth = SPIKE_MM if i == SPIKE else 0.4 + 0.05 * ((i // 1000) % 3)
            payload = json.dumps({"v": 1, "seq": i + 1, "ts": t // 1_000_000, "session": "S-1",
                                  "zone": "forehead", "depth_mm": depth, "speed_hz": 120.0},
                                 separators=(",", ":"))
            f.write(f"{t // 10**9}.{t % 10**9:09d} clinic/c1/device/d1/telemetry {payload}\n")


def read_png(path):
    """Decodes an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) into rows of pixels."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return rows


def near(px, rgb, tol):
    return all(abs(p - q) <= tol for p, q in zip(px, rgb))


class ReportInChromiumTest(unittest.TestCase):
    def test_single_sample_spike_is_visible_in_the_rendered_page(self):
        os.makedirs(ARTIFACTS, exist_ok=True)
        work = tempfile.mkdtemp(prefix="nw-chromium-")
        try:
            cap = os.path.join(work, "spike.txt")
            capture(cap)
            html = os.path.join(ARTIFACTS, "report-spike.html")
            with open(html, "w") as out:
                r = subprocess.run([NEEDLEWATCH, "replay", "--format", "html", cap], stdout=out,
                                   stderr=subprocess.PIPE, text=True, timeout=300,
                                   env=dict(os.environ, TZ="UTC"))
            self.assertEqual(r.returncode, 0, r.stderr)
            png = os.path.join(ARTIFACTS, "report-spike.png")
            if os.path.exists(png):
                os.remove(png)
            r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                                "--disable-background-networking", "--hide-scrollbars",
                                "--user-data-dir=" + os.path.join(work, "profile"),
                                "--window-size=1000,900", "--screenshot=" + png,
                                "file://" + html],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=120)
            self.assertTrue(os.path.exists(png), "no screenshot: " + r.stdout[-2000:])
            rows = read_png(png)
        finally:
            shutil.rmtree(work, ignore_errors=True)

        # The depth chart is the first chart: its max-limit line is the first row with a long
        # dashed run of #b00, its axis the first long #444 row below that.
        def count(y, rgb, tol):
            return sum(1 for px in rows[y] if near(px, rgb, tol))

        limit_y = next((y for y in range(len(rows)) if count(y, (0xBB, 0, 0), 40) >= 300), None)
        self.assertIsNotNone(limit_y, "no depth limit line in the screenshot")
        axis_y = next((y for y in range(limit_y + 1, len(rows)) if count(y, (0x44, 0x44, 0x44), 30) >= 700),
                      None)
        self.assertIsNotNone(axis_y, "no time axis below the limit line")
        per_mm = (axis_y - limit_y) / LIMIT_MM
        spike_y = axis_y - SPIKE_MM * per_mm
        # Series pixels (#246 and its anti-aliased blends: blue over grey) above the limit line:
        # only the spike can put them there. Text nearby is grey, never blue.
        def series(px):
            return near(px, (0x22, 0x44, 0x66), 70) and px[2] - px[0] >= 25

        top = [y for y in range(max(0, int(spike_y) - 20), limit_y - 2)
               if any(series(px) for px in rows[y])]
        self.assertTrue(top, f"nothing of the series above the limit line (limit at y={limit_y}, "
                             f"spike expected at y={spike_y:.0f}); see {png}")
        self.assertLessEqual(abs(min(top) - spike_y), 4,
                             f"series reaches y={min(top)}, the spike is at y={spike_y:.0f}")
        # And the breach is marked in red at the spike.
        marker = [y for y in range(int(spike_y) - 6, int(spike_y) + 7)
                  if any(near(px, (0xDD, 0, 0), 40) for px in rows[y])]
        self.assertTrue(marker, "no breach marker at the spike")


if __name__ == "__main__":
    unittest.main()
