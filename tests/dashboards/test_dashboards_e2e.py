#!/usr/bin/env python3
"""End to end: simulator + scripted devices -> mosquitto -> needlewatch -> Prometheus (1 s scrape,
our alert rules) -> Alertmanager (our routing) -> a webhook receiver in this test.

It checks that
  1. every PromQL query of every Grafana dashboard (panels, variable queries, annotations), with
     the variables filled in, runs without error and returns data. Series that only exist after
     an event (alarms of each severity, a latched alarm, a firing alert, sequence gaps, a
     finished session, an offline device) are driven first by scripted devices;
  2. every alert rule of dashboards/prometheus/rules.yml fires in a scenario and reaches
     Alertmanager, which routes it by severity (high pages) to the webhook receiver.

Test copies (documented in dashboards/README.md): the rules' `for: 1m`/`for: 5m` become `for: 2s`
(nothing else changes), and Alertmanager's group_wait/group_interval become 1s with the
receivers' URLs pointed at the webhook receiver. The daemon uses short limits for some zones
(overtime after 3 s/10 s, stale after 2 s), an audit log on /dev/full (every write fails: drives
NeedlewatchAuditLogFailing), and records into a directory that the test deletes once the daemon
runs (1 s segments, so the next segment cannot be opened: drives NeedlewatchRecorderDropping).

Run through ctest (NEEDLEWATCH_BIN, optionally NEEDLEWATCH_SIM_BIN, set by
tests/dashboards/CMakeLists.txt). Takes about a minute.
"""
import json
import os
import re
import signal
import sys
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import nwtest  # noqa: E402
import validate_dashboards  # noqa: E402

RULES = os.path.join(ROOT, "dashboards", "prometheus", "rules.yml")
ALERTMANAGER = os.path.join(ROOT, "dashboards", "alertmanager", "alertmanager.yml")
DASHBOARDS = os.path.join(ROOT, "dashboards", "grafana", "dashboards")

CLINIC = "e2e"
FOCUS_DEVICE = "d-deep"  # the device the "Device and session" dashboard is checked with

DAEMON_CONFIG = """\
record:
  enabled: true
  dir: {record_dir}
  segment_max_age: 1s
limits:
  default:
    depth_mm: {{warn: 0.8, max: 1.0}}
    speed_hz: {{min: 50, max: 150, for: 500ms}}
    session: {{warn_after: 50m, max_duration: 60m}}
    telemetry: {{stale_after: 1h}}
  zones:
    quick: {{session: {{warn_after: 3s, max_duration: 10s}}}}
    patchy: {{telemetry: {{stale_after: 2s}}}}
"""

# Panel queries need a time window; these stand for Grafana's built-in variables.
QUERY_VARS = {"__range": "5m", "__rate_interval": "20s", "__interval": "2s",
              "clinic": CLINIC, "device": FOCUS_DEVICE, "instance": ".*"}


def rules_test_copy(text):
    """The rules with every `for:` of a minute or more shortened to 2s; nothing else changes."""
    out, n = re.subn(r"(?m)^(\s+for:\s*)\d+[mh]\s*$", r"\g<1>2s", text)
    assert n >= 3, f"expected the monitor-health rules' for: durations, replaced {n}"
    return out


def alertmanager_test_copy(text, sink_port):
    text = re.sub(r"http://127\.0\.0\.1:5001/needlewatch/(\w+)",
                  lambda m: f"http://127.0.0.1:{sink_port}/{m.group(1)}", text)
    text = re.sub(r"(group_wait|group_interval):\s*\S+", r"\1: 1s", text)
    assert str(sink_port) in text
    return text


