"""LIME for images (Ribeiro et al., 2016), from scratch: superpixels, perturbations, a weighted linear model.

Introduced in notebook 04. The recipe, with lime's own defaults so that the two can be compared:

1. cut the image into K superpixels (:func:`utils.explain.segmentation.segment`);
2. draw ``num_samples`` random binary vectors z in {0, 1}^K (1 = superpixel kept), the first one all
   ones (the image itself), and build each perturbed image (hidden superpixels show ``hide_color``);
3. ask the model for the target's probability on every perturbed image (batched, compiled);
4. weight each sample by its closeness to the original: the cosine distance d between z and the
   all-ones vector, through the exponential kernel sqrt(exp(-d^2 / width^2)), width 0.25;
5. fit a weighted ridge regression (alpha = 1) of the probabilities on z: coefficient k is how much
   superpixel k adds to the class, and the map paints every pixel with its superpixel's coefficient.

Segmentation default: ``"slic"`` asked for 50 superpixels, not lime's quickshift. SLIC returns fewer
than asked (27 to 42 on the 25 bundled 224-px photos, 40 on notebook 04's espresso), but its count
follows its one parameter ``n_segments`` while quickshift has none; it gives compact parts of similar
size (a fair game for the linear model), and it runs several times faster (0.06 s against 0.3 s on a
224-px photo in notebook 04, on a quiet machine), which matters when the benchmark allows 10% over
the model's own time. Pass ``segmentation="quickshift"`` for lime's behaviour.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import Ridge

from utils.explain import base
from utils.explain.registry import explainer
from utils.explain.segmentation import Hide, check_segments, fill_image, mask_images, score_batches, segment
from utils.lime import tabular as lime_tabular


@dataclass
class LimeExplanation:
    """Everything LIME computed, for notebooks that show the steps (notebook 04)."""

    map: np.ndarray  # (H, W): each pixel's superpixel weight
    segments: np.ndarray  # (H, W) int labels 0..K-1
    weights: np.ndarray  # (K,) surrogate coefficients (0 for superpixels not selected)
    intercept: float
    score: float  # weighted R^2 of the surrogate on its samples
    local_prediction: float  # the surrogate's value at z = all ones
    samples: np.ndarray  # (num_samples, K) binary masks
    predictions: np.ndarray  # (num_samples,) model scores of the target
    sample_weights: np.ndarray  # (num_samples,) kernel weights

    def top_segments(self, k: int = 5, positive: bool = True) -> np.ndarray:
        """Labels of the ``k`` superpixels with the largest (or, ``positive=False``, most negative) weights."""
        order = np.argsort(-self.weights if positive else self.weights, kind="stable")
        return order[:k]


def cosine_distance_to_ones(samples: np.ndarray) -> np.ndarray:
    """Cosine distance between each binary row and the all-ones vector (an all-zero row gets 1)."""
    samples = np.asarray(samples, dtype=np.float64)
    kept = samples.sum(axis=1)
    norms = np.sqrt(kept) * np.sqrt(samples.shape[1])
    similarity = np.divide(kept, norms, out=np.zeros_like(kept), where=norms > 0)
    return 1.0 - similarity


def exponential_kernel(distances: np.ndarray, kernel_width: float = 0.25) -> np.ndarray:
    """lime's kernel sqrt(exp(-d^2 / width^2)) (notebook 02's), with lime_image's default width 0.25."""
    return lime_tabular.exponential_kernel(distances, kernel_width)


def fit_surrogate(samples: np.ndarray, predictions: np.ndarray, sample_weights: np.ndarray,
                  num_features: int | None = None, alpha: float = 1.0) -> tuple[np.ndarray, float, float, float]:
    """Weighted ridge regression of ``predictions`` on binary ``samples`` (lime's explain_instance_with_data).

    With ``num_features`` set, keep only the features with the largest coefficients of a first
    ridge fit (alpha = 0.01, lime's "highest_weights") and refit on them.
    Returns (weights over all K features, intercept, weighted R^2, prediction at all ones).
    """
    n_features = samples.shape[1]
    selected = np.arange(n_features)
    if num_features is not None and num_features < n_features:
        first = Ridge(alpha=0.01, fit_intercept=True).fit(samples, predictions, sample_weight=sample_weights)
        selected = np.sort(np.argsort(-np.abs(first.coef_), kind="stable")[:num_features])
    ridge = Ridge(alpha=alpha, fit_intercept=True).fit(samples[:, selected], predictions, sample_weight=sample_weights)
    weights = np.zeros(n_features)
    weights[selected] = ridge.coef_
    score = float(ridge.score(samples[:, selected], predictions, sample_weight=sample_weights))
    local = float(ridge.predict(np.ones((1, len(selected))))[0])
    return weights, float(ridge.intercept_), score, local


def sample_masks(num_samples: int, n_segments: int, seed: int | None) -> np.ndarray:
    """``num_samples`` uniform random binary masks over ``n_segments`` superpixels; row 0 is all ones.

    The generator fills the masks row by row, so the first ``n`` masks of a larger draw with the same
    seed are exactly the masks of ``sample_masks(n, ...)``: one run at the largest budget contains
    every smaller budget (:func:`weights_by_budget` relies on it).
    """
    masks = base.rng(seed).integers(0, 2, size=(num_samples, n_segments), dtype=np.int8)
    masks[0] = 1
    return masks


