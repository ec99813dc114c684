"""How good is an explanation? Faithfulness, localisation, stability and sanity metrics.

Introduced in notebook 08 (comparing explainers), used by notebook 09 and ``benchmarks/``.
Every function takes maps of shape (H, W) as returned by ``utils.explain.METHODS`` (one value per
pixel, higher = more important for ``target``) and calls the model through
:func:`utils.explain.base.predict` (compiled, batched). The vocabulary is the explainers': ``output``
("logit" or "probability") is the score, ``baseline`` what removed pixels show
(:func:`utils.explain.baselines.baseline_image`), ``num_samples`` a sampling budget; a metric that runs an
explainer takes the explainer's own options as one dict, ``options``, so they never clash with its own.

* Faithfulness: :func:`deletion_insertion` (RISE, Petsiuk et al. 2018: remove / reveal pixels in order
  of importance and integrate the class probability), :func:`faithfulness_correlation` (MuFidelity,
  Bhatt et al. 2020), :func:`prediction_gaps` (PGI / PGU, OpenXAI, Agarwal et al. 2022).
* Localisation against a ground-truth mask (the planted cue of :mod:`utils.data.cue`):
  :func:`pointing_game`, :func:`relevance_mass`.
* Stability: :func:`noise_stability` (the map under small input noise), :func:`seed_spread`
  (a sampling method's map over seeds), built on :func:`map_similarity`; OpenXAI's relative input and output
  stability, :func:`relative_input_stability` and :func:`relative_output_stability` (both from one set of
  perturbations: :func:`relative_stability`).
* Agreement between two maps (OpenXAI): :func:`feature_agreement`, :func:`rank_agreement`,
  :func:`sign_agreement`, :func:`signed_rank_agreement` of their top-k pixels by magnitude.
* Sanity: :func:`model_randomisation_check` (Adebayo et al. 2018, cascading randomisation) on a random twin
  that keeps the activations' scale (:func:`random_twin`, checked by :func:`random_logit_spread`), with the
  verdict :func:`sanity_verdict` (rank correlation of |map| below :data:`SANITY_MAX_RANK_CORRELATION`).
* :func:`ig_completeness` (Sundararajan et al. 2017: attributions add up to f(x) - f(baseline)), built on
  :func:`utils.explain.integrated_gradients.completeness_gap`.
"""
from __future__ import annotations

import weakref
from typing import Any, Callable, Mapping, Sequence

import keras
import numpy as np
from scipy import ndimage, stats
from skimage.metrics import structural_similarity

from utils.explain.base import check_count, check_image, check_output, check_target, predict
from utils.explain.baselines import Baseline, baseline_image
from utils.explain.registry import Explainer, takes_option

Method = Callable[..., np.ndarray]

# --------------------------------------------------------------------------- checks


def _check_map(saliency: np.ndarray, shape: tuple[int, int], what: str = "saliency") -> np.ndarray:
    saliency = np.asarray(saliency, dtype=np.float64)
    if saliency.ndim == 3 and saliency.shape[-1] in (1, 3):
        raise ValueError(f"{what} has shape {saliency.shape}: pass one value per pixel, shape (H, W) "
                         "(for example sum or average the channels first).")
    if saliency.shape != tuple(shape):
        raise ValueError(f"{what} has shape {saliency.shape} but the image is {shape}: resize the map to the "
                         "image with utils.explain.base.resize_map(map, (H, W)).")
    if not np.all(np.isfinite(saliency)):
        raise ValueError(f"{what} contains NaN or infinite values.")
    return saliency


def _check_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask has shape {mask.shape} but the map is {shape}; they must match.")
    mask = mask.astype(bool)
    if not mask.any():
        raise ValueError("mask is empty: there is no ground-truth region to score against.")
    return mask


def pixel_order(saliency: np.ndarray, seed: int | None = 0) -> np.ndarray:
    """Flat pixel indices from most to least important; ties are broken at random (seeded), so a constant
    map gives a random order rather than a raster scan from the top-left corner."""
    flat = np.asarray(saliency, np.float64).ravel()
    tie_break = np.random.default_rng(seed).random(flat.size)
    return np.lexsort((tie_break, -flat))


def _step_counts(n_pixels: int, steps: int) -> np.ndarray:
    return np.round(np.linspace(0, n_pixels, check_count("steps", steps) + 1)).astype(int)


def _check_fraction(name: str, value, low: float, high: float, high_included: bool) -> float:
    """Return ``value`` as a float in (low, high) or (low, high]; a one-line ValueError naming it otherwise."""
    closing = "]" if high_included else ")"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) or not (
            low < value < high or (high_included and value == high)):
        raise ValueError(f"{name} must be a number in ({low:g}, {high:g}{closing}, got {value!r}.")
    return float(value)


