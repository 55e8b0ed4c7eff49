"""The shipped broker ACL (deploy/mosquitto/acl, issue 13 §3) in a real mosquitto: a pen may
publish only its own telemetry/event/status and read only its own command topic; only the
monitor writes alarm, command and needlewatch/… topics. Denials are silent under MQTT 3.1.1,
so each is shown by absence, behind a positive control that went through the same broker
after it (STACK.md §3, pitfall 5). The monitor keeps working with its own credentials."""

import json
import unittest

import nwtest
from nwtest import alarm_state, alarm_topic, device_topic, shipped_pen_user, telemetry

MONITOR = ("needlewatch", "monitor-pw")
P1 = (shipped_pen_user("c1", "p1"), "pen1-pw")
P2 = (shipped_pen_user("c1", "p2"), "pen2-pw")


class BrokerAclTest(nwtest.NwTestCase):
    def stack(self, halt=False):
        broker = self.start(nwtest.Mosquitto(
            self.workdir, users=dict([MONITOR, P1, P2]), acl=nwtest.shipped_acl()))
        user_file = self.workdir.file("mqtt-user", MONITOR[0] + "\n", mode=0o600)
        pass_file = self.workdir.file("mqtt-password", MONITOR[1] + "\n", mode=0o600)
        extra = f"mqtt:\n  username_file: {user_file}\n  password_file: {pass_file}\n"
        if halt:
            extra += "outputs:\n  halt: {enabled: true}\n"
        daemon = self.start(nwtest.Daemon(
            self.workdir, f"mqtt://127.0.0.1:{broker.auth_port}",
            config=nwtest.limits_config(depth_max=1.0, extra=extra)))
        # Sees everything that the broker lets through (the anonymous test listener, no ACL).
        observer = self.mqtt(broker.port)
        observer.subscribe("#")
        return broker, daemon, observer

    def pen(self, broker, creds):
        return self.mqtt(broker.auth_port, username=creds[0], password=creds[1],
                         client_id=creds[0].replace("/", "-"))

    def test_a_pen_cannot_publish_as_another_pen_or_as_the_monitor(self):
        broker, daemon, observer = self.stack()
        p1 = self.pen(broker, P1)
        forged = [
            (device_topic("c1", "p2", "telemetry"), telemetry(1, "S-x", "cheek", 9.0, 100), False),
            (alarm_topic("c1", "p1", "depth_exceeded"),
             {"v": 1, "alarm": "depth_exceeded", "state": "cleared"}, True),
            (device_topic("c1", "p2", "command"), {"v": 1, "command": "halt"}, False),
            ("needlewatch/nwtest/status", {"v": 1, "state": "online"}, True),
        ]
        for topic, payload, retain in forged:
            p1.publish(topic, payload, retain=retain)  # PUBACKed all the same (MQTT 3.1.1)
        # Positive control, published after the forgeries on the same connection: its own,
        # genuine, deep sample. It reaches the observer, and the monitor raises the alarm.
        p1.publish(device_topic("c1", "p1", "telemetry"),
                   telemetry(1, "S-1", "cheek", 3.0, 100))
        observer.wait_message(topic=device_topic("c1", "p1", "telemetry"))
        observer.wait_message(alarm_state("active", device="p1"),
                              topic=alarm_topic("c1", "p1", "depth_exceeded"))
        seen = {m.topic for m in observer.messages}
        for topic, _, _ in forged:
            if topic == alarm_topic("c1", "p1", "depth_exceeded"):
                states = [m.json().get("state") for m in observer.messages if m.topic == topic]
                self.assertNotIn("cleared", states, "a pen's forged alarm state got through")
            elif topic == "needlewatch/nwtest/status":
                pens = [m for m in observer.messages if m.topic == topic
                        and m.json().get("state") == "online" and "version" not in m.json()]
                self.assertEqual(pens, [], "a pen's forged monitor status got through")
            else:
                self.assertNotIn(topic, seen, f"forged {topic} got through")
        # The monitor saw no forged pen: its only alarm is p1's.
        alarms = nwtest.alarm_list(daemon.alarms())
        self.assertEqual([(a["device"], a["alarm"]) for a in alarms], [("p1", "depth_exceeded")])
        # A fresh reader of the retained alarm sees the monitor's state, not the forgery.
        reader = self.mqtt(broker.port)
        reader.subscribe(alarm_topic("c1", "p1", "depth_exceeded"))
        retained = reader.wait_message(topic=alarm_topic("c1", "p1", "depth_exceeded"))
        self.assertEqual(retained.json()["state"], "active")
        self.assertTrue(retained.retain)

    def test_a_pen_reads_only_its_own_command_topic(self):
        broker, daemon, observer = self.stack(halt=True)
        p1, p2 = self.pen(broker, P1), self.pen(broker, P2)
        p1.subscribe(device_topic("c1", "p1", "command"))
        p2.subscribe(device_topic("c1", "p1", "command"))  # granted SUBACK, never a message
        p2.subscribe(device_topic("c1", "p2", "command"))
        p1.publish(device_topic("c1", "p1", "telemetry"), telemetry(1, "S-1", "cheek", 3.0, 100))
        # Positive control: the monitor's halt reaches p1 (and the unrestricted observer).
        halt = p1.wait_message(topic=device_topic("c1", "p1", "command"))
        self.assertIn("halt", halt.payload.decode())
        observer.wait_message(topic=device_topic("c1", "p1", "command"))
        # p2 asked for p1's commands too; a second halt for p2 itself arrives on its own topic
        # after the first one went out, so by then p1's halt would have reached p2 as well.
        p2.publish(device_topic("c1", "p2", "telemetry"), telemetry(1, "S-2", "cheek", 3.0, 100))
        p2.wait_message(topic=device_topic("c1", "p2", "command"))
        self.assertEqual([m for m in p2.messages if m.topic == device_topic("c1", "p1", "command")],
                         [], "p2 read p1's command topic")

    def test_the_monitor_publishes_its_status_and_a_wrong_password_is_refused(self):
        broker, daemon, observer = self.stack()
        status = observer.wait_message(topic="needlewatch/nwtest/status")
        self.assertEqual(json.loads(status.payload)["state"], "online")
        intruder = self.track(nwtest.MqttClient(broker.auth_port, username=P1[0],
                                                password="guess"))
        with self.assertRaisesRegex(AssertionError, "refused"):
            intruder.connect()
        anonymous = self.track(nwtest.MqttClient(broker.auth_port))
        with self.assertRaisesRegex(AssertionError, "refused"):
            anonymous.connect()


if __name__ == "__main__":
    unittest.main()
