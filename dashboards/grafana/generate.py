#!/usr/bin/env python3
"""Generates the needlewatch Grafana dashboards (classic JSON model, schemaVersion 39).

    python3 dashboards/grafana/generate.py          # rewrites dashboards/grafana/dashboards/*.json
    python3 dashboards/grafana/generate.py --check  # exit 1 if the committed JSON is out of date

The JSON files are committed so Grafana's file provisioning can load them without Python; edit
this file, not the JSON. Panel ids and dashboard uids are fixed here so links and alerts that
point at a panel survive regeneration. Standard library only.

Units: depth gauges are exported in meters and shown in millimetres (x1000, unit "lengthmm");
speed in "hertz"; session durations in minutes ("m").

Several monitors (shards, and replica pairs that watch the same clinics) may be scraped: every
query merges the two replicas of a pair with dedup() before it sums, so nothing is counted twice
(the labelling this assumes is in dashboards/README.md, "Several instances").
"""
import argparse
import json
import pathlib
import sys

OUT_DIR = pathlib.Path(__file__).resolve().parent / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39

# ---------------------------------------------------------------------------------------------
# Building blocks


def datasource_variable():
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "includeAll": False,
        "multi": False,
        "options": [],
    }


def query_variable(name, label, query, multi=False, include_all=False, all_value=None):
    var = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "current": {},
        "hide": 0,
        "refresh": 2,  # on time range change: devices come and go with sessions
        "regex": "",
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
        "options": [],
    }
    if all_value is not None:
        var["allValue"] = all_value
    return var


def target(expr, legend="", ref="A", instant=False, fmt="time_series"):
    t = {
        "datasource": DS,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "refId": ref,
        "range": not instant,
        "instant": instant,
        "format": fmt,
        "editorMode": "code",
    }
    return t


def dedup(expr):
    """`expr` with the replicas of a monitor pair merged: they report the same figures and differ
    only in `instance` (and `replica`), so the larger of the two stands for the pair. Shards keep
    apart by their clinics (per-clinic series) or their other target labels (e.g. `shard`)."""
    return f"max without (instance, replica) ({expr})"


def targets(*pairs, **kw):
    """targets(("expr", "legend"), ...) -> refIds A, B, C..."""
    return [target(e, l, chr(ord("A") + i), **kw) for i, (e, l) in enumerate(pairs)]


class Layout:
    """Places panels left to right on Grafana's 24-column grid and hands out unique ids."""

    def __init__(self):
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1
        self.panels = []

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.newline()
        panel["id"] = self.next_id
        self.next_id += 1
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel.setdefault("datasource", DS)
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def newline(self):
        if self.x:
            self.y += self.row_h
        self.x, self.row_h = 0, 0

    def row(self, title):
        self.newline()
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.newline()


def thresholds(*steps):
    """thresholds((None, "green"), (1, "red"))"""
    return {"mode": "absolute",
            "steps": [{"color": c, "value": v} for v, c in steps]}


def panel(kind, title, description, tgts, defaults, options, overrides=None):
    return {"type": kind, "title": title, "description": description, "targets": tgts,
            "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
            "options": options}


LAST_VALUE = {"calcs": ["lastNotNull"], "fields": "", "values": False}


def stat(title, description, tgts, unit="short", steps=((None, "green"),), no_value=None,
         mappings=None, decimals=None):
    defaults = {"unit": unit, "thresholds": thresholds(*steps), "color": {"mode": "thresholds"},
                "mappings": mappings or []}
    if no_value is not None:
        defaults["noValue"] = no_value
    if decimals is not None:
        defaults["decimals"] = decimals
    return panel("stat", title, description, tgts, defaults, {
        "reduceOptions": LAST_VALUE, "colorMode": "background", "graphMode": "none",
        "justifyMode": "auto", "orientation": "auto", "textMode": "auto"})


def timeseries(title, description, tgts, unit="short", overrides=None, min_=None,
               steps=((None, "green"),), stack=False, draw="line"):
    custom = {
        "drawStyle": draw,
        "lineWidth": 2,
        "fillOpacity": 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "axisPlacement": "auto",
        "thresholdsStyle": {"mode": "off"},
    }
    defaults = {"unit": unit, "custom": custom, "thresholds": thresholds(*steps),
                "color": {"mode": "palette-classic"}}
    if min_ is not None:
        defaults["min"] = min_
    return panel("timeseries", title, description, tgts, defaults, {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "none"}}, overrides)


