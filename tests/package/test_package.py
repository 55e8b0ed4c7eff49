#!/usr/bin/env python3
"""Builds the Debian packages and checks them, without touching the host's installed system.

    test_package.py BUILD_DIR

1. packaging/build-deb BUILD_DIR (a Release build it configures itself, ccache'd; cpack -G DEB)
2. lintian on both .deb files: no tag at all at error, warning or info level beyond those
   overridden (and explained) in packaging/lintian/
3. the control data: names, dependencies, conffiles, maintainer scripts
4. the file list, owners and modes (dpkg-deb -c), then `dpkg-deb -x` into a scratch root
5. the installed binaries run: --version, check-config of the shipped configuration files
6. man pages render without groff warnings and hold every command's flags
7. bash completion completes commands, flags and flag values from the installed binary
8. systemd-analyze verify and security on the unit, with the scratch root's binary and man page
9. postinst/prerm/postrm run against stub commands: the user is created once, the unit enabled

Nothing is installed on the host: every step works in temporary directories; maintainer
scripts run with their system commands replaced by stubs that only log. Standard library only.
"""
import glob
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
failures = []


def check(cond, what):
    if cond:
        print(f"ok    {what}")
    else:
        print(f"FAIL  {what}")
        failures.append(what)
    return cond


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(cmd, **kw)


def build(build_dir):
    out = os.path.join(build_dir, "debs")
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.monotonic()
    r = run([os.path.join(ROOT, "packaging", "build-deb"), build_dir, out], capture_output=False,
            stdout=subprocess.DEVNULL)
    print(f"build-deb: rc={r.returncode} in {time.monotonic() - t0:.1f}s")
    if r.returncode != 0:
        sys.exit("build-deb failed")
    debs = {}
    for path in glob.glob(os.path.join(out, "*.deb")):
        debs[os.path.basename(path).split("_")[0]] = path
    return debs


def lintian(debs):
    t0 = time.monotonic()
    r = run(["lintian", "--fail-on", "error,warning,info", "--display-info", "--no-tag-display-limit",
             *debs.values()])
    tags = [line for line in (r.stdout + r.stderr).splitlines() if re.match(r"^[EWIPXO]: ", line)]
    print(f"lintian: rc={r.returncode} in {time.monotonic() - t0:.1f}s")
    for t in tags:
        print("   ", t)
    check(r.returncode == 0 and not [t for t in tags if t[0] in "EWI"],
          "lintian: no error, warning or info tags (overrides are in packaging/lintian/)")


def field(deb, name):
    return run(["dpkg-deb", "--field", deb, name]).stdout.strip()


def control(debs, scratch):
    nw, sim = debs.get("needlewatch"), debs.get("needlewatch-sim")
    if not check(nw and sim, f"both packages built: {sorted(debs)}"):
        sys.exit(1)
    version = open(os.path.join(ROOT, "CMakeLists.txt")).read()
    version = re.search(r"project\(needlewatch VERSION (\S+)", version).group(1)
    for name, deb in debs.items():
        check(field(deb, "Version") == version, f"{name}: Version {version}")
        check(field(deb, "Package") == name, f"{name}: Package")
    depends = field(nw, "Depends")
    for lib in ("adduser", "libsystemd0", "libpaho-mqttpp3", "libyaml-cpp", "libzstd1"):
        check(lib in depends, f"needlewatch Depends on {lib} ({depends})")
    ctl = os.path.join(scratch, "control")
    run(["dpkg-deb", "--control", nw, ctl], check=True)
    conffiles = open(os.path.join(ctl, "conffiles")).read().split()
    check(sorted(conffiles) == ["/etc/needlewatch/limits.yaml", "/etc/needlewatch/needlewatch.yaml"],
          f"conffiles: {conffiles}")
    for script in ("postinst", "prerm", "postrm"):
        mode = stat.S_IMODE(os.stat(os.path.join(ctl, script)).st_mode)
        check(mode == 0o755, f"control/{script} mode {mode:o}")
        check(run(["sh", "-n", os.path.join(ctl, script)]).returncode == 0, f"{script}: sh -n")
    return ctl


