"""nwtest: the needlewatch integration-test harness (Python 3 stdlib + python3-paho-mqtt 1.6).

Stable API for every integration test, the simulator end-to-end tests and the dashboard checks.
Everything here starts real programs as foreground children on 127.0.0.1, each in a temp dir,
and stops them again (on success, failure, exceptions and interpreter exit alike).

Building blocks
  free_port()                       a free TCP port on 127.0.0.1
  wait_until(pred, timeout, what)   bounded poll; returns pred()'s first truthy value or raises
  Workdir / NwTestCase.workdir      temp dirs (kept, and printed, when a test fails)
  Child                             a child process whose combined stdout+stderr is captured
                                    line by line (tail(), wait_for_line(), stop(), kill())
  Mosquitto(workdir, ...)           mosquitto 2.0 with a plain anonymous listener, optionally a
                                    user+ACL listener and a TLS+user+ACL listener; persistence on
                                    or off; kill() + start() restarts on the same ports and keeps
                                    the persistence file
  make_tls_material(dir)            CA + server certificate for 127.0.0.1/localhost
  Daemon(workdir, mqtt_url, ...)    `needlewatch run` ($NEEDLEWATCH_BIN); learns its HTTP port
                                    from the "http listening" log line, waits for /readyz 200;
                                    metrics(), metric(), alarms(), ack(), http()
  MqttClient(port, ...)             paho client: connect/subscribe (waiting for the ack),
                                    publish (optionally waiting for PUBACK), publish_async() +
                                    wait_acked(), wait_message(pred), Last Will, kill() (drops
                                    TCP without DISCONNECT)
  Prometheus(workdir, targets)      prometheus with a 1 s scrape of the given targets; query()
  Alertmanager(workdir, webhook)    alertmanager posting to a WebhookSink
  WebhookSink()                     http server recording POST bodies
  Device(client, clinic, device)    a simulated device (own seq): sample(), start_session(),
                                    end_session(), online()
  telemetry()/event()/status()      protocol/README.md, Payloads payload builders; device_topic(), alarm_topic()
  alarm_state(state, **fields)      wait_message predicate for an alarm payload
  status_is(state)                  wait_message predicate for a status payload
  limits_config(...)                a daemon config text with short or long default limits
  parse_metrics(text)               Prometheus text format -> {(name, labels): value}
  metric_value()/metric_series()    look-ups in parsed metrics
  promtool_check_metrics(text)      `promtool check metrics` -> (rc, output)
  bcrypt_hash(), make_client_cert(), raw_http(), request_bytes(), WebDaemon, shipped_acl(),
  shipped_pen_user()                security tests (issue 13): see their block below
  NwTestCase                        unittest.TestCase with workdir, start()/track() of
                                    fixtures, start_stack() (broker + ready daemon),
                                    alarm_watcher(), mqtt(), and diagnostics (log tails and
                                    sanitizer reports of every child) on failure

Time: all deadlines use time.monotonic(). Nothing here sleeps to synchronise; waits are bounded
polls on a condition (wait_until, Child.wait_for_line, MqttClient.wait_message).
"""

import atexit
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

try:
    import paho.mqtt.client as paho
except ImportError:  # a non-Debian python3 first in PATH: use Debian's python3-paho-mqtt
    sys.path.append("/usr/lib/python3/dist-packages")
    import paho.mqtt.client as paho

HOST = "127.0.0.1"


# ---------------------------------------------------------------------------------------------
# Basics


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


_PORT_LOCK_DIR = os.path.join(tempfile.gettempdir(), "nwtest-ports")
_reserved_ports = []


def _release_ports():
    for path in _reserved_ports:
        try:
            os.unlink(path)
        except OSError:
            pass


atexit.register(_release_ports)


def free_port():
    """A TCP port on 127.0.0.1 that is free and stays ours for this process.

    Ports come from below the kernel's ephemeral range, so no outgoing connection (a client of
    some other test running in parallel) can take one between this call and the bind of the
    program we configure with it; the kernel's own pick (bind to port 0) comes from that range
    and raced exactly so. A lock file per port (O_EXCL in $TMPDIR/nwtest-ports, removed at exit,
    taken over when older than an hour) keeps concurrent test processes from picking the same one.
    """
    lo_eph, _ = _ephemeral_range()
    lo, hi = 20000, max(20001, lo_eph - 1)
    if hi - lo < 1000:  # an unusual ephemeral range: fall back to the kernel's pick
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            return s.getsockname()[1]
    os.makedirs(_PORT_LOCK_DIR, exist_ok=True)
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(500):
        port = rng.randint(lo, hi)
        lock = os.path.join(_PORT_LOCK_DIR, str(port))
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - os.stat(lock).st_mtime < 3600:
                    continue
                os.unlink(lock)  # left behind by a killed run
            except OSError:
                pass
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((HOST, port))
            except OSError:  # in use by something that is not ours
                os.unlink(lock)
                continue
        _reserved_ports.append(lock)
        return port
    raise RuntimeError(f"no free port in {lo}-{hi} after 500 tries")


class WaitTimeout(AssertionError):
    """A bounded wait ran out. An AssertionError, so unittest reports it as a failure."""


class GiveUp(AssertionError):
    """Raised by a wait_until predicate to fail at once (e.g. the process it waits for died)."""


def wait_until(pred, timeout=10.0, what="condition", interval=0.02):
    """Polls pred() until it returns something truthy (returned) or `timeout` seconds pass.

    Exceptions from pred() count as "not yet" until the deadline (the last one is reported),
    except GiveUp, which ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = pred()
            if value:
                return value
            last_exc = None
        except GiveUp:
            raise
        except Exception as e:  # noqa: BLE001 - a probe that is not ready yet
            last_exc = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}{extra}")
        time.sleep(interval)


def read_text(path):
    with open(path, errors="replace") as f:
        return f.read()


def port_open(port, host=HOST):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http(method, url, body=None, timeout=5.0, headers=None):
    """One HTTP request. Returns (status, body_bytes); 4xx/5xx are returned, not raised."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# ---------------------------------------------------------------------------------------------
# Temp dirs and child processes

_LIVE_CHILDREN = []
_LIVE_LOCK = threading.Lock()


def _stop_all_children():
    with _LIVE_LOCK:
        children = list(_LIVE_CHILDREN)
    for c in children:
        c.kill()


atexit.register(_stop_all_children)


def _on_signal(signum, frame):  # ctest's timeout sends SIGTERM: still clean up the children
    _stop_all_children()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)


class Workdir:
    """A temp dir; remove() deletes it unless keep is set (e.g. after a failure)."""

    def __init__(self, prefix="nwtest-"):
        self.path = tempfile.mkdtemp(prefix=prefix)
        self.keep = False

    def file(self, name, text=None, mode=None):
        """Path of `name` inside; writes `text` to it when given."""
        p = os.path.join(self.path, name)
        if text is not None:
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
            if mode is not None:
                os.chmod(p, mode)
        return p

    def remove(self):
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)


