"""Exercises of notebook 08 (comparing explainers): the area under a curve, the deletion order, the pointing
game and the top-k agreement of two maps.

The checks run on small seeded curves and maps (a few hundred pixels, so a check is instant); the metrics are
the ones the benchmark computes with utils.evaluation.metrics on the photos and the planted-cue images.
"""
from __future__ import annotations

import numpy as np

from utils.exercises.core import Exercise, Mistake


def _curve_examples() -> list[tuple]:
    """Deletion-like curves of several lengths, sampled at equally spaced fractions of [0, 1]."""
    rng = np.random.default_rng(8)
    cases = []
    for steps in (16, 8, 32):
        fractions = np.linspace(0.0, 1.0, steps + 1)
        cases.append((np.clip(np.exp(-4 * fractions) + rng.normal(0, 0.02, steps + 1), 0, 1),))
    return cases


def normalised_auc(curve: np.ndarray) -> float:
    """Area under a curve sampled at len(curve) equally spaced fractions from 0 to 1 (trapezoid rule)."""
    curve = np.asarray(curve, np.float64)
    dx = 1.0 / (len(curve) - 1)
    return float(dx * (curve.sum() - 0.5 * (curve[0] + curve[-1])))


q1 = Exercise(
    1, "area under a deletion curve",
    reference=normalised_auc,
    examples=_curve_examples,
    why="With x running from 0 to 1 the area is a mean probability along the curve, so AUCs of curves with "
        "different numbers of steps can be compared; it is utils.evaluation.metrics' deletion and insertion AUC.",
    hint_text="The curve has len(curve) points at x = 0, 1/(n-1), ..., 1. The trapezoid rule adds, for each "
              "interval, its width 1/(n-1) times the mean of its two end values.",
    mistakes=(
        Mistake("You summed the values without the x spacing: multiply by the interval width 1/(len(curve) - 1), "
                "so the area does not grow with the number of steps.", lambda curve: float(np.sum(curve))),
        Mistake("You used np.trapezoid without dx (spacing 1 per step): x runs from 0 to 1, so the spacing is "
                "1/(len(curve) - 1).", lambda curve: float(np.trapezoid(curve))),
        Mistake("You divided by len(curve) instead of len(curve) - 1 (or took the plain mean): n points span "
                "n - 1 intervals, and the end points count half.", lambda curve: float(np.mean(curve))),
    ),
)


def _map_examples() -> list[tuple]:
    """Non-square maps with distinct values (no ties), so the order is unique."""
    rng = np.random.default_rng(80)
    return [(rng.permutation(h * w).reshape(h, w).astype(float) / (h * w),) for h, w in ((4, 6), (7, 5), (9, 9))]


def deletion_order(saliency: np.ndarray) -> np.ndarray:
    """Flat (row-major) indices of the map's pixels, most important first: the order deletion removes them."""
    return np.argsort(-np.asarray(saliency).ravel(), kind="stable")


q2 = Exercise(
    2, "the deletion order",
    reference=deletion_order,
    examples=_map_examples,
    why="Deletion blacks out pixels in this order; a faithful map puts the pixels the model needs first, so the "
        "class score falls fast and the AUC is small.",
    hint_text="Flatten the map in row-major order (saliency.ravel()) and sort the indices by decreasing value: "
              "np.argsort of minus the flattened map.",
    mistakes=(
        Mistake("Your order is ascending (least important first): deletion removes the MOST important pixels "
                "first; sort by minus the map.", lambda s: np.argsort(s.ravel(), kind="stable")),
        Mistake("You flattened the transposed map (column-major): the indices must be row-major, as "
                "image.reshape(-1, 3) numbers the pixels; use saliency.ravel().",
                lambda s: np.argsort(-s.T.ravel(), kind="stable")),
        Mistake("You returned the sorted values instead of their indices: use np.argsort, which gives the "
                "positions of the pixels to delete.", lambda s: np.sort(s.ravel())[::-1]),
    ),
)


def _pointing_examples() -> list[tuple]:
    """Square maps with one clear peak off the diagonal and a rectangular mask: hits and misses."""
    rng = np.random.default_rng(800)
    cases = []
    for side, peak, low, box in ((12, (3, 10), (6, 6), (slice(1, 5), slice(8, 12))),
                                 (12, (10, 3), (0, 0), (slice(1, 5), slice(8, 12))),
                                 (16, (13, 2), (8, 8), (slice(10, 15), slice(0, 5))),
                                 (16, (4, 12), (15, 15), (slice(10, 15), slice(1, 6)))):
        saliency = rng.uniform(0, 0.5, (side, side))
        saliency[peak] = 1.0
        saliency[low] = -1.0  # the minimum lies elsewhere
        mask = np.zeros((side, side), bool)
        mask[box] = True
        cases.append((saliency, mask))
    return cases