def listing(deb):
    """path -> (mode string, owner/group) from the archive itself (dpkg-deb -c)."""
    files = {}
    for line in run(["dpkg-deb", "--contents", deb], check=True).stdout.splitlines():
        parts = line.split(None, 5)
        path = parts[5].split(" -> ")[0]
        files[path[1:].rstrip("/") or "/"] = (parts[0], parts[1])
    return files


def files_and_modes(debs):
    nw = listing(debs["needlewatch"])
    sim = listing(debs["needlewatch-sim"])
    expect_nw = {
        "/usr/bin/needlewatch": "-rwxr-xr-x",
        "/etc/needlewatch/needlewatch.yaml": "-rw-r--r--",
        "/etc/needlewatch/limits.yaml": "-rw-r--r--",
        "/lib/systemd/system/needlewatch.service": "-rw-r--r--",
        "/usr/share/man/man1/needlewatch.1.gz": "-rw-r--r--",
        "/usr/share/bash-completion/completions/needlewatch": "-rw-r--r--",
        "/usr/share/doc/needlewatch/copyright": "-rw-r--r--",
        "/usr/share/doc/needlewatch/changelog.gz": "-rw-r--r--",
        "/usr/share/doc/needlewatch/README.md": "-rw-r--r--",
        "/usr/share/needlewatch/prometheus/rules.yml": "-rw-r--r--",
        "/usr/share/needlewatch/alertmanager/alertmanager.yml": "-rw-r--r--",
        "/usr/share/needlewatch/grafana/dashboards/clinic-overview.json": "-rw-r--r--",
    }
    expect_sim = {
        "/usr/bin/needlewatch-sim": "-rwxr-xr-x",
        "/usr/share/man/man1/needlewatch-sim.1.gz": "-rw-r--r--",
        "/usr/share/bash-completion/completions/needlewatch-sim": "-rw-r--r--",
        "/usr/share/doc/needlewatch-sim/copyright": "-rw-r--r--",
    }
    for files, expect, name in ((nw, expect_nw, "needlewatch"), (sim, expect_sim, "needlewatch-sim")):
        for path, mode in expect.items():
            check(files.get(path, ("missing",))[0] == mode,
                  f"{name}: {path} {files.get(path, ('missing',))[0]} (want {mode})")
        check(all(owner == "root/root" for _, owner in files.values()), f"{name}: all root/root")
        check(not [p for p, (m, _) in files.items() if m[8] == "w" and m[0] != "l"],
              f"{name}: nothing world-writable")
        check(not [p for p in files if p.startswith("/var")],
              f"{name}: nothing under /var (systemd creates the state and log directories)")
    check(not set(nw) & set(sim) - {p for p in nw if nw[p][0].startswith("d")},
          "the two packages share no file")
    check(not [p for p in nw if p.startswith("/usr/share/needlewatch") and p.endswith("_test.yml")],
          "no test files in /usr/share/needlewatch")


def installed(debs, scratch):
    root = os.path.join(scratch, "root")
    for deb in debs.values():
        run(["dpkg-deb", "--extract", deb, root], check=True)
    nw = os.path.join(root, "usr/bin/needlewatch")
    r = run([nw, "--version"])
    check(r.returncode == 0 and re.fullmatch(
        r"needlewatch \d+\.\d+\.\d+\ncommit: ([0-9a-f]{12}|unknown)\nbuild: Release\n"
        r"compiler: \S+ \S+\n", r.stdout), f"needlewatch --version: {r.stdout!r}")
    # The unit is Type=notify with WatchdogSec=: the daemon must speak sd_notify, or systemd
    # would time out its start and kill it for a silent watchdog.
    r = run(["nm", "--dynamic", "--undefined-only", nw])
    check("sd_notify" in r.stdout and "sd_watchdog_enabled" in r.stdout,
          "needlewatch calls sd_notify and sd_watchdog_enabled (libsystemd)")
    r = run([os.path.join(root, "usr/bin/needlewatch-sim"), "--version"])
    check(r.returncode == 0 and r.stdout.startswith("needlewatch-sim "),
          f"needlewatch-sim --version: {r.stdout!r}")
    for name in ("needlewatch.yaml", "limits.yaml"):
        path = os.path.join(root, "etc/needlewatch", name)
        r = run([nw, "check-config", path])
        check(r.returncode == 0, f"check-config /etc/needlewatch/{name}: {r.stdout}{r.stderr}")
    text = open(os.path.join(root, "etc/needlewatch/needlewatch.yaml")).read()
    for line in ("  audit_log: /var/log/needlewatch/audit.jsonl",
                 "  dir: /var/lib/needlewatch/recordings", "  enabled: true"):
        check("\n" + line + "\n" in text, f"needlewatch.yaml has `{line.strip()}`")
    # The rest is the documented source file, unchanged.
    source = open(os.path.join(ROOT, "config/needlewatch.yaml")).read()
    tail = source[source.index("\nhttp:"):source.index("\noutputs:")]
    check(tail in text, "needlewatch.yaml keeps config/needlewatch.yaml's other sections")
    check(open(os.path.join(root, "etc/needlewatch/limits.yaml")).read()
          == open(os.path.join(ROOT, "config/limits.yaml")).read(), "limits.yaml is config/limits.yaml")
    return root