def _check_std(name: str, value) -> float:
    """Return a noise level in pixel units as a float >= 0; a one-line ValueError naming it otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) or not value >= 0:
        raise ValueError(f"{name} must be a number of pixel units >= 0, got {value!r}.")
    return float(value)


def _auc(curve: np.ndarray) -> float:
    """Area under a curve sampled at equally spaced fractions of [0, 1] (trapezoid rule, as in RISE)."""
    return float(np.trapezoid(curve, dx=1.0 / (len(curve) - 1)))


# --------------------------------------------------------------------------- deletion / insertion
def _perturbation_curve(model: keras.Model, start: np.ndarray, end: np.ndarray, order: np.ndarray,
                        counts: np.ndarray, target: int, batch_size: int, output: str) -> np.ndarray:
    """Score of ``target`` as the first ``counts[k]`` pixels of ``order`` go from ``start`` to ``end``."""
    h, w, _ = start.shape
    rank = np.empty(h * w, np.int64)
    rank[order] = np.arange(h * w)
    rank = rank.reshape(h, w, 1)
    images = np.where(rank[None] < counts[:, None, None, None], end[None], start[None]).astype(np.float32)
    return predict(model, images, batch_size=batch_size, output=output)[:, target].astype(np.float64)


def deletion_insertion(model: keras.Model, image: np.ndarray, saliency: np.ndarray, target: int, *,
                       steps: int = 50, deletion_baseline: Baseline = "black", insertion_baseline: Baseline = "blur",
                       output: str = "probability", seed: int | None = 0, batch_size: int = 32) -> dict:
    """The RISE deletion and insertion curves and their areas (Petsiuk et al., 2018).

    Deletion replaces the pixels, most important first, by ``deletion_baseline`` in ``steps`` equal steps
    and records the target's probability: a faithful map makes it fall fast (low AUC is good).
    Insertion starts from ``insertion_baseline`` and puts the original pixels back in the same order: the
    probability should rise fast (high AUC is good). The defaults follow RISE: deletion to black, insertion
    from the blurred image (``"blur"``: Gaussian, sigma 5 px). Pass the same baseline to both to compare the
    two curves directly (for a random map, deletion(t) and insertion(1 - t) then coincide on average).
    ``output="logit"`` scores the pre-softmax logit instead of the probability.

    Returns ``{"fractions", "deletion_curve", "insertion_curve", "deletion_auc", "insertion_auc"}``;
    the curves have ``steps + 1`` points, fraction 0 (nothing changed) to 1 (every pixel changed).
    Costs ``2 * (steps + 1)`` model evaluations.
    """
    image = check_image(model, image)
    target = check_target(model, target)
    check_output(output)
    batch_size = check_count("batch_size", batch_size)
    saliency = _check_map(saliency, image.shape[:2])
    counts = _step_counts(image.shape[0] * image.shape[1], steps)
    order = pixel_order(saliency, seed)
    deleted = baseline_image(image, deletion_baseline, seed=seed)
    start = baseline_image(image, insertion_baseline, seed=seed)
    deletion = _perturbation_curve(model, image, deleted, order, counts, target, batch_size, output)
    insertion = _perturbation_curve(model, start, image, order, counts, target, batch_size, output)
    return {"fractions": counts / counts[-1], "deletion_curve": deletion, "insertion_curve": insertion,
            "deletion_auc": _auc(deletion), "insertion_auc": _auc(insertion)}


# --------------------------------------------------------------------------- faithfulness correlation, PGI/PGU
def _grid_cells(shape: tuple[int, int], grid: int) -> np.ndarray:
    """(H, W) int map of which of grid x grid cells each pixel falls in."""
    h, w = shape
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or not 1 <= grid <= min(h, w):
        raise ValueError(f"grid must be an int in 1..{min(h, w)}, got {grid!r}.")
    rows = np.arange(h) * grid // h
    cols = np.arange(w) * grid // w
    return rows[:, None] * grid + cols[None, :]


def faithfulness_correlation(model: keras.Model, image: np.ndarray, saliency: np.ndarray, target: int, *,
                             num_samples: int = 128, grid: int = 8, subset_fraction: float = 0.2,
                             baseline: Baseline = "black", output: str = "logit",
                             seed: int | None = 0, batch_size: int = 32) -> float:
    """MuFidelity (Bhatt et al., 2020): Pearson correlation, over ``num_samples`` random subsets S of the
    ``grid`` x ``grid`` cells (a ``subset_fraction`` of them each), between the attribution inside S,
    ``sum(saliency[S])``, and the score's drop when S is replaced by ``baseline``, ``f(x) - f(x_S)``.

    1 means the map predicts exactly how much each region matters; 0, not at all. Cells rather than single
    pixels (as in Xplique's MuFidelity) because removing scattered single pixels barely changes a CNN.
    Scores the logit by default (the probability saturates). Costs ``num_samples + 1`` model evaluations;
    ``num_samples`` must be a whole number >= 3 (a correlation needs three points).
    """
    image = check_image(model, image)
    target = check_target(model, target)
    check_output(output)
    saliency = _check_map(saliency, image.shape[:2])
    subset_fraction = _check_fraction("subset_fraction", subset_fraction, 0.0, 1.0, high_included=False)
    num_samples = check_count("num_samples", num_samples, minimum=3)
    batch_size = check_count("batch_size", batch_size)
    cells = _grid_cells(image.shape[:2], grid)
    n_cells = grid * grid
    k = max(1, int(round(subset_fraction * n_cells)))
    rng = np.random.default_rng(seed)
    subsets = np.zeros((num_samples, n_cells), bool)
    for row in subsets:
        row[rng.choice(n_cells, k, replace=False)] = True
    cell_attr = np.bincount(cells.ravel(), weights=saliency.ravel(), minlength=n_cells)
    removed = subsets[:, cells]  # (n, H, W)
    removed_look = baseline_image(image, baseline, seed=seed)
    images = np.where(removed[..., None], removed_look[None], image[None]).astype(np.float32)
    scores = predict(model, np.concatenate([image[None], images]), batch_size=batch_size, output=output)[:, target]
    drops = float(scores[0]) - scores[1:].astype(np.float64)
    attributions = subsets.astype(np.float64) @ cell_attr
    if np.std(drops) == 0 or np.std(attributions) == 0:
        return 0.0  # a constant map (or a model blind to every subset) predicts nothing
    return float(np.corrcoef(attributions, drops)[0, 1])


def prediction_gaps(model: keras.Model, image: np.ndarray, saliency: np.ndarray, target: int, *,
                    fraction: float = 0.1, noise_std: float = 25.0, num_samples: int = 16,
                    output: str = "probability", seed: int | None = 0, batch_size: int = 32) -> dict:
    """PGI and PGU (OpenXAI, Agarwal et al., 2022): the mean absolute change of the target's probability
    (``output``) when Gaussian noise (``noise_std`` in pixel units) perturbs the top ``fraction`` of pixels by
    the map's magnitude |map| (PGI, prediction gap on important features: higher is better) or the bottom
    ``fraction`` (PGU, on unimportant features: lower is better), averaged over ``num_samples`` noise draws (a
    whole number >= 1). Ranking by magnitude, as OpenXAI does, keeps strong evidence against the class among the
    important pixels: a signed ranking would call it the least important."""
    image = check_image(model, image)
    target = check_target(model, target)
    check_output(output)
    saliency = _check_map(saliency, image.shape[:2])
    fraction = _check_fraction("fraction", fraction, 0.0, 0.5, high_included=True)
    noise_std = _check_std("noise_std", noise_std)
    num_samples = check_count("num_samples", num_samples)
    batch_size = check_count("batch_size", batch_size)
    order = pixel_order(np.abs(saliency), seed)
    k = max(1, int(round(fraction * order.size)))
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, noise_std, (num_samples, *image.shape)).astype(np.float32)
    batches = []
    for chosen in (order[:k], order[-k:]):
        where = np.zeros(order.size, bool)
        where[chosen] = True
        where = where.reshape(image.shape[:2])[None, ..., None]
        batches.append(np.clip(np.where(where, image[None] + noise, image[None]), 0, 255))
    probs = predict(model, np.concatenate([image[None], *batches]), batch_size=batch_size, output=output)[:, target]
    gaps = np.abs(probs[1:] - probs[0]).astype(np.float64)
    return {"pgi": float(gaps[:num_samples].mean()), "pgu": float(gaps[num_samples:].mean())}


# --------------------------------------------------------------------------- localisation
def pointing_game(saliency: np.ndarray, mask: np.ndarray, tolerance: int = 0) -> float:
    """Does the map's maximum fall on the ground-truth ``mask`` (Zhang et al., 2016)?

    1.0 for a hit, 0.0 for a miss. ``tolerance`` grows the mask by that many pixels (the original game
    allows 15 at 224x224). When several pixels share the maximum the score is the fraction of them that
    hit, so a constant map scores the mask's share of the image rather than a free hit.
    """
    saliency = np.asarray(saliency, np.float64)
    if saliency.ndim != 2:
        raise ValueError(f"saliency must be one (H, W) map, got shape {saliency.shape}.")
    saliency = _check_map(saliency, saliency.shape)
    mask = _check_mask(mask, saliency.shape)
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 pixels, got {tolerance}.")
    if tolerance:
        mask = ndimage.binary_dilation(mask, iterations=int(tolerance))
    at_max = saliency == saliency.max()
    return float(mask[at_max].mean())


def relevance_mass(saliency: np.ndarray, mask: np.ndarray) -> float:
    """Share of the map's positive mass inside the mask: sum(max(s, 0) on mask) / sum(max(s, 0))
    (relevance mass accuracy, Arras et al., 2022). 1.0 when all positive evidence lies on the ground
    truth; a random map scores about the mask's share of the image. 0.0 for a map with no positive value."""
    saliency = np.asarray(saliency, np.float64)
    if saliency.ndim != 2:
        raise ValueError(f"saliency must be one (H, W) map, got shape {saliency.shape}.")
    saliency = _check_map(saliency, saliency.shape)
    mask = _check_mask(mask, saliency.shape)
    positive = np.clip(saliency, 0, None)
    total = positive.sum()
    return float(positive[mask].sum() / total) if total > 0 else 0.0


# --------------------------------------------------------------------------- similarity and stability
def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (ties get average ranks); 0 when either map is constant."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"maps of different sizes: {a.size} and {b.size} values.")
    ra, rb = stats.rankdata(a), stats.rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def _unit_range(x: np.ndarray) -> np.ndarray:
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def map_similarity(a: np.ndarray, b: np.ndarray) -> dict:
    """How alike two maps are: ``spearman`` (rank correlation), ``spearman_abs`` (of the absolute values,
    which ignores sign flips), ``ssim`` (structural similarity of the maps scaled to [0, 1], as in
    Adebayo et al.) and ``relative_change`` = ||a - b|| / ||a||."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"Expected two (H, W) maps of the same shape, got {a.shape} and {b.shape}.")
    norm = np.linalg.norm(a)
    win = min(7, *a.shape) | 1  # odd window no larger than the map
    return {"spearman": spearman(a, b), "spearman_abs": spearman(np.abs(a), np.abs(b)),
            "ssim": float(structural_similarity(_unit_range(a), _unit_range(b), data_range=1.0, win_size=win)),
            "relative_change": float(np.linalg.norm(a - b) / norm) if norm > 0 else float(np.linalg.norm(b) > 0)}


def _resolve_method(method: str | Method) -> Method:
    if callable(method):
        return method
    from utils.explain import METHODS
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}. Registered: {', '.join(sorted(METHODS)) or 'none yet'}.")
    return METHODS[method]


def _takes_seed(fn: Method) -> bool:
    """Whether ``fn`` samples and takes ``seed``: a registered method's ``info.stochastic``; any other callable
    (e.g. the benchmark's IG wrapper) is asked through :func:`utils.explain.registry.takes_option`."""
    return fn.info.stochastic if isinstance(fn, Explainer) else takes_option(fn, "seed")


def _method_options(options: Mapping[str, Any] | None) -> dict:
    """A copy of the explainer options a metric passes on; a one-line ValueError for anything but a mapping."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError(f"options is a dict of the method's own options, e.g. {{'num_samples': 100}}, "
                         f"got {options!r}.")
    return dict(options)


def noise_stability(method: str | Method, model: keras.Model, image: np.ndarray, target: int, *,
                    noise_std: float = 4.0, num_samples: int = 4, seed: int = 0,
                    options: Mapping[str, Any] | None = None) -> dict:
    """How much a map changes when the image gets small Gaussian noise (``noise_std`` pixel units, clipped
    to [0, 255]), a change that leaves the prediction alone (cf. OpenXAI's RIS).

    Runs ``method`` (with its ``options``, a dict) on the image and on ``num_samples`` noisy copies (a
    sampling method gets the same ``seed`` each time, so only the input changes) and returns the mean
    ``spearman``, ``ssim`` and ``relative_change`` against the clean map, their per-copy values and the
    maps. ``noise_std=0`` gives spearman 1 and relative change 0 for any deterministic method.
    """
    fn = _resolve_method(method)
    image = check_image(model, image)
    noise_std = _check_std("noise_std", noise_std)
    num_samples = check_count("num_samples", num_samples)
    options = _method_options(options)
    if _takes_seed(fn):
        options.setdefault("seed", seed)
    reference = np.asarray(fn(model, image, target, **options))
    rng = np.random.default_rng(seed)
    maps, rows = [], []
    for _ in range(num_samples):
        noisy = np.clip(image + rng.normal(0.0, noise_std, image.shape), 0, 255).astype(np.float32)
        m = np.asarray(fn(model, noisy, target, **options))
        maps.append(m)
        rows.append(map_similarity(reference, m))
    summary = {key: float(np.mean([r[key] for r in rows])) for key in ("spearman", "ssim", "relative_change")}
    return {**summary, "per_copy": rows, "reference": reference, "maps": np.stack(maps)}


# --------------------------------------------------------------------------- relative stability (OpenXAI RIS / ROS)
# A divisor entry smaller in magnitude than this share of the divisor's mean magnitude is replaced by that floor
# (its sign kept), so that map entries at or near zero do not turn a relative change into a division by zero.
RELATIVE_FLOOR = 0.01
# The smallest denominator of RIS / ROS (the eps_min of Agarwal et al., 2022): a perturbation that changes
# neither the input nor the logits measurably cannot make the ratio infinite.
RELATIVE_EPS_MIN = 1e-6


def relative_change(before: np.ndarray, after: np.ndarray, p: float = 2,
                    floor: float = RELATIVE_FLOOR) -> float:
    """||(before - after) / before||_p, element by element, flattened: the relative change of OpenXAI's
    stability metrics. Divisor entries with |before| < ``floor`` * mean(|before|) are replaced by that
    floor (keeping their sign; zeros count as positive), which keeps the ratio finite and, unlike a fixed
    constant, independent of the map's units (a map times 10 has the same relative change). 0 when
    ``before`` is zero everywhere and nothing changed."""
    before = np.asarray(before, np.float64).ravel()
    after = np.asarray(after, np.float64).ravel()
    floor = _check_fraction("floor", floor, 0.0, 1.0, high_included=True)
    if before.shape != after.shape:
        raise ValueError(f"before and after must have the same size, got {before.size} and {after.size} values.")
    diff = before - after
    smallest = floor * np.abs(before).mean()
    if smallest == 0:  # an all-zero divisor: no relative change is defined, only "none" or "some"
        return 0.0 if not diff.any() else float("inf")
    divisor = np.where(np.abs(before) < smallest, np.where(before < 0, -smallest, smallest), before)
    return float(np.linalg.norm(diff / divisor, ord=p))


def relative_stability(method: str | Method, model: keras.Model, image: np.ndarray, target: int, *,
                       num_samples: int = 8, noise_std: float = 4.0, p: float = 2, seed: int = 0,
                       floor: float = RELATIVE_FLOOR, eps_min: float = RELATIVE_EPS_MIN,
                       options: Mapping[str, Any] | None = None) -> dict:
    """OpenXAI's relative input and output stability (RIS, ROS; Agarwal et al., 2022) from one set of
    perturbations x' (Gaussian noise of ``noise_std`` pixel units, clipped to [0, 255]; ``num_samples`` of them,
    a whole number >= 1, seeded), keeping only those with the same predicted class as ``image``:

        RIS = max over x' of ||(e_x - e_x') / e_x||_p / max(||(x - x') / x||_p, eps_min)
        ROS = max over x' of ||(e_x - e_x') / e_x||_p / max(||(h_x - h_x') / h_x||_p, eps_min)

    with e the map of ``method`` (``options`` a dict of its own options; a sampling method gets the same
    ``seed`` on every copy, so only the input changes), h the model's logits (all classes) and every division
    element by element, its small divisors floored by :func:`relative_change`. Lower is more stable: the
    worst amplification of a small input (RIS) or output (ROS) change into a change of the map. An explainer
    that ignores its input scores 0.

    Returns ``{"ris", "ros"`` (NaN when no perturbation kept the prediction), ``"kept"`` (how many did),
    ``"map_changes"``, ``"input_changes"``, ``"logit_changes"`` (per kept perturbation, before the max),
    ``"images"`` (the kept x'), ``"maps"`` (their maps), ``"reference"`` (the map of ``image``)}.
    Costs ``num_samples + 1`` explanations and one batched prediction.
    """
    fn = _resolve_method(method)
    image = check_image(model, image)
    target = check_target(model, target)
    num_samples = check_count("num_samples", num_samples)
    noise_std = _check_std("noise_std", noise_std)
    _check_fraction("floor", floor, 0.0, 1.0, high_included=True)
    eps_min = _check_fraction("eps_min", eps_min, 0.0, 1.0, high_included=True)
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.number)) or not p >= 1:
        raise ValueError(f"p must be a number >= 1 (the order of the norm; np.inf for the max norm), got {p!r}.")
    options = _method_options(options)
    if _takes_seed(fn):
        options.setdefault("seed", seed)
    rng = np.random.default_rng(seed)
    noisy = np.clip(image[None] + rng.normal(0.0, noise_std, (num_samples, *image.shape)), 0, 255).astype(np.float32)
    logits = predict(model, np.concatenate([image[None], noisy]), output="logit").astype(np.float64)
    kept = np.flatnonzero(logits[1:].argmax(axis=1) == logits[0].argmax())
    reference = np.asarray(fn(model, image, target, **options), np.float64)
    maps = np.stack([np.asarray(fn(model, noisy[i], target, **options), np.float64) for i in kept]) \
        if kept.size else np.zeros((0, *reference.shape))
    map_changes = np.array([relative_change(reference, m, p, floor) for m in maps])
    input_changes = np.array([relative_change(image, noisy[i], p, floor) for i in kept])
    logit_changes = np.array([relative_change(logits[0], logits[1 + i], p, floor) for i in kept])

    def worst(denominators: np.ndarray) -> float:
        return float(np.max(map_changes / np.maximum(denominators, eps_min))) if kept.size else float("nan")

    return {"ris": worst(input_changes), "ros": worst(logit_changes), "kept": int(kept.size),
            "map_changes": map_changes, "input_changes": input_changes, "logit_changes": logit_changes,
            "images": noisy[kept], "maps": maps, "reference": reference}


def relative_input_stability(method: str | Method, model: keras.Model, image: np.ndarray, target: int,
                             **kwargs: Any) -> float:
    """RIS (Agarwal et al., 2022): max over perturbations x' with the same prediction of
    ||(e_x - e_x') / e_x||_p / max(||(x - x') / x||_p, eps_min); lower is more stable. Takes the keywords of
    :func:`relative_stability` (``num_samples``, ``noise_std``, ``p``, ``seed``, ``options``, ...)."""
    return relative_stability(method, model, image, target, **kwargs)["ris"]


def relative_output_stability(method: str | Method, model: keras.Model, image: np.ndarray, target: int,
                              **kwargs: Any) -> float:
    """ROS (Agarwal et al., 2022): max over perturbations x' with the same prediction of
    ||(e_x - e_x') / e_x||_p / max(||(h_x - h_x') / h_x||_p, eps_min), h the model's logits; lower is more
    stable. Takes the keywords of :func:`relative_stability`."""
    return relative_stability(method, model, image, target, **kwargs)["ros"]


def seed_spread(method: str | Method, model: keras.Model, image: np.ndarray, target: int, *,
                seeds: Sequence[int] = (0, 1, 2, 3), options: Mapping[str, Any] | None = None) -> dict:
    """How much a sampling method's map (LIME, KernelSHAP, RISE, SmoothGrad; ``options`` a dict of its own
    options) depends on its seed:
    the mean pairwise ``spearman`` and ``ssim`` between the maps of ``seeds``, and ``relative_std``,
    the per-pixel standard deviation over seeds divided by the mean absolute map value."""
    fn = _resolve_method(method)
    if not _takes_seed(fn):
        raise ValueError("This method takes no seed, so it is deterministic: its seed spread is zero by "
                         "construction. Use noise_stability to measure its stability instead.")
    if len(seeds) < 2:
        raise ValueError(f"Need at least two seeds to measure a spread, got {list(seeds)}.")
    options = _method_options(options)
    image = check_image(model, image)
    maps = np.stack([np.asarray(fn(model, image, target, seed=int(s), **options), np.float64) for s in seeds])
    pairs = [map_similarity(maps[i], maps[j]) for i in range(len(maps)) for j in range(i + 1, len(maps))]
    scale = np.abs(maps).mean()
    return {"spearman": float(np.mean([p["spearman"] for p in pairs])),
            "ssim": float(np.mean([p["ssim"] for p in pairs])),
            "relative_std": float(maps.std(axis=0).mean() / scale) if scale > 0 else 0.0,
            "maps": maps}


# --------------------------------------------------------------------------- agreement between explainers (OpenXAI)
def _check_pair(map_a: np.ndarray, map_b: np.ndarray, k) -> tuple[np.ndarray, np.ndarray, int]:
    """Two maps of one shape as float arrays and ``k`` as an int in 1..n_pixels; a one-line ValueError otherwise."""
    map_a = np.asarray(map_a, np.float64)
    if map_a.ndim != 2:
        raise ValueError(f"map_a must be one (H, W) map, got shape {map_a.shape}.")
    map_a = _check_map(map_a, map_a.shape, "map_a")
    map_b = _check_map(map_b, map_a.shape, "map_b")
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or not 1 <= k <= map_a.size:
        raise ValueError(f"k must be a whole number of pixels in 1..{map_a.size}, got {k!r}.")
    return map_a, map_b, int(k)


def top_k_pixels(saliency: np.ndarray, k: int) -> np.ndarray:
    """Flat (row-major) indices of the ``k`` pixels of largest ``|saliency|``, most important first.

    OpenXAI ranks features by magnitude, so a strongly negative pixel (evidence against the class) is
    important too. Ties keep the row-major order (a stable sort), so the result is deterministic."""
    flat = np.asarray(saliency, np.float64).ravel()
    return np.argsort(-np.abs(flat), kind="stable")[:k]


def feature_agreement(map_a: np.ndarray, map_b: np.ndarray, k: int) -> float:
    """OpenXAI's feature agreement (FA, Agarwal et al., 2022): the share of the top-``k`` pixels by magnitude
    that the two maps have in common, FA = |top_k(|a|) ∩ top_k(|b|)| / k.

    1 when both maps pick the same k pixels (in any order), 0 when their top-k sets are disjoint; two
    unrelated maps score k / n_pixels on average. Blind to the maps' scales and signs."""
    map_a, map_b, k = _check_pair(map_a, map_b, k)
    return float(np.intersect1d(top_k_pixels(map_a, k), top_k_pixels(map_b, k)).size / k)


def rank_agreement(map_a: np.ndarray, map_b: np.ndarray, k: int) -> float:
    """OpenXAI's rank agreement (RA): the share of the ``k`` top ranks at which both maps put the same pixel,
    RA = #{r < k : top_k(|a|)[r] == top_k(|b|)[r]} / k.

    Stricter than :func:`feature_agreement` (RA <= FA): the same pixels in another order score 0 here.
    Ties keep the row-major order, as in :func:`top_k_pixels`."""
    map_a, map_b, k = _check_pair(map_a, map_b, k)
    return float(np.mean(top_k_pixels(map_a, k) == top_k_pixels(map_b, k)))


def sign_agreement(map_a: np.ndarray, map_b: np.ndarray, k: int) -> float:
    """OpenXAI's sign agreement (SA): the share of the top-``k`` pixels by magnitude common to both maps that
    also have the same sign in both, SA = #{i in top_k(|a|) ∩ top_k(|b|) : sign(a_i) == sign(b_i)} / k.

    SA <= FA; for two importance-only (non-negative) maps SA equals FA."""
    map_a, map_b, k = _check_pair(map_a, map_b, k)
    common = np.intersect1d(top_k_pixels(map_a, k), top_k_pixels(map_b, k))
    a, b = map_a.ravel()[common], map_b.ravel()[common]
    return float(np.sum(np.sign(a) == np.sign(b)) / k)


def signed_rank_agreement(map_a: np.ndarray, map_b: np.ndarray, k: int) -> float:
    """OpenXAI's signed rank agreement (SRA): the share of the ``k`` top ranks at which both maps put the same
    pixel with the same sign. SRA <= RA and SRA <= SA."""
    map_a, map_b, k = _check_pair(map_a, map_b, k)
    top_a, top_b = top_k_pixels(map_a, k), top_k_pixels(map_b, k)
    same = (top_a == top_b) & (np.sign(map_a.ravel()[top_a]) == np.sign(map_b.ravel()[top_b]))
    return float(np.mean(same))


# --------------------------------------------------------------------------- model randomisation
# The verdict of the cascading randomisation check: a method passes when the Spearman rank correlation of
# |map| between the original model and the fully randomised model is below this bound (|rho| < 0.5: the
# two rankings share less than a quarter of their variance). Adebayo et al. (2018) report the correlations
# without a bound; this bound is the course's choice.
SANITY_MAX_RANK_CORRELATION = 0.5
# The random twin is usable when its logits have a spread: the standard deviation of all its logits on a
# few images (classes and images pooled) must exceed this (trained Lite0: ~1.0; the Glorot twin: ~1e-12).
RANDOM_LOGIT_MIN_SD = 0.1


def variance_scaling_init(model: keras.Model, seed: int = 0) -> keras.Model:
    """Re-initialise ``model``'s weights in place so that activations keep their scale; returns ``model``.

    EfficientNet's own initialisers (Tan & Le, 2019; ``keras.applications.efficientnet``): convolution
    kernels from ``VarianceScaling(2.0, "fan_out", "truncated_normal")``, He's initialisation with
    fan_out = kh * kw * output channels; for a depthwise kernel (kh, kw, channels, multiplier) that is
    kh * kw * multiplier, the number of outputs each input feeds. Dense kernels from
    ``VarianceScaling(1/3, "fan_out", "uniform")``; biases zero. BatchNorm at identity (gamma 1, beta 0,
    moving mean 0, moving variance 1), which is a layer's state before any training; with the He kernels
    the signal neither vanishes nor explodes through Lite0 (measured on 4 bundled photos: the fully
    randomised model's logits have a standard deviation of 1.4, the trained model's 1.0; with Keras' default
    Glorot kernels it was about 1e-12). Layers of other kinds keep their weights.
    """
    conv_kinds = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.DepthwiseConv2D,
                  keras.layers.SeparableConv2D, keras.layers.Conv2DTranspose)
    for index, layer in enumerate(model.layers):
        weights = layer.get_weights()
        if not weights:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            config = layer.get_config()
            names = [n for n, on in (("gamma", config.get("scale", True)), ("beta", config.get("center", True))) if on]
            values = {"gamma": 1.0, "beta": 0.0, "moving_mean": 0.0, "moving_variance": 1.0}
            names += ["moving_mean", "moving_variance"]
            layer.set_weights([np.full(w.shape, values[n], w.dtype) for n, w in zip(names, weights)])
            continue
        if isinstance(layer, conv_kinds):
            scale, distribution = 2.0, "truncated_normal"
        elif isinstance(layer, keras.layers.Dense):
            scale, distribution = 1.0 / 3.0, "uniform"
        else:
            continue
        new = []
        for k, w in enumerate(weights):  # kernels (ndim >= 2) drawn, biases (ndim 1) zero
            if w.ndim < 2:
                new.append(np.zeros_like(w))
                continue
            init = keras.initializers.VarianceScaling(scale, "fan_out", distribution,
                                                      seed=int(seed) * 100_003 + index * 7 + k)
            new.append(np.asarray(init(w.shape), w.dtype))
        layer.set_weights(new)
    return model


def _build_copy(model: keras.Model | str, seed: int = 0) -> tuple[keras.Model, keras.Model]:
    """A new private copy of ``model`` (a zoo name or a Keras model) and a new random twin whose weights come
    from :func:`variance_scaling_init` (same architecture, activations at their usual scale)."""
    if isinstance(model, str):
        from utils.models import load_model
        return load_model(model, fresh=True), variance_scaling_init(load_model(model, pretrained=False), seed)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy, variance_scaling_init(keras.models.clone_model(model), seed)


# Copies and twins built by earlier checks in this process, reused: building Lite0 and its twin costs seconds
# per check, and a reused copy keeps its compiled functions. Before every use the copy gets back the weights
# read from disk (a zoo name) or the model's current weights (a Keras model); the twin is only ever read.
# Not for threads: two checks of one model at once would share its copy (the course runs them one after
# another, and its Dask workers are processes, each with its own cache).
_COPIES: dict[tuple, tuple] = {}
_MAX_COPIES = 4  # the most recently built are kept (a cue model's pair is small, Lite0's about 40 MB)


def _private_copy(model: keras.Model | str, seed: int = 0) -> tuple[keras.Model, keras.Model]:
    """A private copy of ``model`` holding its trained weights, and its random twin (:func:`_build_copy`),
    built once per model and seed in a process and restored before each use (see :data:`_COPIES`)."""
    named = isinstance(model, str)
    key = (model if named else id(model), int(seed))
    cached = _COPIES.get(key)
    if cached is None or (not named and cached[3]() is not model):  # a Keras model's id may be reused
        copy, twin = _build_copy(model, seed)
        _COPIES.pop(key, None)
        while len(_COPIES) >= _MAX_COPIES:
            _COPIES.pop(next(iter(_COPIES)))
        alive = (lambda: model) if named else weakref.ref(model)
        _COPIES[key] = cached = (copy, copy.get_weights() if named else None, twin, alive)
    copy, pristine, twin, _ = cached
    copy.set_weights(pristine if named else model.get_weights())
    return copy, twin


def random_twin(model: keras.Model | str, seed: int = 0) -> keras.Model:
    """The fully randomised model of the sanity check: ``model``'s architecture with the weights of
    :func:`variance_scaling_init` (the last stage of :func:`model_randomisation_check`); a new model each
    call, the caller's to change."""
    return _build_copy(model, seed)[1]


def random_logit_spread(model: keras.Model | str, images: np.ndarray, seed: int = 0) -> dict:
    """Is the fully randomised twin usable? How much its logits spread, next to the trained model's.

    ``images``: a few (N >= 2) images in the model's input format. Returns ``{"sd"`` (standard deviation
    of the twin's logits, classes and images pooled), ``"sd_over_images"`` (for each class the standard
    deviation of its logit over the images, averaged over the classes: how much the output depends on
    the input), ``"sd_over_classes"`` (per image, averaged), the same three of the trained model as
    ``"trained_sd"``, ``"trained_sd_over_images"``, ``"trained_sd_over_classes"``, and ``"usable"``
    (``sd`` > :data:`RANDOM_LOGIT_MIN_SD`)}. Re-seeds the global generators like
    :func:`model_randomisation_check`, and builds the same twin for the same ``seed``.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or len(images) < 2:
        raise ValueError(f"Pass a stack of at least two images, shape (N, H, W, 3); got {images.shape}.")
    keras.utils.set_random_seed(seed)
    copy, twin = _private_copy(model, seed)
    out = {}
    for prefix, net in (("", twin), ("trained_", copy)):
        logits = predict(net, images, output="logit").astype(np.float64)
        out[f"{prefix}sd"] = float(logits.std())
        out[f"{prefix}sd_over_images"] = float(logits.std(axis=0).mean())
        out[f"{prefix}sd_over_classes"] = float(logits.std(axis=1).mean())
    out["usable"] = bool(out["sd"] > RANDOM_LOGIT_MIN_SD)
    return out


def sanity_verdict(rank_correlation_abs: float, constant: bool = False) -> str:
    """"passes" when the Spearman rank correlation of |map| between the original and the fully randomised
    model is below :data:`SANITY_MAX_RANK_CORRELATION` in absolute value, else "fails". ``constant=True``
    (the randomised map is one value everywhere, e.g. Grad-CAM when the ReLU of its weighted sum is 0 at
    every pixel) gives "undefined (constant map)": a rank correlation with a constant is undefined
    (:func:`spearman` reports 0 by convention), so the check neither passes nor fails."""
    if constant:
        return "undefined (constant map)"
    return "passes" if abs(float(rank_correlation_abs)) < SANITY_MAX_RANK_CORRELATION else "fails"


def weighted_layers(model: keras.Model) -> list[str]:
    """Names of the layers that hold weights, from the input to the output."""
    return [layer.name for layer in model.layers if layer.weights]


def _check_layer_groups(model: keras.Model, layers: Sequence[Sequence[str]]) -> None:
    """Refuse, before any map is computed, a group that is not a list of names of layers holding weights."""
    weighted = set(weighted_layers(model))
    for group in layers:
        if isinstance(group, str):
            raise ValueError(f"layers is a list of groups of layer names, e.g. [[{group!r}]], got the name {group!r}.")
        for name in group:
            if name not in weighted:
                reason = "holds no weights" if name in {layer.name for layer in model.layers} else "does not exist"
                raise ValueError(f"Cannot randomise layer {name!r}: it {reason} in model {model.name!r}; "
                                 "utils.evaluation.metrics.weighted_layers(model) lists the layers with weights.")


def model_randomisation_check(method: str | Method, model: keras.Model | str, image: np.ndarray, target: int, *,
                              stages: int = 6, layers: Sequence[Sequence[str]] | None = None,
                              seed: int = 0, options: Mapping[str, Any] | None = None) -> dict:
    """The cascading model-randomisation sanity check (Adebayo et al., 2018).

    On a private copy of ``model`` (a zoo name, loaded with ``fresh=True``, or a Keras model, cloned),
    re-initialise the weighted layers from the output down, in cumulative groups, and after each group
    compare the map of the randomised model with the original map (:func:`map_similarity`). A method that
    explains the model must change as its weights are destroyed (similarity falls towards 0); one that
    stays alike is explaining the image, not the model. Re-initialised weights come from a random twin
    (:func:`random_twin`: EfficientNet's variance-scaling initialisers, BatchNorm at identity), whose
    activations keep their scale, so every stage is a fair test (:func:`random_logit_spread` measures it).

    ``options`` (a dict) go to ``method``. ``layers``: the groups to randomise in order (lists of layer
    names); default: ``stages`` groups, the logits layer alone, then the other weighted layers from the top
    in ``stages - 1`` groups of similar size (the last stage
    has every weighted layer randomised).
    Returns ``{"steps": [names randomised at each step], "spearman", "spearman_abs", "ssim"`` (arrays, index
    0 = the untouched copy, which must score 1), ``"maps"``, ``"final_map_constant"``, ``"verdict"``} where
    ``verdict`` is :func:`sanity_verdict` of the last stage's ``spearman_abs`` (undefined when the last
    stage's map is constant).

    Side effect: calls ``keras.utils.set_random_seed(seed)``, which re-seeds Python's, NumPy's and
    TensorFlow's *global* generators, so that the random twin is the same for the same seed. Code that
    draws global random numbers afterwards sees the re-seeded state.
    """
    fn = _resolve_method(method)
    keras.utils.set_random_seed(seed)
    copy, donor = _private_copy(model, seed)
    image = check_image(copy, image)
    target = check_target(copy, target)
    stages = check_count("stages", stages)
    options = _method_options(options)
    if layers is not None:
        _check_layer_groups(copy, layers)
    else:
        names = weighted_layers(copy)[::-1]
        if not names:
            raise ValueError("The model has no weights to randomise.")
        rest = names[1:]
        layers = [names[:1]] + [list(g) for g in np.array_split(np.array(rest, dtype=object), max(stages - 1, 1))
                                if len(g)]
    if _takes_seed(fn):
        options.setdefault("seed", seed)
    reference = np.asarray(fn(copy, image, target, **options), np.float64)
    maps, sims = [reference], [map_similarity(reference, reference)]
    for group in layers:
        for name in group:
            try:
                copy.get_layer(name).set_weights(donor.get_layer(name).get_weights())
            except ValueError as err:
                raise ValueError(f"Cannot randomise layer {name!r}: {err}") from err
        m = np.asarray(fn(copy, image, target, **options), np.float64)
        maps.append(m)
        sims.append(map_similarity(reference, m))
    result = {"steps": [[]] + [list(g) for g in layers],
              **{k: np.array([s[k] for s in sims]) for k in ("spearman", "spearman_abs", "ssim")},
              "maps": np.stack(maps)}
    result["final_map_constant"] = bool(np.ptp(result["maps"][-1]) == 0)
    result["verdict"] = sanity_verdict(result["spearman_abs"][-1], result["final_map_constant"])
    return result


# --------------------------------------------------------------------------- IG completeness
def ig_completeness(model: keras.Model, image: np.ndarray, attributions: np.ndarray, target: int, *,
                    baseline: Baseline = "black", num_baselines: int = 1, seed: int | None = 0,
                    output: str = "logit") -> dict:
    """Integrated Gradients' completeness axiom: the attributions add up to the score difference
    ``f(image) - f(baseline)`` (f = the target's ``output``, the logit by default). Returns
    ``{"attribution_sum", "logit_difference", "gap", "relative_gap"}``, ``relative_gap = |sum - difference| /
    |difference|`` (0 for exact IG; it shrinks as ``num_samples`` grows). ``attributions``: (H, W, 3) or
    (H, W), with no absolute value taken. ``baseline``, ``num_baselines``, ``seed`` and ``output`` must be
    those IG used; every number comes from :func:`utils.explain.integrated_gradients.score_difference`, the
    computation behind ``completeness_gap`` (notebook 07), so both agree exactly."""
    from utils.explain.integrated_gradients import score_difference

    total, difference, relative = score_difference(model, image, int(target), attributions, baseline=baseline,
                                                   num_baselines=num_baselines, seed=seed, output=output)
    return {"attribution_sum": total, "logit_difference": difference, "gap": abs(total - difference),
            "relative_gap": relative}