def fixture_dir(workdir, name):
    """<workdir>/<name>, created (world-readable: mosquitto may drop privileges)."""
    d = os.path.join(workdir.path if isinstance(workdir, Workdir) else workdir, name)
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    return d


class Child:
    """A child process; its stdout and stderr are merged, kept in memory and in `log_path`.

    Lines are read by a thread, so a chatty child never blocks on a full pipe.
    """

    def __init__(self, name, argv, log_path, env=None, cwd=None, nofile=None):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._lines = []
        self.last_match_index = None
        self._cond = threading.Condition()
        self._log = open(log_path, "a", buffering=1)
        self._log.write(f"=== start: {' '.join(argv)}\n")

        def preexec():
            os.setpgrp()  # its own group: a Ctrl-C to the test does not hit it first
            if nofile:
                import resource

                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                n = nofile if hard == resource.RLIM_INFINITY else min(nofile, hard)
                resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))

        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env, cwd=cwd, preexec_fn=preexec)
        self.pid = self.proc.pid
        with _LIVE_LOCK:
            _LIVE_CHILDREN.append(self)
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"{name}-log")
        self._reader.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._log.write(line + "\n")
            with self._cond:
                self._lines.append(line)
                if len(self._lines) > 200000:
                    del self._lines[:100000]
                self._cond.notify_all()
        self.proc.stdout.close()
        self._log.close()
        with self._cond:
            self._cond.notify_all()

    @property
    def lines(self):
        with self._cond:
            return list(self._lines)

    def line_count(self):
        with self._cond:
            return len(self._lines)

    def tail(self, n=40):
        with self._cond:
            return "\n".join(self._lines[-n:])

    def running(self):
        return self.proc.poll() is None

    def wait_for_line(self, pattern, timeout=10.0, start=0):
        """First line (from index `start`) matching regex `pattern`; its re.Match is returned.

        Raises WaitTimeout on the deadline, or at once if the child exits without it.
        self.last_match_index is the index of the matching line.
        """
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(self._lines):
                    m = rx.search(self._lines[i])
                    if m:
                        self.last_match_index = i
                        return m
                    i += 1
                left = deadline - time.monotonic()
                exited = self.proc.poll() is not None and not self._reader.is_alive()
                if left <= 0 or exited:
                    why = f"exited with {self.proc.returncode}" if exited else "timed out"
                    raise WaitTimeout(
                        f"{self.name} {why} before a line matching {pattern!r}; last lines:\n"
                        + "\n".join(self._lines[-30:]))
                self._cond.wait(min(left, 0.1))

    def wait(self, timeout=10.0):
        """Waits for exit; returns the exit code (negative: killed by that signal)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise WaitTimeout(f"{self.name} still running after {timeout}s") from None
        self._reader.join(2)
        self._forget()
        return rc

    def send_signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout=10.0, sig=signal.SIGTERM):
        """Asks it to stop (SIGTERM); SIGKILL if it is still running after `timeout`. Returns rc."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._log.write(f"=== {self.name} ignored signal {sig} for {timeout}s; SIGKILL\n")
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(2)
        self._forget()
        return self.proc.returncode

    def kill(self):
        """SIGKILL (abrupt: no shutdown work at all). Returns rc."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(2)
        self._forget()
        return self.proc.returncode

    def _forget(self):
        with _LIVE_LOCK:
            if self in _LIVE_CHILDREN:
                _LIVE_CHILDREN.remove(self)


# ---------------------------------------------------------------------------------------------
# TLS material and mosquitto


class Service:
    """Base of the fixtures that run one Child (`self.child`, None until started)."""

    child = None

    def send_signal(self, sig):
        self.child.send_signal(sig)

    def stop(self, timeout=15.0):
        """SIGTERM and wait (SIGKILL after `timeout`); returns the exit code."""
        return self.child.stop(timeout) if self.child else None

    def kill(self):
        """SIGKILL: no shutdown work at all (mosquitto: no final persistence save)."""
        return self.child.kill() if self.child else None

    def running(self):
        return self.child is not None and self.child.running()

    def tail(self, n=40):
        return self.child.tail(n) if self.child else ""


def _run(argv, cwd=None):
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def make_tls_material(directory):
    """CA and a server certificate for IP:127.0.0.1 / DNS:localhost.

    Returns {"ca": path, "cert": path, "key": path}.
    """
    d = directory
    _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
          "-subj", "/CN=nwtest CA", "-keyout", "ca.key", "-out", "ca.crt"], cwd=d)
    _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
          "-keyout", "server.key", "-out", "server.csr"], cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
          "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.crt"], cwd=d)
    return {k: os.path.join(d, f) for k, f in
            (("ca", "ca.crt"), ("cert", "server.crt"), ("key", "server.key"))}


class Mosquitto(Service):
    """mosquitto 2.0 on loopback, configured in its own subdirectory of `workdir`.

    Listeners: `port` (plain, anonymous) always; `auth_port` (user+ACL) and `tls_port`
    (TLS+user+ACL) when `users` ({name: password}) is given. `tls=True` also makes the TLS
    material (self.tls["ca"] is what clients trust). `acl` is the ACL file text (default: every
    user may read and write everything). `persistence=True` keeps the database in the
    subdirectory across restarts with the settings docker/mosquitto.conf ships (a save every
    1-2 s, room for a persistent session's backlog: bench/README.md, "Durability and
    overload"); autosave_on_changes=True saves after every change instead (see wait_saved()).
    `extra` lines are appended to the global section (e.g.
    "max_queued_messages 100000"). `verbose` logs every packet (log_type all).
    """

    def __init__(self, workdir, users=None, acl=None, tls=False, persistence=False,
                 autosave_on_changes=False, extra=(), verbose=False, nofile=None,
                 name="mosquitto"):
        self.name = name
        self.dir = fixture_dir(workdir, name)
        self.port = free_port()
        self.users = dict(users or {})
        self.auth_port = free_port() if self.users else None
        self.tls_port = free_port() if (self.users and tls) else None
        self.tls = make_tls_material(self.dir) if tls else None
        self.persistence = persistence
        self.nofile = nofile
        self.child = None
        self.starts = 0
        lines = [
            "user root",
            "per_listener_settings true",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.dir}/",
            "log_dest stderr",
            "log_timestamp_format %H:%M:%S",
            "set_tcp_nodelay true",  # as recommended in monitor/daemon/README.md (latency)
        ]
        if persistence:
            lines += ["autosave_interval 1",
                      f"autosave_on_changes {'true' if autosave_on_changes else 'false'}",
                      "max_inflight_messages 1000", "max_queued_messages 100000"]
        lines += (["log_type all"] if verbose else
                  ["log_type error", "log_type warning", "log_type notice", "log_type information"])
        lines += list(extra)
        lines += ["", f"listener {self.port} {HOST}", "allow_anonymous true"]
        if self.users:
            passwd = os.path.join(self.dir, "passwd")
            open(passwd, "w").close()
            for u, p in self.users.items():
                _run(["mosquitto_passwd", "-b", passwd, u, p])
            acl_path = os.path.join(self.dir, "acl")
            if acl is None:
                acl = "".join(f"user {u}\ntopic readwrite #\n" for u in self.users)
            with open(acl_path, "w") as f:
                f.write(acl)
            auth = ["allow_anonymous false", f"password_file {passwd}", f"acl_file {acl_path}"]
            lines += ["", f"listener {self.auth_port} {HOST}"] + auth
            if self.tls_port:
                lines += ["", f"listener {self.tls_port} {HOST}"] + auth + [
                    f"cafile {self.tls['ca']}", f"certfile {self.tls['cert']}",
                    f"keyfile {self.tls['key']}", "tls_version tlsv1.2"]
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    @property
    def url(self):
        return f"mqtt://{HOST}:{self.port}"

    @property
    def log_path(self):
        return os.path.join(self.dir, "mosquitto.log")

    def start(self, timeout=10.0):
        """Starts (or restarts, on the same ports) and waits until every listener accepts."""
        assert self.child is None or not self.child.running(), "already running"
        self.child = Child(self.name, ["mosquitto", "-c", self.conf], self.log_path,
                           nofile=self.nofile)
        self.starts += 1
        self.child.wait_for_line(r"mosquitto version \S+ running", timeout)
        for p in (self.port, self.auth_port, self.tls_port):
            if p:
                wait_until(lambda p=p: port_open(p), timeout, f"{self.name} port {p}")
        return self

    def wait_saved(self, timeout=10.0):
        """Waits for two database saves logged after now: everything the broker had
        acknowledged before this call is then on disk (with the default time-based saves)."""
        rx = r"Saving in-memory database"
        self.child.wait_for_line(rx, timeout, start=self.child.line_count())
        self.child.wait_for_line(rx, timeout, start=self.child.last_match_index + 1)




# ---------------------------------------------------------------------------------------------
# MQTT client helpers


class Message:
    __slots__ = ("topic", "payload", "qos", "retain", "received_at")

    def __init__(self, topic, payload, qos, retain, received_at):
        self.topic, self.payload, self.qos = topic, payload, qos
        self.retain, self.received_at = retain, received_at

    def json(self):
        return json.loads(self.payload)

    def __repr__(self):
        return f"Message({self.topic!r}, {self.payload[:200]!r}, retain={self.retain})"


class MqttClient:
    """A paho 1.6 client with bounded waits. received_at stamps are time.monotonic().

    will: (topic, payload, qos, retain). tls_ca: CA file for a TLS port. The network loop runs
    in paho's thread; every received message is appended to `messages`.
    """

    def __init__(self, port, client_id="", clean_session=True, username=None, password=None,
                 tls_ca=None, will=None, host=HOST):
        self.port, self.host = port, host
        self._c = paho.Client(client_id=client_id, clean_session=clean_session,
                              protocol=paho.MQTTv311)
        if username is not None:
            self._c.username_pw_set(username, password)
        if tls_ca:
            self._c.tls_set(ca_certs=tls_ca)
        if will:
            topic, payload, qos, retain = will
            self._c.will_set(topic, _payload_bytes(payload), qos, retain)
        self._c.reconnect_delay_set(1, 2)
        self._c.max_inflight_messages_set(1000)
        self._c.max_queued_messages_set(0)
        self.messages = []
        self._cond = threading.Condition()
        self.connected = False
        self.connect_rc = None
        self.connects = 0
        self._subacks = set()
        self.acked_mids = set()  # QoS 1 publishes whose PUBACK arrived (also after a resend)
        self._c.on_publish = self._on_publish
        self._c.on_connect = self._on_connect
        self._c.on_disconnect = self._on_disconnect
        self._c.on_message = self._on_message
        self._c.on_subscribe = self._on_subscribe

    def _on_connect(self, client, userdata, flags, rc):
        with self._cond:
            self.connect_rc = rc
            self.connected = rc == 0
            self.connects += rc == 0
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, rc):
        with self._cond:
            self.connected = False
            self._cond.notify_all()

    def _on_message(self, client, userdata, msg):
        m = Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), time.monotonic())
        with self._cond:
            self.messages.append(m)
            self._cond.notify_all()

    def _on_publish(self, client, userdata, mid):
        with self._cond:
            self.acked_mids.add(mid)
            self._cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted_qos):
        with self._cond:
            self._subacks.add(mid)
            self._cond.notify_all()

    def _wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}")
                self._cond.wait(min(left, 0.1))

    def connect(self, timeout=10.0):
        """Connects and waits for a successful CONNACK."""
        self._c.connect_async(self.host, self.port, keepalive=30)
        self._c.loop_start()
        self._wait(lambda: self.connected or self.connect_rc not in (None, 0), timeout,
                   f"CONNACK from {self.host}:{self.port}")
        if not self.connected:
            raise AssertionError(f"MQTT connect refused: rc={self.connect_rc} "
                                 f"({paho.connack_string(self.connect_rc)})")
        return self

    def wait_connected(self, timeout=20.0):
        """After a broker restart: waits until paho's automatic reconnect succeeded."""
        self._wait(lambda: self.connected, timeout, "MQTT reconnect")

    def subscribe(self, topic, qos=1, timeout=10.0):
        """Subscribes and waits for the SUBACK (a publish before it would be lost)."""
        rc, mid = self._c.subscribe(topic, qos)
        if rc != paho.MQTT_ERR_SUCCESS:
            raise AssertionError(f"subscribe {topic}: rc={rc}")
        self._wait(lambda: mid in self._subacks, timeout, f"SUBACK for {topic}")
        return self

    def publish(self, topic, payload, qos=1, retain=False, wait=True, timeout=10.0):
        """Publishes; dict payloads become JSON. wait: block until PUBACK (QoS 1) / written.

        Returns time.monotonic() taken just before the publish call.
        """
        t0 = time.monotonic()
        info = self._c.publish(topic, _payload_bytes(payload), qos, retain)
        if wait:
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise WaitTimeout(f"publish to {topic} not acknowledged in {timeout}s")
        return t0

    def publish_async(self, topic, payload, qos=1, retain=False):
        """Publishes without waiting; returns paho's MQTTMessageInfo (its .mid for wait_acked).

        While disconnected, paho keeps QoS 1 messages and sends them after its reconnect.
        """
        return self._c.publish(topic, _payload_bytes(payload), qos, retain)

    def wait_acked(self, infos, timeout=30.0):
        """Waits until every QoS 1 publish in `infos` (from publish_async) got its PUBACK."""
        mids = {i.mid for i in infos}
        try:
            self._wait(lambda: mids <= self.acked_mids, timeout, f"{len(mids)} PUBACKs")
        except WaitTimeout as e:
            raise WaitTimeout(f"{e}: {len(mids - self.acked_mids)} still unacknowledged") from None

    def wait_message(self, pred=None, timeout=10.0, topic=None, start=0):
        """First received message (from index `start`) with the given topic and pred(msg) true.

        pred may raise (e.g. on a non-JSON payload): that message just doesn't match.
        """
        def matches(m):
            if topic is not None and not paho.topic_matches_sub(topic, m.topic):
                return False
            if pred is None:
                return True
            try:
                return bool(pred(m))
            except Exception:  # noqa: BLE001
                return False

        found = []

        def check():
            for m in self.messages[start:]:
                if matches(m):
                    found.append(m)
                    return True
            return False

        try:
            self._wait(check, timeout, f"a message on {topic or '#'} matching the predicate")
        except WaitTimeout as e:
            seen = "\n".join(repr(m) for m in self.messages[-15:])
            raise WaitTimeout(f"{e}; last messages received:\n{seen}") from None
        return found[0]

    def kill(self):
        """Drops the TCP connection without DISCONNECT: the broker publishes the Last Will."""
        self.killed = True
        self._c.loop_stop()
        sock = self._c.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def disconnect(self):
        if getattr(self, "killed", False):
            return
        try:
            self._c.disconnect()
        finally:
            self._c.loop_stop()


def _payload_bytes(payload):
    if isinstance(payload, (dict, list)):
        return json.dumps(payload, separators=(",", ":")).encode()
    if isinstance(payload, str):
        return payload.encode()
    return payload


# ---------------------------------------------------------------------------------------------
# Prometheus text format


_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text exposition -> {(name, frozenset(labels.items())): float}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            raise ValueError(f"unparsable metrics line: {line!r}")
        labels = {k: v.encode().decode("unicode_escape")
                  for k, v in _LABEL_RE.findall(m.group(3) or "")}
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return out


def metric_value(metrics, name, **labels):
    """The value of the one series of `name` whose labels include `labels`; None if absent.

    Several matches are summed (e.g. a counter over all reasons when no reason is given).
    """
    want = set(labels.items())
    values = [v for (n, ls), v in metrics.items() if n == name and want <= ls]
    return sum(values) if values else None


def metric_series(metrics, name, **labels):
    """All series of `name` whose labels include `labels`: [(labels_dict, value)]."""
    want = set(labels.items())
    return [(dict(ls), v) for (n, ls), v in metrics.items() if n == name and want <= ls]


def promtool_check_metrics(text):
    """Runs `promtool check metrics` on exposition text; returns (rc, combined output)."""
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


# ---------------------------------------------------------------------------------------------
# The daemon


def needlewatch_bin():
    b = os.environ.get("NEEDLEWATCH_BIN")
    if not b:
        raise unittest.SkipTest("NEEDLEWATCH_BIN is not set (run through ctest)")
    return os.path.abspath(b)


HTTP_LISTENING_RE = r'http listening.*127\.0\.0\.1:(\d+)|127\.0\.0\.1:(\d+).*http listening'


class Daemon(Service):
    """`needlewatch run` against `mqtt_url`, HTTP on 127.0.0.1:0, logs captured.

    config: YAML text written to <dir>/needlewatch.yaml (None: no --config.file).
    env: extra environment (e.g. NEEDLEWATCH_MQTT_USERNAME). args: extra flags.
    The audit log goes to <dir>/audit.jsonl (self.audit_path) unless args say otherwise.
    """

    def __init__(self, workdir, mqtt_url, config=None, instance="nwtest", env=None, args=(),
                 log_format="json", name="needlewatch"):
        self.name = name
        self.dir = fixture_dir(workdir, name)
        self.mqtt_url = mqtt_url
        self.instance = instance
        self.config_path = os.path.join(self.dir, "needlewatch.yaml")
        self.audit_path = os.path.join(self.dir, "audit.jsonl")
        if config is not None:
            self.write_config(config)
        self.has_config = config is not None
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.args = list(args)
        self.log_format = log_format
        self.child = None
        self.port = None

    def write_config(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)

    def argv(self):
        a = [needlewatch_bin(), "run", "--mqtt.url", self.mqtt_url,
             "--web.listen-address", f"{HOST}:0", "--mqtt.instance", self.instance,
             "--log.format", self.log_format, "--outputs.audit-log", self.audit_path]
        if self.has_config:
            a += ["--config.file", self.config_path]
        return a + self.args

    @property
    def log_path(self):
        return os.path.join(self.dir, "needlewatch.log")

    @property
    def base_url(self):
        return f"http://{HOST}:{self.port}"

    def start(self, ready=True, timeout=30.0):
        """Starts it, learns the HTTP port; with ready=True also waits for /readyz 200."""
        assert self.child is None or not self.child.running(), "already running"
        self.port = None
        self.child = Child(self.name, self.argv(), self.log_path, env=self.env, cwd=self.dir)
        m = self.child.wait_for_line(HTTP_LISTENING_RE, timeout)
        self.port = int(m.group(1) or m.group(2))
        if ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=30.0):
        def ready():
            if not self.child.running():
                raise GiveUp(f"{self.name} exited with {self.child.proc.returncode}")
            return self.http("GET", "/readyz")[0] == 200
        try:
            wait_until(ready, timeout, f"{self.name} /readyz 200")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- {self.name} log tail:\n{self.tail()}") from None

    def http(self, method, path, body=None, timeout=5.0):
        return http(method, self.base_url + path, body, timeout)

    def get_json(self, path):
        status, body = self.http("GET", path)
        if status != 200:
            raise AssertionError(f"GET {path}: {status} {body[:300]!r}")
        return json.loads(body)

    def metrics_text(self):
        status, body = self.http("GET", "/metrics")
        if status != 200:
            raise AssertionError(f"GET /metrics: {status}")
        return body.decode()

    def metrics(self):
        return parse_metrics(self.metrics_text())

    def metric(self, name, **labels):
        return metric_value(self.metrics(), name, **labels)

    def wait_metric(self, name, pred, timeout=10.0, **labels):
        """Polls /metrics until pred(value) (value None when the series is absent); returns it."""
        box = []

        def check():
            v = self.metric(name, **labels)
            box[:] = [v]
            return pred(v)
        try:
            wait_until(check, timeout, f"{name}{labels} to satisfy the condition")
        except WaitTimeout as e:
            raise WaitTimeout(f"{e}; last value {box[0] if box else 'n/a'}") from None
        return box[0]

    def alarms(self):
        """GET /api/v1/alarms as parsed JSON."""
        return self.get_json("/api/v1/alarms")

    def ack(self, clinic, device, alarm):
        """POST /api/v1/alarms/ack; returns (status, body bytes)."""
        return self.http("POST", "/api/v1/alarms/ack",
                         {"clinic": clinic, "device": device, "alarm": alarm})


    def log_records(self):
        """The JSON log lines parsed (non-JSON lines skipped)."""
        out = []
        for line in self.child.lines if self.child else []:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out


