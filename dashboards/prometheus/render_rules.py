#!/usr/bin/env python3
"""Writes a copy of the needlewatch alert rules whose runbook_url links point at your copy of the
runbooks (dashboards/README.md, published wherever your on-call can open it).

    dashboards/prometheus/render_rules.py --runbook-base URL [--out FILE] [RULES]

Every alert's annotation is `runbook_url: '<base>#<section>'`. The shipped rules.yml uses the
placeholder base DEFAULT_BASE below; this replaces it by URL (an absolute http or https URL of the
rendered README page, without a '#'), e.g.

    dashboards/prometheus/render_rules.py \\
      --runbook-base https://git.example.org/needlewatch/blob/main/dashboards/README.md \\
      --out /etc/prometheus/needlewatch-rules.yml
    promtool check rules /etc/prometheus/needlewatch-rules.yml

RULES defaults to rules.yml beside this script; --out defaults to standard output. Nothing else
in the file changes. Exit 0 on success; 2 with a message for a bad URL or a file without
runbook_url annotations. Standard library only.
"""
import argparse
import pathlib
import re
import sys
import urllib.parse

DEFAULT_BASE = "https://example.invalid/needlewatch/dashboards/README.md"
HERE = pathlib.Path(__file__).resolve().parent
LINE = re.compile(r"^(\s+runbook_url:\s*')" + re.escape(DEFAULT_BASE) + r"(#[a-z0-9_-]+')[ \t]*$",
                  re.M)


def check_base(base):
    """None when `base` is usable, else what is wrong with it."""
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "expected an absolute http:// or https:// URL"
    if "#" in base:
        return "expected no '#' (the section anchor is appended)"
    if re.search(r"[\s'\"\\]", base):
        return "expected no spaces, quotes or backslashes"
    return None


def render(text, base):
    """The rules text with every runbook_url base replaced; raises ValueError when none is found."""
    out, n = LINE.subn(lambda m: m.group(1) + base.rstrip("/") + m.group(2), text)
    if n == 0:
        raise ValueError(f"no runbook_url annotation with the base {DEFAULT_BASE}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runbook-base", required=True, metavar="URL",
                    help="absolute URL of the published dashboards/README.md")
    ap.add_argument("--out", type=pathlib.Path, help="write here instead of standard output")
    ap.add_argument("rules", nargs="?", type=pathlib.Path, default=HERE / "rules.yml")
    args = ap.parse_args()
    problem = check_base(args.runbook_base)
    if problem:
        print(f"--runbook-base {args.runbook_base!r}: {problem}", file=sys.stderr)
        return 2
    try:
        text = render(args.rules.read_text(encoding="utf-8"), args.runbook_base)
    except (OSError, ValueError) as e:
        print(f"{args.rules}: {e}", file=sys.stderr)
        return 2
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
