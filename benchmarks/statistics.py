"""How sure are the benchmark's numbers? Bootstrap intervals over images, paired tests of rankings, sample sizes.

Every per-image score (a deletion AUC, a pointing-game hit, ...) is one draw from the images the
benchmark could have used; the mean over the images we did use is an estimate, and these functions say
how far it can be trusted:

* :func:`bootstrap_mean`: the mean with a 95% percentile-bootstrap interval over images (seeded);
* :func:`paired_test`: is method A better than method B on the same images? The per-image differences
  give a paired bootstrap interval of the mean difference and a Wilcoxon signed-rank p-value (scipy), and
  the verdict is one of :data:`REPRODUCED`, :data:`NOT_REPRODUCED` or :data:`NOT_RESOLVED`;
* :func:`ranking_check`: a published ordering of several methods (e.g. RISE < LIME < Grad-CAM in
  deletion AUC), tested pair by adjacent pair;
* :func:`pointing_game_sample_size`: how many images resolve a pointing-game difference of 0.1 between
  two methods (from a pilot's per-image hits or from a conservative binomial bound), with
  :func:`simulated_power` to check the formula against the test actually used.

The functions use numpy and scipy only, so the tests run without TensorFlow.
"""
from __future__ import annotations

import math
import warnings
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95
DEFAULT_SEED = 0
REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_RESOLVED = "not resolved at this sample size"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_RESOLVED)
# The Wilcoxon signed-rank test's asymptotic relative efficiency against the paired t-test is at least
# 108/125 = 0.864 for every continuous distribution (Hodges & Lehmann, 1956): with n / 0.864 pairs it has at
# least the power the t-test (the normal formula below) has with n.
WILCOXON_MIN_EFFICIENCY = 108 / 125
_CHUNK = 256  # bootstrap resamples drawn at a time (bounds the memory: _CHUNK x n indices)


def _clean(values) -> np.ndarray:
    """``values`` as a 1-D float array without None / NaN (a metric that does not apply to an image)."""
    array = np.array([np.nan if v is None else v for v in np.ravel(np.asarray(values, dtype=object))], float)
    return array[np.isfinite(array)]


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (a_i, b_i) where both values exist; raises when the two lists differ in length."""
    a = np.array([np.nan if v is None else v for v in np.ravel(np.asarray(a, dtype=object))], float)
    b = np.array([np.nan if v is None else v for v in np.ravel(np.asarray(b, dtype=object))], float)
    if a.shape != b.shape:
        raise ValueError(f"A paired test needs one value per image for both methods, got {a.size} and {b.size}.")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def _check_level(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level is a coverage probability such as 0.95, got {level}.")
    return float(level)


def bootstrap_means(values: np.ndarray, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Means of ``resamples`` bootstrap samples of ``values`` (n draws with replacement each), seeded."""
    values = np.asarray(values, np.float64)
    if resamples < 1 or values.size == 0:
        raise ValueError(f"Need at least one resample and one value, got {resamples} and {values.size}.")
    rng = np.random.default_rng(seed)
    out = np.empty(int(resamples))
    for start in range(0, int(resamples), _CHUNK):
        stop = min(start + _CHUNK, int(resamples))
        out[start:stop] = values[rng.integers(0, values.size, size=(stop - start, values.size))].mean(axis=1)
    return out


def bootstrap_mean(values, *, resamples: int = DEFAULT_RESAMPLES, level: float = DEFAULT_LEVEL,
                   seed: int = DEFAULT_SEED) -> dict:
    """The mean of ``values`` (one per image) with a percentile-bootstrap interval at ``level``.

    Resamples the images with replacement ``resamples`` times (seeded: the same values and seed give the
    same interval) and takes the (1 - level) / 2 and (1 + level) / 2 quantiles of the resampled means.
    None and NaN are dropped (``n`` counts what is left). One value gives a zero-width interval, which
    says nothing about the uncertainty: read ``n`` with the interval. No values give None everywhere.
    Returns ``{"mean", "low", "high", "n", "level", "resamples"}``.
    """
    level = _check_level(level)
    x = _clean(values)
    out = {"n": int(x.size), "level": level, "resamples": int(resamples)}
    if x.size == 0:
        return {"mean": None, "low": None, "high": None, **out}
    means = bootstrap_means(x, resamples, seed)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return {"mean": float(x.mean()), "low": float(low), "high": float(high), **out}


