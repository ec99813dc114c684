"""``python -m benchmarks [--quick] [--out DIR] [--parts ...] [--data NAME] [--scheduler WHERE]``: run the benchmark,
write results/.

``--scheduler local:2`` runs the per-image work of the photos and cue parts (every method's map, time, model
calls and scores, one Dask task per image) on a LocalCluster of 2 worker processes, ``tcp://host:8786`` on an
existing Dask cluster (docs/scaling.md); the sanity check, the stability score and the tables stay here.

``--data imagenette`` (or ``coco-sample``) runs the per-image parts on the images ``./get_dataset.sh NAME``
fetched, into ``benchmarks/results/NAME/`` unless ``--out`` says otherwise; without those images it
prints which command fetches them and exits with status 2."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")  # plots go to files; no display needed (and none in CI)

from .config import DATA_PARTS, PARTS  # noqa: E402
from .datasets import DATASETS  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes for CI (about three minutes)")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated parts to run (default all: {','.join(PARTS)}); "
                             "results of parts not run are kept from the previous results.json")
    parser.add_argument("--data", choices=DATASETS, default=None,
                        help="run the per-image parts (" + ", ".join(DATA_PARTS) + ") on this data set, "
                             "fetched with ./get_dataset.sh NAME (docs/datasets.md)")
    parser.add_argument("--data-limit", type=int, default=None, help="at most this many images of --data")
    parser.add_argument("--scheduler", default="local",
                        help="where the per-image work of the photos and cue parts runs: local (this process, the "
                             "default), local:N (N Dask worker processes here) or tcp://host:port (a Dask cluster)")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # the unit test's sizes
    args = parser.parse_args(argv)
    given = [p.strip() for p in args.parts.split(",") if p.strip()]
    parts = list(DATA_PARTS) if args.data and given == list(PARTS) else given
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        print(f"error: unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}", file=sys.stderr)
        return 2
    if args.data:
        from .datasets import MissingData, check_present

        other = [p for p in parts if p not in DATA_PARTS]
        if other:
            print(f"error: part(s) {', '.join(other)} do not run on --data images; choose from "
                  f"{', '.join(DATA_PARTS)}", file=sys.stderr)
            return 2
        try:
            check_present(args.data)
        except MissingData as err:
            print(err, file=sys.stderr)
            return err.exit_code
    dask_errors: tuple[type[Exception], ...] = ()  # one-line errors of a bad or unreachable scheduler
    if args.scheduler != "local":
        from utils.pipeline import PipelineError
        from utils.scheduling import parse_scheduler

        dask_errors = (PipelineError,)
        try:
            parse_scheduler(args.scheduler)  # before any model is loaded
        except PipelineError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    from .run import run_parts

    default_out = Path(__file__).resolve().parent / "results"
    out = Path(args.out) if args.out else default_out / args.data if args.data else default_out
    start = time.perf_counter()
    try:
        paths = run_parts(parts, out, quick=args.quick, tiny=args.tiny, data=args.data, data_limit=args.data_limit,
                          scheduler=args.scheduler)
    except dask_errors as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"benchmark ({', '.join(parts)}) done in {time.perf_counter() - start:.0f} s; wrote {paths['markdown']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