def bargauge(title, description, tgts, unit="short", steps=((None, "green"),)):
    return panel("bargauge", title, description, tgts,
                 {"unit": unit, "min": 0, "thresholds": thresholds(*steps),
                  "color": {"mode": "thresholds"}},
                 {"reduceOptions": LAST_VALUE, "orientation": "horizontal",
                  "displayMode": "basic", "showUnfilled": True})


def table(title, description, tgts, hide_columns=("Time", "__name__", "job", "Value")):
    t = panel("table", title, description, tgts, {"custom": {"align": "auto"}},
              {"showHeader": True, "footer": {"show": False}})
    t["transformations"] = [
        {"id": "organize", "options": {"excludeByName": {c: True for c in hide_columns}}}]
    return t


def limit_line(regex, color):
    """Override that draws matching series (the limits) as dashed threshold-style lines."""
    return {
        "matcher": {"id": "byRegexp", "options": regex},
        "properties": [
            {"id": "color", "value": {"mode": "fixed", "fixedColor": color}},
            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
            {"id": "custom.fillOpacity", "value": 0},
            {"id": "custom.lineWidth", "value": 1},
        ],
    }


def dashboard(uid, title, description, tags, variables, layout, annotations=(), time_from="now-6h",
              refresh="30s", links=()):
    builtin = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["needlewatch"] + list(tags),
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "links": list(links),
        "annotations": {"list": [builtin] + list(annotations)},
        "templating": {"list": [datasource_variable()] + list(variables)},
        "panels": layout.panels,
        "id": None,
    }


def dash_links():
    return [{"type": "dashboards", "tags": ["needlewatch"], "asDropdown": True, "title": "needlewatch",
             "includeVars": False, "keepTime": True, "icon": "external link", "targetBlank": False,
             "tooltip": "", "url": ""}]


# ---------------------------------------------------------------------------------------------
# Dashboard 1: clinic overview (for clinic managers)


