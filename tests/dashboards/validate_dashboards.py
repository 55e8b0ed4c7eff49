#!/usr/bin/env python3
"""Offline validator for the Grafana dashboards in dashboards/grafana/dashboards/.

    validate_dashboards.py [--promtool PATH] [DASHBOARD.json ...]
    validate_dashboards.py --selftest    # shows each check rejects a broken dashboard

Checks, per dashboard: the keys title/uid/panels/schemaVersion (>= 39); uids unique across the
files; panel ids unique (rows' nested panels included); a `datasource` template variable of type
datasource/prometheus, and every panel, target, query variable and annotation using
${datasource}; units (a `_meters` gauge is shown x1000 in "lengthmm", `_hertz` in "hertz",
session durations in minutes "m"); every metric name a needlewatch metric (or `up`/`ALERTS`/
`process_*`); in a dashboard without an $instance selector, every sum or count merging the replicas
of a monitor pair first (`max without (instance, replica)`); and every PromQL expression - Grafana variables substituted - parsed by `promtool check rules`
through a synthetic recording-rule file. Standard library only. Exit 0 when all pass.
"""
import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / "dashboards" / "grafana" / "dashboards"
DS_REF = "${datasource}"
MIN_SCHEMA = 39

# The metrics the daemon exports (dashboards/README.md, monitor/daemon/README.md and the extensions).
# Histograms appear with their _bucket/_sum/_count series.
KNOWN_METRICS = {
    "needlewatch_messages_received_total", "needlewatch_messages_rejected_total",
    "needlewatch_sessions_active", "needlewatch_alarms_active", "needlewatch_alarms_raised_total",
    "needlewatch_needle_depth_meters", "needlewatch_needle_frequency_hertz",
    "needlewatch_sequence_gaps_total", "needlewatch_mqtt_connected",
    "needlewatch_messages_accepted_total", "needlewatch_messages_ignored_total",
    "needlewatch_unknown_zone_total", "needlewatch_alarms_latched",
    "needlewatch_alarms_acknowledged", "needlewatch_unsafe_sessions_total",
    "needlewatch_sessions_started_total", "needlewatch_devices", "needlewatch_queue_depth",
    "needlewatch_alarms_unacknowledged", "needlewatch_device_zone_info",
    "needlewatch_zone_depth_limit_meters", "needlewatch_zone_speed_limit_hertz",
    "needlewatch_zone_session_limit_seconds", "needlewatch_zone_telemetry_stale_after_seconds",
    "needlewatch_mqtt_reconnects_total", "needlewatch_mqtt_connection_lost_total",
    "needlewatch_config_reloads_total", "needlewatch_audit_write_errors_total",
    "needlewatch_recorder_messages_total", "needlewatch_recorder_bytes_total",
    "needlewatch_recorder_dropped_total", "needlewatch_build_info",
    "needlewatch_start_time_seconds", "up", "ALERTS",
    "process_cpu_seconds_total", "process_open_fds", "process_max_fds",
    "process_virtual_memory_bytes", "process_resident_memory_bytes", "process_start_time_seconds",
}
for h in ("needlewatch_session_duration_seconds", "needlewatch_ingest_latency_seconds",
          "needlewatch_processing_seconds"):
    KNOWN_METRICS.update({h + "_bucket", h + "_sum", h + "_count"})

# How a query merges the two replicas of a monitor pair (dashboards/grafana/generate.py dedup()).
REPLICAS_MERGED = "max without (instance, replica)"

# Values used for Grafana's variables when an expression is checked or run.
SAMPLE_VARS = {
    "__rate_interval": "1m", "__interval": "15s", "__range": "1h", "__range_s": "3600",
    "__interval_ms": "15000", "__range_ms": "3600000",
    "datasource": "Prometheus", "clinic": "c001", "device": "d0001", "instance": ".*",
}


