#!/usr/bin/env python3
"""Writes the seed corpora of the MCAP, config and capture fuzzers (committed; rerun only to
change them): python3 tests/fuzz/make_corpora.py. MCAP seeds are built here byte by byte from
the MCAP specification (zstd and lz4 chunks through the `zstd` and `lz4` command-line tools),
so they cover complete, torn, unchunked and compressed files without a build."""
import json
import os
import shutil
import struct
import subprocess
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
MAGIC = b"\x89MCAP0\r\n"


def rec(op, body):
    return struct.pack("<BQ", op, len(body)) + body


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return struct.pack("<I", len(b)) + b


def channel(cid, topic, schema=0):
    meta = s("qos") + s("1") + s("retain") + s("false")
    return rec(0x04, struct.pack("<HH", cid, schema) + s(topic) + s("json") + struct.pack("<I", len(meta)) + meta)


def schema(sid, name, text):
    return rec(0x03, struct.pack("<H", sid) + s(name) + s("jsonschema") + s(text))


def message(cid, seq, t, data):
    return rec(0x05, struct.pack("<HIQQ", cid, seq, t, t) + data)


def compress(kind, data):
    if kind == "":
        return data
    cmd = {"zstd": ["zstd", "-q", "-c", "-3"], "lz4": ["lz4", "-q", "-c"]}[kind]
    return subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True).stdout


def mcap(chunks, compression="zstd", summary=True, torn=0):
    """chunks: lists of records (bytes) that go into one Chunk each."""
    out = bytearray(MAGIC + rec(0x01, s("") + s("fuzz-seed")))
    indexes, channels, start, end, count = [], {}, None, None, 0
    for records in chunks:
        raw = b"".join(records)
        times = []
        pos = 0
        while pos < len(raw):
            op, n = struct.unpack_from("<BQ", raw, pos)
            body = raw[pos + 9:pos + 9 + n]
            if op == 0x05:
                times.append(struct.unpack_from("<Q", body, 6)[0])
                count += 1
            if op == 0x04:
                channels[struct.unpack_from("<H", body)[0]] = raw[pos:pos + 9 + n]
            pos += 9 + n
        lo, hi = min(times), max(times)
        start = lo if start is None else min(start, lo)
        end = hi if end is None else max(end, hi)
        data = compress(compression, raw)
        body = struct.pack("<QQQI", lo, hi, len(raw), zlib.crc32(raw)) + s(compression) + struct.pack("<Q", len(data)) + data
        offset = len(out)
        out += rec(0x06, body)
        indexes.append(rec(0x08, struct.pack("<QQQQ", lo, hi, offset, 9 + len(body)) + struct.pack("<I", 0)
                           + struct.pack("<Q", 0) + s(compression) + struct.pack("<QQ", len(data), len(raw))))
    out += rec(0x0F, struct.pack("<I", 0))
    if summary:
        summary_start = len(out)
        out += b"".join(channels.values())
        out += rec(0x0B, struct.pack("<QHIIIIQQ", count, 0, len(channels), 0, 0, len(indexes), start, end) + struct.pack("<I", 0))
        out += b"".join(indexes)
        footer = struct.pack("<BQQQ", 0x02, 20, summary_start, 0)
        crc = zlib.crc32(bytes(out[summary_start:]) + footer)
        out += footer + struct.pack("<I", crc) + MAGIC
    else:
        out += rec(0x02, struct.pack("<QQI", 0, 0, 0)) + MAGIC
    return bytes(out[:len(out) - torn] if torn else out)


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def mcap_corpus():
    d = os.path.join(HERE, "corpus_mcap")
    shutil.rmtree(d, ignore_errors=True)
    tel = "clinic/c1/device/d1/telemetry"
    t0 = 1795611133000000000
    sample = lambda i, depth=0.4: json.dumps({"v": 1, "seq": i, "ts": 1, "session": "S", "zone": "cheek",
                                              "depth_mm": depth, "speed_hz": 120}).encode()
    c1 = [channel(1, tel)] + [message(1, i, t0 + i * 20_000_000, sample(i)) for i in range(1, 6)]
    c2 = [channel(2, "$needlewatch/limits"),
          message(2, 1, t0, json.dumps({"reason": "start", "source": "", "yaml": "limits: {}\n"}).encode()),
          message(1, 6, t0 + 200_000_000, sample(6, 2.5))]
    env = json.dumps({"topic": tel, "reason": "too_large", "qos": 0, "retain": False, "size": 9000,
                      "truncated": True, "payload": "{" * 64}).encode()
    c3 = [schema(1, "needlewatch.Rejected", '{"type":"object"}'),
          channel(3, "$needlewatch/rejected/c1/d1/too_large", 1), message(3, 1, t0 + 100_000_000, env),
          channel(4, "$needlewatch/rejected/bad_json", 0),
          message(4, 1, t0 + 150_000_000, b'{"topic":"x","reason":"bad_json","size":3,"payload_base64":"/w=="}')]
    write(d, "complete-zstd.mcap", mcap([c1, c2, c3], "zstd"))
    write(d, "complete-lz4.mcap", mcap([c1, c3], "lz4"))
    write(d, "complete-plain.mcap", mcap([c2, c1], ""))
    write(d, "no-summary.mcap", mcap([c1, c2], "zstd", summary=False))
    write(d, "torn.mcap", mcap([c1, c2, c3], "zstd", torn=40))
    loose = MAGIC + rec(0x01, s("") + s("x")) + b"".join(c1) + rec(0x0F, struct.pack("<I", 0)) + rec(0x02, bytes(20)) + MAGIC
    write(d, "unchunked.mcap", loose)
    lie = MAGIC + rec(0x06, struct.pack("<QQQI", 0, 9, 1 << 40, 0) + s("zstd") + struct.pack("<Q", 8) + b"\x28\xb5\x2f\xfd" + bytes(4))
    write(d, "claims-huge.mcap", lie)
    write(d, "magic-only.mcap", MAGIC)


