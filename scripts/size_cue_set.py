"""How many planted-cue images resolve a pointing-game difference of 0.1 between two explainers?

Runs every row of the ``library_quality`` benchmark (our methods and each library adapter at its two settings)
on the first ``--pilot`` planted-cue test images of one cue model, with the quality metrics at their smallest
sizes (only the maps' pointing game is used), and prints the sample size of
:func:`benchmarks.statistics.pointing_game_sample_size` from those hits for every pair of rows: the
binomial bound, the hardest pair and the median over the pairs. ``benchmarks.config.Config.library_cue_images``
is the median pair's figure (213 from a 40-image pilot on cue_resnet, 2026-12-02, 5.6 min).

    python scripts/size_cue_set.py [--model cue_resnet] [--pilot 40]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import config as configs  # noqa: E402
from benchmarks import library_quality  # noqa: E402


def pilot_sample_size(model_name: str, images: int) -> dict:
    """The pointing-game sample sizes from a pilot of ``images`` cue test images (all rows, default sizes)."""
    from utils.data.cue import make_cue_images
    from utils.explain import base
    from utils.models import load_model
    from utils.models.cue import training_record

    base.SHOW_PROGRESS = False
    config = replace(configs.FULL, library_sanity_images=0, library_mufidelity_samples=4, library_pgi_samples=1,
                     library_metric_steps=4, library_default_cue_images=None)
    cue = make_cue_images(images, seed=training_record()["test_seed"])
    start = time.perf_counter()
    block = library_quality.benchmark_set(load_model(model_name), cue.images, cue.labels, cue.masks, config,
                                          log=lambda message: None)
    size = library_quality.pointing_game_sample_sizes(block)
    hits = {f"{r['method']}/{r['variant']}": round(sum(r["per_image"]["pointing_game"]) / images, 3)
            for r in block["rows"]}
    return {"model": model_name, "pilot_images": images, "seconds": round(time.perf_counter() - start, 1),
            "hit_rates": hits, "sample_size": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cue_resnet", choices=("cue_resnet", "cue_mobilenet"))
    parser.add_argument("--pilot", type=int, default=40, help="pilot images (at least 2)")
    args = parser.parse_args()
    if args.pilot < 2:
        parser.error("--pilot needs at least 2 images")
    result = pilot_sample_size(args.model, args.pilot)
    size = result["sample_size"]
    print(json.dumps(result["hit_rates"], indent=1))
    print(f"binomial bound: {size['bound']['n_wilcoxon']} images; from the {args.pilot}-image pilot: hardest pair "
          f"{size['pilot']['pair']} {size['pilot']['n_wilcoxon']}, median over {size['pairs']} pairs "
          f"{size['pilot_median_n_wilcoxon']} ({result['seconds']} s)")


if __name__ == "__main__":
    main()
