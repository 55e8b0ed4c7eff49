#!/usr/bin/env python3
"""The command lines tell their defaults, environment variables and examples, and --version
tells the build; a `run` flag's environment variable really applies, below the flag itself.

    test_cli_help.py NEEDLEWATCH NEEDLEWATCH_SIM

Every `run` case below fails at startup on purpose (a bad log level, a missing config file),
so no daemon is left running and no socket is opened. Standard library only.
"""
import os
import re
import subprocess
import sys

failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


def run(*cmd, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("NEEDLEWATCH_")}
    e.update(env or {})
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=30)
    except subprocess.TimeoutExpired:  # it started instead of failing: killed, and a failure
        return subprocess.CompletedProcess(cmd, -1, "", "still running after 30 s")


def options(help_text):
    """(flag spec, whole entry) for each flag in the Options: section of a CLI11 help."""
    out, section, entry = [], None, None
    for line in help_text.splitlines():
        if re.match(r"^[A-Z][A-Za-z ]*:$", line):
            section = line[:-1]
            continue
        if section != "Options":
            continue
        if re.match(r"^  -", line):
            entry = [line.strip()]
            out.append(entry)
        elif line.startswith("   ") and entry is not None:
            entry.append(line.strip())
        else:
            entry = None
    return [(e[0].split()[0], " ".join(e)) for e in out]


VERSION_RE = (r"{prog} \d+\.\d+\.\d+\ncommit: ([0-9a-f]{{12}}|unknown)\n"
              r"build: \S+( \(sanitizers: [a-z,]+\))?\ncompiler: \S+ \S+\n")


def main():
    nw, sim = sys.argv[1], sys.argv[2]

    # --version: the build, on four lines; the first is what help2man and scripts read.
    for prog, name in ((nw, "needlewatch"), (sim, "needlewatch-sim")):
        r = run(prog, "--version")
        check(r.returncode == 0 and re.fullmatch(VERSION_RE.format(prog=name), r.stdout),
              f"{name} --version: {r.stdout!r}")

    # run: every flag but --help names its environment variable; those with a built-in
    # default show it.
    r = run(nw, "run", "--help")
    check(r.returncode == 0, "needlewatch run --help exits 0")
    flags = options(r.stdout)
    check(len(flags) >= 9, f"run --help lists its flags ({len(flags)})")
    for spec, entry in flags:
        if spec.startswith("-h,"):
            continue
        name = spec.split("=")[0]
        env = "NEEDLEWATCH_" + re.sub(r"[.-]", "_", name.lstrip("-")).upper()
        check(f"(Env:{env})" in entry, f"run {name} names {env}")
    for shown in ("--mqtt.url TEXT=mqtt://127.0.0.1:1883", "--web.listen-address TEXT=127.0.0.1:9464",
                  "--mqtt.instance TEXT=default", "--log.level TEXT=info", "--log.format TEXT=json",
                  "--outputs.audit-log TEXT=needlewatch-audit.jsonl"):
        check(shown in r.stdout, f"run --help shows {shown}")
    for text in ("NEEDLEWATCH_MQTT_USERNAME", "NEEDLEWATCH_MQTT_PASSWORD", "SIGHUP", "Examples:"):
        check(text in r.stdout, f"run --help footer mentions {text}")
    check("--mqtt.password" not in r.stdout and "--mqtt.username" not in r.stdout,
          "no credential flags")

    # Every command's help has examples; flags with a default show it.
    for cmd, shown in ((["replay"], ["--format TEXT:{text,json,csv,html}=text", "--speed TEXT=1"]),
                       (["check-config"], []), (["recordings"], []), (["recordings", "ls"], []),
                       (["recordings", "export"], ["--format TEXT:{jsonl}=jsonl"]), ([], [])):
        r = run(nw, *cmd, "--help")
        label = " ".join(["needlewatch", *cmd, "--help"])
        check(r.returncode == 0 and re.search(r"^Examples?:$", r.stdout, re.M), f"{label}: examples")
        for s in shown:
            check(s in r.stdout, f"{label} shows {s}")
    r = run(nw, "replay", "--help")
    check("NEEDLEWATCH_MQTT_CA_FILE" in r.stdout, "replay --help: --publish's CA variable")

    # The simulator: defaults, credentials, examples.
    r = run(sim, "--help")
    for s in ("--mqtt.url TEXT=mqtt://127.0.0.1:1883", "--clinics INT=2", "--duration TEXT=60s",
              "NEEDLEWATCH_MQTT_USERNAME", "Examples:"):
        check(s in r.stdout, f"needlewatch-sim --help shows {s}")

    # The environment applies: a bad level from NEEDLEWATCH_LOG_LEVEL stops the start...
    r = run(nw, "run", env={"NEEDLEWATCH_LOG_LEVEL": "loud"})
    check(r.returncode != 0 and "loud" in r.stdout + r.stderr,
          f"NEEDLEWATCH_LOG_LEVEL applies: rc={r.returncode} {(r.stdout + r.stderr)[:200]!r}")
    # ...a flag wins over it (the start then fails later, on the config file)...
    missing = "/nonexistent/needlewatch-test.yaml"
    r = run(nw, "run", "--log.level=info", f"--config.file={missing}",
            env={"NEEDLEWATCH_LOG_LEVEL": "loud"})
    out = r.stdout + r.stderr
    check(r.returncode != 0 and "loud" not in out and missing in out,
          f"--log.level wins over NEEDLEWATCH_LOG_LEVEL: rc={r.returncode} {out[:200]!r}")
    # "--flag=" is an empty value (audit log off), not a flag that swallows the next argument.
    r = run(nw, "run", "--outputs.audit-log=", f"--config.file={missing}")
    check(r.returncode not in (0, -1) and missing in r.stdout + r.stderr,
          f"--outputs.audit-log= leaves --config.file alone: rc={r.returncode}")
    # ...and NEEDLEWATCH_CONFIG_FILE names the file.
    r = run(nw, "run", env={"NEEDLEWATCH_CONFIG_FILE": missing})
    check(r.returncode != 0 and missing in r.stdout + r.stderr,
          f"NEEDLEWATCH_CONFIG_FILE applies: rc={r.returncode}")

    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