def alarm_list(doc):
    """The alarm objects of a GET /api/v1/alarms answer, whether a bare list or wrapped."""
    if isinstance(doc, list):
        return doc
    for key in ("alarms", "data"):
        if isinstance(doc.get(key), list):
            return doc[key]
        if isinstance(doc.get(key), dict) and isinstance(doc[key].get("alarms"), list):
            return doc[key]["alarms"]
    raise AssertionError(f"unexpected /api/v1/alarms shape: {str(doc)[:300]}")


# ---------------------------------------------------------------------------------------------
# Device message builders (protocol/README.md, Payloads)


def now_ms():
    return int(time.time() * 1000)


def telemetry(seq, session, zone, depth_mm, speed_hz, ts=None):
    return {"v": 1, "seq": seq, "ts": ts or now_ms(), "session": session, "zone": zone,
            "depth_mm": depth_mm, "speed_hz": speed_hz}


def event(seq, kind, session, zone=None, ts=None):
    e = {"v": 1, "seq": seq, "ts": ts or now_ms(), "event": kind, "session": session}
    if zone is not None:
        e["zone"] = zone
    return e


def status(state, seq=None, ts=None):
    s = {"v": 1, "ts": ts or now_ms(), "state": state}
    if seq is not None:
        s["seq"] = seq
    return s


