"""Broker authentication (issue 4 §6): TLS (mqtts://, CA file) with a user/password read from
files works end to end; credentials from the environment work on a plain user listener; a
wrong password gives a clear log line (and never the password itself) and the daemon does not
become ready, or exits non-zero."""

import re
import unittest

import nwtest
from nwtest import alarm_state, alarm_topic

USER, PASSWORD = "nwdaemon", "s3cret-Pw"
AUTH_MESSAGE = re.compile(
    r"(?i)not authori[sz]ed|bad user ?name or password|authenticat|credential|refused")


class TlsAuthTest(nwtest.NwTestCase):
    def broker(self):
        return self.start(nwtest.Mosquitto(self.workdir, users={USER: PASSWORD}, tls=True))

    def config(self, password, broker):
        user_file = self.workdir.file("mqtt-user", USER + "\n", mode=0o600)
        pass_file = self.workdir.file("mqtt-password", password + "\n", mode=0o600)
        mqtt = (f"mqtt:\n  username_file: {user_file}\n  password_file: {pass_file}\n"
                f"  tls:\n    ca_file: {broker.tls['ca']}\n")
        return nwtest.limits_config(extra=mqtt)

    def test_tls_with_password_files(self):
        broker = self.broker()
        daemon = self.start(nwtest.Daemon(self.workdir, f"mqtts://127.0.0.1:{broker.tls_port}",
                                          config=self.config(PASSWORD, broker)))
        self.assertEqual(daemon.metric("needlewatch_mqtt_connected"), 1)
        watcher = self.alarm_watcher(broker.port)
        nwtest.Device(self.mqtt(broker.port), "c6", "tls1").sample("S-t", "cheek", 3.0)
        watcher.wait_message(alarm_state("active"), timeout=5,
                             topic=alarm_topic("c6", "tls1", "depth_exceeded"))
        self.assertNotIn(PASSWORD, nwtest.read_text(daemon.log_path), "password in the log")

    def test_credentials_from_environment(self):
        broker = self.broker()
        daemon = self.start(nwtest.Daemon(
            self.workdir, f"mqtt://127.0.0.1:{broker.auth_port}", config=nwtest.limits_config(),
            env={"NEEDLEWATCH_MQTT_USERNAME": USER, "NEEDLEWATCH_MQTT_PASSWORD": PASSWORD}))
        self.assertEqual(daemon.metric("needlewatch_mqtt_connected"), 1)

    def test_wrong_password_is_reported_clearly_and_never_ready(self):
        broker = self.broker()
        daemon = self.track(nwtest.Daemon(self.workdir, f"mqtts://127.0.0.1:{broker.tls_port}",
                                          config=self.config("wrong-password", broker)))
        try:
            daemon.start(ready=False)
        except nwtest.WaitTimeout:  # exited before serving HTTP: allowed, if non-zero
            self.assertFalse(daemon.running())
        daemon.child.wait_for_line(AUTH_MESSAGE.pattern, timeout=15)
        if daemon.running() and daemon.port:
            self.assertNotEqual(daemon.http("GET", "/readyz")[0], 200, "ready without a broker")
            self.assertIn(daemon.metric("needlewatch_mqtt_connected"), (0, None))
        else:
            self.assertNotEqual(daemon.child.proc.returncode, 0)
        self.assertNotIn("wrong-password", nwtest.read_text(daemon.log_path), "password in log")


if __name__ == "__main__":
    unittest.main()
