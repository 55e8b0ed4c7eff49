"""natscluster: a NATS server cluster (MQTT listener + JetStream) on loopback for tests.

Builds on tests/integration/nwtest.py (free ports, Child processes, bounded waits). Every node
is a real `nats-server` (Debian 2.9) child in its own subdirectory of the test's workdir, with
its own client, route, MQTT and monitoring ports on 127.0.0.1; the nodes route to each other
as one cluster and replicate the MQTT streams (sessions, retained messages, QoS 1 messages)
`stream_replicas` times.

  NatsCluster(workdir, nodes=3, ...)   configure; start() starts every node and waits until
                                       each acknowledges a QoS 1 publish and grants a QoS 1
                                       subscription (JetStream has elected its leaders: the
                                       broker is usable, not merely listening)
  cluster.mqtt_port(i) / mqtt_url(i)   node i's MQTT listener (0-based)
  cluster.kill(i) / stop(i) / start_node(i)
                                       SIGKILL / SIGTERM / start again on the same ports and
                                       store directory (its JetStream state comes back)
  cluster.wait_publishable(i, timeout) bounded poll until a QoS 1 publish through node i is
                                       acknowledged; returns the seconds it took
  cluster.wait_ready(i, timeout)       the same, and a QoS 1 subscription granted (that needs
                                       the JetStream metadata leader too)
  cluster.stream_leader(name), meta_leader()
                                       node names of JetStream leaders (monitoring API)
  RawMqtt(port)                        a minimal MQTT 3.1.1 client on a raw socket that does NOT
                                       acknowledge what it receives unless told to: for
                                       observing QoS 1 redelivery (paho always acknowledges)
  GrantedMqttClient(port)              nwtest's paho client whose subscribe() checks the SUBACK
                                       and subscribes again when NATS refused (0x80)

Nothing here sleeps to synchronise; waits are bounded polls (nwtest.wait_until).
"""

import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import nwtest  # noqa: E402
from nwtest import (HOST, Child, MqttClient, Service, WaitTimeout,  # noqa: E402,F401
                    fixture_dir, free_port, http, wait_until)


class NatsNode(Service):
    """One nats-server; its ports are chosen by NatsCluster (routes need them all up front)."""

    def __init__(self, workdir, name, ports, routes, mqtt_options):
        self.name = name
        self.dir = fixture_dir(workdir, name)
        self.client_port, self.cluster_port, self.mqtt_port, self.http_port = ports
        self.child = None
        self.starts = 0
        mqtt = ", ".join([f"listen: {HOST}:{self.mqtt_port}"] +
                         [f"{k}: {v}" for k, v in mqtt_options.items()])
        text = "\n".join([
            f"server_name: {name}",
            f"listen: {HOST}:{self.client_port}",
            f"http: {HOST}:{self.http_port}",
            f'jetstream {{ store_dir: "{self.dir}/js" }}',
            f"cluster {{ name: nwc, listen: {HOST}:{self.cluster_port},",
            "          routes: [" + ", ".join(f"nats-route://{HOST}:{p}" for p in routes) + "] }",
            f"mqtt {{ {mqtt} }}",
            ""])
        self.conf = os.path.join(self.dir, "nats.conf")
        with open(self.conf, "w") as f:
            f.write(text)

    @property
    def log_path(self):
        return os.path.join(self.dir, "nats.log")

    def start(self, timeout=20.0):
        """Starts (or restarts on the same ports and store) and waits for the MQTT listener."""
        assert self.child is None or not self.child.running(), f"{self.name} already running"
        self.child = Child(self.name, ["nats-server", "-c", self.conf], self.log_path)
        self.starts += 1
        self.child.wait_for_line(r"Listening for MQTT clients on", timeout)
        self.child.wait_for_line(r"Server is ready", timeout)
        return self

    def monitor(self, path):
        """GET on the node's monitoring port; parsed JSON."""
        status, body = http("GET", f"http://{HOST}:{self.http_port}{path}")
        if status != 200:
            raise AssertionError(f"{self.name} GET {path}: {status}")
        return json.loads(body)