def device_topic(clinic, device, channel):
    return f"clinic/{clinic}/device/{device}/{channel}"


class Device:
    """A simulated device publishing through `client` (an MqttClient); keeps its own seq.

    Each method returns the time.monotonic() just before its publish.
    """

    def __init__(self, client, clinic, device):
        self.client, self.clinic, self.device = client, clinic, device
        self.seq = 0

    def topic(self, channel):
        return device_topic(self.clinic, self.device, channel)

    def _next(self):
        self.seq += 1
        return self.seq

    def sample(self, session, zone, depth_mm, speed_hz=100.0, qos=1, wait=True):
        return self.client.publish(self.topic("telemetry"),
                                   telemetry(self._next(), session, zone, depth_mm, speed_hz),
                                   qos=qos, wait=wait)

    def start_session(self, session, zone):
        return self.client.publish(self.topic("event"),
                                   event(self._next(), "session_start", session, zone))

    def end_session(self, session):
        return self.client.publish(self.topic("event"), event(self._next(), "session_end", session))

    def online(self):
        self.seq = 0  # seq restarts after `online`
        return self.client.publish(self.topic("status"), status("online"), retain=True)


def alarm_topic(clinic, device, alarm):
    return f"clinic/{clinic}/device/{device}/alarm/{alarm}"


