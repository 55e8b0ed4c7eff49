#!/usr/bin/env python3
"""Offline checks of the deployment files that have no validator of their own.

    check_deploy.py systemd             systemd-analyze verify deploy/systemd/needlewatch.service
    check_deploy.py dockerfile          docker/Dockerfile: stages, user, entrypoint, packages
    check_deploy.py docker-prometheus   promtool check config on docker/prometheus.yml + rules
    check_deploy.py runbooks            every alert rule has summary/description/runbook_url and
                                        a severity, and runbook_url is <default base>#<its own
                                        section>, a section that exists in the README
    check_deploy.py render-rules        render_rules.py --runbook-base rewrites every runbook_url
                                        and nothing else; promtool accepts it; bad bases refused

Each exits 0 when the check passes and prints what is wrong otherwise. Standard library only.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def check_systemd():
    """systemd-analyze verify; unknown keys and bad values only warn there, so any message about
    the unit fails the check. The binary is not installed here, so ExecStart points at /bin/true
    in a temp copy (verify insists that the executable exists), and the man page named in
    Documentation= is left out (verify runs man(1) for it; tests/package checks it installed)."""
    unit = os.path.join(ROOT, "deploy", "systemd", "needlewatch.service")
    text = open(unit, encoding="utf-8").read()
    if "ExecStart=/usr/bin/needlewatch run" not in text:
        print("ExecStart does not run /usr/bin/needlewatch run")
        return 1
    required = ["ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
                "ReadWritePaths=", "RestrictAddressFamilies=", "SystemCallFilter=@system-service",
                "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure"]
    missing = [r for r in required if not re.search("^" + re.escape(r), text, re.M)]
    if missing:
        print(f"{unit}: missing {missing}")
        return 1
    tmp = tempfile.mkdtemp(prefix="nw-unit-")
    try:
        copy = os.path.join(tmp, "needlewatch.service")
        with open(copy, "w", encoding="utf-8") as f:
            f.write(text.replace("/usr/bin/needlewatch", "/bin/true")
                    .replace("man:needlewatch(1) ", ""))
        r = subprocess.run(["systemd-analyze", "verify", copy], capture_output=True, text=True)
        out = [line for line in (r.stdout + r.stderr).splitlines() if "needlewatch" in line]
        if r.returncode != 0 or out:
            print(f"systemd-analyze verify rc={r.returncode}:\n" + "\n".join(out or [r.stderr]))
            return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("OK: needlewatch.service verifies")
    return 0


def check_dockerfile():
    path = os.path.join(ROOT, "docker", "Dockerfile")
    lines = []
    for raw in open(path, encoding="utf-8").read().replace("\\\n", " ").splitlines():
        s = raw.strip()
        if s and not s.startswith("#"):
            lines.append(s)
    errors = []
    froms = [l for l in lines if l.upper().startswith("FROM ")]
    if len(froms) < 2 or not all("bookworm" in l for l in froms):
        errors.append(f"expected a multi-stage build on Debian 12 bookworm, got {froms}")
    runtime = lines[lines.index(froms[-1]):] if froms else []

    def last(instr):
        hits = [l for l in runtime if l.upper().startswith(instr + " ")]
        return hits[-1] if hits else ""

    user = last("USER")
    if not re.fullmatch(r"USER\s+[1-9]\d*(:[1-9]\d*)?", user):
        errors.append(f"runtime stage must run as a fixed non-root uid, got {user!r}")
    if not re.fullmatch(r'ENTRYPOINT\s+\[\s*"/usr/local/bin/needlewatch"\s*\]', last("ENTRYPOINT")):
        errors.append("ENTRYPOINT must be the exec form [\"/usr/local/bin/needlewatch\"] "
                      "(so SIGTERM reaches the daemon)")
    if "9464" not in last("EXPOSE"):
        errors.append("EXPOSE 9464 missing")
    if "/var/lib/needlewatch" not in last("VOLUME"):
        errors.append("VOLUME /var/lib/needlewatch missing")
    # The runtime stage installs only runtime libraries that Debian knows (no -dev packages).
    pkgs = []
    for l in runtime:
        m = re.search(r"apt-get install -y --no-install-recommends (.*?)(&&|$)", l)
        if m:
            pkgs += m.group(1).split()
    if not pkgs:
        errors.append("runtime stage installs no packages")
    dev = [p for p in pkgs if p.endswith("-dev")]
    if dev:
        errors.append(f"runtime stage installs -dev packages {dev}")
    if shutil.which("apt-cache") and pkgs:
        # One call for all (apt-cache is slow to start): a known package has a Candidate.
        r = subprocess.run(["apt-cache", "policy"] + pkgs, capture_output=True, text=True)
        known = set()
        name = None
        for line in r.stdout.splitlines():
            if line and not line.startswith(" "):
                name = line.rstrip(":")
            elif name and line.strip().startswith("Candidate:") and "(none)" not in line:
                known.add(name)
        for p in pkgs:
            if p not in known:
                errors.append(f"runtime package {p!r} unknown to apt")
    for e in errors:
        print(f"{path}: {e}")
    if not errors:
        print(f"OK: Dockerfile ({len(froms)} stages, {len(pkgs)} runtime packages)")
    return 1 if errors else 0


def check_docker_prometheus():
    """docker/prometheus.yml names rules.yml beside it, as compose mounts it."""
    tmp = tempfile.mkdtemp(prefix="nw-prom-")
    try:
        shutil.copy(os.path.join(ROOT, "docker", "prometheus.yml"), tmp)
        shutil.copy(os.path.join(ROOT, "dashboards", "prometheus", "rules.yml"), tmp)
        r = subprocess.run(["promtool", "check", "config", os.path.join(tmp, "prometheus.yml")],
                           capture_output=True, text=True)
        print(r.stdout + r.stderr)
        return r.returncode
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def github_anchor(heading):
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def load_render_rules():
    import importlib.util
    path = os.path.join(ROOT, "dashboards", "prometheus", "render_rules.py")
    spec = importlib.util.spec_from_file_location("render_rules", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def check_runbooks():
    rules_path = os.path.join(ROOT, "dashboards", "prometheus", "rules.yml")
    readme_path = os.path.join(ROOT, "dashboards", "README.md")
    rules = open(rules_path, encoding="utf-8").read()
    readme = open(readme_path, encoding="utf-8").read()
    base = load_render_rules().DEFAULT_BASE
    anchors = {github_anchor(h) for h in re.findall(r"(?m)^#+\s+(.*)$", readme)}
    # Split into one chunk per rule (the YAML is ours and regular: "- alert:" starts a rule).
    chunks = [re.split(r"(?m)^\s+- record:", c)[0]
              for c in re.split(r"(?m)^\s+- alert:\s*", rules)[1:]]
    errors = []
    if re.search(r"(?m)^\s+runbook:", rules):
        errors.append("a `runbook` annotation: use runbook_url")
    for chunk in chunks:
        name = chunk.split()[0]
        for key in ("summary", "description", "runbook_url"):
            if not re.search(rf"(?m)^\s+{key}:\s*\S", chunk):
                errors.append(f"{name}: no {key} annotation")
        # Device alerts take `severity` from the series (needlewatch_alarms_unacknowledged or
        # needlewatch_alarms_raised_total, directly or through the recorded series).
        if not re.search(r"(?m)^\s+severity:\s*\w+", chunk) and \
                not re.search(r"needlewatch_alarms_(unacknowledged|raised_total)", chunk):
            errors.append(f"{name}: no severity label (and not a device alarm carrying one)")
        m = re.search(r"runbook_url:\s*'" + re.escape(base) + r"#([\w-]+)'", chunk)
        if not m:
            errors.append(f"{name}: runbook_url must be '{base}#<section>'")
        elif m.group(1) not in anchors:
            errors.append(f"{name}: README has no section #{m.group(1)}")
        elif m.group(1) != name.lower():
            errors.append(f"{name}: runbook_url #{m.group(1)} is not the rule's own section")
    for e in errors:
        print(e)
    if not chunks:
        print(f"{rules_path}: no alert rules found")
        return 1
    if not errors:
        print(f"OK: {len(chunks)} rules, each with its runbook section")
    return 1 if errors else 0


def check_render_rules():
    script = os.path.join(ROOT, "dashboards", "prometheus", "render_rules.py")
    rules_path = os.path.join(ROOT, "dashboards", "prometheus", "rules.yml")
    default = load_render_rules().DEFAULT_BASE
    base = "https://wiki.example.org/ops/needlewatch-runbooks.html"
    errors = []
    tmp = tempfile.mkdtemp(prefix="nw-render-")
    try:
        out = os.path.join(tmp, "rules.yml")
        r = subprocess.run([sys.executable, script, "--runbook-base", base, "--out", out],
                           capture_output=True, text=True)
        if r.returncode != 0:
            errors.append(f"render_rules.py rc={r.returncode}: {r.stderr.strip()}")
        else:
            original = open(rules_path, encoding="utf-8").read()
            rendered = open(out, encoding="utf-8").read()
            n_urls = len(re.findall(r"(?m)^\s+runbook_url:", original))
            n_new = rendered.count(f"runbook_url: '{base}#")
            if n_urls == 0 or n_new != n_urls:
                errors.append(f"{n_new} of {n_urls} runbook_url annotations use the new base")
            if default in rendered:
                errors.append("the default base is still in the rendered file")
            if rendered.replace(base, default) != original:
                errors.append("something besides the runbook base changed")
            r = subprocess.run(["promtool", "check", "rules", out], capture_output=True,
                               text=True)
            if r.returncode != 0:
                errors.append(f"promtool check rules on the rendered file: {r.stdout}{r.stderr}")
        for bad in ("wiki.example.org/x", "ftp://h/x", "https://h/x#frag", "https://h/a b"):
            r = subprocess.run([sys.executable, script, "--runbook-base", bad],
                               capture_output=True, text=True)
            if r.returncode != 2 or "--runbook-base" not in r.stderr:
                errors.append(f"bad base {bad!r} not refused (rc={r.returncode})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for e in errors:
        print(e)
    if not errors:
        print("OK: render_rules.py rewrites every runbook_url and nothing else")
    return 1 if errors else 0


def main():
    checks = {"systemd": check_systemd, "dockerfile": check_dockerfile,
              "docker-prometheus": check_docker_prometheus, "runbooks": check_runbooks,
              "render-rules": check_render_rules}
    if len(sys.argv) != 2 or sys.argv[1] not in checks:
        print(f"usage: {sys.argv[0]} {{{'|'.join(checks)}}}", file=sys.stderr)
        return 2
    return checks[sys.argv[1]]()


if __name__ == "__main__":
    sys.exit(main())
