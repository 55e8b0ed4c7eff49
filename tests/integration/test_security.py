"""Attacks on the daemon's HTTP side (issue 13), each refused or bounded against a real daemon:
the cross-site form acknowledgement, DNS rebinding, the unauthenticated acknowledgement on a
listener that is not loopback-only, users with bcrypt and TLS (and mutual TLS) from the
exporter-toolkit web config with a password rotated by SIGHUP, 300 idle connections and slow
headers that must not lock out a scrape or an acknowledgement, HEAD without a body, size
bounds, and the audit log reopened for logrotate."""

import os
import signal
import socket
import time
import unittest

import nwtest
from nwtest import ACK_BODY, alarm_state, alarm_topic, raw_http, request_bytes

ACK = ACK_BODY % (b"c1", b"d1", b"depth_exceeded")


class SecurityTestCase(nwtest.NwTestCase):
    def broker(self):
        return self.start(nwtest.Mosquitto(self.workdir))

    def latch(self, broker, daemon, device="d1"):
        """A latched depth_exceeded on c1/<device> (too deep, then back within the limit)."""
        watcher = self.alarm_watcher(broker.port)
        dev = nwtest.Device(self.mqtt(broker.port), "c1", device)
        dev.sample("S-1", "forehead", 3.0)
        dev.sample("S-1", "forehead", 0.1)
        watcher.wait_message(alarm_state("latched"),
                             topic=alarm_topic("c1", device, "depth_exceeded"))

    def assert_still_latched(self, daemon, device="d1"):
        states = [(a["device"], a["state"]) for a in nwtest.alarm_list(daemon.alarms())]
        self.assertIn((device, "latched"), states)


class AcknowledgementTest(SecurityTestCase):
    def test_a_cross_site_form_cannot_acknowledge(self):
        broker = self.broker()
        daemon = self.start(nwtest.WebDaemon(self.workdir, broker.url,
                                             config=nwtest.limits_config(depth_max=1.0)))
        self.latch(broker, daemon)
        host = f"127.0.0.1:{daemon.port}"
        # <form method=post enctype=text/plain action=http://127.0.0.1:9464/api/v1/alarms/ack>
        # on https://evil.example, as the browser sends it.
        status, _, body, _ = raw_http(daemon.port, request_bytes(
            "POST", "/api/v1/alarms/ack",
            ["Content-Type: text/plain", "Origin: https://evil.example"], ACK, host=host))
        self.assertEqual(status, 403, body)
        self.assertIn(b"evil.example", body)
        # The same page with fetch(): JSON, foreign Origin.
        status, _, _, _ = raw_http(daemon.port, request_bytes(
            "POST", "/api/v1/alarms/ack",
            ["Content-Type: application/json", "Origin: https://evil.example"], ACK, host=host))
        self.assertEqual(status, 403)
        # No Origin (a script) but not JSON.
        status, _, _, _ = raw_http(daemon.port, request_bytes(
            "POST", "/api/v1/alarms/ack", ["Content-Type: text/plain"], ACK, host=host))
        self.assertEqual(status, 415)
        self.assert_still_latched(daemon)
        self.assertEqual(daemon.audit_lines("ack"), [])
        # The daemon's own page (same origin), JSON: accepted, audited as `local`.
        status, _, body, _ = raw_http(daemon.port, request_bytes(
            "POST", "/api/v1/alarms/ack",
            ["Content-Type: application/json", f"Origin: http://{host}"], ACK, host=host))
        self.assertEqual(status, 200, body)
        acks = daemon.audit_lines("ack")
        self.assertEqual([(a["result"], a["user"]) for a in acks], [("cleared", "local")])

    def test_dns_rebinding_names_are_refused_on_a_loopback_listener(self):
        broker = self.broker()
        daemon = self.start(nwtest.WebDaemon(self.workdir, broker.url))
        for path in ("/api/v1/alarms", "/metrics", "/api/v1/alarms/ack"):
            status, _, body, _ = raw_http(daemon.port, request_bytes(
                "GET", path, host=f"rebind.evil.example:{daemon.port}"))
            self.assertEqual(status, 403, (path, body))
        status, _, _, _ = raw_http(daemon.port, request_bytes(
            "GET", "/api/v1/alarms", host=f"localhost:{daemon.port}"))
        self.assertEqual(status, 200)

    def test_no_anonymous_acknowledgement_on_a_listener_that_is_not_loopback_only(self):
        broker = self.broker()
        # 0.0.0.0: every interface (the test still connects over loopback only).
        daemon = self.start(nwtest.WebDaemon(self.workdir, broker.url, listen="0.0.0.0:0",
                                             config=nwtest.limits_config(depth_max=1.0)))
        warning = daemon.child.wait_for_line(r'"msg":"acknowledgements refused"')
        self.assertIn("no users are configured", warning.string)
        self.latch(broker, daemon)
        status, body = daemon.ack("c1", "d1", "depth_exceeded")
        self.assertEqual(status, 403, body)
        self.assertIn(b"basic_auth_users", body)
        self.assert_still_latched(daemon)
        self.assertEqual(daemon.audit_lines("ack"), [])
        # Read-only endpoints stay open, as an exporter's do.
        self.assertEqual(daemon.http("GET", "/metrics")[0], 200)
        self.assertEqual(daemon.http("GET", "/api/v1/alarms")[0], 200)


