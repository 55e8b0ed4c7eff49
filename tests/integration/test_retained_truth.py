"""Retained alarm topics are the daemon's truth (issue 12 item 4, issue 13 item 3), with a real
mosquitto and `needlewatch run`:

- a retained `cleared` forged by another client on a latched alarm's topic is overwritten with
  the daemon's state, within 1 s of the forgery reaching the broker;
- a retained `active` forged on the topic of an alarm the daemon does not hold becomes
  `cleared`;
- needlewatch_alarm_topic_corrections_total counts both.
"""

import json
import time
import unittest

import nwtest

TOPIC = nwtest.alarm_topic("c1", "pen1", "depth_exceeded")


class RetainedTruthTest(nwtest.NwTestCase):
    def test_forged_retained_alarm_topics_are_set_right(self):
        broker, daemon = self.start_stack(nwtest.limits_config(depth_max=1.0, stale_after="1h"))
        watcher = self.alarm_watcher(broker.port)
        dev = nwtest.Device(self.mqtt(broker.port), "c1", "pen1")
        dev.sample("S1", "cheek", 1.4)
        dev.sample("S1", "cheek", 0.5)
        ours = watcher.wait_message(nwtest.alarm_state("latched"), topic=TOPIC).json()

        forger = self.mqtt(broker.port, client_id="forger")
        forged = dict(ours, state="cleared", ts=time.time())
        seen_before = len(watcher.messages)
        forger.publish(TOPIC, json.dumps(forged), qos=1, retain=True)
        got_forgery = watcher.wait_message(nwtest.alarm_state("cleared"), topic=TOPIC,
                                           start=seen_before)
        fixed = watcher.wait_message(nwtest.alarm_state("latched"), topic=TOPIC,
                                     start=seen_before + 1, timeout=5)
        self.assertLessEqual(fixed.received_at - got_forgery.received_at, 1.0,
                             "corrected within 1 s of the forgery")
        self.assertEqual(fixed.json()["raised_at"], ours["raised_at"])
        # What the broker keeps now is the daemon's state.
        late = self.mqtt(broker.port)
        late.subscribe(TOPIC)
        self.assertEqual(late.wait_message(timeout=5).json()["state"], "latched")

        # An alarm the daemon does not hold, forged active: it becomes cleared.
        other = nwtest.alarm_topic("c1", "pen9", "speed_out_of_range")
        forger.publish(other, json.dumps({"v": 1, "alarm": "speed_out_of_range",
                                          "severity": "medium", "state": "active",
                                          "clinic": "c1", "device": "pen9"}),
                       qos=1, retain=True)
        watcher.wait_message(nwtest.alarm_state("cleared"), topic=other, timeout=5)
        late2 = self.mqtt(broker.port)
        late2.subscribe(other)
        self.assertEqual(late2.wait_message(timeout=5).json()["state"], "cleared")
        self.assertEqual(daemon.metric("needlewatch_alarm_topic_corrections_total"), 2)
        # The daemon's own API never changed its mind.
        states = {a["alarm"]: a["state"] for a in daemon.alarms()["alarms"]}
        self.assertEqual(states, {"depth_exceeded": "latched"})


if __name__ == "__main__":
    unittest.main()