def man_pages(root):
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    for page, needles in (
            ("needlewatch.1.gz", ["needlewatch run", "--mqtt.url", "NEEDLEWATCH_MQTT_URL",
                                  "mqtt://127.0.0.1:1883", "needlewatch replay", "--format",
                                  "needlewatch recordings export", "check-config",
                                  "/etc/needlewatch/needlewatch.yaml", "EXAMPLES",
                                  "NEEDLEWATCH_MQTT_PASSWORD", "journalctl"]),
            ("needlewatch-sim.1.gz", ["--faults", "--clinics", "NEEDLEWATCH_MQTT_USERNAME"])):
        path = os.path.join(root, "usr/share/man/man1", page)
        r = run(["man", "--warnings", "-E", "UTF-8", "-l", path], env=env)
        out = re.sub(r".\x08", "", r.stdout)
        check(r.returncode == 0 and not r.stderr.strip(), f"man {page}: no warnings {r.stderr!r}")
        missing = [n for n in needles if n not in out]
        check(not missing, f"man {page} mentions {needles}; missing {missing}")


def completion(root):
    script = os.path.join(root, "usr/share/bash-completion/completions/needlewatch")
    nw = os.path.join(root, "usr/bin/needlewatch")
    sim = os.path.join(root, "usr/bin/needlewatch-sim")

    def complete(*words):
        # COMP_WORDS as bash splits them (COMP_WORDBREAKS has '='); the last word is the cursor's.
        quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
        prog = (f"source '{script}'; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; "
                f"_needlewatch; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
        r = run(["bash", "--norc", "--noprofile", "-c", prog])
        return r.stdout.split()

    cases = [
        ((nw, ""), {"run", "replay", "check-config", "recordings", "shard-plan"}, "commands"),
        ((nw, "re"), {"replay", "recordings"}, "commands by prefix"),
        ((nw, "run", "--mqtt."), {"--mqtt.url", "--mqtt.instance"}, "run's flags"),
        ((nw, "replay", "--format", ""), {"text", "json", "csv", "html"}, "--format values"),
        ((nw, "replay", "--format", "=", "h"), {"html"}, "--format=h"),
        ((nw, "recordings", ""), {"ls", "export"}, "recordings' commands"),
        ((nw, "recordings", "export", "--"), {"--format", "--help"}, "nested command's flags"),
        ((sim, "--connections", ""), {"per-device", "shared"}, "simulator flag values"),
        ((sim, "--fa"), {"--faults"}, "simulator flags"),
    ]
    for words, want, what in cases:
        got = set(complete(*words))
        check(got == want, f"completion, {what}: {sorted(got)} (want {sorted(want)})")


def unit(root, scratch):
    unit_path = os.path.join(root, "lib/systemd/system/needlewatch.service")
    text = open(unit_path).read()
    keys = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            keys.setdefault(k, []).append(v)
    want = {"Type": "notify", "NotifyAccess": "main", "WatchdogSec": "30s", "User": "needlewatch",
            "StateDirectory": "needlewatch", "LogsDirectory": "needlewatch", "UMask": "0027",
            "ProtectSystem": "strict", "NoNewPrivileges": "yes", "MemoryMax": "1G",
            "TasksMax": "64", "ReadWritePaths": "/var/lib/needlewatch /var/log/needlewatch",
            "ExecStart": "/usr/bin/needlewatch run --config.file=/etc/needlewatch/needlewatch.yaml"}
    for k, v in want.items():
        check(keys.get(k, [None])[0] == v, f"unit {k}={keys.get(k)} (want {v})")
    check(keys.get("ExecReload", [])[-1:] == ["/bin/kill -HUP $MAINPID"], "unit: reload is SIGHUP")
    check("man:needlewatch(1)" in keys.get("Documentation", [""])[0], "unit: Documentation= man page")

    # verify resolves ExecStart= and runs man(1) for Documentation=: both must exist, so the copy
    # verified names the scratch root's binary, and man looks in the scratch root's pages.
    copy_dir = os.path.join(scratch, "unit")
    os.makedirs(copy_dir)
    copy = os.path.join(copy_dir, "needlewatch.service")
    with open(copy, "w") as f:
        f.write(text.replace("/usr/bin/needlewatch", os.path.join(root, "usr/bin/needlewatch")))
    env = dict(os.environ, MANPATH=os.path.join(root, "usr/share/man"))
    r = run(["systemd-analyze", "verify", copy], env=env)
    out = [line for line in (r.stdout + r.stderr).splitlines() if "needlewatch" in line]
    check(r.returncode == 0 and not out, f"systemd-analyze verify: rc={r.returncode} {out}")
    r = run(["systemd-analyze", "security", "--offline=yes", "--threshold=20", copy], env=env)
    score = re.search(r"Overall exposure level for \S+: (\S+)", r.stdout)
    check(r.returncode == 0, f"systemd-analyze security: exposure {score and score.group(1)} <= 2.0")


def maintainer_scripts(ctl, scratch):
    """Runs the scripts with getent/adduser/deb-systemd-*/systemctl replaced by logging stubs."""
    stubs = os.path.join(scratch, "stubs")
    os.makedirs(stubs)
    log = os.path.join(scratch, "calls.log")
    for name in ("getent", "adduser", "addgroup", "deb-systemd-helper", "deb-systemd-invoke",
                 "systemctl"):
        with open(os.path.join(stubs, name), "w") as f:
            # getent answers "no such user" unless $USER_EXISTS is set.
            status = '[ -n "$USER_EXISTS" ] && exit 0 || exit 2' if name == "getent" else "exit 0"
            f.write(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n{status}\n')
        os.chmod(os.path.join(stubs, name), 0o755)

    def script(name, *args, user_exists=False):
        open(log, "w").close()
        env = {"PATH": stubs + ":/usr/bin:/bin", "USER_EXISTS": "1" if user_exists else ""}
        r = run([os.path.join(ctl, name), *args], env=env)
        return r.returncode, open(log).read()

    rc, calls = script("postinst", "configure", "")
    check(rc == 0, f"postinst configure: rc={rc}")
    add = [c for c in calls.splitlines() if c.startswith("adduser ")]
    check(len(add) == 1 and all(a in add[0] for a in ("--system", "--group", "--no-create-home",
                                                       "--home /var/lib/needlewatch", "needlewatch")),
          f"postinst creates the system user: {add}")
    check("deb-systemd-helper enable needlewatch.service" in calls
          or "deb-systemd-helper update-state needlewatch.service" in calls,
          "postinst enables the unit")
    rc, calls = script("postinst", "configure", "0.0.9", user_exists=True)
    check(rc == 0 and "adduser" not in calls, "postinst on upgrade: user kept, not re-created")
    rc, _ = script("postinst", "bogus")
    check(rc != 0, "postinst rejects an unknown action")
    rc, calls = script("postrm", "purge")
    check(rc == 0, f"postrm purge: rc={rc}")
    if os.path.exists("/usr/bin/deb-systemd-helper"):
        check("deb-systemd-helper purge needlewatch.service" in calls,
              "postrm purge forgets the unit's enablement")
    rc, _ = script("prerm", "remove")
    check(rc == 0, "prerm remove")


def main():
    build_dir = os.path.abspath(sys.argv[1])
    t0 = time.monotonic()
    debs = build(build_dir)
    scratch = tempfile.mkdtemp(prefix="nw-package-")
    try:
        ctl = control(debs, scratch)
        lintian(debs)
        files_and_modes(debs)
        root = installed(debs, scratch)
        man_pages(root)
        completion(root)
        unit(root, scratch)
        maintainer_scripts(ctl, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"package test: {len(failures)} failed in {time.monotonic() - t0:.1f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
