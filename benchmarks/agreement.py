"""Seed-to-seed agreement of the sampling methods: does the map depend on the image more than on the seed?

Two seeds' maps of the same photo, compared by the Pearson correlation of their pixels (1 = the seed does
not matter, 0 = the map is noise):

* RISE at ``config.agreement_masks`` masks, with the per-pixel coverage normalisation that
  :func:`utils.explain.rise.rise` computes and with the paper's division by N p, both from the same
  masks and scores (so only the normalisation differs);
* SmoothGrad at each budget of ``config.smoothgrad_budgets``. The maps at every budget come from one stream
  of noisy samples per seed: the first n samples of the stream are the ones ``smoothgrad(num_samples=n)``
  draws, so the largest budget's cost buys every smaller one.

The SmoothGrad default (``utils.explain.gradients.DEFAULT_SMOOTHGRAD_SAMPLES``) is the smallest budget whose
median agreement over the photos reaches :data:`SMOOTHGRAD_TARGET_R`.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from utils.data import load_image, sample_images
from utils.explain import base
from utils.explain.gradients import DEFAULT_NOISE_LEVEL, DEFAULT_SMOOTHGRAD_SAMPLES, abs_max_over_channels
from utils.explain.rise import rise_masks
from utils.models import load_model

AGREEMENT_PHOTOS = ("coffee", "chelsea", "african_elephant", "fire_engine", "zebra")
SMOOTHGRAD_TARGET_R = 0.9  # median over the photos of two seeds' Pearson r


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two maps' pixels (0 when either map is constant)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def rise_normalisations(model, image: np.ndarray, target: int, num_samples: int, seed: int, *, cells: int = 7,
                        p_keep: float = 0.5, output: str = "probability",
                        batch_size: int = base.DEFAULT_BATCH_SIZE) -> dict[str, np.ndarray]:
    """RISE's two estimators from ``num_samples`` masks (black baseline, as RISE's default), scoring ``output``
    ("probability" or "logit"):
    ``"coverage"`` = sum_i f_i M_i / sum_i M_i (what utils.explain.rise returns for the same seed) and
    ``"paper"`` = sum_i f_i M_i / (N p)."""
    height, width = image.shape[:2]
    random = base.rng(seed)
    weighted = np.zeros((height, width))
    coverage = np.zeros((height, width))
    for start in range(0, num_samples, batch_size):
        masks = rise_masks(min(batch_size, num_samples - start), height, width, cells, p_keep, random)
        scores = base.predict(model, masks[..., None] * image[None], batch_size=batch_size,
                              output=output)[:, target].astype(np.float64)
        weighted += np.tensordot(scores, masks, axes=1)
        coverage += masks.sum(axis=0, dtype=np.float64)
    return {"coverage": weighted / coverage, "paper": weighted / (num_samples * p_keep)}


def smoothgrad_by_budget(model, image: np.ndarray, target: int, budgets, seed: int, *,
                         noise_level: float = DEFAULT_NOISE_LEVEL,
                         batch_size: int = base.DEFAULT_BATCH_SIZE) -> dict[int, np.ndarray]:
    """SmoothGrad maps at every budget in ``budgets`` from one stream of noisy copies: the map at n is
    ``smoothgrad(model, image, target, num_samples=n, noise_level=noise_level, seed=seed)`` (up to the
    last digits of batch-size-dependent kernels), for the cost of the largest n."""
    budgets = sorted(int(n) for n in budgets)
    sigma = noise_level * float(image.max() - image.min())
    generator = base.rng(seed)
    total = np.zeros(image.shape, np.float32)
    maps = {}
    for start in range(0, budgets[-1], batch_size):
        n = min(batch_size, budgets[-1] - start)
        noisy = image[None] + generator.normal(0.0, sigma, size=(n, *image.shape)).astype(np.float32)
        grads = base.logit_gradients(model, noisy, target, batch_size=batch_size)[1]
        for budget in budgets:
            if start < budget <= start + n:
                maps[budget] = abs_max_over_channels((total + grads[:budget - start].sum(axis=0)) / budget)
        total += grads.sum(axis=0)
    return maps


def _median(values) -> float:
    return float(statistics.median(values))


def run_agreement(config, log=print) -> dict:
    """RISE's two normalisations and SmoothGrad's budgets, two seeds each, on ``config.agreement_photos`` photos."""
    model = load_model()
    photos = list(AGREEMENT_PHOTOS[: config.agreement_photos])
    images = np.stack([load_image(sample_images()[name]) for name in photos])
    targets = base.predict(model, images).argmax(axis=1)
    rise_rows, smooth_rows, per_sample = [], [], []
    for name, image, target in zip(photos, images, targets):
        row = {"photo": name, "target": int(target)}
        for score in config.agreement_scores:
            maps = [rise_normalisations(model, image, int(target), config.agreement_masks, seed, output=score)
                    for seed in (0, 1)]
            for kind in ("coverage", "paper"):
                row[f"{score}_{kind}_r"] = pearson(maps[0][kind], maps[1][kind])
                row[f"{score}_{kind}_mean"] = float(maps[0][kind].mean())
                row[f"{score}_{kind}_spatial_sd"] = float(maps[0][kind].std())
        rise_rows.append(row)
        start = time.perf_counter()
        maps = [smoothgrad_by_budget(model, image, int(target), config.smoothgrad_budgets, seed) for seed in (0, 1)]
        per_sample.append((time.perf_counter() - start) / (2 * max(config.smoothgrad_budgets)))
        smooth_rows.append({"photo": name, "target": int(target),
                            "r": {str(n): pearson(maps[0][n], maps[1][n]) for n in config.smoothgrad_budgets}})
        log(f"  agreement {name}: rise " + ", ".join(f"{k} {v:.2f}" for k, v in row.items() if k.endswith("_r"))
            + "; smoothgrad " + ", ".join(f"{n}: {r:.2f}" for n, r in smooth_rows[-1]["r"].items()))
    median_r = {str(n): _median([r["r"][str(n)] for r in smooth_rows]) for n in config.smoothgrad_budgets}
    meeting = [n for n in config.smoothgrad_budgets if median_r[str(n)] >= SMOOTHGRAD_TARGET_R]
    rise_summary = {}
    for score in config.agreement_scores:
        for kind in ("coverage", "paper"):
            values = [r[f"{score}_{kind}_r"] for r in rise_rows]
            rise_summary[f"{score}_{kind}"] = {"min": min(values), "median": _median(values), "max": max(values)}
    return {"photos": photos, "seeds": [0, 1],
            "rise": {"num_samples": config.agreement_masks, "scores": list(config.agreement_scores),
                     "per_photo": rise_rows, "summary": rise_summary},
            "smoothgrad": {"budgets": list(config.smoothgrad_budgets), "noise_level": DEFAULT_NOISE_LEVEL,
                           "per_photo": smooth_rows, "median_r": median_r,
                           "min_r": {str(n): min(r["r"][str(n)] for r in smooth_rows)
                                     for n in config.smoothgrad_budgets},
                           "seconds_per_sample": _median(per_sample), "target_r": SMOOTHGRAD_TARGET_R,
                           "smallest_budget_meeting_target": meeting[0] if meeting else None,
                           "default_num_samples": DEFAULT_SMOOTHGRAD_SAMPLES}}