def alarm_state(state, **fields):
    """A wait_message predicate: an alarm payload in `state` whose fields equal `fields`."""
    def pred(msg):
        p = msg.json()
        return p.get("state") == state and all(p.get(k) == v for k, v in fields.items())
    return pred


def status_is(state):
    """A wait_message predicate for a status payload: JSON {"state": state} or the bare word."""
    def pred(msg):
        try:
            return msg.json().get("state") == state
        except ValueError:
            return msg.payload.decode() == state
    return pred


def limits_config(depth_max=1.0, speed="{min: 50, max: 150, for: 1s}", warn_after="50m",
                  max_duration="60m", stale_after="3s", zones="{forehead: {depth_mm: {max: 0.5}}}",
                  extra=""):
    """A daemon config file text with the given default limits (protocol/README.md, Limits configuration shape)."""
    return (f"{extra}limits:\n  default:\n    depth_mm: {{max: {depth_max}}}\n"
            f"    speed_hz: {speed}\n"
            f"    session: {{warn_after: {warn_after}, max_duration: {max_duration}}}\n"
            f"    telemetry: {{stale_after: {stale_after}}}\n  zones: {zones}\n")


# ---------------------------------------------------------------------------------------------
# Prometheus, Alertmanager, a webhook sink


class Prometheus(Service):
    """prometheus scraping `targets` ("127.0.0.1:PORT" or a list) every 1 s.

    rule_files: paths to include; alertmanager: "127.0.0.1:PORT" to send alerts to.
    """

    def __init__(self, workdir, targets, job="needlewatch", rule_files=(), alertmanager=None,
                 name="prometheus"):
        self.name = name
        self.dir = fixture_dir(workdir, name)
        self.port = free_port()
        targets = [targets] if isinstance(targets, str) else list(targets)
        cfg = ["global: {scrape_interval: 1s, evaluation_interval: 1s}"]
        if rule_files:
            cfg.append("rule_files: [" + ", ".join(json.dumps(r) for r in rule_files) + "]")
        if alertmanager:
            cfg.append("alerting:\n  alertmanagers: [{static_configs: [{targets: ['%s']}]}]"
                       % alertmanager)
        cfg.append("scrape_configs:\n  - job_name: %s\n    static_configs: [{targets: [%s]}]"
                   % (job, ", ".join(f"'{t}'" for t in targets)))
        self.config_path = os.path.join(self.dir, "prometheus.yml")
        with open(self.config_path, "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.child = None

    @property
    def base_url(self):
        return f"http://{HOST}:{self.port}"

    def start(self, timeout=30.0):
        self.child = Child(self.name, [
            "prometheus", f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.dir}/data", f"--web.listen-address={HOST}:{self.port}"],
            os.path.join(self.dir, "prometheus.log"))
        wait_until(lambda: http("GET", self.base_url + "/-/ready")[0] == 200, timeout,
                   "prometheus /-/ready")
        return self

    def query(self, expr):
        """Instant query; returns data.result (a list of {metric, value})."""
        q = urllib.parse.urlencode({"query": expr})
        status, body = http("GET", f"{self.base_url}/api/v1/query?{q}")
        doc = json.loads(body)
        if status != 200 or doc.get("status") != "success":
            raise AssertionError(f"query {expr!r}: {status} {body[:300]!r}")
        return doc["data"]["result"]



class WebhookSink:
    """A loopback HTTP server that records every POSTed JSON body in `bodies`."""

    def __init__(self):
        import http.server

        sink = self
        self.bodies = []
        self._lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                n = int(self.headers.get("Content-Length", 0))
                data = self.rfile.read(n)
                with sink._lock:
                    try:
                        sink.bodies.append(json.loads(data))
                    except ValueError:
                        sink.bodies.append(data)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://{HOST}:{self.port}/alert"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


class Alertmanager(Service):
    """prometheus-alertmanager posting every alert group to `webhook_url` (send_resolved)."""

    def __init__(self, workdir, webhook_url, name="alertmanager"):
        self.name = name
        self.dir = fixture_dir(workdir, name)
        self.port = free_port()
        self.child = None
        self.config_path = os.path.join(self.dir, "alertmanager.yml")
        with open(self.config_path, "w") as f:
            f.write("route: {receiver: hook, group_by: [alertname], group_wait: 1s, "
                    "group_interval: 5s, repeat_interval: 1h}\n"
                    "receivers:\n  - name: hook\n"
                    f"    webhook_configs: [{{url: '{webhook_url}', send_resolved: true}}]\n")
        self.child = None

    @property
    def address(self):
        return f"{HOST}:{self.port}"

    def start(self, timeout=30.0):
        self.child = Child(self.name, [
            "prometheus-alertmanager", f"--config.file={self.config_path}",
            f"--storage.path={self.dir}/data", f"--web.listen-address={self.address}",
            "--cluster.listen-address="], os.path.join(self.dir, "alertmanager.log"))
        wait_until(lambda: http("GET", f"http://{self.address}/-/ready")[0] == 200, timeout,
                   "alertmanager /-/ready")
        return self



# ---------------------------------------------------------------------------------------------
# Security: web configuration, TLS clients, raw HTTP, the shipped broker ACL (issue 13)
#
#   bcrypt_hash(password)             a bcrypt hash for basic_auth_users (cost 4: fast tests)
#   make_client_cert(tls, dir, cn)    a client certificate signed by make_tls_material's CA
#   raw_http(port, data, ...)         raw bytes in, (status, headers, body, rest) out; the
#                                     source address may be another loopback one (127.0.0.2)
#   WebDaemon(workdir, url, ...)      a Daemon with a web config file, any listen address,
#                                     HTTPS and credentials for its own probes
#   shipped_acl(), shipped_pen_user() deploy/mosquitto/acl and how a pen's username is formed


def bcrypt_hash(password, cost=4):
    """A $2b$ bcrypt hash from libcrypt, as `htpasswd -nBC <cost>` would give ($2y$)."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # Debian's python3.11 still has it; it calls the same libcrypt
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2 ** cost))


def make_client_cert(tls, directory, cn):
    """A client certificate (CN `cn`, clientAuth) signed by the CA in `tls` (make_tls_material's
    result, whose ca.key sits beside ca.crt). Returns (cert_path, key_path)."""
    d = os.path.dirname(tls["ca"])
    key, csr, crt = (os.path.join(directory, f"{cn}.{x}") for x in ("key", "csr", "crt"))
    ext = os.path.join(directory, f"{cn}.ext")
    with open(ext, "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
          "-keyout", key, "-out", csr])
    _run(["openssl", "x509", "-req", "-in", csr, "-CA", tls["ca"],
          "-CAkey", os.path.join(d, "ca.key"), "-CAcreateserial", "-days", "2",
          "-extfile", ext, "-out", crt])
    return crt, key


def _split_response(data):
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError(f"no complete response header in {data[:200]!r}")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    return status, headers, rest[:n], rest[n:]


def raw_http(port, data, host=HOST, source=None, timeout=5.0, head=False):
    """Sends `data` (bytes) on a new connection and reads one response until the server closes
    or `timeout` passes. Returns (status, headers{lower-case: value}, body, rest): `rest` is
    whatever followed the declared Content-Length (must be b"" for HEAD). With head=True the
    body is not expected even though Content-Length says otherwise."""
    with socket.create_connection((host, port), timeout=timeout,
                                  source_address=(source, 0) if source else None) as s:
        s.sendall(data)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    if head:
        h, _, rest = data.partition(b"\r\n\r\n")
        status, headers, _, _ = _split_response(h + b"\r\n\r\n")
        return status, headers, b"", rest
    return _split_response(data)


def request_bytes(method, path, headers=(), body=b"", host=None):
    """An HTTP/1.1 request with `Connection: close`; headers is a list of "Name: value"."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host or HOST}", "Connection: close"]
    lines += list(headers)
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