def _mqtt_options(stream_replicas, ack_wait, max_ack_pending, extra):
    opts = {"stream_replicas": stream_replicas}
    if ack_wait:
        opts["ack_wait"] = json.dumps(ack_wait)
    if max_ack_pending is not None:
        opts["max_ack_pending"] = max_ack_pending
    opts.update(extra or {})
    return opts


class NatsCluster:
    """`nodes` nats-server processes forming one cluster, MQTT on each (see the module doc).

    ack_wait: how long a QoS 1 message delivered to a subscriber may stay unacknowledged before
    the server sends it again ("30s" is NATS's default). max_ack_pending: QoS 1 messages in
    flight per subscription (NATS default 1024; a session's total is capped at 65535).
    mqtt_extra: more `mqtt { }` options, e.g. {"consumer_replicas": 1}.
    """

    def __init__(self, workdir, nodes=3, stream_replicas=3, ack_wait=None, max_ack_pending=None,
                 mqtt_extra=None, name="nats"):
        ports = [(free_port(), free_port(), free_port(), free_port()) for _ in range(nodes)]
        routes = [p[1] for p in ports]
        opts = _mqtt_options(stream_replicas, ack_wait, max_ack_pending, mqtt_extra)
        self.nodes = [NatsNode(workdir, f"{name}{i + 1}", ports[i], routes, opts)
                      for i in range(nodes)]
        self.child = None  # not a Child itself; NwTestCase stops the nodes through stop()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, timeout=60.0):
        for n in self.nodes:
            n.start(timeout)
        for i in range(len(self.nodes)):
            self.wait_ready(i, timeout)
        return self

    def stop(self):
        for n in self.nodes:
            n.stop()

    def kill(self, i):
        """SIGKILL node i: no goodbye to its routes or clients."""
        return self.nodes[i].kill()

    def stop_node(self, i):
        return self.nodes[i].stop()

    def start_node(self, i, timeout=30.0):
        """Starts node i again (same ports, same JetStream store); waits for its listener only."""
        self.nodes[i].start(timeout)
        return self.nodes[i]

    def running(self):
        return [i for i, n in enumerate(self.nodes) if n.running()]

    # -- addresses --------------------------------------------------------------------------

    def mqtt_port(self, i):
        return self.nodes[i].mqtt_port

    def mqtt_url(self, i):
        return f"mqtt://{HOST}:{self.nodes[i].mqtt_port}"

    # -- readiness and introspection --------------------------------------------------------

    def probe(self, i, timeout=3.0, subscribe=True):
        """True when node i acknowledges a QoS 1 publish and (subscribe) grants a QoS 1
        subscription within `timeout` each; a fresh clean-session client every time."""
        self._probes = getattr(self, "_probes", 0) + 1
        name = self.nodes[i].name
        try:
            c = RawMqtt(self.mqtt_port(i), f"nwtest-probe-{name}-{self._probes}", timeout=timeout)
        except (OSError, AssertionError):
            return False
        try:
            c.publish(f"nwtest/probe/{name}", "ready", qos=1, timeout=timeout)
            return not subscribe or c.subscribe(f"nwtest/probe/{name}", 1, timeout=timeout) == 1
        except (OSError, AssertionError):
            return False
        finally:
            c.disconnect()

    def wait_publishable(self, i, timeout=30.0):
        """Bounded poll until node i acknowledges a QoS 1 publish; returns the seconds taken.

        The QoS 1 path stores each message in a replicated stream, which needs that stream's
        leader (elected after a start or a node loss): a listener that accepts TCP is not enough.
        """
        return self._wait_probe(i, timeout, subscribe=False)

    def wait_ready(self, i, timeout=30.0):
        """wait_publishable, and a QoS 1 subscription granted too; returns the seconds taken.

        A QoS 1 subscription creates a JetStream consumer, which needs the cluster's metadata
        leader as well: after that leader's node dies, publishing may work again while every
        new QoS 1 subscription is still refused (SUBACK 0x80) for a few seconds.
        """
        return self._wait_probe(i, timeout, subscribe=True)

    def _wait_probe(self, i, timeout, subscribe):
        t0 = time.monotonic()
        node = self.nodes[i]

        def ok():
            if not node.running():
                raise nwtest.GiveUp(f"{node.name} exited:\n{node.tail()}")
            return self.probe(i, timeout=min(2.0, timeout), subscribe=subscribe)
        what = "a QoS 1 publish" + (" and subscription" if subscribe else "")
        wait_until(ok, timeout, f"{what} accepted by {node.name}", interval=0.05)
        return time.monotonic() - t0

    def meta_leader(self, via=None):
        """Name of the JetStream metadata leader as node `via` (default: any running) sees it."""
        for i in ([via] if via is not None else self.running()):
            leader = (self.nodes[i].monitor("/jsz").get("meta_cluster") or {}).get("leader")
            if leader:
                return leader
        return None

    def stream_leader(self, stream, via=None):
        """Name of the node leading JetStream stream `stream` (e.g. "$MQTT_msgs"), or None."""
        candidates = [via] if via is not None else self.running()
        for i in candidates:
            doc = self.nodes[i].monitor("/jsz?accounts=true&streams=true")
            for acc in doc.get("account_details") or []:
                for s in acc.get("stream_detail") or []:
                    if s.get("name") == stream:
                        return (s.get("cluster") or {}).get("leader")
        return None