def substitute(expr, variables=None):
    """Replaces $name, ${name} and ${name:fmt} with values (SAMPLE_VARS by default)."""
    values = dict(SAMPLE_VARS)
    values.update(variables or {})

    def repl(m):
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"unknown variable ${name}")
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def label_values_selector(query):
    """label_values(selector, label) -> selector; label_values(label) -> None."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query)
    if m:
        return m.group(1)
    if re.fullmatch(r"\s*label_values\(\s*\w+\s*\)\s*", query):
        return None
    raise ValueError(f"unsupported variable query {query!r}")


def queries(dash):
    """Every PromQL expression of a dashboard: [(where, expr, panel_or_None)]."""
    out = []
    for p in walk_panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            out.append((f"panel {p.get('id')} {p.get('title')!r} target {t.get('refId')}",
                        t.get("expr", ""), p))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            sel = label_values_selector(q)
            if sel:
                out.append((f"variable ${v['name']}", sel, None))
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            out.append((f"annotation {a.get('name')!r}", a["expr"], None))
    return out


def metric_names(expr):
    """Metric names used in an expression (identifiers that are not functions, keywords, labels)."""
    no_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    no_labels = re.sub(r"\{[^}]*\}", "{}", no_strings)
    no_groupings = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ",
                          no_labels)
    no_ranges = re.sub(r"\[[^\]]*\]", "[]", no_groupings)
    names = set()
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", no_ranges):
        word, call = m.group(1), m.group(2)
        if call or word in ("and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN",
                            "group_left", "group_right", "on", "ignoring", "by", "without"):
            continue
        names.add(word)
    return names


def check_dashboard(path, dash, errors):
    name = os.path.basename(path)

    def err(msg):
        errors.append(f"{name}: {msg}")

    for key in ("title", "uid", "panels", "schemaVersion"):
        if key not in dash:
            err(f"missing key {key!r}")
    if not isinstance(dash.get("schemaVersion"), int) or dash.get("schemaVersion", 0) < MIN_SCHEMA:
        err(f"schemaVersion {dash.get('schemaVersion')!r}: expected an integer >= {MIN_SCHEMA}")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", str(dash.get("uid", ""))):
        err(f"uid {dash.get('uid')!r}: expected 1-40 of [A-Za-z0-9_-]")

    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        err("templating: expected a variable 'datasource' of type datasource, query prometheus")
    for v in variables.values():
        if v.get("type") == "query" and (v.get("datasource") or {}).get("uid") != DS_REF:
            err(f"variable ${v.get('name')}: datasource must be {DS_REF}")

    ids = {}
    for p in walk_panels(dash.get("panels", [])):
        pid = p.get("id")
        if not isinstance(pid, int):
            err(f"panel {p.get('title')!r}: id {pid!r} is not an integer")
        elif pid in ids:
            err(f"panel id {pid} used by {ids[pid]!r} and {p.get('title')!r}")
        else:
            ids[pid] = p.get("title")
        if not p.get("title"):
            err(f"panel {pid}: no title")
        if "gridPos" not in p:
            err(f"panel {pid} {p.get('title')!r}: no gridPos")
        if p.get("type") == "row":
            continue
        if (p.get("datasource") or {}).get("uid") != DS_REF:
            err(f"panel {pid} {p.get('title')!r}: datasource must be {DS_REF}")
        if not p.get("targets"):
            err(f"panel {pid} {p.get('title')!r}: no queries")
        for t in p.get("targets", []):
            if (t.get("datasource") or {}).get("uid") != DS_REF:
                err(f"panel {pid} target {t.get('refId')}: datasource must be {DS_REF}")
            if not t.get("expr"):
                err(f"panel {pid} target {t.get('refId')}: empty expr")
        check_units(p, err)

    for a in dash.get("annotations", {}).get("list", []):
        if a.get("builtIn"):
            continue
        if (a.get("datasource") or {}).get("uid") != DS_REF:
            err(f"annotation {a.get('name')!r}: datasource must be {DS_REF}")

    for where, expr, _ in queries(dash):
        try:
            substitute(expr, {k: "x" for k in variables})
        except KeyError as e:
            err(f"{where}: {e.args[0]}")
        unknown = metric_names(expr) - KNOWN_METRICS
        if unknown:
            err(f"{where}: unknown metric(s) {sorted(unknown)} in {expr!r}")
        # A dashboard without an instance selector spans every monitor, replica pairs included:
        # what it sums or counts must merge the two replicas of a pair first.
        if "instance" not in variables and re.search(r"\b(sum|count)\b", expr) and \
                REPLICAS_MERGED not in expr:
            err(f"{where}: sums or counts over all monitors without merging replicas "
                f"({REPLICAS_MERGED} (...)): {expr!r}")


def check_units(panel, err):
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
    exprs = [t.get("expr", "") for t in panel.get("targets", [])]
    title = f"panel {panel.get('id')} {panel.get('title')!r}"
    if any(re.search(r"_meters\b", e) for e in exprs):
        if unit != "lengthmm":
            err(f"{title}: depth panels use unit lengthmm, got {unit!r}")
        for e in exprs:
            if re.search(r"_meters\b", e) and not re.search(r"\*\s*1000\b", e):
                err(f"{title}: {e!r} shows meters; multiply by 1000 for lengthmm")
    if any(re.search(r"_hertz\b", e) for e in exprs) and unit != "hertz":
        err(f"{title}: speed panels use unit hertz, got {unit!r}")
    if any("session_duration_seconds_sum" in e or "session_duration_seconds_bucket" in e and
           "histogram_quantile" in e for e in exprs):
        if unit != "m" or not all(re.search(r"/\s*60\b", e) for e in exprs):
            err(f"{title}: session durations are shown in minutes (/ 60, unit m)")


def promtool_check(exprs, promtool, errors):
    """Parses every expression with promtool via a synthetic recording-rule file."""
    if not exprs:
        return
    tmp = tempfile.mkdtemp(prefix="nw-dash-")
    try:
        rules = ["groups:", "  - name: dashboards", "    rules:"]
        for i, (where, expr) in enumerate(exprs):
            rules.append(f"      - record: nw_dashboard_expr_{i}")
            rules.append(f"        expr: {json.dumps(expr)}")
        path = os.path.join(tmp, "rules.yml")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(rules) + "\n")
        r = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
        if r.returncode != 0:
            out = (r.stdout + r.stderr).strip()
            # Name the failing expression(s): promtool reports the rule's index.
            for i, (where, expr) in enumerate(exprs):
                one = os.path.join(tmp, f"one{i}.yml")
                with open(one, "w", encoding="utf-8") as f:
                    f.write("groups:\n  - name: x\n    rules:\n      - record: x\n"
                            f"        expr: {json.dumps(expr)}\n")
                r1 = subprocess.run([promtool, "check", "rules", one], capture_output=True,
                                    text=True)
                if r1.returncode != 0:
                    errors.append(f"{where}: promtool rejects {expr!r}: "
                                  f"{(r1.stdout + r1.stderr).strip().splitlines()[-1]}")
            if not any("promtool rejects" in e for e in errors):
                errors.append(f"promtool check rules failed: {out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def validate(paths, promtool):
    errors = []
    uids = {}
    exprs = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                dash = json.load(f)
        except (OSError, ValueError) as e:
            errors.append(f"{os.path.basename(path)}: cannot read JSON: {e}")
            continue
        if not isinstance(dash, dict):
            errors.append(f"{os.path.basename(path)}: expected a JSON object")
            continue
        check_dashboard(path, dash, errors)
        uid = dash.get("uid")
        if uid in uids:
            errors.append(f"{os.path.basename(path)}: uid {uid!r} also used by {uids[uid]}")
        uids[uid] = os.path.basename(path)
        names = {v.get("name") for v in dash.get("templating", {}).get("list", [])}
        for where, expr, _ in queries(dash):
            try:
                exprs.append((f"{os.path.basename(path)}: {where}",
                              substitute(expr, {k: SAMPLE_VARS.get(k, "x") for k in names})))
            except KeyError:
                pass  # reported by check_dashboard
    promtool_check(exprs, promtool, errors)
    return errors


def selftest(paths, promtool):
    """Each broken variant of a good dashboard must be rejected with the expected message."""
    with open(paths[0], encoding="utf-8") as f:
        good = json.load(f)
    if validate([paths[0]], promtool):
        print("selftest: the good dashboard does not validate", file=sys.stderr)
        return 1

    def first_target(d):
        return next(t for p in walk_panels(d["panels"]) for t in p.get("targets", []))

    def first_panel(d):
        return next(p for p in walk_panels(d["panels"]) if p.get("type") != "row")

    def dup_id(d):
        ps = list(walk_panels(d["panels"]))
        ps[1]["id"] = ps[0]["id"]

    def bad_expr(d):
        first_target(d)["expr"] = "sum(rate(needlewatch_messages_received_total[5m]"

    def unknown_metric(d):
        first_target(d)["expr"] = "needlewatch_no_such_metric"

    def hard_ds(d):
        first_panel(d)["datasource"] = {"type": "prometheus", "uid": "abc123"}

    def old_schema(d):
        d["schemaVersion"] = 27

    def no_uid(d):
        del d["uid"]

    def no_ds_var(d):
        d["templating"]["list"] = [v for v in d["templating"]["list"] if v["name"] != "datasource"]

    def meters_unit(d):
        p = first_panel(d)
        p["targets"][0]["expr"] = "needlewatch_needle_depth_meters"
        p["fieldConfig"]["defaults"]["unit"] = "short"

    def unknown_var(d):
        first_target(d)["expr"] = "needlewatch_sessions_active{clinic=\"$nosuchvar\"}"

    def double_count(d):
        d["templating"]["list"] = [v for v in d["templating"]["list"] if v["name"] != "instance"]
        first_target(d)["expr"] = "sum(needlewatch_sessions_active)"

    cases = [(dup_id, "panel id"), (bad_expr, "promtool rejects"),
             (unknown_metric, "unknown metric"), (hard_ds, "datasource must be"),
             (old_schema, "schemaVersion"), (no_uid, "missing key 'uid'"),
             (no_ds_var, "variable 'datasource'"), (meters_unit, "lengthmm"),
             (unknown_var, "unknown variable"), (double_count, "without merging replicas")]
    failed = 0
    tmp = tempfile.mkdtemp(prefix="nw-dash-selftest-")
    try:
        for mutate, expected in cases:
            d = json.loads(json.dumps(good))
            mutate(d)
            p = os.path.join(tmp, "broken.json")
            with open(p, "w", encoding="utf-8") as f:
                json.dump(d, f)
            errs = validate([p], promtool)
            if not any(expected in e for e in errs):
                print(f"selftest: {mutate.__name__}: expected an error containing {expected!r}, "
                      f"got {errs}", file=sys.stderr)
                failed += 1
            else:
                print(f"selftest: {mutate.__name__}: rejected as expected")
        # Two files with the same uid.
        errs = validate([paths[0], paths[0]], promtool)
        if not any("also used by" in e for e in errs):
            print("selftest: duplicate uid across files not detected", file=sys.stderr)
            failed += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=pathlib.Path)
    ap.add_argument("--promtool", default=shutil.which("promtool") or "promtool")
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args()
    paths = [str(p) for p in (args.paths or sorted(DEFAULT_DIR.glob("*.json")))]
    if not paths:
        print(f"no dashboards found in {DEFAULT_DIR}", file=sys.stderr)
        return 1
    if args.selftest:
        return selftest(paths, args.promtool)
    errors = validate(paths, args.promtool)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print(f"OK: {len(paths)} dashboards valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