ACK_BODY = b'{"clinic":"%s","device":"%s","alarm":"%s"}'


class WebDaemon(Daemon):
    """A Daemon listening on `listen` (e.g. "0.0.0.0:0": not loopback-only) with an optional
    web configuration (`web_config` text, written to <dir>/web.yml, passed as
    --web.config.file). Its own probes (readiness, metrics) use `auth` ((user, password)),
    HTTPS when `tls_ca` is given (the CA to trust) and `client_cert` ((cert, key))."""

    def __init__(self, workdir, mqtt_url, listen=f"{HOST}:0", web_config=None, auth=None,
                 tls_ca=None, client_cert=None, **kwargs):
        super().__init__(workdir, mqtt_url, **kwargs)
        self.listen = listen
        self.web_config_path = os.path.join(self.dir, "web.yml")
        self.auth, self.tls_ca, self.client_cert = auth, tls_ca, client_cert
        if web_config is not None:
            self.write_web_config(web_config)
        self.has_web_config = web_config is not None

    def write_web_config(self, text):
        with open(self.web_config_path, "w") as f:
            f.write(text)

    def argv(self):
        a = super().argv()
        a[a.index("--web.listen-address") + 1] = self.listen
        if self.has_web_config:
            a += ["--web.config.file", self.web_config_path]
        return a

    @property
    def base_url(self):
        return f"{'https' if self.tls_ca else 'http'}://{HOST}:{self.port}"

    def start(self, ready=True, timeout=30.0):
        assert self.child is None or not self.child.running(), "already running"
        self.child = Child(self.name, self.argv(), self.log_path, env=self.env, cwd=self.dir)
        m = self.child.wait_for_line(r'"msg":"http listening".*:(\d+)"', timeout)
        self.port = int(m.group(1))
        if ready:
            self.wait_ready(timeout)
        return self

    def ssl_context(self, client_cert="default"):
        import ssl
        ctx = ssl.create_default_context(cafile=self.tls_ca)
        cert = self.client_cert if client_cert == "default" else client_cert
        if cert:
            ctx.load_cert_chain(*cert)
        return ctx

    def request(self, method, path, body=None, headers=None, auth="default", timeout=5.0,
                client_cert="default"):
        """One request on a new connection: (status, headers{lower-case}, body bytes)."""
        import base64
        import http.client
        hdrs = dict(headers or {})
        auth = self.auth if auth == "default" else auth
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            hdrs["Authorization"] = f"Basic {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if self.tls_ca:
            conn = http.client.HTTPSConnection(HOST, self.port, timeout=timeout,
                                               context=self.ssl_context(client_cert))
        else:
            conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def http(self, method, path, body=None, timeout=5.0):
        status, _, data = self.request(method, path, body, timeout=timeout)
        return status, data

    def ack(self, clinic, device, alarm, auth="default", headers=None):
        status, _, data = self.request("POST", "/api/v1/alarms/ack",
                                       {"clinic": clinic, "device": device, "alarm": alarm},
                                       headers=headers, auth=auth)
        return status, data

    def audit_lines(self, type_=None):
        """The audit log's JSON lines (of one "type", when given)."""
        if not os.path.exists(self.audit_path):
            return []
        lines = [json.loads(line) for line in read_text(self.audit_path).splitlines() if line]
        return [x for x in lines if type_ is None or x.get("type") == type_]


_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def shipped_acl():
    """The broker ACL the project ships for production (deploy/mosquitto/acl)."""
    return read_text(os.path.join(_REPO_ROOT, "deploy", "mosquitto", "acl"))


def shipped_pen_user(clinic, device):
    """A pen's MQTT username under the shipped ACL: its topic path below the root."""
    return f"{clinic}/device/{device}"


# ---------------------------------------------------------------------------------------------
# unittest base class


