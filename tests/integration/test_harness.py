"""Checks of the harness itself against a real mosquitto (no daemon needed): listeners, users,
TLS, Last Will, and a persistent session surviving a SIGKILL + restart on the same port."""

import unittest

import nwtest


class HarnessTest(nwtest.NwTestCase):
    def test_plain_auth_and_tls_listeners(self):
        broker = self.start(nwtest.Mosquitto(self.workdir, users={"alice": "alicepw"}, tls=True))
        sub = self.mqtt(broker.port)
        sub.subscribe("t/#")
        self.mqtt(broker.auth_port, username="alice", password="alicepw").publish("t/a", "1")
        self.mqtt(broker.tls_port, username="alice", password="alicepw",
                  tls_ca=broker.tls["ca"]).publish("t/b", "2")
        self.assertEqual(sub.wait_message(topic="t/a").payload, b"1")
        self.assertEqual(sub.wait_message(topic="t/b").payload, b"2")
        wrong = self.track(nwtest.MqttClient(broker.auth_port, username="alice", password="no"))
        with self.assertRaisesRegex(AssertionError, "refused"):
            wrong.connect()

    def test_last_will_on_abrupt_drop(self):
        broker = self.start(nwtest.Mosquitto(self.workdir))
        sub = self.mqtt(broker.port)
        sub.subscribe("dev/status")
        dev = self.mqtt(broker.port, will=("dev/status", {"state": "offline"}, 1, True))
        dev.kill()
        self.assertEqual(sub.wait_message(topic="dev/status").json()["state"], "offline")

    def test_persistent_session_survives_broker_sigkill(self):
        broker = self.start(nwtest.Mosquitto(self.workdir, persistence=True,
                                             autosave_on_changes=False))
        sub = nwtest.MqttClient(broker.port, client_id="nwtest-sub", clean_session=False)
        self.start(sub)
        sub.subscribe("q/#", qos=1)
        sub.disconnect()
        pub = self.mqtt(broker.port, client_id="nwtest-pub", clean_session=False)
        for i in range(5):
            pub.publish(f"q/{i}", str(i), qos=1)
        broker.wait_saved()  # the queued messages are on disk
        broker.kill()
        broker.start()
        pub.wait_connected()
        sub2 = self.mqtt(broker.port, client_id="nwtest-sub", clean_session=False)
        got = {sub2.wait_message(topic=f"q/{i}").payload for i in range(5)}
        self.assertEqual(got, {str(i).encode() for i in range(5)})

    def test_parse_metrics(self):
        m = nwtest.parse_metrics('# HELP x y\nx_total{a="1",b="q\\"z"} 3\ny 1.5e3\n')
        self.assertEqual(nwtest.metric_value(m, "x_total", a="1"), 3)
        self.assertEqual(nwtest.metric_value(m, "x_total", b='q"z'), 3)
        self.assertEqual(nwtest.metric_value(m, "y"), 1500)
        self.assertIsNone(nwtest.metric_value(m, "x_total", a="2"))


if __name__ == "__main__":
    unittest.main()