class UsersAndTlsTest(SecurityTestCase):
    def test_users_over_tls_each_ack_audited_and_a_rotated_password_stops_at_sighup(self):
        broker = self.broker()
        tls = nwtest.make_tls_material(nwtest.fixture_dir(self.workdir, "web-tls"))

        def web(alice_pw):
            return ("tls_server_config:\n"
                    f"  cert_file: {tls['cert']}\n  key_file: {tls['key']}\n"
                    "http_server_config:\n  headers:\n"
                    "    Strict-Transport-Security: max-age=300\n"
                    "basic_auth_users:\n"
                    f"  alice: {nwtest.bcrypt_hash(alice_pw)}\n"
                    f"  bob: {nwtest.bcrypt_hash('bob-pw')}\n")

        daemon = self.start(nwtest.WebDaemon(
            self.workdir, broker.url, listen="0.0.0.0:0", web_config=web("alice-1"),
            auth=("alice", "alice-1"), tls_ca=tls["ca"],
            config=nwtest.limits_config(depth_max=1.0)))
        # Plain HTTP on the TLS listener gets no answer.
        with self.assertRaises((OSError, AssertionError)):
            raw_http(daemon.port, request_bytes("GET", "/metrics"), timeout=3)
        self.assertEqual(daemon.request("GET", "/metrics", auth=None)[0], 401)
        self.assertEqual(daemon.request("GET", "/metrics", auth=("alice", "wrong"))[0], 401)
        self.assertEqual(daemon.request("GET", "/metrics", auth=("mallory", "alice-1"))[0], 401)
        status, headers, _ = daemon.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("strict-transport-security"), "max-age=300")
        self.assertEqual(daemon.request("GET", "/healthz", auth=None)[0], 200)
        # Two users acknowledge; each is audited under their own name.
        self.latch(broker, daemon, "d1")
        self.latch(broker, daemon, "d2")
        self.assertEqual(daemon.ack("c1", "d1", "depth_exceeded")[0], 200)
        self.assertEqual(daemon.ack("c1", "d2", "depth_exceeded", auth=("bob", "bob-pw"))[0], 200)
        self.assertEqual([(a["device"], a["user"]) for a in daemon.audit_lines("ack")],
                         [("d1", "alice"), ("d2", "bob")])
        # Rotate alice's password: after SIGHUP the old one is refused, the new one works.
        daemon.write_web_config(web("alice-2"))
        mark = daemon.child.line_count()
        daemon.send_signal(signal.SIGHUP)
        daemon.child.wait_for_line(r'"msg":"web configuration reloaded"', start=mark)
        self.assertEqual(daemon.request("GET", "/metrics")[0], 401)
        self.assertEqual(daemon.request("GET", "/metrics", auth=("alice", "alice-2"))[0], 200)
        # A broken file keeps the settings in force, and says so in the log and the audit.
        daemon.write_web_config("basic_auth_users:\n  alice: alice-3-in-clear\n")
        mark = daemon.child.line_count()
        daemon.send_signal(signal.SIGHUP)
        daemon.child.wait_for_line(r'"msg":"web configuration kept"', start=mark)
        self.assertEqual(daemon.request("GET", "/metrics", auth=("alice", "alice-2"))[0], 200)
        reloads = [r for r in daemon.audit_lines("config_reload")
                   if r["source"] == daemon.web_config_path]
        self.assertEqual([r["result"] for r in reloads], ["success", "failure"])
        self.assertIn("basic_auth_users.alice", reloads[-1]["errors"][0])
        self.assertNotIn("alice-3-in-clear", nwtest.read_text(daemon.log_path))

    def test_the_deprecated_single_user_still_works_and_says_it_is_deprecated(self):
        broker = self.broker()
        password_file = self.workdir.file("http-password", "legacy-pw\n", mode=0o600)
        extra = (f"http:\n  basic_auth_username: admin\n"
                 f"  basic_auth_password_file: {password_file}\n")
        daemon = self.start(nwtest.WebDaemon(self.workdir, broker.url, auth=("admin", "legacy-pw"),
                                             config=nwtest.limits_config(extra=extra)))
        daemon.child.wait_for_line(r'"msg":"deprecated setting".*basic_auth_username')
        self.assertEqual(daemon.request("GET", "/api/v1/alarms")[0], 200)
        self.assertEqual(daemon.request("GET", "/api/v1/alarms", auth=("admin", "x"))[0], 401)
        self.assertEqual(daemon.request("GET", "/api/v1/alarms", auth=None)[0], 401)

    def test_mutual_tls_names_the_user_by_its_certificate(self):
        broker = self.broker()
        tls = nwtest.make_tls_material(nwtest.fixture_dir(self.workdir, "web-tls"))
        certs = nwtest.fixture_dir(self.workdir, "clients")
        nurse = nwtest.make_client_cert(tls, certs, "nurse-7")
        web = ("tls_server_config:\n"
               f"  cert_file: {tls['cert']}\n  key_file: {tls['key']}\n"
               f"  client_ca_file: {tls['ca']}\n"
               "  client_auth_type: RequireAndVerifyClientCert\n")
        daemon = self.start(nwtest.WebDaemon(
            self.workdir, broker.url, listen="0.0.0.0:0", web_config=web, tls_ca=tls["ca"],
            client_cert=nurse, config=nwtest.limits_config(depth_max=1.0)))
        with self.assertRaises(OSError):  # no client certificate: no handshake
            daemon.request("GET", "/metrics", client_cert=None)
        self.latch(broker, daemon)
        status, body = daemon.ack("c1", "d1", "depth_exceeded")
        self.assertEqual(status, 200, body)
        self.assertEqual([a["user"] for a in daemon.audit_lines("ack")], ["nurse-7"])