def wilcoxon_p(differences: np.ndarray) -> tuple[float | None, float]:
    """(statistic, two-sided p) of the Wilcoxon signed-rank test of ``differences`` against 0.

    Zero differences are dropped (Wilcoxon's own convention, ``zero_method="wilcox"``); when every
    difference is zero there is no evidence either way: (None, 1.0). scipy picks the exact null
    distribution for small samples without ties and the normal approximation otherwise.
    """
    d = np.asarray(differences, np.float64)
    if not np.any(d != 0):
        return None, 1.0
    with warnings.catch_warnings():  # scipy warns that exact p-values are unavailable with ties
        warnings.simplefilter("ignore", UserWarning)
        result = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def paired_test(a, b, *, better: str = "lower", names: tuple[str, str] = ("A", "B"), alpha: float = 0.05,
                margin: float | None = None, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> dict:
    """Is A better than B on the same images? ``a[i]`` and ``b[i]`` are the two methods' scores on image i.

    ``better="lower"`` (deletion AUC, PGU) or ``"higher"`` (insertion AUC, pointing game). The per-image
    differences d = a - b give a paired percentile-bootstrap interval of the mean difference at level
    1 - ``alpha`` and a two-sided Wilcoxon signed-rank p-value. The verdict:

    * :data:`REPRODUCED` when the interval lies entirely on A's better side of 0 and p < ``alpha``;
    * :data:`NOT_REPRODUCED` when the interval lies entirely on the other side and p < ``alpha`` (B is
      resolved to be better), or, with a ``margin``, when the interval lies inside (-margin, margin)
      (the difference is resolved to be smaller than what would matter);
    * :data:`NOT_RESOLVED` otherwise: the images do not decide (identical scores land here).

    Requiring both the interval and the test keeps a claim from resting on either alone. Pairs where
    either score is None / NaN are dropped. Returns the verdict with every number behind it.
    """
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}.")
    if margin is not None and not margin > 0:
        raise ValueError(f"margin must be positive (or None), got {margin}.")
    a, b = _paired(a, b)
    sign = -1.0 if better == "lower" else 1.0  # A is better when sign * (a - b) > 0
    out = {"claim": f"{names[0]} {'<' if better == 'lower' else '>'} {names[1]}", "better": better,
           "n": int(a.size), "alpha": alpha, "level": 1 - alpha, "margin": margin, "resamples": int(resamples)}
    if a.size == 0:
        return {**out, "mean_a": None, "mean_b": None, "mean_difference": None, "low": None, "high": None,
                "wilcoxon_statistic": None, "wilcoxon_p": None, "verdict": NOT_RESOLVED,
                "reason": "no image has both scores"}
    d = a - b
    means = bootstrap_means(d, resamples, seed)
    low, high = (float(v) for v in np.quantile(means, [alpha / 2, 1 - alpha / 2]))
    statistic, p = wilcoxon_p(d)
    better_side = high < 0 if better == "lower" else low > 0
    worse_side = low > 0 if better == "lower" else high < 0
    if better_side and p < alpha:
        verdict, reason = REPRODUCED, f"interval on {names[0]}'s better side of 0 and Wilcoxon p < {alpha}"
    elif worse_side and p < alpha:
        verdict, reason = NOT_REPRODUCED, f"{names[1]} is resolved to be better (interval and Wilcoxon p < {alpha})"
    elif margin is not None and -margin < low and high < margin:
        verdict, reason = NOT_REPRODUCED, f"the whole interval lies within +-{margin}: no difference that matters"
    else:
        verdict = NOT_RESOLVED
        reason = (f"interval [{low:.3g}, {high:.3g}] contains 0" if low <= 0 <= high
                  else f"Wilcoxon p = {p:.3g} is not below {alpha}")
    return {**out, "mean_a": float(a.mean()), "mean_b": float(b.mean()), "mean_difference": float(d.mean()),
            "low": low, "high": high, "wilcoxon_statistic": statistic, "wilcoxon_p": p,
            "better_by": float(sign * d.mean()), "verdict": verdict, "reason": reason}


