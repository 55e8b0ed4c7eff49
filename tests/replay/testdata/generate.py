#!/usr/bin/env python3
"""Writes the replay golden captures (NAME.txt, mosquitto_sub -F '%U %t %p' form; jformat.txt in
-F %j form, Jformat.txt in -F %J form). Run from anywhere; rewrites the files beside this script.
The NAME.expected.json files are reviewed reports of `needlewatch replay --format json NAME.txt`
(tests/replay/replay_golden_test.cc compares them; set NW_UPDATE_GOLDEN=1 to rewrite them)."""
import datetime
import json
import os

T0 = 1795611133  # 2026-11-25T12:52:13Z
HERE = os.path.dirname(os.path.abspath(__file__))


class Cap:
    def __init__(self, clinic="c017", device="d00042"):
        self.lines, self.seq, self.clinic, self.device = [], 0, clinic, device

    def topic(self, ch, device=None):
        return f"clinic/{self.clinic}/device/{device or self.device}/{ch}"

    def raw(self, t_ms, topic, payload):
        self.lines.append((t_ms, topic, payload))

    def _msg(self, t_ms, ch, body, seq=True):
        d = {"v": 1}
        if seq:
            self.seq += 1
            d["seq"] = self.seq
        d["ts"] = T0 * 1000 + t_ms
        d.update(body)
        self.raw(t_ms, self.topic(ch), json.dumps(d, separators=(",", ":")))

    def start(self, t, session, zone, op=None):
        b = {"event": "session_start", "session": session, "zone": zone}
        if op:
            b["operator"] = op
        self._msg(t, "event", b)

    def end(self, t, session):
        self._msg(t, "event", {"event": "session_end", "session": session})

    def tel(self, t, session, zone, depth, speed):
        self._msg(t, "telemetry", {"session": session, "zone": zone, "depth_mm": depth,
                                   "speed_hz": speed})

    def status(self, t, state, seq=False):
        # A Last Will is fixed at connect time, so status carries no seq here; `online` restarts
        # the device's seq (the next message's seq is the new baseline).
        self._msg(t, "status", {"state": state}, seq=seq)
        if state == "online":
            self.seq = 0

    def ack(self, t, alarm):
        self.raw(t, "$needlewatch/ack", json.dumps(
            {"clinic": self.clinic, "device": self.device, "alarm": alarm}, separators=(",", ":")))

    def sorted(self):
        return sorted(self.lines, key=lambda l: l[0])  # stable: ties keep their order

    def text(self):
        out = []
        for t_ms, topic, payload in self.sorted():
            out.append(f"{T0 + t_ms // 1000}.{t_ms % 1000:03d}000000 {topic} {payload}\n")
        return "".join(out)

    def j(self, embed):
        out = []
        for t_ms, topic, payload in self.sorted():
            s = T0 + t_ms // 1000
            dt = datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
            tst = dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{t_ms % 1000:03d}000Z+0000"
            p = payload
            if embed:
                try:
                    p = json.loads(payload)
                except ValueError:
                    out.append("\n")  # what mosquitto_sub -F %J prints for a non-JSON payload
                    continue
            out.append(json.dumps({"tst": tst, "topic": topic, "qos": 1, "retain": 0,
                                   "payloadlen": len(payload.encode()), "payload": p},
                                  separators=(",", ":")) + "\n")
        return "".join(out)


def write(name, text):
    with open(os.path.join(HERE, name), "w") as f:
        f.write(text)


def steady(c, t_from, t_to, session, zone, depth=0.4, speed=120.0, step=100, f=None):
    t = t_from
    while t < t_to:
        d, s = (f(t) if f else (depth, speed))
        c.tel(t, session, zone, d, s)
        t += step


scen = {}

# Forehead (warn 0.5, max 0.75): 0.9 mm for 0.5 s raises depth_exceeded (high) and depth_warning
# (low); back within limits clears both; the high one stays latched after the session ends.
c = Cap()
c.start(0, "S-fh1", "forehead", op="op-7")
steady(c, 100, 3000, "S-fh1", "forehead",
       f=lambda t: (0.9 if 1000 <= t < 1500 else 0.4, 120.0))
c.end(3000, "S-fh1")
scen["depth-exceeded-forehead"] = c

# Speed 170 Hz from +1.0 s to +2.5 s: raised 1 s after the first offending sample (+2.0 s),
# cleared at +2.5 s. A 0.5 s excursion at +4.0 s does not raise.
c = Cap()
c.start(0, "S-sp1", "cheek")
steady(c, 100, 6000, "S-sp1", "cheek",
       f=lambda t: (1.0, 170.0 if (1000 <= t < 2500 or 4000 <= t < 4500) else 120.0))
c.end(6000, "S-sp1")
scen["speed-out-of-range-for-1s"] = c

# Neck (warn 15 min, max 20 min): telemetry every 2.5 s for 21 min.
c = Cap()
c.start(0, "S-nk1", "neck")
steady(c, 2500, 21 * 60 * 1000, "S-nk1", "neck", depth=0.4, speed=100.0, step=2500)
c.end(21 * 60 * 1000, "S-nk1")
scen["overtime-warning-then-overtime"] = c

# Telemetry stops after +1.0 s for 5 s (stale after 3 s), then resumes; session ends at +8 s.
c = Cap()
c.start(0, "S-st1", "cheek")
steady(c, 100, 1100, "S-st1", "cheek", depth=1.0)
steady(c, 6000, 8000, "S-st1", "cheek", depth=1.0)
c.end(8000, "S-st1")
scen["stale-then-resume"] = c