class DashboardsEndToEnd(nwtest.NwTestCase):
    def setUp(self):
        super().setUp()
        self.bin = nwtest.needlewatch_bin()

    # -- helpers -------------------------------------------------------------------------------

    def prom_has(self, expr):
        return self.prom.query(expr)

    def wait_prom(self, expr, what, timeout=30):
        return nwtest.wait_until(lambda: self.prom_has(expr), timeout, what)

    def firing(self):
        """{alertname: [(receiver, alert)]} of every firing alert the webhook received."""
        out = {}
        for body in list(self.sink.bodies):
            if not isinstance(body, dict):
                continue
            for a in body.get("alerts", []):
                if a.get("status") == "firing":
                    out.setdefault(a["labels"]["alertname"], []).append((body.get("receiver"), a))
        return out

    def wait_alert(self, name, timeout=40, **labels):
        def got():
            for receiver, a in self.firing().get(name, []):
                if all(a["labels"].get(k) == v for k, v in labels.items()):
                    return receiver, a
            return None
        try:
            return nwtest.wait_until(got, timeout, f"alert {name} {labels} at the webhook")
        except nwtest.WaitTimeout as e:
            alerts = self.prom.query("ALERTS")
            raise nwtest.WaitTimeout(
                f"{e}; received: {sorted(self.firing())}; Prometheus ALERTS: "
                + json.dumps([a['metric'] for a in alerts])[:2000]) from None

    def device(self, name):
        d = nwtest.Device(self.pub, CLINIC, name)
        d.online()
        return d

    def sim_argv(self, mqtt_url):
        sim = os.environ.get("NEEDLEWATCH_SIM_BIN")
        if not sim:
            return None
        return [sim, "--mqtt.url", mqtt_url, "--clinics", "1", "--devices", "2",
                "--duration", "0", "--quiet"]

    # -- the test ------------------------------------------------------------------------------

    def test_dashboards_and_alerts_end_to_end(self):
        wd = self.workdir
        self.sink = self.track(nwtest.WebhookSink())
        am = nwtest.Alertmanager(wd, self.sink.url)
        with open(ALERTMANAGER, encoding="utf-8") as f:
            am_text = alertmanager_test_copy(f.read(), self.sink.port)
        with open(am.config_path, "w", encoding="utf-8") as f:
            f.write(am_text)
        self.start(am)

        broker = self.start(nwtest.Mosquitto(wd))
        record_dir = os.path.join(wd.path, "recordings")
        daemon = nwtest.Daemon(wd, broker.url, config=DAEMON_CONFIG.format(record_dir=record_dir))
        daemon.audit_path = "/dev/full"  # every audit write fails
        self.start(daemon)

        with open(RULES, encoding="utf-8") as f:
            rules_path = wd.file("rules-test-copy.yml", rules_test_copy(f.read()))
        self.prom = self.start(nwtest.Prometheus(
            wd, f"127.0.0.1:{daemon.port}", rule_files=[rules_path], alertmanager=am.address))
        self.wait_prom('needlewatch_mqtt_connected{job="needlewatch"} == 1', "first scrape")

        # The simulated fleet in the background (other clinics), when the simulator is built.
        argv = self.sim_argv(broker.url)
        if argv:
            sim = self.track(nwtest.Service())
            sim.name = "needlewatch-sim"
            sim.child = nwtest.Child("needlewatch-sim", argv,
                                     os.path.join(wd.path, "sim.log"))
            self.wait_prom(f'count(needlewatch_sessions_active{{clinic!="{CLINIC}"}} > 0)',
                           "simulated sessions", timeout=30)
        else:
            print("NEEDLEWATCH_SIM_BIN not set: no simulated fleet, scripted devices only",
                  file=sys.stderr)

        # Recording holes: the directory vanishes; the next 1 s segment cannot be opened.
        import shutil
        shutil.rmtree(record_dir)

        self.pub = self.mqtt(broker.port)

        # d-deep: too deep (high, latches), then back within limits, then too fast (medium).
        deep = self.device("d-deep")
        deep.start_session("S-deep", "cheek")
        for _ in range(3):
            deep.sample("S-deep", "cheek", 0.5, 100)
        t0 = deep.sample("S-deep", "cheek", 1.3, 100)
        self.wait_alert("NeedlewatchDepthExceeded", device="d-deep")
        # A figure, not an assertion: sample published -> alert at the webhook (1 s scrape and
        # evaluation, 1 s group_wait).
        print(f"depth sample -> webhook: {time.monotonic() - t0:.1f} s", file=sys.stderr)
        deep.sample("S-deep", "cheek", 0.5, 100)
        self.wait_prom(f'needlewatch_alarms_latched{{clinic="{CLINIC}",device="d-deep"}}',
                       "depth_exceeded latched on d-deep")
        for _ in range(12):  # 1.2 s above max speed (for: 500ms)
            t = time.monotonic()
            deep.sample("S-deep", "cheek", 0.5, 300)
            nwtest.wait_until(lambda: time.monotonic() - t >= 0.1, 1, "100 ms between samples")

        # d-warn: above the warning depth, within the maximum (low).
        warn = self.device("d-warn")
        warn.start_session("S-warn", "cheek")
        warn.sample("S-warn", "cheek", 0.9, 100)

        # d-over: zone "quick" warns after 3 s and is overtime after 10 s.
        over = self.device("d-over")
        over.start_session("S-over", "quick")
        over.sample("S-over", "quick", 0.4, 100)

        # d-stale: zone "patchy" is stale after 2 s without telemetry.
        stale = self.device("d-stale")
        stale.start_session("S-stale", "patchy")
        stale.sample("S-stale", "patchy", 0.4, 100)

        # d-off: goes offline with a session open (high).
        off = self.device("d-off")
        off.start_session("S-off", "cheek")
        off.sample("S-off", "cheek", 0.4, 100)
        self.pub.publish(off.topic("status"), nwtest.status("offline"), retain=True)

        # d-gap: sequence numbers skip; the first gap is scraped before the rest, so that
        # increase() sees all of them even if the counter series is born at the first gap.
        gap = self.device("d-gap")
        gap.start_session("S-gap", "cheek")
        gap.sample("S-gap", "cheek", 0.4, 100)
        gap.seq += 1
        gap.sample("S-gap", "cheek", 0.4, 100)
        self.wait_prom(f'needlewatch_sequence_gaps_total{{clinic="{CLINIC}"}} >= 1', "first gap")
        for _ in range(10):
            gap.seq += 1
            gap.sample("S-gap", "cheek", 0.4, 100)
        gap.end_session("S-gap")  # a finished session for the duration histogram

        # Malformed flood: 400 bad JSON payloads (rejected, counted by reason).
        bad_topic = nwtest.device_topic(CLINIC, "d-bad", "telemetry")
        for i in range(400):
            self.pub.publish(bad_topic, b"{not json", qos=0, wait=False)
        daemon.wait_metric("needlewatch_messages_rejected_total", lambda v: v and v >= 400,
                           timeout=20, reason="bad_json")

        daemon.send_signal(signal.SIGHUP)  # a config reload, for the health dashboard

        # 1. Every dashboard query returns data, with the state above in Prometheus.
        for expr, what in [
            (f'needlewatch_alarms_active{{clinic="{CLINIC}",severity="high"}}', "a high alarm"),
            (f'needlewatch_alarms_active{{clinic="{CLINIC}",severity="medium"}}', "a medium alarm"),
            (f'needlewatch_alarms_active{{clinic="{CLINIC}",severity="low"}}', "a low alarm"),
            (f'ALERTS{{alertstate="firing",clinic="{CLINIC}",device="{FOCUS_DEVICE}"}}',
             "a firing alert on the focus device"),
            (f'needlewatch_session_duration_seconds_count{{clinic="{CLINIC}"}} >= 1',
             "a finished session"),
            ('needlewatch_recorder_dropped_total > 0', "recorder drops"),
        ]:
            self.wait_prom(expr, what)
        self.check_dashboard_queries()

        # 2. Every rule fires and reaches Alertmanager, routed by severity.
        expected = {
            "NeedlewatchDepthExceeded": ({"device": "d-deep", "severity": "high", "page": "true"}, "pager"),
            "NeedlewatchDepthWarning": ({"device": "d-warn", "severity": "low"}, "tickets"),
            "NeedlewatchSpeedOutOfRange": ({"device": "d-deep", "severity": "medium"}, "clinic-team"),
            "NeedlewatchSessionOvertimeWarning": ({"device": "d-over", "severity": "low"}, "tickets"),
            "NeedlewatchSessionOvertime": ({"device": "d-over", "severity": "high"}, "pager"),
            "NeedlewatchTelemetryStale": ({"device": "d-stale", "severity": "medium"}, "clinic-team"),
            "NeedlewatchDeviceOffline": ({"device": "d-off", "severity": "high"}, "pager"),
            "NeedlewatchSequenceGaps": ({"clinic": CLINIC, "severity": "low"}, "tickets"),
            "NeedlewatchRejectRateSpike": ({"severity": "medium"}, "clinic-team"),
            "NeedlewatchRecorderDropping": ({"severity": "medium"}, "clinic-team"),
            "NeedlewatchAuditLogFailing": ({"severity": "medium"}, "clinic-team"),
        }
        for name, (labels, receiver) in expected.items():
            got_receiver, alert = self.wait_alert(name, **labels)
            self.assertEqual(got_receiver, receiver, f"{name} routed to {got_receiver}")
            self.check_annotations(name, alert)

        # The broker goes away: the daemon is disconnected.
        broker.stop()
        receiver, alert = self.wait_alert("NeedlewatchMqttDisconnected", severity="high", page="true")
        self.assertEqual(receiver, "pager")
        self.check_annotations("NeedlewatchMqttDisconnected", alert)

        # The daemon goes away: Prometheus cannot scrape it.
        self.assertEqual(daemon.stop(), 0)
        receiver, alert = self.wait_alert("NeedlewatchMonitorDown", severity="high", page="true")
        self.assertEqual(receiver, "pager")
        self.check_annotations("NeedlewatchMonitorDown", alert)

        # Nothing left out: every rule in rules.yml was seen at the webhook.
        with open(RULES, encoding="utf-8") as f:
            names = set(re.findall(r"(?m)^\s+- alert:\s*(\w+)", f.read()))
        self.assertEqual(names - set(self.firing()), set())

    def check_annotations(self, name, alert):
        ann = alert.get("annotations", {})
        for key in ("summary", "description", "runbook"):
            self.assertTrue(ann.get(key), f"{name}: empty {key}")
            self.assertNotIn("<no value>", ann[key], f"{name}: {key} {ann[key]!r}")
        anchor = ann["runbook"].split("#", 1)[1]
        with open(os.path.join(ROOT, "dashboards", "README.md"), encoding="utf-8") as f:
            headings = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
                        for h in re.findall(r"(?m)^#+\s+(.*)$", f.read())}
        self.assertIn(anchor, headings, f"{name}: runbook anchor #{anchor} not in dashboards/README.md")

    def run_query(self, q, instant):
        """(error or None, result list) of one query over the last minute (range) or now."""
        now = time.time()
        if instant:
            params, path = {"query": q, "time": f"{now:.3f}"}, "/api/v1/query"
        else:
            params = {"query": q, "start": f"{now - 60:.3f}", "end": f"{now:.3f}", "step": "2"}
            path = "/api/v1/query_range"
        status, body = nwtest.http(
            "GET", f"{self.prom.base_url}{path}?{urllib.parse.urlencode(params)}")
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        if status != 200 or doc.get("status") != "success":
            return f"{status} {body[:200]!r}", []
        return None, doc["data"]["result"]

    def check_dashboard_queries(self):
        """Every query runs; each returns data within a few scrapes (rate() and increase() of a
        series born by an event need a second sample)."""
        empty, failed, checked = [], [], 0
        for fname in sorted(os.listdir(DASHBOARDS)):
            with open(os.path.join(DASHBOARDS, fname), encoding="utf-8") as f:
                dash = json.load(f)
            for where, expr, panel in validate_dashboards.queries(dash):
                q = validate_dashboards.substitute(expr, QUERY_VARS)
                instant = panel is None or any(t.get("instant") and t.get("expr") == expr
                                               for t in panel.get("targets", []))
                label = f"{fname}: {where}: {q}"
                checked += 1
                box = []

                def answered():
                    box[:] = [self.run_query(q, instant)]
                    return box[0][0] is not None or box[0][1]
                try:
                    nwtest.wait_until(answered, 10, label, interval=0.5)
                except nwtest.WaitTimeout:
                    pass
                error, result = box[0]
                if error:
                    failed.append(f"{label} -> {error}")
                elif not result:
                    empty.append(label)
        self.assertEqual(failed, [], "queries that failed")
        self.assertEqual(empty, [], "queries without data")
        self.assertGreater(checked, 40)
        print(f"dashboard queries checked: {checked}", file=sys.stderr)

if __name__ == "__main__":
    unittest.main()