def config_corpus():
    d = os.path.join(HERE, "corpus_config")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copy(os.path.join(ROOT, "config", "needlewatch.yaml"), os.path.join(d if os.makedirs(d) is None else d, "needlewatch.yaml"))
    shutil.copy(os.path.join(ROOT, "config", "limits.yaml"), os.path.join(d, "limits.yaml"))
    write(d, "empty.yaml", "")
    write(d, "zone-merge.yaml", "limits:\n  default:\n    depth_mm: {max: 1.0, warn: 0.8}\n    speed_hz: {min: 50, max: 150, for: 1s}\n"
          "  zones:\n    scar: {speed_hz: {max: 200}, depth_mm: {warn: null}}\n    eye: &e {depth_mm: {max: 0.3}}\n    lid: *e\n")
    write(d, "errors.yaml", "mqtt:\n  url: http://x\n  qos: 7\nrecord:\n  segment_max_bytes: 0\n  rejected_max_bytes: lots\n"
          "limits:\n  default:\n    speed_hz: {min: 200, max: 100}\n    session: {warn_after: 3 minutes}\n  zones: [1, 2]\n")
    write(d, "types.yaml", "http: 5\noutputs:\n  halt: {enabled: yes, severities: [high, urgent]}\nengine: {evict_idle_after: -1s}\n"
          "log: {level: loud}\nunknown: {a: [b, {c: d}]}\n")
    write(d, "record.yaml", "record:\n  enabled: true\n  dir: /tmp/r\n  retention_max_bytes: 1GiB\n  rejected_max_bytes: 0\n  zstd_level: 19\n")
    write(d, "not-yaml.yaml", "{[}: ]\n\t- : ! &a *b\n")


def capture_corpus():
    d = os.path.join(HERE, "corpus_capture")
    shutil.rmtree(d, ignore_errors=True)
    write(d, "text.txt", '1795611133.100000000 clinic/c017/device/d00042/telemetry {"v":1,"seq":2,"ts":1795611133100,"session":"S-fh1","zone":"forehead","depth_mm":0.4,"speed_hz":120.0}')
    write(d, "text-empty-payload.txt", "1795611133 clinic/c/device/d/status ")
    write(d, "text-9-digits.txt", "1795611133.123456789 t x y z")
    write(d, "json-j.txt", '{"tst":"2026-11-25T12:52:13.310193Z+0000","topic":"clinic/c/device/d/event","qos":1,"retain":0,"payloadlen":2,"payload":"{}"}')
    write(d, "json-J.txt", '{"tst":"2026-11-25T12:52:13.310193Z+0000","topic":"clinic/c/device/d/telemetry","qos":2,"retain":true,"payload":{"v":1,"depth_mm":1e3}}')
    write(d, "json-null.txt", '{"tst":"2026-11-25T12:52:13Z","topic":"t","payload":null}')
    write(d, "json-bad-time.txt", '{"tst":"2026-13-45T99:99:99Z","topic":"t","payload":"x"}')
    write(d, "not-a-line.txt", "garbage")
    # Found by fuzz_capture: a year past 2262 overflowed int64 nanoseconds in ParseRfc3339.
    write(d, "json-year-2970.txt", '{"tst":"2970-11-25T12:52:13.310193Z+0000","topic":"clinic/c/device/d/event","qos":1,"retain":0,"payloadlen":2,"payload":"{}"}')


if __name__ == "__main__":
    mcap_corpus()
    config_corpus()
    capture_corpus()
    for c in ("corpus_mcap", "corpus_config", "corpus_capture"):
        print(c, len(os.listdir(os.path.join(HERE, c))), "files")
