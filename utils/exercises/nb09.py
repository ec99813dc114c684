"""Exercises of notebook 09 (LIME in practice): when a prediction flips, how alike two explanations' top
superpixels are, the rank correlation behind the stability score, and a bootstrap interval for its mean.

The checks run on small synthetic inputs shaped like the notebook's: top-1 classes along an augmentation
sweep, weight vectors over 40 superpixels, small piecewise-constant (LIME-like) and smooth maps, a dozen
seed-to-seed scores.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from utils.exercises.core import Exercise, Mistake


def _sweep_examples() -> list[tuple]:
    """Top-1 class at each strength of a sweep (strengths in increasing order), and the original class."""
    espresso, cup, other = 967, 968, 504
    return [
        ([espresso, espresso, espresso, cup, other], [0.0, 1.0, 2.0, 4.0, 8.0], espresso),
        ([espresso, espresso, other, espresso, cup], [0.0, 5.0, 15.0, 30.0, 90.0], espresso),
        ([espresso] * 5, [0.0, 10.0, 25.0, 50.0, 100.0], espresso),
        ([cup, espresso, espresso, cup], [0.0, 10.0, 25.0, 50.0], cup),
    ]


def flip_strength(top1: list[int], strengths: list[float], original: int) -> float | None:
    """The smallest strength whose top-1 class differs from ``original``, or None if the class never changes."""
    for cls, strength in zip(top1, strengths):
        if cls != original:
            return float(strength)
    return None


def _previous_strength(top1: list[int], strengths: list[float], original: int) -> float | None:
    changed = [i for i, cls in enumerate(top1) if cls != original]
    return float(strengths[changed[0] - 1]) if changed else None


q1 = Exercise(
    1, "when does the prediction flip?",
    reference=flip_strength,
    examples=_sweep_examples,
    why="The first strength at which the answer changes marks where the explanation stops explaining the "
        "original decision: beyond it a different map is the model's change, not the explainer's.",
    hint_text="Walk through top1 and strengths together (zip) in order and return the first strength whose "
              "class is not `original`; if the loop ends without one, return None.",
    mistakes=(
        Mistake("You returned the largest strength at which the class differs: the question is where it first "
                "changes, so stop at the first one (the class can also come back at a larger strength).",
                lambda top1, strengths, original: next(
                    (float(s) for c, s in reversed(list(zip(top1, strengths))) if c != original), None)),
        Mistake("You returned the position in the list instead of the strength itself: return strengths[i], "
                "not i.",
                lambda top1, strengths, original: next((i for i, c in enumerate(top1) if c != original), None)),
        Mistake("You returned the last strength that still kept the class (one step too early): return the "
                "strength at which the class has changed.", _previous_strength),
    ),
)


def _weight_pairs() -> list[tuple]:
    """Two explanations' weights over the same superpixels (the second a noisy copy of the first), and k."""
    rng = np.random.default_rng(9)
    cases = []
    for n_parts, k, noise in ((40, 5, 0.5), (40, 10, 0.7), (26, 6, 0.6)):
        a = rng.normal(0.0, 1.0, n_parts)
        a[:3] = -3.0 - rng.uniform(0, 1, 3)  # strong evidence against: large in size, but not "top"
        cases.append((a, a + rng.normal(0.0, noise, n_parts), k))
    return cases


def top_k_jaccard(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Jaccard index of the two sets of k superpixels with the largest weights: shared / in either."""
    top_a = set(np.argsort(-a)[:k].tolist())
    top_b = set(np.argsort(-b)[:k].tolist())
    return len(top_a & top_b) / len(top_a | top_b)


def _top(w: np.ndarray, k: int) -> set:
    return set(np.argsort(-w)[:k].tolist())


q2 = Exercise(
    2, "top-k Jaccard of two explanations",
    reference=top_k_jaccard,
    examples=_weight_pairs,
    why="Jaccard is 1 when two seeds pick the same top superpixels and 0 when they share none; unlike a "
        "rank correlation over all superpixels it looks only at the part of the map a reader acts on.",
    hint_text="np.argsort(-w)[:k] gives the k superpixels with the largest weights; make a set of each, then "
              "divide the size of their intersection (&) by the size of their union (|).",
    mistakes=(
        Mistake("You returned how many superpixels the two sets share: Jaccard is a share, the intersection "
                "divided by the union, between 0 and 1.",
                lambda a, b, k: len(_top(a, k) & _top(b, k))),
        Mistake("You divided the shared count by k (that is utils.lime.image.top_k_overlap): Jaccard "
                "divides by the union, the superpixels in either set.",
                lambda a, b, k: len(_top(a, k) & _top(b, k)) / k),
        Mistake("You ranked by the size of the weight (np.abs): the top superpixels are those with the largest "
                "*positive* weights, the evidence for the class; sort -w, not -|w|.",
                lambda a, b, k: len(_top(np.abs(a), k) & _top(np.abs(b), k)) / len(_top(np.abs(a), k)
                                                                                    | _top(np.abs(b), k))),
        Mistake("You took the k smallest weights: np.argsort sorts in increasing order, so sort -w (or take "
                "the last k).",
                lambda a, b, k: len(_top(-a, k) & _top(-b, k)) / len(_top(-a, k) | _top(-b, k))),
    ),
)


def _map_pairs() -> list[tuple]:
    """Pairs of maps: two LIME-like maps (one value per square superpixel, so ties everywhere) and a
    Grad-CAM-like pair without ties; the second map of each pair is a noisy copy of the first."""
    rng = np.random.default_rng(30)
    cases = []
    for side, block in ((12, 4), (16, 4)):
        cells = np.arange(side) // block
        segments = cells[:, None] * (side // block) + cells[None, :]
        a = rng.normal(0.0, 1.0, segments.max() + 1)
        cases.append((a[segments], (a + rng.normal(0.0, 0.8, a.size))[segments]))
    a = rng.uniform(0.0, 1.0, (6, 7))
    cases.append((a, a + rng.normal(0.0, 0.3, a.shape)))
    return cases


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps: Pearson correlation of their ranks, ties given average ranks."""
    ranks_a = stats.rankdata(a.ravel())
    ranks_b = stats.rankdata(b.ravel())
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


def _ordinal_ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x.ravel(), kind="stable"), kind="stable").astype(float)


