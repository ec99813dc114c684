"""Exercises of notebook 08 (comparing explainers): the area under a curve, the deletion order, the pointing
game and the sign agreement of two maps.

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
    """Pairs of signed maps on different scales that share part of their top pixels, some with flipped signs, and
    k; the strongest values include negative ones, so ranking by value and by magnitude differ."""
    rng = np.random.default_rng(8000)
    cases = []
    for shape, k in (((6, 6), 5), ((8, 5), 10), ((10, 10), 20)):
        a = rng.normal(0, 1, shape)
        flips = np.where(rng.random(shape) < 0.3, -1.0, 1.0)
        b = 3.0 * flips * (0.7 * a + 0.7 * rng.normal(0, 1, shape))
        cases.append((a, b, k))
    return cases


def _top_k(saliency: np.ndarray, k: int) -> np.ndarray:
    """Flat indices of the k largest |values|, most important first."""
    return np.argsort(-np.abs(np.asarray(saliency)).ravel(), kind="stable")[:k]


def sign_agreement(map_a: np.ndarray, map_b: np.ndarray, k: int) -> float:
    """OpenXAI's sign agreement: the share of the k pixels of largest magnitude in map_a that are also among the
    k of largest magnitude in map_b AND have the same sign in both maps (divided by k)."""
    top_a = np.argsort(-np.abs(map_a).ravel(), kind="stable")[:k]
    top_b = np.argsort(-np.abs(map_b).ravel(), kind="stable")[:k]
    common = np.intersect1d(top_a, top_b)
    same_sign = np.sign(map_a.ravel()[common]) == np.sign(map_b.ravel()[common])
    return float(same_sign.sum() / k)


def _ignores_sign(map_a: np.ndarray, map_b: np.ndarray, k: int) -> float:
    """Feature agreement: the common top-k pixels, whatever their signs."""
    return float(np.intersect1d(_top_k(map_a, k), _top_k(map_b, k)).size / k)


def _by_signed_value(map_a: np.ndarray, map_b: np.ndarray, k: int) -> float:
    """Top k by signed value (np.argsort of minus the map) instead of by magnitude."""
    top_a = np.argsort(-map_a.ravel(), kind="stable")[:k]
    top_b = np.argsort(-map_b.ravel(), kind="stable")[:k]
    common = np.intersect1d(top_a, top_b)
    return float(np.sum(np.sign(map_a.ravel()[common]) == np.sign(map_b.ravel()[common])) / k)


def _share_of_common(map_a: np.ndarray, map_b: np.ndarray, k: int) -> float:
    """Divided by the number of common pixels instead of k."""
    common = np.intersect1d(_top_k(map_a, k), _top_k(map_b, k))
    same = np.sign(map_a.ravel()[common]) == np.sign(map_b.ravel()[common])
    return float(same.mean()) if common.size else 0.0


def _signs_on_a_only(map_a: np.ndarray, map_b: np.ndarray, k: int) -> float:
    """Sign agreement over map_a's top k alone, without asking that map_b ranks those pixels in its top k too."""
    top_a = _top_k(map_a, k)
    return float(np.mean(np.sign(map_a.ravel()[top_a]) == np.sign(map_b.ravel()[top_a])))


q4 = Exercise(
    4, "sign agreement of two maps",
    reference=sign_agreement,
    examples=_pair_examples,
    why="Two signed maps can pick the same pixels and still disagree on what they mean: one says the pixel is "
        "evidence FOR the class, the other AGAINST. Sign agreement counts only the pixels both rank in their top k "
        "with the same sign; it is utils.evaluation.metrics.sign_agreement, at most its feature agreement.",
    hint_text="Rank each map's pixels by magnitude (np.argsort of minus np.abs of the flattened map, first k), "
              "intersect the two index sets (np.intersect1d), count the common pixels whose np.sign is the same "
              "in both maps, and divide by k.",
    mistakes=(
        Mistake("You counted every common top-k pixel: that is feature agreement. Count only those whose sign is the "
                "same in both maps.", _ignores_sign),
        Mistake("You ranked the pixels by signed value: a strongly negative pixel is important too (evidence "
                "against the class); rank by magnitude, np.abs of the map.", _by_signed_value),
        Mistake("You divided by the number of common pixels: divide by k, so that pixels outside the other map's top "
                "k count as disagreement.", _share_of_common),
        Mistake("You compared signs on map_a's top k alone: a pixel counts only when it is in BOTH maps' top k; "
                "intersect the two sets first.", _signs_on_a_only),
    ),
)

EXERCISES = (q1, q2, q3, q4)
