"""The one LIME core that the tabular (notebook 02), text (notebook 03) and image (notebook 04) versions share.

LIME explains one prediction with a weighted linear model fitted on samples around the instance.
What changes between tables, texts and images is how the samples are drawn and what a feature is;
what stays the same lives here, introduced in notebook 02 and reused by notebooks 03, 04 and 09:

* :func:`exponential_kernel`: a sample's weight from its distance to the instance;
* :func:`cosine_distance_to_original`: the distance of a binary keep/hide mask to the original
  (everything kept), as lime measures it for text (x100) and images (x1);
* :func:`fit_weighted_linear`: the weighted ridge surrogate;
* :func:`forward_selection` and :func:`highest_weights`: lime's two ways of choosing K features.

Each function computes exactly what lime does, in the same floating-point order, so the tests that
compare the three versions with the lime library number by number hold to 1e-10.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.linear_model import Ridge


def check_kernel_width(kernel_width) -> float:
    """Return ``kernel_width`` as a float if it is a finite positive number; a one-line ValueError otherwise."""
    if isinstance(kernel_width, (bool, np.bool_)) or not isinstance(kernel_width, (int, float, np.number)) \
            or not np.isfinite(kernel_width) or not kernel_width > 0:
        raise ValueError(f"kernel_width must be a positive number, got {kernel_width!r}.")
    return float(kernel_width)


def exponential_kernel(distances: np.ndarray, kernel_width: float) -> np.ndarray:
    """lime's kernel ``sqrt(exp(-d^2 / width^2))``: 1 at the instance, close to 0 far away.

    Default widths differ by version (in the distance's own units): 0.75 sqrt(number of features)
    for tables, 25 for text (distances x100), 0.25 for images.
    """
    width = check_kernel_width(kernel_width)
    d = np.asarray(distances, dtype=float)
    return np.sqrt(np.exp(-(d ** 2) / width ** 2))


def cosine_distance_to_original(masks: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Cosine distance, times ``scale``, between each binary mask row and the all-ones mask (the original).

    A row that keeps k of its K features has cosine similarity k / sqrt(k K) with the original; an
    all-zero row gets distance 1 (times ``scale``). lime's text explainer uses ``scale=100``, its
    image explainer ``scale=1``.
    """
    masks = np.asarray(masks, dtype=np.float64)
    if masks.ndim != 2 or masks.shape[1] < 1:
        raise ValueError(f"masks must be a 2-D (samples, features) array, got shape {masks.shape}.")
    kept = masks.sum(axis=1)
    norms = np.sqrt(kept) * np.sqrt(masks.shape[1])
    similarity = np.divide(kept, norms, out=np.zeros_like(kept), where=norms > 0)
    return (1.0 - similarity) * scale


def fit_weighted_linear(X: np.ndarray, y: np.ndarray, weights: np.ndarray, features: Sequence[int],
                        alpha: float = 1.0) -> tuple[Ridge, float]:
    """The surrogate: weighted ridge regression of ``y`` on the columns ``features`` of ``X``.

    Returns (the fitted sklearn ``Ridge``, its weighted R^2 on the samples: the local fidelity).
    lime's default ``alpha=1``.
    """
    cols = list(features)
    model = Ridge(alpha=alpha, fit_intercept=True).fit(X[:, cols], y, sample_weight=weights)
    return model, float(model.score(X[:, cols], y, sample_weight=weights))


def forward_selection(X: np.ndarray, y: np.ndarray, weights: np.ndarray, k: int) -> list[int]:
    """Greedily add the feature that most raises the weighted R^2 (unregularised fits), ``k`` times."""
    chosen: list[int] = []
    for _ in range(min(k, X.shape[1])):
        best, best_score = None, -np.inf
        for j in range(X.shape[1]):
            if j in chosen:
                continue
            cols = chosen + [j]
            fit = Ridge(alpha=0, fit_intercept=True).fit(X[:, cols], y, sample_weight=weights)
            score = fit.score(X[:, cols], y, sample_weight=weights)
            if score > best_score:
                best, best_score = j, score
        chosen.append(best)
    return chosen


def highest_weights(X: np.ndarray, y: np.ndarray, weights: np.ndarray, k: int) -> list[int]:
    """The ``k`` features with the largest |coefficient x value at the instance (row 0)| in one near-unregularised
    fit (alpha 0.01): lime's ``"highest_weights"``, in that order (ties keep the feature order)."""
    fit = Ridge(alpha=0.01, fit_intercept=True).fit(X, y, sample_weight=weights)
    order = sorted(range(X.shape[1]), key=lambda j: abs(fit.coef_[j] * X[0, j]), reverse=True)
    return order[:k]
