#!/usr/bin/env python3
"""Writes a help2man include file with a COMMANDS section: every (sub)command of a CLI11
program, found through the "Subcommands:" of each --help, with its flags as tagged paragraphs
and its footer (examples, environment) as preformatted text.

    commands.py PROGRAM > commands.h2m

help2man itself formats the top-level --help; this adds what lies below it, so the man page
holds every flag of every command exactly as the program describes it.
"""
import os
import re
import subprocess
import sys


def help_text(program, words):
    # argv[0] is the bare name, so the usage lines read "needlewatch run …", not a build path.
    name = os.path.basename(program)
    r = subprocess.run([name, *words, "--help"], executable=program, capture_output=True,
                       text=True, check=True)
    return r.stdout


def roff(text):
    text = text.replace("\\", "\\e")
    # A minus sign where a flag or option starts (never a hyphen inside a word).
    text = re.sub(r"(?<![A-Za-z0-9])-", r"\\-", text)
    return re.sub(r"^([.'])", r"\\&\1", text, flags=re.M)


def parse(text):
    """(description, usage, {section: [lines]}, footer lines) of one CLI11 help."""
    lines = text.rstrip("\n").splitlines()
    description = lines[0] if lines and not lines[0].startswith("Usage:") else ""
    usage = next((l[len("Usage: "):] for l in lines if l.startswith("Usage: ")), "")
    sections, footer, current = {}, [], None
    start = next((i for i, l in enumerate(lines) if l.startswith("Usage: ")), 0) + 1
    for line in lines[start:]:
        m = re.fullmatch(r"(Positionals|Options|Subcommands):", line)
        if m:
            current = sections.setdefault(m.group(1), [])
            continue
        if current is not None and line.startswith("  "):
            current.append(line)
            continue
        current = None  # a section ends at its first blank line; the footer follows
        footer.append(line)
    while footer and not footer[0].strip():
        footer.pop(0)
    return description, usage, sections, footer


def entries(lines):
    """CLI11 lists an entry as "  SPEC   help", or "  SPEC" then the help on indented lines."""
    out = []
    for line in lines:
        m = re.match(r"^  (\S.*?)(?: {2,}(\S.*))?$", line)
        if m and not line.startswith("   "):
            out.append([m.group(1), m.group(2) or ""])
        elif out:
            out[-1][1] = (out[-1][1] + " " + line.strip()).strip()
    return out


def emit(program, words, out):
    description, usage, sections, footer = parse(help_text(program, words))
    if words:
        out.append(f'.SS "{roff(usage)}"')
        out.append(roff(description))
        for name in ("Positionals", "Options"):
            for spec, text in entries(sections.get(name, [])):
                if spec.startswith("-h,--help"):
                    continue
                out.append(".TP")
                out.append(f"\\fB{roff(spec.split()[0])}\\fR{roff(spec[len(spec.split()[0]):])}")
                out.append(roff(text))
        if footer:
            out.append(".PP")
            out.append(".nf")
            out.extend(roff(l) if l.strip() else "" for l in footer)
            out.append(".fi")
    for spec, _ in entries(sections.get("Subcommands", [])):
        emit(program, [*words, spec.split()[0]], out)


def main():
    out = ["[COMMANDS]"]
    emit(os.path.abspath(sys.argv[1]), [], out)
    # Empty lines are paragraph breaks that groff warns about inside .nf: use .sp instead.
    print("\n".join(l if l else ".sp" for l in out))


if __name__ == "__main__":
    main()