def top_k_overlap(a: np.ndarray, b: np.ndarray, k: int = 5) -> float:
    """Share of the ``k`` largest entries of weight vector ``a`` that are also among the ``k`` largest of ``b``.

    1.0 = the same top-k superpixels (in any order); steps of 1/k.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1 or not 1 <= k <= len(a):
        raise ValueError(f"Need two weight vectors of one length >= k, got shapes {a.shape}, {b.shape} and k={k}.")
    top_a = set(np.argsort(-a, kind="stable")[:k].tolist())
    top_b = set(np.argsort(-b, kind="stable")[:k].tolist())
    return len(top_a & top_b) / k


def refit_by_budget(masks: np.ndarray, scores: np.ndarray, budgets,
                    kernel_width: float = 0.25) -> dict[int, np.ndarray]:
    """The surrogate's weights fitted on the first ``n`` samples, for each ``n`` in ``budgets``.

    ``masks`` (N, K) and ``scores`` (N,) are one LIME run's samples and model scores; with masks from
    :func:`sample_masks`, the fit on the first ``n`` equals a LIME run of ``num_samples=n`` (same seed).
    """
    masks = np.asarray(masks, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    budgets = sorted({base.check_count("budget", b, minimum=2) for b in budgets})
    if not budgets or budgets[-1] > len(masks) or len(scores) != len(masks):
        raise ValueError(f"Need budgets between 2 and the {len(masks)} samples, and one score per sample "
                         f"({len(scores)} scores), got budgets {budgets}.")
    kernel = exponential_kernel(cosine_distance_to_ones(masks), kernel_width)
    return {n: fit_surrogate(masks[:n], scores[:n], kernel[:n])[0] for n in budgets}


def weights_by_budget(model, image: np.ndarray, target: int, budgets, *, seed: int = 0,
                      segments: np.ndarray | None = None, kernel_width: float = 0.25, hide_color: Hide = "mean",
                      batch_size: int = base.DEFAULT_BATCH_SIZE) -> dict[int, np.ndarray]:
    """LIME's superpixel weights at several sample budgets for one seed, at the cost of the largest budget.

    Returns ``{budget: (K,) weights}``, each equal to ``lime(..., num_samples=budget, seed=seed)``'s
    weights: the masks of a smaller budget are the first rows of the largest draw (see
    :func:`sample_masks`), so the model scores ``max(budgets)`` masks once and :func:`refit_by_budget`
    refits the surrogate on each prefix. ``segments`` defaults to lime's default segmentation (slic).
    """
    budgets = sorted({base.check_count("budget", b, minimum=2) for b in budgets})
    if not budgets:
        raise ValueError("budgets is empty: pass sample counts such as (50, 100, 250, 1000).")
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    segments = segment(image) if segments is None else check_segments(segments, image)
    masks = sample_masks(budgets[-1], int(segments.max()) + 1, seed)
    fill = fill_image(image, segments, hide_color)
    scores = score_batches(model, lambda start, stop, _: mask_images(image, segments, masks[start:stop], fill=fill),
                           len(masks), target, batch_size=batch_size, show_progress=False)
    return refit_by_budget(masks, scores, budgets, kernel_width)


@explainer("lime", family="perturbation", signed=True, needs_gradients=False, stochastic=True, budget="num_samples",
           quick={"num_samples": 500}, order=1)
def lime(model, image: np.ndarray, target: int, *, num_samples: int = 1000, segmentation: str = "slic",
         segmentation_params: dict | None = None, segments: np.ndarray | None = None, kernel_width: float = 0.25,
         num_features: int | None = None, hide_color: Hide = "mean", logits: bool = False, seed: int | None = 0,
         batch_size: int = base.DEFAULT_BATCH_SIZE, progress: bool | None = None,
         return_explanation: bool = False):
    """LIME map of class ``target``: each pixel gets its superpixel's weight in the local linear model.

    ``segmentation`` / ``segmentation_params`` choose the superpixels (see
    :func:`~utils.explain.segmentation.segment`), or pass ready-made ``segments``. ``hide_color``: what
    a hidden superpixel shows (``"mean"`` = its mean colour, lime's default; ``"blur"``; a grey
    value; an image). ``logits=True`` explains the pre-softmax logit instead of the probability.
    Returns an (H, W) float32 map, or a :class:`LimeExplanation` with ``return_explanation=True``.
    """
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    if not isinstance(num_samples, (int, np.integer)) or num_samples < 2:
        raise ValueError(f"num_samples must be an integer >= 2, got {num_samples!r} (1000 is lime's default).")
    if kernel_width <= 0:
        raise ValueError(f"kernel_width must be positive, got {kernel_width}.")
    if segments is None:
        segments = segment(image, segmentation, **(segmentation_params or {}))
    else:
        segments = check_segments(segments, image)
    n_segments = int(segments.max()) + 1
    masks = sample_masks(num_samples, n_segments, seed)
    fill = fill_image(image, segments, hide_color)

    def build(start, stop, buffer):
        return mask_images(image, segments, masks[start:stop], fill=fill)

    predictions = score_batches(model, build, num_samples, target, batch_size=batch_size, logits=logits,
                                show_progress=progress, desc="LIME")
    sample_weights = exponential_kernel(cosine_distance_to_ones(masks), kernel_width)
    weights, intercept, score, local = fit_surrogate(masks.astype(np.float64), predictions.astype(np.float64),
                                                     sample_weights, num_features)
    saliency = weights[segments].astype(np.float32)
    if not return_explanation:
        return saliency
    return LimeExplanation(saliency, segments, weights, intercept, score, local, masks, predictions, sample_weights)