def ranking_check(values: Mapping[str, Sequence[float]], order: Sequence[str], *, better: str = "lower",
                  alpha: float = 0.05, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> dict:
    """A published ranking ``order`` (best first) tested on per-image scores ``values[method]``.

    Every adjacent pair (order[k], order[k + 1]) is a :func:`paired_test`. The ranking is
    :data:`REPRODUCED` when every pair is, at ``alpha`` each: the ranking holds only if all its steps do,
    so no correction for the number of pairs is needed (an intersection-union test). It is
    :data:`NOT_REPRODUCED` when some pair is resolved the other way at ``alpha`` / (number of pairs)
    (Bonferroni: any one of the pairs may be the one that breaks it); otherwise :data:`NOT_RESOLVED`.
    """
    order = list(order)
    if len(order) < 2:
        raise ValueError(f"A ranking needs at least two methods, got {order}.")
    missing = [m for m in order if m not in values]
    if missing:
        raise ValueError(f"No scores for {missing}; have {sorted(values)}.")
    k = len(order) - 1
    pairs, broken = [], []
    for first, second in zip(order, order[1:]):
        test = paired_test(values[first], values[second], better=better, names=(first, second), alpha=alpha,
                           resamples=resamples, seed=seed)
        strict = paired_test(values[first], values[second], better=better, names=(first, second),
                             alpha=alpha / k, resamples=resamples, seed=seed) if k > 1 else test
        test["reversed_at_bonferroni_level"] = strict["verdict"] == NOT_REPRODUCED
        pairs.append(test)
        broken.append(test["reversed_at_bonferroni_level"])
    if all(p["verdict"] == REPRODUCED for p in pairs):
        verdict = REPRODUCED
    elif any(broken):
        verdict = NOT_REPRODUCED
    else:
        verdict = NOT_RESOLVED
    return {"order": order, "better": better, "alpha": alpha, "pairs": pairs, "verdict": verdict,
            "n": min(p["n"] for p in pairs)}


def pointing_game_sample_size(delta: float = 0.1, *, alpha: float = 0.05, power: float = 0.8,
                              pilot_a=None, pilot_b=None) -> dict:
    """How many images resolve a pointing-game difference ``delta`` between two methods (paired)?

    With h_A, h_B the per-image hits (0 or 1) and d = h_A - h_B, a two-sided test at level ``alpha``
    detects a mean difference ``delta`` with probability ``power`` when

        n = ceil( (z_{1 - alpha/2} + z_{power})^2 * Var(d) / delta^2 )      (normal approximation)

    Var(d) comes from a pilot (``pilot_a``, ``pilot_b``: per-image hits of the two methods on the same
    images; the sample variance of their differences), floored at delta (1 - delta), the least variance
    d can have when its mean is delta (every discordant image in A's favour). Without a pilot the
    conservative binomial bound is used: Var(d) = Var(h_A) + Var(h_B) - 2 Cov <= 1/4 + 1/4 = 1/2 when the
    two methods' hits are not negatively correlated (two explainers of the same model on the same image
    tend to hit or miss together); ``n_any_correlation`` uses the bound for any correlation,
    Var(d) <= 1 - delta^2. ``n_wilcoxon`` divides n by :data:`WILCOXON_MIN_EFFICIENCY` so that the
    signed-rank test has at least that power (:func:`simulated_power` checks it on binary hits).
    """
    if not 0 < delta < 1:
        raise ValueError(f"delta is a difference of hit rates in (0, 1), got {delta}.")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must lie in (0, 1), got {alpha} and {power}.")
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    floor = delta * (1 - delta)
    if pilot_a is not None or pilot_b is not None:
        if pilot_a is None or pilot_b is None:
            raise ValueError("A pilot needs the per-image hits of both methods (pilot_a and pilot_b).")
        a, b = _paired(pilot_a, pilot_b)
        if a.size < 2:
            raise ValueError(f"A pilot needs at least two images with both hits, got {a.size}.")
        pilot_variance = float(np.var(a - b, ddof=1))
        variance, source = max(pilot_variance, floor), f"pilot of {a.size} images"
    else:
        pilot_variance, variance, source = None, 0.5, "binomial bound (hits not negatively correlated)"

    def n_for(var: float) -> int:
        return int(math.ceil(z ** 2 * var / delta ** 2))

    n = n_for(variance)
    return {"n": n, "n_wilcoxon": int(math.ceil(n / WILCOXON_MIN_EFFICIENCY)),
            "n_any_correlation": n_for(1 - delta ** 2), "variance": variance, "pilot_variance": pilot_variance,
            "variance_floor": floor, "source": source, "delta": delta, "alpha": alpha, "power": power,
            "formula": "n = ceil((z_{1-alpha/2} + z_power)^2 Var(h_A - h_B) / delta^2)"}


def simulate_paired_hits(n: int, p_a_only: float, p_b_only: float, p_both: float = 0.5, *,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-image hits of two methods on ``n`` images: a hit by A alone with probability ``p_a_only``, by B
    alone with ``p_b_only``, by both with ``p_both`` (else neither). The true mean difference is
    p_a_only - p_b_only."""
    if min(p_a_only, p_b_only, p_both) < 0 or p_a_only + p_b_only + p_both > 1:
        raise ValueError("The three probabilities must be >= 0 and sum to at most 1.")
    u = np.random.default_rng(seed).random(n)
    a_only = u < p_a_only
    b_only = (u >= p_a_only) & (u < p_a_only + p_b_only)
    both = (u >= p_a_only + p_b_only) & (u < p_a_only + p_b_only + p_both)
    return (a_only | both).astype(float), (b_only | both).astype(float)


def simulated_power(n: int, p_a_only: float, p_b_only: float, p_both: float = 0.5, *, simulations: int = 200,
                    alpha: float = 0.05, resamples: int = 500, seed: int = 0) -> float:
    """Share of ``simulations`` simulated pilots of ``n`` images (:func:`simulate_paired_hits`) in which
    :func:`paired_test` says A > B is :data:`REPRODUCED`: the power of the verdict the benchmark uses."""
    hits = 0
    for k in range(simulations):
        a, b = simulate_paired_hits(n, p_a_only, p_b_only, p_both, seed=seed * 100_003 + k)
        hits += paired_test(a, b, better="higher", alpha=alpha, resamples=resamples, seed=k)["verdict"] == REPRODUCED
    return hits / simulations
