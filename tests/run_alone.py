"""Run every test alone, each in a pytest process of its own, and list the ones that fail.

`python -m tests.run_alone tests/unit` (or a file, or several paths). A test that passes in the
suite but fails alone leans on another test's rows, files or fixtures; the suite's shuffled
order (pytest-randomly) finds the reverse. Long: a process per test (`make test-alone` runs the
unit tests; the integration tests, a module's fixtures started once per test, take hours).
"""

from __future__ import annotations

import subprocess
import sys
import time


def collect(paths: list[str]) -> list[str]:
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        raise SystemExit(f"run_alone: collecting failed:\n{listed.stdout[-3000:]}{listed.stderr[-2000:]}")
    return [line for line in listed.stdout.splitlines() if "::" in line]


def main(paths: list[str]) -> int:
    tests = collect(paths)
    if not tests:
        print(f"run_alone: no tests collected from {' '.join(paths)}", file=sys.stderr)
        return 2
    failed: list[str] = []
    started = time.monotonic()
    for number, test in enumerate(tests, 1):
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            failed.append(test)
            print(f"FAILED alone: {test}\n{result.stdout[-2000:]}", flush=True)
        if number % 25 == 0 or number == len(tests):
            print(
                f"run_alone: {number}/{len(tests)} run, {len(failed)} failed, "
                f"{time.monotonic() - started:.0f} s",
                flush=True,
            )
    print(f"run_alone: {len(tests) - len(failed)} of {len(tests)} pass alone")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["tests/unit"]))