class BoundsTest(SecurityTestCase):
    def test_300_idle_connections_do_not_stop_a_scrape_or_an_ack(self):
        broker = self.broker()
        # A long header deadline, so that the 300 are still open when the scrape comes: it is
        # the eviction of the longest idle that lets it in, not a timeout.
        daemon = self.start(nwtest.WebDaemon(self.workdir, broker.url, config=nwtest.limits_config(
            depth_max=1.0, extra="http:\n  header_timeout: 60s\n")))
        self.latch(broker, daemon)
        idle = []
        self.addCleanup(lambda: [s.close() for s in idle])
        for _ in range(300):
            idle.append(socket.create_connection((nwtest.HOST, daemon.port), timeout=5))
        # From the same address as the 300 (the longest idle makes room) ...
        status, _, body, _ = raw_http(daemon.port, request_bytes("GET", "/metrics"))
        self.assertEqual(status, 200)
        self.assertIn(b"needlewatch_alarms_latched", body)
        # ... and from another one, which those 300 cannot crowd out at all.
        status, _, _, _ = raw_http(daemon.port, request_bytes("GET", "/metrics"),
                                   source="127.0.0.2")
        self.assertEqual(status, 200)
        status, _, body, _ = raw_http(daemon.port, request_bytes(
            "POST", "/api/v1/alarms/ack", ["Content-Type: application/json"], ACK),
            source="127.0.0.2")
        self.assertEqual(status, 200, body)
        # The daemon holds at most max_connections_per_client (32) of them.
        fds = len(os.listdir(f"/proc/{daemon.child.pid}/fd"))
        self.assertLess(fds, 100, "the daemon kept the idle connections open")

    def test_slow_or_silent_clients_are_cut_off_at_the_header_deadline(self):
        broker = self.broker()
        daemon = self.start(nwtest.WebDaemon(
            self.workdir, broker.url,
            config=nwtest.limits_config(extra="http:\n  header_timeout: 1s\n")))
        silent = socket.create_connection((nwtest.HOST, daemon.port), timeout=10)
        slow = socket.create_connection((nwtest.HOST, daemon.port), timeout=10)
        self.addCleanup(silent.close)
        self.addCleanup(slow.close)
        slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()

        def closed(sock):
            try:
                sock.settimeout(0.05)
                return sock.recv(1) == b""
            except socket.timeout:
                return False
            except OSError:
                return True

        def dribble_until_closed():
            try:
                slow.sendall(b"X")  # one byte of a header line at a time
            except OSError:
                return True
            return closed(slow)
        nwtest.wait_until(lambda: closed(silent), 8, "the silent connection to be closed")
        nwtest.wait_until(dribble_until_closed, 8, "the slow connection to be closed",
                          interval=0.2)
        self.assertGreaterEqual(time.monotonic() - started, 0.8, "closed before the deadline")
        self.assertEqual(daemon.http("GET", "/metrics")[0], 200)

    def test_head_has_no_body_and_sizes_are_bounded(self):
        broker = self.broker()
        daemon = self.start(nwtest.WebDaemon(self.workdir, broker.url))
        status, headers, _, rest = raw_http(daemon.port, request_bytes("HEAD", "/metrics"),
                                            head=True)
        self.assertEqual(status, 200)
        self.assertGreater(int(headers["content-length"]), 0)
        self.assertEqual(rest, b"", "HEAD carried a body")
        status, _, _, _ = raw_http(daemon.port, request_bytes(
            "GET", "/metrics", [f"X-Junk: {'a' * 20000}"]))
        self.assertEqual(status, 413)
        status, _, _, _ = raw_http(daemon.port, request_bytes(
            "POST", "/api/v1/alarms/ack", ["Content-Type: application/json"],
            b"{" + b" " * (70 * 1024) + b"}"))
        self.assertEqual(status, 413)


class AuditFileTest(SecurityTestCase):
    def test_the_audit_log_is_0640_and_reopened_on_sighup(self):
        broker = self.broker()
        daemon = self.start(nwtest.WebDaemon(self.workdir, broker.url,
                                             config=nwtest.limits_config(depth_max=1.0)))
        self.latch(broker, daemon, "d1")
        self.assertEqual(os.stat(daemon.audit_path).st_mode & 0o777, 0o640)
        rotated = daemon.audit_path + ".1"
        os.rename(daemon.audit_path, rotated)  # logrotate without copytruncate
        mark = daemon.child.line_count()
        daemon.send_signal(signal.SIGHUP)
        daemon.child.wait_for_line(r'"msg":"limits reloaded"', start=mark)
        self.latch(broker, daemon, "d2")
        self.assertTrue(os.path.exists(daemon.audit_path), "not reopened")
        new = [x.get("device") for x in daemon.audit_lines("alarm")]
        self.assertIn("d2", new)
        self.assertNotIn("d1", new)
        self.assertIn('"device":"d1"', nwtest.read_text(rotated))


if __name__ == "__main__":
    unittest.main()