def clinic_overview():
    c = 'clinic=~"$clinic"'
    lay = Layout()
    lay.row("Now")
    lay.add(stat("Sessions in progress", "Treatments running right now in the selected clinics.",
                 targets((f"sum({dedup(f'needlewatch_sessions_active{{{c}}}')})", "sessions")),
                 no_value="0"), 3, 4)
    for sev, color, what in (
            ("high", "red", "(too deep, overtime, device offline during a session). Anything "
             "above 0 needs someone at the device now."),
            ("medium", "orange", "(speed out of range, telemetry stale)."),
            ("low", "yellow", "(depth or overtime warnings).")):
        lay.add(stat(f"{sev.capitalize()} alarms now", f"Active {sev}-severity alarms {what}",
                     targets(("count(" + dedup(f'needlewatch_alarms_active{{{c},severity="{sev}"}}') + ")", sev)),
                     steps=((None, "green"), (1, color)), no_value="0"), 3, 4)
    lay.add(stat("Waiting for acknowledgement", "High alarms that page until someone acknowledges "
                 "them: still active, or cleared (latched) with nobody's acknowledgement yet "
                 "(POST /api/v1/alarms/ack on the monitor).",
                 targets(("count(" + dedup(f'needlewatch_alarms_unacknowledged{{{c},severity="high"}}') + ")",
                          "unacknowledged")),
                 steps=((None, "green"), (1, "red")), no_value="0"), 4, 4)
    for state, color, what in (("online", "green", "was online."),
                               ("offline", "orange", "was offline (switched off or lost their "
                                "connection).")):
        lay.add(stat(f"Devices {state}", f"Devices whose last status message {what}",
                     targets(("sum(" + dedup(f'needlewatch_devices{{{c},state="{state}"}}') + ")", state)),
                     steps=((None, "green"), (1, color)) if state == "offline" else
                     ((None, "green"),), no_value="0"), 4, 4)
    lay.add(bargauge("Active sessions by clinic", "Which clinics are treating right now, busiest "
                     "first.",
                     targets((f"sort_desc(sum by (clinic) ({dedup(f'needlewatch_sessions_active{{{c}}}')}))",
                              "{{clinic}}"), instant=True)), 8, 8)
    lay.add(bargauge("Alarms now by severity", "Active alarms in the selected clinics, by "
                     "severity.",
                     targets((f"sum by (severity) ({dedup(f'needlewatch_alarms_active{{{c}}}')})", "{{severity}}"),
                             instant=True),
                     steps=((None, "green"), (1, "red"))), 6, 8)
    lay.add(table("Alarms now", "Every active alarm: which clinic, which device, what and how "
                  "severe. Open the device dashboard for its depth and speed.",
                  targets((f"{dedup(f'needlewatch_alarms_active{{{c}}}')} == 1", ""), instant=True,
                          fmt="table"),
                  hide_columns=("Time", "__name__", "job", "shard", "Value")), 10, 8)

    lay.row("Today (dashboard time range)")

    def total(metric, by=""):
        """The increase of a counter over the range, replicas merged, summed (by `by`)."""
        grouping = f" by ({by})" if by else ""
        return f"sum{grouping} ({dedup(f'increase({metric}{{{c}}}[$__range])')})"

    lay.add(stat("Unsafe sessions", "Sessions with at least one high-severity alarm in the time "
                 "range (default: today).",
                 targets((total("needlewatch_unsafe_sessions_total"), "unsafe")),
                 steps=((None, "green"), (1, "red")), no_value="0", decimals=0), 4, 5)
    lay.add(stat("Sessions started", "Sessions that started in the time range.",
                 targets((total("needlewatch_sessions_started_total"), "started")), no_value="0",
                 decimals=0), 4, 5)
    lay.add(stat("Sessions completed", "Sessions that ended in the time range.",
                 targets((total("needlewatch_session_duration_seconds_count"), "completed")),
                 no_value="0", decimals=0), 4, 5)
    lay.add(stat("Average session duration", "Mean length of the sessions that ended in the time "
                 "range, in minutes.",
                 targets((f"{total('needlewatch_session_duration_seconds_sum')} / 60"
                          f" / {total('needlewatch_session_duration_seconds_count')}",
                          "minutes")), unit="m", decimals=1), 4, 5)
    lay.add(bargauge("Unsafe sessions by clinic", "Sessions with a high-severity alarm in the time "
                     "range, per clinic, most first.",
                     targets((f"sort_desc({total('needlewatch_unsafe_sessions_total', 'clinic')})",
                              "{{clinic}}"), instant=True),
                     steps=((None, "green"), (1, "red"))), 8, 10)
    lay.add(bargauge("Alarms raised by kind", "How often each alarm was raised in the time range.",
                     targets((f"sort_desc({total('needlewatch_alarms_raised_total', 'alarm')})",
                              "{{alarm}}"), instant=True)), 8, 10)
    dur = timeseries("Session duration distribution",
                     "How many sessions ended in each duration band (upper bound, in minutes) "
                     "over the time range. Most face treatments should end in the 15-30 minute bands.",
                     targets((total("needlewatch_session_duration_seconds_bucket", "le"), "{{le}}"),
                             instant=True, fmt="heatmap"))
    # Show the bucket bounds (seconds) as minutes: 60 -> "<= 1 min", +Inf -> "> 120 min".
    dur["type"] = "bargauge"
    dur["options"] = {"reduceOptions": LAST_VALUE,
                      "orientation": "vertical", "displayMode": "basic", "showUnfilled": True}
    dur["fieldConfig"] = {"defaults": {"unit": "short", "min": 0, "decimals": 0,
                                       "thresholds": thresholds((None, "blue")),
                                       "color": {"mode": "thresholds"}},
                          "overrides": [
                              {"matcher": {"id": "byName", "options": le},
                               "properties": [{"id": "displayName", "value": name}]}
                              for le, name in [("60", "≤1 min"), ("300", "≤5 min"), ("600", "≤10 min"),
                                               ("900", "≤15 min"), ("1200", "≤20 min"),
                                               ("1800", "≤30 min"), ("2700", "≤45 min"),
                                               ("3600", "≤60 min"), ("5400", "≤90 min"),
                                               ("7200", "≤120 min"), ("+Inf", ">120 min")]]}
    # The buckets are cumulative; Grafana's heatmap format (set on the target) de-accumulates them.
    lay.add(dur, 8, 10)

    lay.row("Trends")
    lay.add(timeseries("Active sessions", "Sessions in progress over time, per clinic.",
                       targets((f"sum by (clinic) ({dedup(f'needlewatch_sessions_active{{{c}}}')})", "{{clinic}}")),
                       min_=0, stack=True), 12, 8)
    lay.add(timeseries("Alarms raised", "Alarms raised per interval, by severity.",
                       targets((f"sum by (severity) ({dedup(f'increase(needlewatch_alarms_raised_total{{{c}}}[$__rate_interval])')})",
                                "{{severity}}")), min_=0, draw="bars",
                       overrides=[
                           {"matcher": {"id": "byName", "options": s},
                            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": col}}]}
                           for s, col in (("high", "red"), ("medium", "orange"), ("low", "yellow"))]),
            12, 8)
    buckets = f"sum by (le) ({dedup(f'rate(needlewatch_session_duration_seconds_bucket{{{c}}}[1h])')})"
    lay.add(timeseries("Session duration (median and 90th percentile)",
                       "Estimated from the session-duration histogram, in minutes.",
                       targets((f"histogram_quantile(0.5, {buckets}) / 60", "median"),
                               (f"histogram_quantile(0.9, {buckets}) / 60", "p90")),
                       unit="m", min_=0), 12, 8)
    lay.add(timeseries("Devices offline", "Devices whose last status was offline, per clinic.",
                       targets(("sum by (clinic) (" + dedup(f'needlewatch_devices{{{c},state="offline"}}') + ")",
                                "{{clinic}}")),
                       min_=0), 12, 8)

    clinic = query_variable("clinic", "Clinic", "label_values(needlewatch_devices, clinic)",
                            multi=True, include_all=True, all_value=".*")
    return dashboard("needlewatch-clinics", "needlewatch — Clinic overview",
                     "Sessions, alarms and devices across clinics, for clinic managers.",
                     ["clinic"], [clinic], lay, time_from="now/d", links=dash_links())


# ---------------------------------------------------------------------------------------------
# Dashboard 2: one device and its session


def zone_limit(metric, kind, sel):
    """The pen's limit of `kind` over time: its zone (needlewatch_device_zone_info) joined to that
    zone's limit series of the same monitor, replicas merged."""
    return (f"max(needlewatch_device_zone_info{{{sel}}}"
            f" * on (job, instance, zone) group_left {metric}{{kind=\"{kind}\"}})")


def device_session():
    sel = 'clinic="$clinic",device="$device"'
    lay = Layout()
    lay.add(stat("Depth now", "Needle depth of the last sample of the open session.",
                 targets((f"max({dedup(f'needlewatch_needle_depth_meters{{{sel}}}')}) * 1000", "depth")),
                 unit="lengthmm", decimals=2), 4, 4)
    lay.add(stat("Speed now", "Needle strokes per second of the last sample.",
                 targets((f"max({dedup(f'needlewatch_needle_frequency_hertz{{{sel}}}')})", "speed")),
                 unit="hertz", decimals=0), 3, 4)
    zone = stat("Zone", "The zone being treated, as the device reports it (\"default\": a zone the "
                "limits file does not list, so the default limits apply).",
                targets((f"{dedup(f'needlewatch_device_zone_info{{{sel}}}')}", "{{zone}}"),
                        instant=True),
                steps=((None, "blue"),))
    zone["options"]["textMode"] = "name"
    lay.add(zone, 3, 4)
    lay.add(stat("Alarms active", "Active alarms on this device (acknowledged or not).",
                 targets((f"count({dedup(f'needlewatch_alarms_active{{{sel}}}')})", "active")),
                 steps=((None, "green"), (1, "red")), no_value="0"), 3, 4)
    lay.add(stat("Alarms latched", "High alarms that cleared but nobody has acknowledged yet; "
                 "they page until acknowledged (POST /api/v1/alarms/ack on the monitor).",
                 targets((f"count({dedup(f'needlewatch_alarms_latched{{{sel}}}')})", "latched")),
                 steps=((None, "green"), (1, "orange")), no_value="0"), 3, 4)
    lay.add(stat("Devices in clinic", "Devices of this clinic online and offline, from their last "
                 "status messages.",
                 targets(("sum(" + dedup('needlewatch_devices{clinic="$clinic",state="online"}') + ")", "online"),
                         ("sum(" + dedup('needlewatch_devices{clinic="$clinic",state="offline"}') + ")", "offline")),
                 steps=((None, "blue"),)), 4, 4)
    lay.add(stat("Sessions in progress (clinic)", "Open sessions in this clinic.",
                 targets(("sum(" + dedup('needlewatch_sessions_active{clinic="$clinic"}') + ")", "sessions")),
                 no_value="0"), 4, 4)
    lay.add(timeseries("Needle depth", "Depth of each sample, with the warning and hard limits of "
                       "the zone being treated (dashed; they follow the pen from zone to zone). A "
                       "line above the red dashed one raises depth_exceeded.",
                       targets((f"max({dedup(f'needlewatch_needle_depth_meters{{{sel}}}')}) * 1000", "depth"),
                               (zone_limit("needlewatch_zone_depth_limit_meters", "warn", sel) + " * 1000",
                                "warn limit"),
                               (zone_limit("needlewatch_zone_depth_limit_meters", "max", sel) + " * 1000",
                                "max limit")),
                       unit="lengthmm", min_=0,
                       overrides=[limit_line("max limit", "red"), limit_line("warn limit", "orange")]),
            12, 10)
    lay.add(timeseries("Needle speed", "Strokes per second, with the zone's minimum and maximum "
                       "(dashed).",
                       targets((f"max({dedup(f'needlewatch_needle_frequency_hertz{{{sel}}}')})", "speed"),
                               (zone_limit("needlewatch_zone_speed_limit_hertz", "min", sel), "min limit"),
                               (zone_limit("needlewatch_zone_speed_limit_hertz", "max", sel), "max limit")),
                       unit="hertz", min_=0,
                       overrides=[limit_line("(min|max) limit", "red")]), 12, 10)
    timeline = panel(
        "state-timeline", "Alarms on this device", "Which alarm was active when (1 = active).",
        targets((f"max by (alarm) (needlewatch_alarms_active{{{sel}}})", "{{alarm}}")),
        {"thresholds": thresholds((None, "green"), (1, "red")), "color": {"mode": "thresholds"},
         "mappings": [{"type": "value", "options": {"1": {"text": "active", "color": "red"}}}]},
        {"showValue": "never", "mergeValues": True, "rowHeight": 0.8,
         "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
         "tooltip": {"mode": "single", "sort": "none"}})
    lay.add(timeline, 12, 7)
    lay.add(table("Alarms now", "Active and latched alarms of this device.",
                  targets((dedup(f"needlewatch_alarms_active{{{sel}}}"), "active"),
                          (dedup(f"needlewatch_alarms_latched{{{sel}}}"), "latched"), instant=True,
                          fmt="table"),
                  hide_columns=("Time", "__name__", "job", "shard", "clinic", "device")), 12, 7)
    lay.add(timeseries("Sequence gaps (clinic)", "Telemetry messages found missing (sequence "
                       "number jumps) per interval, for the whole clinic: a sign of Wi-Fi or broker "
                       "trouble.",
                       targets(("sum(" + dedup('increase(needlewatch_sequence_gaps_total{clinic="$clinic"}[$__rate_interval])') + ")",
                                "gaps")), min_=0, draw="bars"), 24, 6)

    annotations = [
        {"datasource": DS, "enable": True, "hide": False, "iconColor": "red",
         "name": "Device alarms", "expr": dedup(f"needlewatch_alarms_active{{{sel}}}"),
         "step": "15s", "titleFormat": "{{alarm}}", "textFormat": "{{severity}} alarm",
         "tagKeys": "alarm,severity", "useValueForTime": False},
        {"datasource": DS, "enable": True, "hide": False, "iconColor": "orange",
         "name": "Prometheus alerts",
         "expr": f'ALERTS{{alertstate="firing",{sel}}}',
         "step": "15s", "titleFormat": "{{alertname}}", "textFormat": "{{severity}}",
         "tagKeys": "alertname,severity", "useValueForTime": False},
    ]
    clinic = query_variable("clinic", "Clinic", "label_values(needlewatch_devices, clinic)")
    device = query_variable("device", "Device",
                            'label_values(needlewatch_needle_depth_meters{clinic="$clinic"}, device)')
    return dashboard("needlewatch-device", "needlewatch — Device and session",
                     "Depth and speed of one device against its zone's limits, with its alarms.",
                     ["device"], [clinic, device], lay, annotations=annotations,
                     time_from="now-1h", refresh="10s", links=dash_links())


# ---------------------------------------------------------------------------------------------
# Dashboard 3: health of the monitor itself (for whoever runs it)


def health():
    i = 'instance=~"$instance"'
    lay = Layout()

    def fleet_rate(metric, extra="", by=""):
        """Per-second rate over the selected instances, each replica pair counted once."""
        grouping = f" by ({by})" if by else ""
        sel = f"{i},{extra}" if extra else i
        return f"sum{grouping} ({dedup(f'rate({metric}{{{sel}}}[$__rate_interval])')})"

    lay.add(stat("Monitor up", "Prometheus can scrape the daemon (job needlewatch), per instance.",
                 targets((f'up{{job="needlewatch",{i}}}', "{{instance}}")),
                 steps=((None, "red"), (1, "green")),
                 mappings=[{"type": "value", "options": {"0": {"text": "DOWN"}, "1": {"text": "UP"}}}]),
            4, 4)
    lay.add(stat("MQTT connected", "The daemon's connection to its broker, per instance.",
                 targets((f"needlewatch_mqtt_connected{{{i}}}", "{{instance}}")),
                 steps=((None, "red"), (1, "green")),
                 mappings=[{"type": "value", "options": {"0": {"text": "Disconnected"},
                                                          "1": {"text": "Connected"}}}]), 4, 4)
    lay.add(stat("MQTT reconnects", "Reconnections to the broker in the time range, all selected "
                 "instances (each replica has its own connection).",
                 targets((f"sum(increase(needlewatch_mqtt_reconnects_total{{{i}}}[$__range]))", "reconnects")),
                 steps=((None, "green"), (1, "orange")), decimals=0), 4, 4)
    lay.add(stat("Connections lost", "Times a broker connection dropped in the time range, all "
                 "selected instances.",
                 targets((f"sum(increase(needlewatch_mqtt_connection_lost_total{{{i}}}[$__range]))", "lost")),
                 steps=((None, "green"), (1, "orange")), decimals=0), 4, 4)
    lay.add(stat("Uptime", "Time since each daemon process started.",
                 targets((f'time() - process_start_time_seconds{{job="needlewatch",{i}}}', "{{instance}}")),
                 unit="s"), 4, 4)
    lay.add(table("Version", "Build of each daemon instance.",
                  targets((f"needlewatch_build_info{{{i}}}", ""), instant=True, fmt="table"),
                  hide_columns=("Time", "__name__", "job", "Value")), 4, 4)

    lay.add(timeseries("Ingest rate by channel", "Messages taken in per second (accepted or "
                       "rejected), by channel, over the selected instances (a replica pair once).",
                       targets((fleet_rate("needlewatch_messages_received_total", by="channel"),
                                "{{channel}}")), unit="cps", min_=0), 12, 8)
    lay.add(timeseries("Rejections by reason", "Messages rejected per second, by the first check "
                       "they failed. Anything steady here is a device or integration bug.",
                       targets((fleet_rate("needlewatch_messages_rejected_total", by="reason"),
                                "{{reason}}")), unit="cps", min_=0), 12, 8)
    lay.add(timeseries("Accepted, ignored, unknown zone",
                       "Accepted messages, messages on the monitor's own topics (ignored), and "
                       "accepted messages naming a zone that is not in the limits (default limits "
                       "applied: add the zone).",
                       targets((fleet_rate("needlewatch_messages_accepted_total"), "accepted"),
                               (fleet_rate("needlewatch_messages_ignored_total"), "ignored"),
                               (fleet_rate("needlewatch_unknown_zone_total"), "unknown zone")),
                       unit="cps", min_=0), 12, 8)
    lay.add(timeseries("Queue depth", "Messages received from MQTT and not yet processed, per "
                       "instance. It should stay near 0; growth means the engine cannot keep up.",
                       targets((f"needlewatch_queue_depth{{{i}}}", "{{instance}}")), min_=0), 12, 8)
    lay.add(timeseries("Ingest latency", "Device timestamp to processed, from the histogram of the "
                       "selected instances. Includes device clock skew.",
                       targets(*[(f"histogram_quantile({q}, sum by (le) (rate(needlewatch_ingest_latency_seconds_bucket{{{i}}}[$__rate_interval])))",
                                  f"p{int(q * 100)}") for q in (0.5, 0.9, 0.99)]),
                       unit="s", min_=0), 12, 8)
    lay.add(timeseries("Processing time", "Engine time per message, from the histogram.",
                       targets(*[(f"histogram_quantile({q}, sum by (le) (rate(needlewatch_processing_seconds_bucket{{{i}}}[$__rate_interval])))",
                                  f"p{int(q * 100)}") for q in (0.5, 0.9, 0.99)]),
                       unit="s", min_=0), 12, 8)
    lay.add(timeseries("CPU", "CPU time each daemon process uses (1 = one core busy).",
                       targets((f'rate(process_cpu_seconds_total{{job="needlewatch",{i}}}[$__rate_interval])',
                                "{{instance}}")), unit="percentunit", min_=0), 8, 8)
    lay.add(timeseries("Memory", "Resident memory of each daemon process.",
                       targets((f'process_resident_memory_bytes{{job="needlewatch",{i}}}', "{{instance}}")),
                       unit="bytes", min_=0), 8, 8)
    lay.add(timeseries("Open file descriptors", "Open files and sockets of each daemon, as a share "
                       "of its limit; near 1 it cannot accept connections or open recordings.",
                       targets((f'process_open_fds{{job="needlewatch",{i}}} / process_max_fds{{job="needlewatch",{i}}}',
                                "{{instance}}")), unit="percentunit", min_=0), 8, 8)
    lay.add(timeseries("Recorder", "Messages written to recordings and dropped (queue full) per "
                       "second, all selected instances (each writes its own). Any drop means holes "
                       "in a recording.",
                       targets((f"sum(rate(needlewatch_recorder_messages_total{{{i}}}[$__rate_interval]))", "recorded"),
                               (f"sum(rate(needlewatch_recorder_dropped_total{{{i}}}[$__rate_interval]))", "dropped")),
                       unit="cps", min_=0,
                       overrides=[{"matcher": {"id": "byName", "options": "dropped"},
                                   "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}}]}]),
            8, 8)
    lay.add(timeseries("Recorder throughput", "Bytes per second written to recordings.",
                       targets((f"sum(rate(needlewatch_recorder_bytes_total{{{i}}}[$__rate_interval]))", "bytes")),
                       unit="Bps", min_=0), 8, 8)
    lay.add(timeseries("Audit log and config reloads", "Audit-log write errors and configuration "
                       "reloads (SIGHUP) per interval.",
                       targets((f"sum(increase(needlewatch_audit_write_errors_total{{{i}}}[$__rate_interval]))", "audit write errors"),
                               (f"sum by (result) (increase(needlewatch_config_reloads_total{{{i}}}[$__rate_interval]))", "reload {{result}}")),
                       min_=0, draw="bars"), 8, 8)

    instance = query_variable("instance", "Instance", "label_values(needlewatch_build_info, instance)",
                              multi=True, include_all=True, all_value=".*")
    instance["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return dashboard("needlewatch-health", "needlewatch — health",
                     "Is the monitor itself working: ingest, rejections, MQTT, latency, resources, "
                     "recorder. Instance selects one or more monitors (shards and replicas).",
                     ["health"], [instance], lay, time_from="now-3h", links=dash_links())


DASHBOARDS = {
    "clinic-overview.json": clinic_overview,
    "device-session.json": device_session,
    "health.json": health,
}


def render(fn):
    return json.dumps(fn(), indent=2, ensure_ascii=False) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the JSON files are stale")
    ap.add_argument("--out", type=pathlib.Path, default=OUT_DIR)
    args = ap.parse_args()
    stale = []
    args.out.mkdir(parents=True, exist_ok=True)
    for name, fn in DASHBOARDS.items():
        path = args.out / name
        text = render(fn)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date (run dashboards/grafana/generate.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