# The device's Last Will (offline, no seq) arrives during a session; it comes back online.
c = Cap()
c.status(0, "online")
c.start(100, "S-of1", "cheek")
steady(c, 200, 1000, "S-of1", "cheek", depth=1.0)
c.status(1500, "offline")  # the Last Will
c.status(4000, "online")
steady(c, 4100, 5000, "S-of1", "cheek", depth=1.0)
c.end(5000, "S-of1")
scen["offline-lastwill-during-session"] = c

# depth_exceeded latches when the sample goes back within limits; an ack clears it. An active
# speed alarm is acknowledged while active and ends when it clears.
c = Cap()
c.start(0, "S-ak1", "cheek")
steady(c, 100, 5000, "S-ak1", "cheek",
       f=lambda t: (2.5 if 500 <= t < 800 else 1.0, 170.0 if 2000 <= t < 4500 else 120.0))
c.ack(1500, "depth_exceeded")
c.ack(3500, "speed_out_of_range")
c.ack(3600, "device_offline")
c.end(5000, "S-ak1")
scen["latched-then-ack"] = c

# A second session_start ends the first (switched); telemetry of a third ID ends the second.
c = Cap()
c.start(0, "S-a", "forehead")
steady(c, 100, 1000, "S-a", "forehead")
c.start(1000, "S-b", "cheek")
steady(c, 1100, 2000, "S-b", "cheek", depth=1.0)
steady(c, 2000, 3000, "S-c", "jawline", depth=0.8)
c.end(3000, "S-c")
scen["session-switch"] = c

# session_end for a session that was never opened, and a second end after the real one.
c = Cap()
c.end(0, "S-ghost")
c.start(100, "S-u1", "cheek")
steady(c, 200, 600, "S-u1", "cheek", depth=1.0)
c.end(600, "S-u1")
c.end(700, "S-u1")
scen["unknown-session-end-rejected"] = c

# Every rejection reason once or more, an own topic (ignored), and two lines that are not
# capture lines (skipped, reported on stderr).
c = Cap()
c.start(0, "S-m1", "cheek")
c.tel(100, "S-m1", "cheek", 1.0, 120.0)
c.raw(200, c.topic("telemetry"), "{not json")
c.raw(300, c.topic("telemetry"), "[1,2]")
c.raw(400, c.topic("telemetry"), '{"seq":9,"ts":1,"session":"S-m1","zone":"cheek","depth_mm":1,"speed_hz":100}')
c.raw(500, c.topic("telemetry"), '{"v":2,"seq":9,"ts":1,"session":"S-m1","zone":"cheek","depth_mm":1,"speed_hz":100}')
c.raw(600, c.topic("telemetry"), '{"v":1,"seq":9,"ts":1,"session":"S-m1","zone":"cheek","depth_mm":11,"speed_hz":100}')
c.raw(700, c.topic("telemetry"), '{"v":1,"seq":9,"ts":1,"session":"S-m1","zone":"cheek","speed_hz":100}')
c.raw(800, c.topic("telemetry"), '{"v":1,"pad":"' + "x" * 4100 + '"}')
c.raw(900, "clinic/c017/device/bad id!/telemetry", "{}")
c.raw(950, "clinic/c017/device/d00042/alarm/depth_exceeded", '{"state":"active"}')
c.tel(1000, "S-m1", "cheek", 1.1, 120.0)
c.end(1100, "S-m1")
scen["malformed-payloads-counted"] = c

# Telemetry without session_start opens the session implicitly; it stays open at the end.
c = Cap()
steady(c, 0, 1000, "S-im1", "perioral", depth=0.6)
scen["implicit-session-by-telemetry"] = c

# Speed limits whose `for` differs by zone (replayed with zone-change-mid-for.config.yaml):
# CONTRACT §3 v1.1, a pending condition takes the `for` of each sample's zone.
# 45 Hz on the cheek from +0.1 s (pending, `for: 2s`); from +1.0 s 38 Hz on the periorbital zone
# (`for: 0s`): raised at +1.0 s with that sample; back within range at +1.6 s. Then 200 Hz on the
# cheek from +3.0 s (due +5.0 s), on the scalp (`for: 3s`) from +3.5 s: raised at +6.0 s (first
# offending sample + the scalp's `for`), cleared at +6.2 s.
ZONE_FOR_CONFIG = """limits:
  default:
    speed_hz: {min: 50, max: 150, for: 2s}
  zones:
    periorbital: {speed_hz: {max: 120, for: 0s}}
    scalp: {speed_hz: {for: 3s}}
"""
c = Cap()
c.start(0, "S-zc1", "cheek")
steady(c, 100, 1000, "S-zc1", "cheek", speed=45.0)
steady(c, 1000, 1600, "S-zc1", "periorbital", speed=38.0)
steady(c, 1600, 3000, "S-zc1", "periorbital", speed=100.0)
steady(c, 3000, 3500, "S-zc1", "cheek", speed=200.0)
steady(c, 3500, 6200, "S-zc1", "scalp", speed=200.0)
steady(c, 6200, 7000, "S-zc1", "scalp", speed=120.0)
c.end(7000, "S-zc1")
scen["zone-change-mid-for"] = c
write("zone-change-mid-for.config.yaml", ZONE_FOR_CONFIG)

for name, cap in scen.items():
    text = cap.text()
    if name == "malformed-payloads-counted":
        lines = text.splitlines(keepends=True)
        lines.insert(3, "this is not a capture line\n")
        lines.insert(6, "\n")
        text = "".join(lines)
    write(name + ".txt", text)

# The same forehead scenario in mosquitto_sub -F %j and -F %J form.
write("jformat.txt", scen["depth-exceeded-forehead"].j(embed=False))
write("Jformat.txt", scen["malformed-payloads-counted"].j(embed=True))