def pointing_hit(saliency: np.ndarray, mask: np.ndarray) -> bool:
    """Does the map's maximum (a single pixel here) fall on the mask?"""
    row, col = np.unravel_index(np.argmax(saliency), saliency.shape)
    return bool(mask[row, col])


q3 = Exercise(
    3, "the pointing game",
    reference=pointing_hit,
    examples=_pointing_examples,
    why="One pixel, the map's peak, decides the game; utils.evaluation.metrics.pointing_game"
        " also handles ties (the share "
        "of the tied pixels on the mask), which is why a flat 2 x 2 Grad-CAM block scores fractions.",
    hint_text="np.argmax gives a flat index; np.unravel_index(index, saliency.shape) turns it into (row, column). "
              "Then look that pixel up in the mask and return a bool.",
    mistakes=(
        Mistake("You used the minimum (argmin): the game asks where the map's MAXIMUM, its strongest evidence, "
                "falls.", lambda s, m: bool(m[np.unravel_index(np.argmin(s), s.shape)])),
        Mistake("You swapped row and column: np.unravel_index returns (row, column) and the mask is indexed "
                "mask[row, col].", lambda s, m: bool(m[np.unravel_index(np.argmax(s), s.shape)[::-1]])),
        Mistake("You took the peak of the absolute map: a strong negative value is evidence AGAINST the class, "
                "and the game asks where the evidence FOR it peaks.",
                lambda s, m: bool(m[np.unravel_index(np.argmax(np.abs(s)), s.shape)])),
    ),
)


def _pair_examples() -> list[tuple]:
    """Pairs of maps that share part of their top pixels, with different value scales, and k."""
    rng = np.random.default_rng(8000)
    cases = []
    for shape, k in (((6, 6), 5), ((8, 5), 10), ((10, 10), 20)):
        a = rng.normal(0, 1, shape)
        b = 3.0 * (0.6 * a + 0.8 * rng.normal(0, 1, shape)) + 2.0
        cases.append((a, b, k))
    return cases


def top_k_agreement(map_a: np.ndarray, map_b: np.ndarray, k: int) -> float:
    """OpenXAI's feature agreement: the share of the k highest-ranked pixels of map_a that are also among
    the k highest-ranked pixels of map_b."""
    top_a = set(np.argsort(-np.asarray(map_a).ravel(), kind="stable")[:k].tolist())
    top_b = set(np.argsort(-np.asarray(map_b).ravel(), kind="stable")[:k].tolist())
    return len(top_a & top_b) / k


def _count_common(map_a: np.ndarray, map_b: np.ndarray, k: int) -> float:
    """The number of common top-k pixels, not divided by k."""
    return float(top_k_agreement(map_a, map_b, k) * k)


def _by_value(map_a: np.ndarray, map_b: np.ndarray, k: int) -> float:
    """Common VALUES among the two maps' k largest values (np.sort instead of np.argsort)."""
    top_a = set(np.sort(np.asarray(map_a).ravel())[-k:].tolist())
    top_b = set(np.sort(np.asarray(map_b).ravel())[-k:].tolist())
    return len(top_a & top_b) / k


def _bottom_k(map_a: np.ndarray, map_b: np.ndarray, k: int) -> float:
    """Agreement of the k lowest-ranked pixels."""
    low_a = set(np.argsort(np.asarray(map_a).ravel(), kind="stable")[:k].tolist())
    low_b = set(np.argsort(np.asarray(map_b).ravel(), kind="stable")[:k].tolist())
    return len(low_a & low_b) / k


q4 = Exercise(
    4, "top-k agreement of two maps",
    reference=top_k_agreement,
    examples=_pair_examples,
    why="Comparing ranks, not values, makes the agreement blind to each map's scale and offset, so maps of "
        "different methods (logit units, probabilities, superpixel weights) can be compared; 1 means the same "
        "top-k pixels.",
    hint_text="Take the flat indices of the k largest values of each map (np.argsort of minus the flattened "
              "map, first k), intersect the two sets and divide the size of the intersection by k.",
    mistakes=(
        Mistake("You returned the number of common pixels: the agreement is a share, divide by k.", _count_common),
        Mistake("You compared the top-k VALUES (np.sort) instead of the pixels' positions (np.argsort): two maps "
                "on different scales share no values; intersect the flat indices of each map's top k.", _by_value),
        Mistake("You took the k LOWEST-ranked pixels (ascending sort): the agreement is about the most important "
                "pixels; sort by minus the map.", _bottom_k),
    ),
)

EXERCISES = (q1, q2, q3, q4)