q3 = Exercise(
    3, "rank correlation of two maps",
    reference=rank_correlation,
    examples=_map_pairs,
    why="This is the stability score of section 3 (utils.evaluation.metrics.spearman):"
        " with ranks only the order of the "
        "pixels counts, not the maps' scales, and average ranks treat all pixels of a superpixel alike.",
    hint_text="Flatten both maps (ravel), rank their values with scipy.stats.rankdata (it gives tied values "
              "the average of their ranks), then take the Pearson correlation of the two rank arrays "
              "(np.corrcoef(ranks_a, ranks_b)[0, 1]).",
    mistakes=(
        Mistake("You correlated the values themselves (Pearson): Spearman correlates their *ranks*, so that only "
                "the order of the pixels counts, not the scale of the map.",
                lambda a, b: float(np.corrcoef(a.ravel(), b.ravel())[0, 1])),
        Mistake("You broke ties by position (argsort of argsort): in a LIME map all pixels of a superpixel share "
                "one value, and such ties must share the average of their ranks (scipy.stats.rankdata).",
                lambda a, b: float(np.corrcoef(_ordinal_ranks(a), _ordinal_ranks(b))[0, 1])),
        Mistake("You correlated np.argsort of the maps: argsort gives the pixels in order of value, not each "
                "pixel's rank. Rank the values instead (scipy.stats.rankdata).",
                lambda a, b: float(np.corrcoef(np.argsort(a.ravel(), kind="stable"),
                                               np.argsort(b.ravel(), kind="stable"))[0, 1])),
    ),
)


def _score_examples() -> list[tuple]:
    """Seed-to-seed rank correlations (a dozen, skewed like stability scores), the resample count and a seed."""
    rng = np.random.default_rng(12)
    return [(np.round(rng.beta(6, 3, 12), 3), 2000, 0),
            (np.round(rng.beta(2, 5, 30), 3), 1000, 1),
            (np.round(rng.uniform(0.3, 0.9, 8), 3), 500, 2)]


def bootstrap_interval(values: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean of ``values``: (2.5th, 97.5th percentile of resampled means)."""
    rng = np.random.default_rng(seed)
    resamples = rng.choice(values, size=(n_boot, len(values)), replace=True)
    low, high = np.percentile(resamples.mean(axis=1), [2.5, 97.5])
    return float(low), float(high)


def _normal_interval(values: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def _boot_means(values: np.ndarray, n_boot: int, seed: int, replace: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if replace:
        return rng.choice(values, size=(n_boot, len(values)), replace=True).mean(axis=1)
    return np.array([rng.choice(values, size=len(values), replace=False).mean() for _ in range(n_boot)])


q4 = Exercise(
    4, "a bootstrap interval for a mean",
    reference=bootstrap_interval,
    examples=_score_examples,
    why="One pair of seeds gives one stability number; the interval says how far the mean over a few pairs "
        "can be trusted, without assuming the scores are normal (they are bounded by 1 and can be skewed).",
    hint_text="rng = np.random.default_rng(seed); draw n_boot resamples of len(values) values *with "
              "replacement* (rng.choice(values, size=(n_boot, len(values)))), take each resample's mean, "
              "and return the 2.5th and 97.5th percentiles of those means (np.percentile).",
    mistakes=(
        Mistake("You used the normal approximation (mean +- 1.96 standard errors): the exercise asks for the "
                "percentile bootstrap, the percentiles of the resampled means, which needs no normality.",
                _normal_interval),
        Mistake("You took the percentiles of the values themselves: that is where single scores lie, not the "
                "mean. Resample, average each resample, then take the percentiles of the means.",
                lambda values, n_boot, seed: tuple(float(p) for p in np.percentile(values, [2.5, 97.5]))),
        Mistake("You used the 5th and 95th percentiles: that is a 90% interval. A 95% interval leaves 2.5% "
                "out on each side: np.percentile(means, [2.5, 97.5]).",
                lambda values, n_boot, seed: tuple(float(p) for p in np.percentile(
                    _boot_means(values, n_boot, seed), [5, 95]))),
        Mistake("You resampled without replacement: every resample is then a reordering of the same values, "
                "with the same mean, and the interval has zero width. Pass replace=True.",
                lambda values, n_boot, seed: tuple(float(p) for p in np.percentile(
                    _boot_means(values, n_boot, seed, replace=False), [2.5, 97.5]))),
    ),
)

EXERCISES = (q1, q2, q3, q4)
