#!/usr/bin/env python3
"""Runs a `cargo test` command and fails unless every test it knows of ran.

  every_test_ran.py COMMAND [ARG...]

Runs COMMAND (e.g. `cargo test --workspace -- --include-ignored`) with its output passed through,
then reads libtest's summaries ("test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured;
0 filtered out"): it fails if COMMAND failed, if it printed no summary, or if any summary counts
an ignored or filtered-out test, and names the ignored ones. `make test` runs the workspace's tests
through it, so a suite that a bare `cargo test` leaves out (`#[ignore = "needs ..."]`) cannot be
left out there too.

Standard library only: it runs before any tool is installed.
"""
import re
import subprocess
import sys

SUMMARY = re.compile(
    r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored; (\d+) measured; (\d+) filtered out"
)
IGNORED = re.compile(r"^test (.+?) \.\.\. ignored")


def check(lines):
    """What is wrong with this output of `cargo test`, as a list of sentences (empty: all ran)."""
    summaries, ignored = [], []
    for line in lines:
        match = SUMMARY.search(line)
        if match:
            summaries.append(tuple(int(n) for n in match.groups()))
        match = IGNORED.match(line)
        if match:
            ignored.append(match.group(1))
    if not summaries:
        return ["no test summary: did the command run any test binary?"]
    problems = []
    skipped = sum(s[2] for s in summaries)
    filtered = sum(s[4] for s in summaries)
    if skipped:
        problems.append(f"ignored: {skipped} ({', '.join(ignored) or 'names not printed'})")
    if filtered:
        problems.append(f"filtered out: {filtered}")
    return problems


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    process = subprocess.Popen(
        argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    lines = []
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line.rstrip("\n"))
    status = process.wait()
    problems = check(lines)
    for problem in problems:
        print(f"every_test_ran.py: {problem}", file=sys.stderr)
    if status != 0:
        return status
    if problems:
        print(
            "every_test_ran.py: every test must run here; pass `-- --include-ignored` and no filter",
            file=sys.stderr,
        )
        return 1
    ran = sum(1 for line in lines if SUMMARY.search(line))
    print(f"every_test_ran.py: every test ran ({ran} test binaries, none ignored or filtered out)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