# -----------------------------------------------------------------------------------------
# A raw MQTT 3.1.1 client that acknowledges only when told to


class Publish:
    __slots__ = ("topic", "payload", "qos", "dup", "retain", "packet_id", "received_at")

    def __init__(self, topic, payload, qos, dup, retain, packet_id):
        self.topic, self.payload, self.qos = topic, payload, qos
        self.dup, self.retain, self.packet_id = dup, retain, packet_id
        self.received_at = time.monotonic()

    def __repr__(self):
        return (f"Publish({self.topic!r}, {self.payload[:60]!r}, qos={self.qos}, dup={self.dup}, "
                f"id={self.packet_id})")


def _utf8(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def _packet(first_byte, body):
    n, rl = len(body), bytearray()
    while True:
        b = n % 128
        n //= 128
        rl.append(b | (0x80 if n else 0))
        if not n:
            break
    return bytes([first_byte]) + bytes(rl) + body


class RawMqtt:
    """MQTT 3.1.1 over a plain socket, one packet at a time, no background thread.

    Unlike paho it never sends PUBACK by itself: call puback(). close() drops the TCP
    connection without DISCONNECT (an abrupt client death as the broker sees it).
    """

    def __init__(self, port, client_id, clean_session=True, keepalive=60, will=None,
                 timeout=10.0):
        """Connects and waits for the CONNACK. will: (topic, payload, qos, retain).

        Raises ConnectionError when the broker closes the connection instead of answering.
        """
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self._buf = b""
        self._next_id = 1
        self._pending = []  # PUBLISHes that arrived while waiting for an ack
        flags = 0x02 if clean_session else 0x00
        payload = _utf8(client_id)
        if will:
            topic, message, qos, retain = will
            flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
            message = message.encode() if isinstance(message, str) else message
            payload += _utf8(topic) + struct.pack("!H", len(message)) + message
        body = _utf8("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + payload
        self.sock.sendall(_packet(0x10, body))
        first, data = self._read_packet(time.monotonic() + timeout)
        if first >> 4 != 2:
            raise AssertionError(f"expected CONNACK, got packet type {first >> 4}")
        self.session_present = bool(data[0] & 1)
        if data[1] != 0:
            raise AssertionError(f"CONNACK return code {data[1]}")

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("read timed out")
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        self._buf += chunk

    def _read_packet(self, deadline):
        """(first byte, body) of the next packet. Bytes are consumed only once a whole packet
        is in the buffer, so a timeout never leaves half a packet behind."""
        while True:
            buf = self._buf
            if len(buf) >= 2:
                mult, length, i = 1, 0, 1
                while i < len(buf) and i <= 4:
                    length += (buf[i] & 0x7F) * mult
                    mult *= 128
                    if not buf[i] & 0x80:
                        break
                    i += 1
                else:
                    i = None  # length bytes incomplete
                if i is not None and len(buf) >= i + 1 + length:
                    self._buf = buf[i + 1 + length:]
                    return buf[0], buf[i + 1:i + 1 + length]
            self._fill(deadline)

    def _wait_for(self, ptype, packet_id, timeout):
        deadline = time.monotonic() + timeout
        while True:
            first, data = self._read_packet(deadline)
            if first >> 4 == ptype and struct.unpack("!H", data[:2])[0] == packet_id:
                return data
            if first >> 4 == 3:
                self._pending.append(_decode_publish(first, data))

    def subscribe(self, topic_filter, qos=1, timeout=10.0):
        """Sends SUBSCRIBE and returns the granted QoS (0x80: refused)."""
        pid = self._pid()
        self.sock.sendall(_packet(0x82, struct.pack("!H", pid) + _utf8(topic_filter) +
                                  bytes([qos])))
        return self._wait_for(9, pid, timeout)[2]

    def publish(self, topic, payload, qos=1, retain=False, timeout=10.0):
        """QoS 0/1 publish; QoS 1 waits for the PUBACK (PUBLISHes arriving meanwhile are
        kept for read())."""
        payload = payload.encode() if isinstance(payload, str) else payload
        first = 0x30 | (qos << 1) | (1 if retain else 0)
        pid = self._pid() if qos else None
        var = _utf8(topic) + (struct.pack("!H", pid) if qos else b"")
        self.sock.sendall(_packet(first, var + payload))
        if qos:
            self._wait_for(4, pid, timeout)

    def read(self, timeout=10.0):
        """The next PUBLISH (a Publish), or None when none arrives within `timeout`."""
        if self._pending:
            return self._pending.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            try:
                first, data = self._read_packet(deadline)
            except socket.timeout:
                return None
            if first >> 4 == 3:
                return _decode_publish(first, data)

    def puback(self, packet_id):
        self.sock.sendall(_packet(0x40, struct.pack("!H", packet_id)))

    def disconnect(self):
        """A clean DISCONNECT, then close."""
        try:
            self.sock.sendall(b"\xe0\x00")
        except OSError:
            pass
        self.sock.close()

    def close(self):
        """Drops the connection without DISCONNECT."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _pid(self):
        pid = self._next_id
        self._next_id = self._next_id % 65535 + 1
        return pid


def _decode_publish(first, data):
    qos = (first >> 1) & 3
    tlen = struct.unpack("!H", data[:2])[0]
    topic = data[2:2 + tlen].decode()
    rest = data[2 + tlen:]
    pid = None
    if qos:
        pid = struct.unpack("!H", rest[:2])[0]
        rest = rest[2:]
    return Publish(topic, bytes(rest), qos, bool(first & 0x08), bool(first & 1), pid)


# -----------------------------------------------------------------------------------------
# unittest base class


class GrantedMqttClient(MqttClient):
    """nwtest's MqttClient whose subscribe() also checks the granted QoS.

    A NATS node under load, or during a JetStream election, answers a QoS 1 SUBSCRIBE with
    0x80 (refused) when it cannot create the subscription's consumer in time; a client then has
    to subscribe again. subscribe() does so within `timeout` and raises if it never succeeds.
    """

    def __init__(self, *args, **kwargs):
        self.granted = {}  # SUBSCRIBE packet id -> granted QoS list
        self.refusals = 0
        super().__init__(*args, **kwargs)

    def _on_subscribe(self, client, userdata, mid, granted_qos):
        with self._cond:
            self.granted[mid] = list(granted_qos)
        super()._on_subscribe(client, userdata, mid, granted_qos)

    def subscribe(self, topic, qos=1, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            rc, mid = self._c.subscribe(topic, qos)
            if rc != nwtest.paho.MQTT_ERR_SUCCESS:
                raise AssertionError(f"subscribe {topic}: rc={rc}")
            self._wait(lambda: mid in self.granted, max(0.1, deadline - time.monotonic()),
                       f"SUBACK for {topic}")
            if self.granted[mid][0] != 0x80:
                return self
            self.refusals += 1
            if time.monotonic() >= deadline:
                raise AssertionError(f"subscription to {topic} refused {self.refusals} times")
            time.sleep(0.2)  # back-off before subscribing again


class ClusterTestCase(nwtest.NwTestCase):
    """NwTestCase plus start_cluster(): every node is tracked, so it is stopped after the test
    and its log tail printed when the test fails (also after a kill and restart). mqtt() gives
    GrantedMqttClients."""

    def mqtt(self, port, **kwargs):
        return self.start(GrantedMqttClient(port, **kwargs))

    def start_cluster(self, **kwargs):
        cluster = NatsCluster(self.workdir, **kwargs)
        for node in cluster.nodes:
            self.track(node)
        return cluster.start()

    def report(self, what, value):
        """A measured figure, printed for docs/cluster.md (and kept in the ctest log)."""
        print(f"MEASURED {self.id().rsplit('.', 1)[-1]}: {what} = {value}", file=sys.stderr,
              flush=True)


# -----------------------------------------------------------------------------------------
# An Alertmanager pair in cluster mode (gossip on loopback)


class AlertmanagerPeer(Service):
    """prometheus-alertmanager with HA gossip on 127.0.0.1, posting to `webhook_url`.

    Peers of one pair deduplicate notifications through their gossiped notification log: the
    peer at position p in the (sorted) member list waits p x peer_timeout before sending, and
    skips what another peer has logged meanwhile. Production keeps the default 15s.
    """

    def __init__(self, workdir, webhook_url, name, peer_timeout="3s"):
        self.name = name
        self.dir = fixture_dir(workdir, name)
        self.port = free_port()
        self.cluster_port = free_port()
        self.peers = []  # "127.0.0.1:PORT" of the other members, set by AlertmanagerPair
        self.peer_timeout = peer_timeout
        self.child = None
        self.config_path = os.path.join(self.dir, "alertmanager.yml")
        with open(self.config_path, "w") as f:
            f.write("route: {receiver: hook, group_by: [alertname, clinic, device], "
                    "group_wait: 1s, group_interval: 5s, repeat_interval: 1h}\n"
                    "receivers:\n  - name: hook\n"
                    f"    webhook_configs: [{{url: '{webhook_url}', send_resolved: true}}]\n")

    @property
    def address(self):
        return f"{HOST}:{self.port}"

    @property
    def base_url(self):
        return f"http://{self.address}"

    def argv(self):
        return (["prometheus-alertmanager", f"--config.file={self.config_path}",
                 f"--storage.path={self.dir}/data", f"--web.listen-address={self.address}",
                 f"--cluster.listen-address={HOST}:{self.cluster_port}",
                 f"--cluster.peer-timeout={self.peer_timeout}"] +
                [f"--cluster.peer={p}" for p in self.peers])

    def start(self, timeout=30.0):
        self.child = Child(self.name, self.argv(), os.path.join(self.dir, "alertmanager.log"))
        wait_until(lambda: http("GET", f"{self.base_url}/-/ready")[0] == 200, timeout,
                   f"{self.name} /-/ready")
        return self

    def wait_settled(self, timeout=90.0):
        """Waits for the log line after which this peer sends notifications at all."""
        self.child.wait_for_line(r"gossip settled; proceeding", timeout)

    def status(self):
        return json.loads(http("GET", f"{self.base_url}/api/v2/status")[1])

    def post_alerts(self, alerts):
        status, body = http("POST", f"{self.base_url}/api/v2/alerts", alerts)
        if status != 200:
            raise AssertionError(f"{self.name} POST /api/v2/alerts: {status} {body[:200]!r}")

    def metric(self, name, **labels):
        return nwtest.metric_value(nwtest.parse_metrics(
            http("GET", f"{self.base_url}/metrics")[1].decode()), name, **labels)


def alertmanager_pair(workdir, webhook_url, peer_timeout="3s"):
    """Two AlertmanagerPeers that name each other as --cluster.peer (not started)."""
    a = AlertmanagerPeer(workdir, webhook_url, "alertmanager-a", peer_timeout)
    b = AlertmanagerPeer(workdir, webhook_url, "alertmanager-b", peer_timeout)
    a.peers = [f"{HOST}:{b.cluster_port}"]
    b.peers = [f"{HOST}:{a.cluster_port}"]
    return a, b
