#!/usr/bin/env python3
"""End to end: simulator + scripted devices -> mosquitto -> a pair of needlewatch replicas ->
Prometheus (1 s scrape and evaluation, our rules) -> Alertmanager (our routing) -> a webhook
receiver in this test.

It checks that
  1. every PromQL query of every Grafana dashboard (panels, variable queries, annotations), with
     the variables filled in, runs without error and returns data, and that the dashboards count
     a replica pair once (both replicas are scraped, with a `replica` label). Series that only
     exist after an event (alarms of each severity, a latched alarm, a firing alert, sequence
     gaps, a finished session, an offline device) are driven first by scripted devices;
  2. paging (issue 11): a 200 ms over-depth excursion that happens entirely between two scrapes
     (Prometheus is frozen with SIGSTOP around it) reaches the pager exactly once, with severity
     high and an absolute runbook_url from the configured base, and resolves when it is
     acknowledged; a high alarm raised *and acknowledged* between two scrapes reaches the pager
     through NeedlewatchHighAlarmBetweenScrapes; Watchdog reaches the dead man's switch receiver;
  3. every alert rule of dashboards/prometheus/rules.yml fires in a scenario and reaches
     Alertmanager, which routes it by severity (high pages) to the webhook receiver; the last ones
     are the monitor's own: broker gone, daemon gone, a target dropped from the configuration,
     no target left in the job.

Test copies (documented in dashboards/README.md): the rules rendered by render_rules.py with a
test runbook base, their `for: 1m`/`for: 5m` shortened to `for: 2s` (nothing else changes);
Alertmanager's group_wait/group_interval become 1s with the receivers' URLs pointed at the webhook
receiver. The daemon uses short limits for some zones (overtime after 3 s/10 s, stale after 2 s);
replica a has an audit log on /dev/full (every write fails: drives NeedlewatchAuditLogFailing) and
records into a directory that the test deletes once the daemon runs (1 s segments, so the next
segment cannot be opened: drives NeedlewatchRecorderDropping).

Run through ctest (NEEDLEWATCH_BIN, optionally NEEDLEWATCH_SIM_BIN, set by
tests/dashboards/CMakeLists.txt). Takes about a minute and a half.
"""
import json
import os
import re
import signal
import subprocess
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
RENDER_RULES = os.path.join(ROOT, "dashboards", "prometheus", "render_rules.py")
RUNBOOK_BASE = "https://runbooks.e2e.test/needlewatch/README.md"
ALERTMANAGER = os.path.join(ROOT, "dashboards", "alertmanager", "alertmanager.yml")
DASHBOARDS = os.path.join(ROOT, "dashboards", "grafana", "dashboards")

CLINIC = "e2e"
FOCUS_DEVICE = "d-deep"  # the device the "Device and session" dashboard is checked with
EXCURSION_CLINIC = "e2e-x"  # the 200 ms excursion between two scrapes
BLIP_CLINIC = "e2e-y"       # a high alarm raised and acknowledged between two scrapes

LIMITS = """\
limits:
  default:
    depth_mm: {warn: 0.8, max: 1.0}
    speed_hz: {min: 50, max: 150, for: 500ms}
    session: {warn_after: 50m, max_duration: 60m}
    telemetry: {stale_after: 1h}
  zones:
    quick: {session: {warn_after: 3s, max_duration: 10s}}
    patchy: {telemetry: {stale_after: 2s}}
"""
PAIR = "cluster: {{replica: {}}}\n"

RECORD = """\
record:
  enabled: true
  dir: {record_dir}
  segment_max_age: 1s
"""

# Panel queries need a time window; these stand for Grafana's built-in variables.
QUERY_VARS = {"__range": "5m", "__rate_interval": "20s", "__interval": "2s",
              "clinic": CLINIC, "device": FOCUS_DEVICE, "instance": ".*"}


def rules_test_copy():
    """The rules rendered with RUNBOOK_BASE, every `for:` of a minute or more shortened to 2s."""
    r = subprocess.run([sys.executable, RENDER_RULES, "--runbook-base", RUNBOOK_BASE],
                       capture_output=True, text=True, check=True)
    out, n = re.subn(r"(?m)^(\s+for:\s*)\d+[mh][ \t]*$", r"\g<1>2s", r.stdout)
    assert n >= 5, f"expected the monitor-health rules' for: durations, replaced {n}"
    return out


