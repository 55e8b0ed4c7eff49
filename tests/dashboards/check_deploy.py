#!/usr/bin/env python3
"""Offline checks of the deployment files that have no validator of their own.

    check_deploy.py systemd             systemd-analyze verify deploy/systemd/needlewatch.service
    check_deploy.py dockerfile          docker/Dockerfile: stages, user, entrypoint, packages
    check_deploy.py docker-prometheus   promtool check config on docker/prometheus.yml + rules
    check_deploy.py runbooks            every alert rule has summary/description/runbook and a
                                        severity, and its runbook section exists in the README

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


def check_runbooks():
    rules_path = os.path.join(ROOT, "dashboards", "prometheus", "rules.yml")
    readme_path = os.path.join(ROOT, "dashboards", "README.md")
    rules = open(rules_path, encoding="utf-8").read()
    readme = open(readme_path, encoding="utf-8").read()
    anchors = {github_anchor(h) for h in re.findall(r"(?m)^#+\s+(.*)$", readme)}
    # Split into one chunk per rule (the YAML is ours and regular: "- alert:" starts a rule).
    chunks = re.split(r"(?m)^\s+- alert:\s*", rules)[1:]
    errors = []
    for chunk in chunks:
        name = chunk.split()[0]
        for key in ("summary", "description", "runbook"):
            if not re.search(rf"(?m)^\s+{key}:\s*\S", chunk):
                errors.append(f"{name}: no {key} annotation")
        if not re.search(r"(?m)^\s+(severity:\s*\w+|expr:.*needlewatch_alarms_active)", chunk):
            errors.append(f"{name}: no severity label (and not a device alarm carrying one)")
        m = re.search(r"runbook:\s*'dashboards/README\.md#([\w-]+)'", chunk)
        if not m:
            errors.append(f"{name}: runbook must be 'dashboards/README.md#<section>'")
        elif m.group(1) not in anchors:
            errors.append(f"{name}: README has no section #{m.group(1)}")
        elif m.group(1) != name.lower():
            errors.append(f"{name}: runbook #{m.group(1)} is not the rule's own section")
    for e in errors:
        print(e)
    if not chunks:
        print(f"{rules_path}: no alert rules found")
        return 1
    if not errors:
        print(f"OK: {len(chunks)} rules, each with its runbook section")
    return 1 if errors else 0


def main():
    checks = {"systemd": check_systemd, "dockerfile": check_dockerfile,
              "docker-prometheus": check_docker_prometheus, "runbooks": check_runbooks}
    if len(sys.argv) != 2 or sys.argv[1] not in checks:
        print(f"usage: {sys.argv[0]} {{{'|'.join(checks)}}}", file=sys.stderr)
        return 2
    return checks[sys.argv[1]]()


if __name__ == "__main__":
    sys.exit(main())