class NwTestCase(unittest.TestCase):
    """Gives each test `self.workdir` and stops what the test starts.

    Use self.start(obj) on anything with start()/stop() or kill() (Mosquitto, Daemon,
    Prometheus, Alertmanager, MqttClient...) so it is stopped after the test, in reverse
    order. When a test fails, the tails of every started child's log are printed and the
    workdir is kept (its path is printed).
    """

    maxDiff = None

    def setUp(self):
        self.workdir = Workdir(prefix=f"nwtest-{self._testMethodName}-")
        self._fixtures = []
        self.addCleanup(self._cleanup_fixtures)

    def track(self, fixture):
        """Registers a fixture for cleanup (and diagnostics) without starting it."""
        self._fixtures.append(fixture)
        return fixture

    def start(self, fixture, *args, **kwargs):
        self.track(fixture)
        if hasattr(fixture, "connect") and not hasattr(fixture, "start"):
            fixture.connect(*args, **kwargs)
        else:
            fixture.start(*args, **kwargs)
        return fixture

    def start_stack(self, config=None, broker=None, **daemon_kwargs):
        """A Mosquitto (plain; or `broker` kwargs) and a ready Daemon on it: (broker, daemon)."""
        b = self.start(Mosquitto(self.workdir, **(broker or {})))
        d = self.start(Daemon(self.workdir, b.url, config=config, **daemon_kwargs))
        return b, d

    def alarm_watcher(self, port, **kwargs):
        """A connected client subscribed to every device alarm and the monitor's own topics."""
        w = self.mqtt(port, **kwargs)
        w.subscribe("clinic/+/device/+/alarm/#")
        w.subscribe("needlewatch/#")
        return w

    def mqtt(self, port, **kwargs):
        """A connected MqttClient, disconnected after the test."""
        return self.start(MqttClient(port, **kwargs))

    def _cleanup_fixtures(self):
        for f in reversed(self._fixtures):
            try:
                if isinstance(f, MqttClient):
                    f.disconnect()
                elif isinstance(f, WebhookSink):
                    f.stop()
                elif hasattr(f, "child") and f.child is not None:
                    f.child.stop(timeout=10)
            except Exception as e:  # noqa: BLE001 - keep cleaning up the rest
                print(f"cleanup of {f!r} failed: {e!r}", file=sys.stderr)

    def run(self, result=None):
        result = result or self.defaultTestResult()
        bad_before = len(result.failures) + len(result.errors)
        super().run(result)
        failed = len(result.failures) + len(result.errors) > bad_before
        wd = getattr(self, "workdir", None)
        if failed:
            self._print_diagnostics()
            if wd:
                wd.keep = True
                print(f"--- kept workdir {wd.path}", file=sys.stderr)
        if wd:
            wd.remove()
        return result

    def _print_diagnostics(self):
        for f in getattr(self, "_fixtures", []):
            child = getattr(f, "child", None)
            if child is not None:
                lines = child.lines
                for i, line in enumerate(lines):  # a sanitizer report's head, if any
                    if "ERROR: AddressSanitizer" in line or "runtime error:" in line:
                        print(f"\n--- {child.name} sanitizer report:\n"
                              + "\n".join(lines[i:i + 30]), file=sys.stderr)
                        break
                print(f"\n--- {child.name} (pid {child.pid}, rc {child.proc.returncode}) "
                      f"log tail, full log {child.log_path}:\n{child.tail(60)}", file=sys.stderr)
            elif isinstance(f, MqttClient):
                print(f"\n--- mqtt client on port {f.port}: {len(f.messages)} messages, last:\n"
                      + "\n".join(repr(m) for m in f.messages[-10:]), file=sys.stderr)
        sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# Crash, durability and overload (issue 12): pens that know which of their seqs the broker
# acknowledged, the daemon's own recording read back per device and seq, feature probes.


class SeqPen:
    """A pen on its own MQTT connection publishing CONTRACT §2 telemetry, seq +1 per message.

    `sent` holds (seq, paho mid) in publish order. A QoS 1 message counts as acknowledged once
    paho saw its PUBACK (on_publish with its mid; MqttClient.acked_mids); paho keeps
    every unacknowledged QoS 1 message and sends it again (DUP) after its automatic reconnect,
    also messages published while it was disconnected, so in the end every one is acknowledged
    by some broker instance, some of them twice over (a PUBACK lost with a killed broker).
    """

    def __init__(self, port, clinic, device, session=None, zone="cheek", client_id=None,
                 clean_session=True):
        self.clinic, self.device = clinic, device
        self.session = session or f"S-{device}"
        self.zone = zone
        self.client = MqttClient(port, client_id=client_id or f"pen-{clinic}-{device}",
                                 clean_session=clean_session)
        self.topic = device_topic(clinic, device, "telemetry")
        self.seq = 0
        self.sent = []

    def connect(self, timeout=10.0):
        self.client.connect(timeout)
        return self

    def publish_next(self, depth_mm=0.2, speed_hz=100.0, qos=1):
        """Publishes the next sample without waiting; returns its seq."""
        self.seq += 1
        info = self.client.publish_async(
            self.topic, telemetry(self.seq, self.session, self.zone, depth_mm, speed_hz), qos=qos)
        if len(self.sent) >= 65535:  # paho's mids wrap: a mid would stand for two seqs
            raise AssertionError(f"{self.device}: more than 65,535 messages on one pen")
        self.sent.append((self.seq, info.mid))
        return self.seq

    def resend_last(self, depth_mm=0.2, speed_hz=100.0, qos=1):
        """Publishes the last seq once more, as a pen does that saw no PUBACK for it: a QoS 1
        redelivery by the device (same session and seq, a new ts). Returns the seq."""
        info = self.client.publish_async(
            self.topic, telemetry(self.seq, self.session, self.zone, depth_mm, speed_hz), qos=qos)
        self.sent.append((self.seq, info.mid))
        return self.seq

    def acked(self):
        """Seqs whose PUBACK arrived (a set)."""
        done = self.client.acked_mids
        return {s for s, mid in self.sent if mid in done}

    def unacked(self):
        done = self.client.acked_mids
        return [s for s, mid in self.sent if mid not in done]

    def disconnect(self):
        self.client.disconnect()


