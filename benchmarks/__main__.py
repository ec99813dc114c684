"""``python -m benchmarks [--quick] [--out DIR] [--parts ...]``: run the benchmark, write results/."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")  # plots go to files; no display needed (and none in CI)

from .config import PARTS  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes for CI (about three minutes)")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated parts to run (default all: {','.join(PARTS)}); "
                             "results of parts not run are kept from the previous results.json")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # the unit test's sizes
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        print(f"error: unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}", file=sys.stderr)
        return 2
    from .run import run_parts

    out = Path(args.out) if args.out else Path(__file__).resolve().parent / "results"
    start = time.perf_counter()
    paths = run_parts(parts, out, quick=args.quick, tiny=args.tiny)
    print(f"benchmark ({', '.join(parts)}) done in {time.perf_counter() - start:.0f} s; wrote {paths['markdown']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
