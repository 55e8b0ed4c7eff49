#!/usr/bin/env python3
"""A small MQTT 3.1.1 load generator and counting subscriber on raw sockets (stdlib only).

  mqttload.py pub --port P --devices N --rate R --qos Q --duration S [--clinic C] [--prefix P]
      N devices, one TCP connection each, publish CONTRACT §2 telemetry (seq +1 per device) to
      clinic/{C}/device/{P}{i}/telemetry, R messages/s in total, round robin (each device every
      N/R s). QoS 1: at most --inflight unacknowledged publishes per connection; a device that
      is at its window is skipped (that shows as an achieved rate below R). Prints one JSON
      line: {"sent", "acked", "seconds", "rate", "skipped"}.
  mqttload.py sub --port P --topic F --qos Q --expect N --timeout S
      Counts PUBLISH packets (acknowledging QoS 1) until N arrived or no message came for
      --idle seconds / --timeout passed. Prints "ready" once subscribed, then one JSON line
      {"received", "seconds", "rate"} (seconds from the first to the last message).

Used by bench/live and bench/peers (run through scripts/bench); benchmarks, not tests.
"""

import argparse
import json
import resource
import selectors
import socket
import struct
import sys
import time


def _remaining_length(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def connect_packet(client_id, clean=True, keepalive=0):
    var = _str("MQTT") + bytes([4, 0x02 if clean else 0]) + struct.pack("!H", keepalive)
    body = var + _str(client_id)
    return b"\x10" + _remaining_length(len(body)) + body


def publish_packet(topic_bytes, payload, qos, pid=0):
    body = struct.pack("!H", len(topic_bytes)) + topic_bytes
    if qos:
        body += struct.pack("!H", pid)
    body += payload
    return bytes([0x30 | (qos << 1)]) + _remaining_length(len(body)) + body


def subscribe_packet(pid, topic, qos):
    body = struct.pack("!H", pid) + _str(topic) + bytes([qos])
    return b"\x82" + _remaining_length(len(body)) + body


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


def open_connections(port, client_ids, host="127.0.0.1", batch=500):
    socks = []
    for i in range(0, len(client_ids), batch):
        part = []
        for cid in client_ids[i:i + batch]:
            s = socket.create_connection((host, port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(connect_packet(cid))
            part.append(s)
        for s in part:
            ack = _recv_exact(s, 4)
            if ack[0] != 0x20 or ack[3] != 0:
                raise ConnectionError(f"CONNACK refused: {ack!r}")
        socks += part
    return socks


def _send(sock, pkt):
    """Non-blocking send; blocks only for what the socket buffer could not take."""
    try:
        n = sock.send(pkt)
    except BlockingIOError:
        n = 0
    if n < len(pkt):
        sock.setblocking(True)
        sock.sendall(pkt[n:])
        sock.setblocking(False)


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def run_pub(a):
    raise_nofile(a.devices + 1000)
    names = [f"{a.prefix}{i:05d}" for i in range(a.devices)]
    socks = open_connections(a.port, [f"load-{a.clinic}-{n}" for n in names])
    topics = [f"clinic/{a.clinic}/device/{n}/telemetry".encode() for n in names]
    sessions = [f"S-{n}" for n in names]
    seq = [0] * a.devices
    inflight = [0] * a.devices
    rx_bytes = [0] * a.devices  # PUBACKs are 4 bytes each, and nothing else comes back
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        s.setblocking(False)
        if a.qos:
            sel.register(s, selectors.EVENT_READ, i)
    sent = acked = skipped = 0
    nxt = 0
    start = time.monotonic()
    end = start + a.duration

    def drain(timeout):
        nonlocal acked
        for key, _ in sel.select(timeout):
            try:
                data = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            i = key.data
            before = rx_bytes[i] // 4
            rx_bytes[i] += len(data)
            n = rx_bytes[i] // 4 - before
            inflight[i] -= n
            acked += n

    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = int((now - start) * a.rate) - sent - skipped
        for _ in range(min(due, a.devices * 2)):
            i = nxt
            nxt = (nxt + 1) % a.devices
            if a.qos and inflight[i] >= a.inflight:
                skipped += 1
                continue
            seq[i] += 1
            payload = ('{"v":1,"seq":%d,"ts":%d,"session":"%s","zone":"cheek",'
                       '"depth_mm":0.5,"speed_hz":100.0}'
                       % (seq[i], int(time.time() * 1000), sessions[i])).encode()
            pkt = publish_packet(topics[i], payload, a.qos, (seq[i] % 65535) + 1)
            _send(socks[i], pkt)
            inflight[i] += 1
            sent += 1
        if a.qos:
            drain(0.002)
        else:
            time.sleep(0.002)  # pacing
    elapsed = time.monotonic() - start
    if a.qos:
        deadline = time.monotonic() + 30
        while acked < sent and time.monotonic() < deadline:
            drain(0.1)
    for s in socks:
        try:
            s.setblocking(True)
            s.sendall(b"\xe0\x00")  # DISCONNECT
            s.close()
        except OSError:
            pass
    print(json.dumps({"sent": sent, "acked": acked if a.qos else None, "skipped": skipped,
                      "seconds": round(elapsed, 3), "rate": round(sent / elapsed, 1)}),
          flush=True)


def run_sub(a):
    s = socket.create_connection(("127.0.0.1", a.port))
    s.sendall(connect_packet(f"load-sub-{time.monotonic_ns()}"))
    _recv_exact(s, 4)
    s.sendall(subscribe_packet(1, a.topic, a.qos))
    buf = b""
    while True:  # wait for the SUBACK (5 bytes) before saying ready
        buf += s.recv(65536)
        if len(buf) >= 5 and buf[0] == 0x90:
            buf = buf[5:]
            break
    print("ready", flush=True)
    s.settimeout(0.2)
    received = 0
    first = last = None
    t_end = time.monotonic() + a.timeout
    acks = bytearray()
    while received < a.expect and time.monotonic() < t_end:
        if last is not None and time.monotonic() - last > a.idle:
            break
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            continue
        if not chunk:
            break
        buf += chunk
        pos, n = 0, len(buf)
        while pos < n:  # parse complete packets
            h = buf[pos]
            mult, rl, j = 1, 0, pos + 1
            while j < n:
                b = buf[j]
                rl += (b & 0x7F) * mult
                mult *= 128
                j += 1
                if not b & 0x80:
                    break
            else:
                break
            if j + rl > n:
                break
            if h >> 4 == 3:
                received += 1
                if (h >> 1) & 3:
                    tl = struct.unpack_from("!H", buf, j)[0]
                    acks += b"\x40\x02" + buf[j + 2 + tl:j + 4 + tl]
            pos = j + rl
        buf = buf[pos:]
        if acks:
            s.sendall(bytes(acks))
            acks.clear()
        t = time.monotonic()
        first = first or t
        last = t
    secs = (last - first) if first and last and last > first else 0.0
    print(json.dumps({"received": received, "seconds": round(secs, 3),
                      "rate": round(received / secs, 1) if secs else None}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    pp = sub.add_parser("pub")
    pp.add_argument("--port", type=int, required=True)
    pp.add_argument("--devices", type=int, default=100)
    pp.add_argument("--rate", type=float, default=1000)
    pp.add_argument("--qos", type=int, choices=(0, 1), default=0)
    pp.add_argument("--duration", type=float, default=10)
    pp.add_argument("--inflight", type=int, default=20)
    pp.add_argument("--clinic", default="bench")
    pp.add_argument("--prefix", default="d")
    sp = sub.add_parser("sub")
    sp.add_argument("--port", type=int, required=True)
    sp.add_argument("--topic", default="clinic/+/device/+/telemetry")
    sp.add_argument("--qos", type=int, choices=(0, 1), default=0)
    sp.add_argument("--expect", type=int, default=1 << 62)
    sp.add_argument("--timeout", type=float, default=120)
    sp.add_argument("--idle", type=float, default=3)
    a = p.parse_args()
    run_pub(a) if a.mode == "pub" else run_sub(a)


if __name__ == "__main__":
    sys.exit(main())