class PenFleet:
    """`n` SeqPens publishing `rate` messages/s in total, round robin, from one thread.

    sample(pen_index, seq) -> (depth_mm, speed_hz) shapes the stream (default: safe values);
    clinic(pen_index) names each pen's clinic (default "c12" for all; one clinic per pen makes
    needlewatch_sequence_gaps_total{clinic} a per-pen figure). Devices are "p00", "p01", ….
    Pacing sleeps until the next message is due (load pacing, not synchronisation); a slow
    machine publishes late in a burst rather than fewer messages.
    """

    def __init__(self, port, n=20, rate=1000.0, sample=None, clinic=None, qos=1, prefix="p",
                 client_id_prefix="pen"):
        clinic = clinic or (lambda i: "c12")
        self.pens = [SeqPen(port, clinic(i), f"{prefix}{i:02d}",
                            client_id=f"{client_id_prefix}-{prefix}{i:02d}") for i in range(n)]
        self.rate = rate
        self.qos = qos
        self.sample = sample or (lambda i, seq: (0.2, 100.0))
        self._stop = threading.Event()
        self._thread = None
        self.started_at = self.stopped_at = None
        self.errors = []

    def connect(self):
        for p in self.pens:
            p.connect()
        return self

    def start(self):
        """Starts publishing in a thread (connects first when not connected)."""
        if not all(p.client.connected for p in self.pens):
            self.connect()
        self._thread = threading.Thread(target=self._run, daemon=True, name="pen-fleet")
        self._thread.start()
        return self

    def _run(self):
        n = len(self.pens)
        self.started_at = t0 = time.monotonic()
        sent = 0
        try:
            while not self._stop.is_set():
                due = int((time.monotonic() - t0) * self.rate)
                while sent < due and not self._stop.is_set():
                    i = sent % n
                    pen = self.pens[i]
                    depth, speed = self.sample(i, pen.seq + 1)
                    pen.publish_next(depth, speed, qos=self.qos)
                    sent += 1
                time.sleep(0.001)
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self.errors.append(e)
        self.stopped_at = time.monotonic()

    def stop(self, timeout=10.0):
        """Stops publishing; raises what the publishing thread raised, if anything."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
        if self.errors:
            raise AssertionError(f"pen fleet failed: {self.errors[0]!r}")

    def sent_count(self):
        return sum(len(p.sent) for p in self.pens)

    def acked(self):
        """{device: set of acknowledged seqs}."""
        return {p.device: p.acked() for p in self.pens}

    def wait_all_acked(self, timeout=30.0):
        """Waits until every published message was acknowledged (paho resends after reconnects)."""
        def left():
            return sum(len(p.unacked()) for p in self.pens)
        try:
            wait_until(lambda: left() == 0, timeout, "every pen message to be PUBACKed", 0.05)
        except WaitTimeout as e:
            stuck = {p.device: seq_ranges(p.unacked()) for p in self.pens if p.unacked()}
            raise WaitTimeout(f"{e}: {left()} of {self.sent_count()} still unacknowledged: "
                              f"{stuck}") from None

    def drain_into(self, daemon, marker_depth=0.777, timeout=60.0):
        """After stop(): waits until every message is acknowledged, then publishes one last
        sample per pen (depth `marker_depth`, speed 100) and waits until `daemon`'s
        needlewatch_needle_depth_meters shows it for every pen. mosquitto keeps one publisher's
        messages in order towards one subscriber, so the daemon has then had its chance at
        everything before. Returns whether it saw every marker within `timeout` (a test then
        counts what is missing rather than fail here)."""
        self.wait_all_acked(30)
        for p in self.pens:
            p.publish_next(marker_depth, 100.0, qos=self.qos)
        self.wait_all_acked(30)

        def seen():
            m = daemon.metrics()
            return all(metric_value(m, "needlewatch_needle_depth_meters", clinic=p.clinic,
                                    device=p.device) == marker_depth / 1000 for p in self.pens)
        try:
            wait_until(seen, timeout, "every pen's last sample to reach the engine", 0.2)
            return True
        except WaitTimeout:
            return False

    def disconnect(self):
        for p in self.pens:
            p.disconnect()


def export_recording(paths):
    """`needlewatch recordings export --format jsonl` of a recording directory or files: the
    records as dicts (receive_ns, time, topic, qos, retain, payload), in the export's order."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    r = subprocess.run([needlewatch_bin(), "recordings", "export", "--format", "jsonl"] + paths,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"recordings export failed ({r.returncode}): {r.stderr[-800:]}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


_TELEMETRY_TOPIC_RE = re.compile(r"^[^/]+/([^/]+)/device/([^/]+)/(telemetry|event)$")


def _device_seqs(records):
    """(clinic, device), seq, record for each device telemetry or event record with an integer
    seq, in the recording's order."""
    for r in records:
        m = _TELEMETRY_TOPIC_RE.match(r.get("topic", ""))
        if not m:
            continue
        try:
            seq = json.loads(r["payload"]).get("seq")
        except (ValueError, AttributeError):
            continue
        if isinstance(seq, int):
            yield (m.group(1), m.group(2)), seq, r


def recorded_seqs(records):
    """{(clinic, device): [seq, …]} of the device telemetry and event messages in a recording,
    in the order the daemon handled them, repeats (redeliveries) included. Records whose
    payload has no integer seq are left out."""
    out = {}
    for key, seq, _ in _device_seqs(records):
        out.setdefault(key, []).append(seq)
    return out


def forward_jumps(records):
    """How many sequence gaps the engine counts for a recording: per (clinic, device), in the
    order handled, accepted messages whose seq is ahead of the latest by more than one
    (reordered ones, behind the latest, are not jumps). `online` restarts are not modelled."""
    latest, jumps = {}, 0
    for key, seq, r in _device_seqs(records):
        if r.get("reject"):
            continue
        last = latest.get(key)
        if last is None or seq > last:
            if last is not None and seq != last + 1:
                jumps += 1
            latest[key] = seq
    return jumps


def seq_ranges(seqs):
    """Sorted ints as compact "a-b" ranges, for failure messages."""
    out, seqs = [], sorted(seqs)
    i = 0
    while i < len(seqs):
        j = i
        while j + 1 < len(seqs) and seqs[j + 1] == seqs[j] + 1:
            j += 1
        out.append(str(seqs[i]) if i == j else f"{seqs[i]}-{seqs[j]}")
        i = j + 1
    return ",".join(out)


def command_help(*args):
    """The --help text of `needlewatch ARGS…` (for feature probes)."""
    r = subprocess.run([needlewatch_bin(), *args, "--help"], capture_output=True, text=True)
    return r.stdout + r.stderr


def daemon_has_flag(flag):
    """Whether `needlewatch run --help` lists `flag` (e.g. "--state.dir")."""
    return re.search(re.escape(flag) + r"\b", command_help("run")) is not None


def daemon_exposes(workdir, name, **labels):
    """Whether a freshly started daemon's /metrics has a series `name` with `labels` (e.g. a
    pre-created rejection reason): a feature probe that needs no broker (the daemon serves
    HTTP while it retries the connection)."""
    d = Daemon(workdir, f"mqtt://{HOST}:{free_port()}", name="feature-probe")
    d.start(ready=False)
    try:
        status, body = d.http("GET", "/metrics")
        return status == 200 and metric_value(parse_metrics(body.decode()), name,
                                              **labels) is not None
    finally:
        d.stop()


def needs_feature(test, present, feature):
    """Fails `test` at once, naming the feature, when it is missing from the daemon under test:
    a test of behaviour not merged yet fails loudly instead of passing on nothing."""
    if not present:
        test.fail(f"NEEDS FEATURE: {feature} -- the needlewatch under test ({needlewatch_bin()}) "
                  f"does not have it")


def rss_mib(pid):
    """Resident set size of a process in MiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
