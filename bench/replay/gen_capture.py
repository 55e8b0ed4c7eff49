#!/usr/bin/env python3
"""Writes a mosquitto_sub -F '%U %t %p' capture of DEVICES devices at RATE Hz for SECONDS s:
each device opens a session (zones cycle through a few), sends telemetry within limits, and
ends its session at the end. Usage: gen_capture.py OUT [devices=1000] [rate=10] [seconds=60]"""
import sys

out = sys.argv[1]
devices = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
rate = int(sys.argv[3]) if len(sys.argv) > 3 else 10
seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 60
t0_ns = 1795611133 * 10**9
zones = ["cheek", "forehead", "jawline", "scalp", "body"]
step_ns = 10**9 // rate
with open(out, "w", buffering=1 << 20) as f:
    seq = [0] * devices
    def line(t_ns, d, ch, body):
        seq[d] += 1
        f.write(f"{t_ns // 10**9}.{t_ns % 10**9:09d} clinic/c{d % 20:03d}/device/d{d:05d}/{ch} "
                f'{{"v":1,"seq":{seq[d]},"ts":{t_ns // 10**6},{body}}}\n')
    for d in range(devices):
        line(t0_ns + d * 1000, d, "event",
             f'"event":"session_start","session":"S-{d}","zone":"{zones[d % 5]}"')
    for k in range(1, rate * seconds):
        base = t0_ns + k * step_ns
        for d in range(devices):
            depth = 0.3 + (k % 7) * 0.05
            line(base + d * (step_ns // devices), d, "telemetry",
                 f'"session":"S-{d}","zone":"{zones[d % 5]}","depth_mm":{depth:.2f},'
                 f'"speed_hz":{100 + (k + d) % 40}.0')
    end = t0_ns + rate * seconds * step_ns
    for d in range(devices):
        line(end + d * 1000, d, "event", f'"event":"session_end","session":"S-{d}"')