def prometheus_config(targets, rules_path, alertmanager):
    """1 s scrape and evaluation; `targets` {replica: "127.0.0.1:PORT"} in the job needlewatch,
    each with its `replica` label (the labelling dashboards/README.md asks for)."""
    lines = ["global: {scrape_interval: 1s, evaluation_interval: 1s}",
             f"rule_files: [{json.dumps(rules_path)}]",
             f"alerting:\n  alertmanagers: [{{static_configs: [{{targets: ['{alertmanager}']}}]}}]",
             "scrape_configs:",
             "  - job_name: needlewatch\n    static_configs:"]
    for replica, target in sorted(targets.items()):
        lines.append(f"      - {{targets: ['{target}'], labels: {{replica: {replica}}}}}")
    if not targets:
        # The job without targets, as when service discovery returns none: Prometheus marks the
        # targets' series stale at once. (A job deleted from the file leaves its last `up` for
        # the 5-minute lookback: dashboards/README.md, NeedlewatchMonitorAbsent.)
        lines.append("      - {targets: []}")
    return "\n".join(lines) + "\n"


def parse_time(rfc3339):
    """Unix seconds of a Prometheus API timestamp (RFC 3339, nanoseconds, Z or an offset)."""
    import datetime
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", rfc3339)
    if not m:
        raise ValueError(f"unexpected time {rfc3339!r}")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    base = datetime.datetime.fromisoformat(m.group(1) + zone).timestamp()
    return base + float(m.group(2) or 0)


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

    def notifications(self, status="firing"):
        """[(receiver, alert)] of every alert in `status` in every body the webhook received."""
        out = []
        for body in list(self.sink.bodies):
            if not isinstance(body, dict):
                continue
            for a in body.get("alerts", []):
                if a.get("status") == status:
                    out.append((body.get("receiver"), a))
        return out

    def firing(self):
        """{alertname: [(receiver, alert)]} of every firing alert the webhook received."""
        out = {}
        for receiver, a in self.notifications():
            out.setdefault(a["labels"]["alertname"], []).append((receiver, a))
        return out

    def received(self, name, status="firing", **labels):
        return [(r, a) for r, a in self.notifications(status)
                if a["labels"].get("alertname") == name
                and all(a["labels"].get(k) == v for k, v in labels.items())]

    def wait_alert(self, name, timeout=40, status="firing", **labels):
        try:
            return nwtest.wait_until(lambda: next(iter(self.received(name, status, **labels)), None),
                                     timeout, f"{status} alert {name} {labels} at the webhook")
        except nwtest.WaitTimeout as e:
            alerts = self.prom.query("ALERTS")
            raise nwtest.WaitTimeout(
                f"{e}; received: {sorted(self.firing())}; Prometheus ALERTS: "
                + json.dumps([a['metric'] for a in alerts])[:2000]) from None

    def device(self, name, clinic=CLINIC):
        d = nwtest.Device(self.pub, clinic, name)
        d.online()
        return d

    def sim_argv(self, mqtt_url):
        sim = os.environ.get("NEEDLEWATCH_SIM_BIN")
        if not sim:
            return None
        return [sim, "--mqtt.url", mqtt_url, "--clinics", "1", "--devices", "2",
                "--duration", "0", "--quiet"]

    def reconfigure_prometheus(self, targets):
        with open(self.prom.config_path, "w", encoding="utf-8") as f:
            f.write(prometheus_config(targets, self.rules_path, self.am.address))
        self.prom.child.send_signal(signal.SIGHUP)

    def freeze_prometheus(self):
        """SIGSTOPs Prometheus at a moment when no scrape is in flight: every target's last
        scrape has finished and started less than 0.5 s ago (1 s interval), so the next one of
        each is at least 0.4 s away. From then on, until thaw, no scrape sees the daemons."""
        def quiet():
            status, body = nwtest.http("GET", self.prom.base_url + "/api/v1/targets?state=active")
            targets = [t for t in json.loads(body)["data"]["activeTargets"]
                       if t["labels"].get("job") == "needlewatch"]
            now = time.time()
            ages = [now - parse_time(t["lastScrape"]) for t in targets]
            done = all(now >= parse_time(t["lastScrape"]) + t["lastScrapeDuration"]
                       for t in targets)
            return len(targets) == 2 and done and all(0 <= a < 0.5 for a in ages)
        nwtest.wait_until(quiet, 10, "a moment between two scrapes of both replicas")
        self.prom.child.send_signal(signal.SIGSTOP)

    def thaw_prometheus(self):
        self.prom.child.send_signal(signal.SIGCONT)

    def wait_alarm_state(self, clinic, device, alarm, state):
        """Until both replicas hold `alarm` of the device in `state` (None: not at all)."""
        def both():
            for d in self.daemons:
                found = [a.get("state") for a in nwtest.alarm_list(d.alarms())
                         if (a.get("clinic"), a.get("device"), a.get("alarm")) == (clinic, device, alarm)]
                if found != ([state] if state else []):
                    return False
            return True
        nwtest.wait_until(both, 10, f"{clinic}/{device} {alarm} {state or 'gone'} on both replicas")

    def ack_everywhere(self, clinic, device, alarm):
        """Acknowledges on each replica: each holds its own alarm state (dashboards/README.md)."""
        for d in self.daemons:
            status, body = d.ack(clinic, device, alarm)
            self.assertEqual(status, 200, body)

    # -- the test ------------------------------------------------------------------------------

    def test_dashboards_and_alerts_end_to_end(self):
        wd = self.workdir
        self.sink = self.track(nwtest.WebhookSink())
        self.am = am = nwtest.Alertmanager(wd, self.sink.url)
        with open(ALERTMANAGER, encoding="utf-8") as f:
            am_text = alertmanager_test_copy(f.read(), self.sink.port)
        with open(am.config_path, "w", encoding="utf-8") as f:
            f.write(am_text)
        self.start(am)

        broker = self.start(nwtest.Mosquitto(wd))
        record_dir = os.path.join(wd.path, "recordings")
        # The two replicas are a pair (cluster.replica): one writes the retained alarm topics.
        # Two unpaired monitors on the same topics correct each other's states without end, a
        # storm that starved this test once (docs/cluster.md, "Paired monitors").
        # Replica a: audit log on /dev/full, recording into a directory about to vanish.
        daemon = nwtest.Daemon(wd, broker.url, instance="nwtest-a",
                               config=RECORD.format(record_dir=record_dir) + LIMITS + PAIR.format("a"))
        daemon.audit_path = "/dev/full"  # every audit write fails
        self.start(daemon)
        # Replica b: the same limits and subscriptions, nothing else.
        replica_b = self.start(nwtest.Daemon(wd, broker.url, config=LIMITS + PAIR.format("b"),
                                             instance="nwtest-b", name="needlewatch-b"))
        self.daemons = [daemon, replica_b]
        targets = {"a": f"127.0.0.1:{daemon.port}", "b": f"127.0.0.1:{replica_b.port}"}

        self.rules_path = wd.file("rules-test-copy.yml", rules_test_copy())
        self.prom = nwtest.Prometheus(wd, list(targets.values()))
        with open(self.prom.config_path, "w", encoding="utf-8") as f:
            f.write(prometheus_config(targets, self.rules_path, am.address))
        self.start(self.prom)
        self.wait_prom('count(needlewatch_mqtt_connected{job="needlewatch"} == 1) == 2',
                       "first scrape of both replicas")

        # The simulated fleet in the background (other clinics), when the simulator is built.
        argv = self.sim_argv(broker.url)
        if argv:
            sim = self.track(nwtest.Service())
            sim.name = "needlewatch-sim"
            sim.child = nwtest.Child("needlewatch-sim", argv,
                                     os.path.join(wd.path, "sim.log"))
            self.wait_prom(f'count(needlewatch_sessions_active{{clinic!~"{CLINIC}.*"}} > 0)',
                           "simulated sessions", timeout=30)
        else:
            print("NEEDLEWATCH_SIM_BIN not set: no simulated fleet, scripted devices only",
                  file=sys.stderr)

        # Recording holes: the directory vanishes; the next 1 s segment cannot be opened.
        import shutil
        shutil.rmtree(record_dir)

        self.pub = self.mqtt(broker.port)
        self.page_for_excursion_between_scrapes()
        self.page_for_raise_and_ack_between_scrapes()

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

        # 1. Every dashboard query returns data, with the state above in Prometheus; replica
        #    pairs are counted once.
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
        self.check_replicas_counted_once()

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
            if "device" in labels:  # device alerts: one per alarm, whichever replica saw it
                self.assertNotIn("instance", alert["labels"], name)
                self.assertNotIn("replica", alert["labels"], name)

        # The broker goes away: the daemons are disconnected.
        broker.stop()
        receiver, alert = self.wait_alert("NeedlewatchMqttDisconnected", severity="high", page="true")
        self.assertEqual(receiver, "pager")
        self.check_annotations("NeedlewatchMqttDisconnected", alert)

        # Replica a goes away: Prometheus cannot scrape it.
        self.assertEqual(daemon.stop(), 0)
        receiver, alert = self.wait_alert("NeedlewatchMonitorDown", severity="high", page="true",
                                          instance=targets["a"])
        self.assertEqual(receiver, "pager")
        self.check_annotations("NeedlewatchMonitorDown", alert)

        # Replica b leaves the scrape configuration: it is no longer watched.
        self.reconfigure_prometheus({"a": targets["a"]})
        receiver, alert = self.wait_alert("NeedlewatchMonitorTargetMissing", page="true",
                                          instance=targets["b"])
        self.assertEqual(receiver, "pager")
        self.check_annotations("NeedlewatchMonitorTargetMissing", alert)

        # The job loses its last target (as when service discovery returns none): nothing is
        # scraped at all.
        self.reconfigure_prometheus({})
        receiver, alert = self.wait_alert("NeedlewatchMonitorAbsent", page="true", job="needlewatch")
        self.assertEqual(receiver, "pager")
        self.check_annotations("NeedlewatchMonitorAbsent", alert)

        # The dead man's switch gets Watchdog. It fires from Prometheus' first evaluation, often
        # before Prometheus knows its Alertmanager; then it arrives with the resend a minute on.
        receiver, alert = self.wait_alert("Watchdog", timeout=90)
        self.assertEqual(receiver, "deadmansswitch")
        self.check_annotations("Watchdog", alert)

        # Exactly once: a minute of other alerts later, still one page per alarm.
        self.check_paged_once()

        # Nothing left out: every rule in rules.yml was seen at the webhook.
        with open(RULES, encoding="utf-8") as f:
            names = set(re.findall(r"(?m)^\s+- alert:\s*(\w+)", f.read()))
        self.assertEqual(names - set(self.firing()), set())

    # -- paging (issue 11) ---------------------------------------------------------------------

    def page_for_excursion_between_scrapes(self):
        """A 200 ms over-depth excursion while Prometheus cannot scrape: raised, cleared and
        latched before the next scrape. It pages once (severity, runbook_url) and resolves when
        acknowledged."""
        pen = self.device("d-x", EXCURSION_CLINIC)
        pen.start_session("S-x", "cheek")
        pen.sample("S-x", "cheek", 0.5, 100)
        self.wait_prom(f'count(needlewatch_device_zone_info{{clinic="{EXCURSION_CLINIC}"}}) == 2',
                       "the excursion pen scraped on both replicas")
        self.freeze_prometheus()
        try:
            pen.sample("S-x", "cheek", 1.3, 100)
            t = time.monotonic()
            nwtest.wait_until(lambda: time.monotonic() - t >= 0.2, 1, "200 ms over depth")
            pen.sample("S-x", "cheek", 0.5, 100)
            self.wait_alarm_state(EXCURSION_CLINIC, "d-x", "depth_exceeded", "latched")
        finally:
            self.thaw_prometheus()
        receiver, alert = self.wait_alert("NeedlewatchDepthExceeded", device="d-x")
        self.assertEqual(receiver, "pager")
        self.assertEqual(alert["labels"]["severity"], "high")
        self.assertEqual(alert["labels"]["page"], "true")
        self.assertEqual(alert["annotations"]["runbook_url"],
                         RUNBOOK_BASE + "#needlewatchdepthexceeded")
        self.check_annotations("NeedlewatchDepthExceeded", alert)
        # Prometheus never saw it active: it happened between two scrapes.
        self.assertEqual(self.prom.query(
            f'max_over_time(needlewatch_alarms_active{{clinic="{EXCURSION_CLINIC}"}}[10m])'), [])
        self.ack_everywhere(EXCURSION_CLINIC, "d-x", "depth_exceeded")
        self.wait_alert("NeedlewatchDepthExceeded", status="resolved", device="d-x")

    def page_for_raise_and_ack_between_scrapes(self):
        """A high alarm raised, cleared and acknowledged while Prometheus cannot scrape: no
        scrape ever sees it, the raise counter does; NeedlewatchHighAlarmBetweenScrapes pages."""
        pen = self.device("d-y", BLIP_CLINIC)
        pen.start_session("S-y", "cheek")
        pen.sample("S-y", "cheek", 0.5, 100)
        self.wait_prom(f'count(needlewatch_alarms_raised_total{{clinic="{BLIP_CLINIC}",'
                       f'alarm="depth_exceeded",severity="high"}} == 0) == 2',
                       "the blip clinic's raise counters at 0 on both replicas")
        self.freeze_prometheus()
        try:
            pen.sample("S-y", "cheek", 1.3, 100)
            pen.sample("S-y", "cheek", 0.5, 100)
            self.wait_alarm_state(BLIP_CLINIC, "d-y", "depth_exceeded", "latched")
            self.ack_everywhere(BLIP_CLINIC, "d-y", "depth_exceeded")
            self.wait_alarm_state(BLIP_CLINIC, "d-y", "depth_exceeded", None)
        finally:
            self.thaw_prometheus()
        receiver, alert = self.wait_alert("NeedlewatchHighAlarmBetweenScrapes", clinic=BLIP_CLINIC)
        self.assertEqual(receiver, "pager")
        self.assertEqual(alert["labels"]["alarm"], "depth_exceeded")
        self.assertEqual(alert["labels"]["severity"], "high")
        self.check_annotations("NeedlewatchHighAlarmBetweenScrapes", alert)
        self.assertEqual(self.prom.query(
            f'max_over_time(needlewatch_alarms_unacknowledged{{clinic="{BLIP_CLINIC}"}}[10m])'), [])

    def check_paged_once(self):
        def one_line(name, status, **labels):
            return [(r, a["labels"], a.get("startsAt")) for r, a in self.received(name, status, **labels)]
        excursion = one_line("NeedlewatchDepthExceeded", "firing", device="d-x")
        self.assertEqual(len(excursion), 1, f"excursion pages: {excursion}")
        resolved = one_line("NeedlewatchDepthExceeded", "resolved", device="d-x")
        self.assertEqual(len(resolved), 1, f"excursion resolutions: {resolved}")
        self.assertEqual(one_line("NeedlewatchHighAlarmBetweenScrapes", "firing",
                                  clinic=EXCURSION_CLINIC), [], "the excursion paged twice")
        blip = one_line("NeedlewatchHighAlarmBetweenScrapes", "firing", clinic=BLIP_CLINIC)
        self.assertEqual(len(blip), 1, f"blip pages: {blip}")
        self.assertEqual(one_line("NeedlewatchDepthExceeded", "firing", device="d-y"), [])
        # Every device alarm that paged did so once, although two replicas reported it.
        for name in ("NeedlewatchDepthExceeded", "NeedlewatchSessionOvertime",
                     "NeedlewatchDeviceOffline"):
            for device in {a["labels"].get("device") for _, a in self.received(name)}:
                pages = one_line(name, "firing", device=device)
                self.assertEqual(len(pages), 1, f"{name} on {device}: {pages}")

    def check_replicas_counted_once(self):
        """Both replicas are scraped; the clinic dashboard's figures equal one replica's."""
        with open(os.path.join(DASHBOARDS, "clinic-overview.json"), encoding="utf-8") as f:
            dash = json.load(f)
        panels = {p.get("title"): p for p in validate_dashboards.walk_panels(dash["panels"])}
        checked = 0
        for title in ("Sessions in progress", "High alarms now", "Waiting for acknowledgement",
                      "Devices online"):
            expr = validate_dashboards.substitute(panels[title]["targets"][0]["expr"],
                                                  {"clinic": CLINIC})
            one = expr.replace(f'clinic=~"{CLINIC}"', f'clinic=~"{CLINIC}",replica="a"')
            both_raw = re.sub(r"max without \(instance, replica\) ", "", expr)
            box = []

            def agree():
                box[:] = [self.prom.query(q) for q in (expr, one, both_raw)]
                values = [float(r[0]["value"][1]) if r else None for r in box]
                return values[0] and values[0] == values[1] and values[2] == 2 * values[0]
            try:
                nwtest.wait_until(agree, 10, f"{title}: deduplicated = one replica = half the raw sum")
            except nwtest.WaitTimeout as e:
                raise AssertionError(f"{e}: {box}") from None
            checked += 1
        self.assertEqual(checked, 4)

    def check_annotations(self, name, alert):
        ann = alert.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            self.assertTrue(ann.get(key), f"{name}: empty {key}")
            self.assertNotIn("<no value>", ann[key], f"{name}: {key} {ann[key]!r}")
        # Absolute, from the configured base, naming the alert's own section.
        self.assertEqual(ann["runbook_url"], f"{RUNBOOK_BASE}#{name.lower()}")
        anchor = ann["runbook_url"].split("#", 1)[1]
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
