"""`make chaos` / `python -m tests.chaos`: every fault, many trials, a results table.

Needs root (the disk-full trial mounts a small tmpfs). Takes about 25 minutes here; `--quick`
runs the bounded version `make test` runs (tests/integration/test_chaos.py), a few minutes.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

from .results import table, write
from .suite import FULL, PARTS, QUICK, run_suite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the bounded version (make test runs it)")
    parser.add_argument("--seed", type=int, default=None, help="the random points (default: a new one)")
    parser.add_argument("--out", type=Path, default=None, help="append the results table to this file")
    parser.add_argument("--keep", action="store_true", help="keep the trials' data directories and logs")
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"some faults, comma-separated (default {','.join(PARTS)})"
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    root = Path(tempfile.mkdtemp(prefix="lakehouse-chaos-", dir="/tmp"))
    root.chmod(0o755)
    print(f"chaos: seed {seed}; data and logs in {root}", flush=True)
    try:
        parts = tuple(args.only.split(","))
        faults = run_suite(root, QUICK if args.quick else FULL, random.Random(seed), parts)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print("\n" + table(faults))
    if args.out:
        write(faults, args.out, f"make chaos{' --quick' if args.quick else ''} (seed {seed})")
        print(f"\nchaos: results appended to {args.out}")
    return 0 if all(f.ok for f in faults) else 1


if __name__ == "__main__":
    sys.exit(main())
