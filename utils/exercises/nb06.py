"""Exercises of notebook 06 (SHAP): the Shapley kernel weight, SHAP of a linear model, a Shapley value by
enumeration.

The checks run on small games (4 and 5 players, values from a fixed table) and on a linear model of a few
features with a random background, so a check is instant; the definitions are those of sections 1 and 2.
"""
from __future__ import annotations

from itertools import combinations
from math import comb, factorial

import numpy as np

from utils.exercises.core import Exercise, Mistake


def shapley_kernel_weight(M: int, s: int) -> float:
    """KernelSHAP's regression weight of one coalition of ``s`` of the ``M`` players (0 < s < M)."""
    from math import comb

    return (M - 1) / (comb(M, s) * s * (M - s))


def _kernel_examples() -> list[tuple]:
    """Coalition sizes from 1 to M - 1 for 4, 8 (section 2's tabular game) and 40 players (the superpixels)."""
    return [(4, 1), (4, 2), (4, 3), (8, 1), (8, 3), (8, 4), (40, 1), (40, 5), (40, 20)]


q1 = Exercise(
    1, "the Shapley kernel",
    reference=shapley_kernel_weight,
    examples=_kernel_examples,
    why="With this weight the weighted regression of KernelSHAP returns exactly the Shapley values when every "
        "coalition is evaluated; it is largest for the smallest and largest coalitions, which is why KernelSHAP "
        "enumerates those first.",
    hint_text="Three factors in the denominator: the number of coalitions of that size, math.comb(M, s), and "
              "s and M - s; the numerator is M - 1.",
    mistakes=(
        Mistake("You forgot the binomial coefficient: (M - 1) / (s (M - s)) is the weight of all the coalitions "
                "of size s together; divide it by math.comb(M, s) for one coalition.",
                lambda M, s: (M - 1) / (s * (M - s))),
        Mistake("You wrote M instead of M - 1 in the numerator: the Shapley kernel is "
                "(M - 1) / (C(M, s) s (M - s)).",
                lambda M, s: M / (comb(M, s) * s * (M - s))),
        Mistake("You used 1 / C(M, s) alone: that weighs every coalition size equally in total, but the kernel "
                "also has the factor (M - 1) / (s (M - s)), which favours very small and very large coalitions.",
                lambda M, s: 1 / comb(M, s)),
    ),
)


def linear_shap(w: np.ndarray, x: np.ndarray, background: np.ndarray) -> np.ndarray:
    """SHAP values of the linear model f(x) = w . x + b for row ``x``, the features independent and the absent
    ones taking their values from the ``background`` rows (one row per sample)."""
    return w * (x - background.mean(axis=0))


def _linear_examples() -> list[tuple]:
    """Linear models of 3, 5 and 8 features, a row and a background of 20 to 50 rows whose means are not 0."""
    rng = np.random.default_rng(6)
    cases = []
    for n_features, n_rows in ((3, 20), (5, 30), (8, 50)):
        means = rng.normal(2, 1, n_features)
        cases.append((rng.normal(0, 1, n_features), means + rng.normal(0, 1.5, n_features),
                      means + rng.normal(0, 1, (n_rows, n_features))))
    return cases


q2 = Exercise(
    2, "SHAP of a linear model",
    reference=linear_shap,
    examples=_linear_examples,
    why="A linear model needs no sampling: each feature's value is its weight times how far the row is from "
        "the average row, and they add up to f(x) - E f(background), as efficiency demands. IG from the mean "
        "as baseline (notebook 07) gives the same answer.",
    hint_text="A feature's value is its marginal contribution w_i x_i minus what it contributes on average over "
              "the background, w_i E[x_i]: w * (x - background.mean(axis=0)), one value per feature.",
    mistakes=(
        Mistake("You forgot to subtract the background mean: w * x is the contribution relative to x = 0, and "
                "it does not add up to f(x) - E f(background). Use w * (x - background.mean(axis=0)).",
                lambda w, x, background: w * x),
        Mistake("You subtracted the mean of x's own features (x.mean()): the reference value of feature i is "
                "its mean over the background rows, background.mean(axis=0).",
                lambda w, x, background: w * (x - x.mean())),
        Mistake("You took the absolute value: a SHAP value is signed; a negative one says that the feature "
                "lowers the prediction below the average.",
                lambda w, x, background: np.abs(w * (x - background.mean(axis=0)))),
    ),
)


def shapley_value(v, n: int, i: int) -> float:
    """The Shapley value of player ``i`` in the game ``v`` (a function of a frozenset of players 0..n-1):
    its marginal contribution v(S + i) - v(S), averaged with the weight |S|! (n - |S| - 1)! / n! over every
    coalition S of the other players (the empty one included)."""
    from itertools import combinations
    from math import factorial

    others = [j for j in range(n) if j != i]
    value = 0.0
    for size in range(n):
        weight = factorial(size) * factorial(n - size - 1) / factorial(n)
        for members in combinations(others, size):
            coalition = frozenset(members)
            value += weight * (v(coalition | {i}) - v(coalition))
    return value


def _course_game(members: frozenset) -> float:
    """Section 1's game: players 0 and 1 interchangeable, 2 strong alone, 3 a dummy."""
    value = 10.0 * (2 in members) + 4.0 * (0 in members) + 4.0 * (1 in members)
    value += 6.0 * ({0, 1} <= members) + 3.0 * ({0, 2} <= members) + 3.0 * ({1, 2} <= members)
    return value


class _TableGame:
    """A game of 5 players whose value of each coalition comes from a fixed random table (v(empty) = 1)."""

    def __init__(self, seed: int):
        values = np.random.default_rng(seed).uniform(0, 10, 2 ** 5)
        values[0] = 1.0
        self.values = values.tolist()

    def __call__(self, members: frozenset) -> float:
        return self.values[sum(1 << j for j in members)]


def _game_examples() -> list[tuple]:
    game = _TableGame(60)
    return [(_course_game, 4, i) for i in range(4)] + [(game, 5, i) for i in (0, 2, 4)]


def _banzhaf(v, n: int, i: int) -> float:
    others = [j for j in range(n) if j != i]
    subsets = [frozenset(m) for size in range(n) for m in combinations(others, size)]
    return sum(v(s | {i}) - v(s) for s in subsets) / len(subsets)


def _without_empty(v, n: int, i: int) -> float:
    others = [j for j in range(n) if j != i]
    return sum(factorial(size) * factorial(n - size - 1) / factorial(n) * (v(frozenset(m) | {i}) - v(frozenset(m)))
               for size in range(1, n) for m in combinations(others, size))


def _times_n(v, n: int, i: int) -> float:
    others = [j for j in range(n) if j != i]
    return sum((v(frozenset(m) | {i}) - v(frozenset(m))) / comb(n - 1, size)
               for size in range(n) for m in combinations(others, size))


q3 = Exercise(
    3, "a Shapley value by enumeration",
    reference=shapley_value,
    examples=_game_examples,
    why="Weighting each coalition by |S|! (n - |S| - 1)! / n! is the same as averaging i's marginal "
        "contribution over all n! orders in which the players can join; it is this weight that makes the "
        "values add up to v(everyone) - v(no one).",
    hint_text="Loop over the sizes 0..n-1 (0 is the empty coalition) and, with itertools.combinations, over the "
              "coalitions S of the *other* players of that size; add |S|! (n - |S| - 1)! / n! times "
              "v(S | {i}) - v(S). Or average v(before + i) - v(before) over itertools.permutations(range(n)).",
    mistakes=(
        Mistake("You averaged the marginal contributions over the coalitions with equal weights: that is the "
                "Banzhaf value, not Shapley's. Weight a coalition of size |S| by |S|! (n - |S| - 1)! / n! "
                "(so every coalition *size* gets the same total weight 1/n).", _banzhaf),
        Mistake("You left out the empty coalition: for S = {} the marginal contribution is v({i}) - v({}), i's "
                "value alone; start the sizes at 0 (itertools.combinations(others, 0) yields one empty tuple).",
                _without_empty),
        Mistake("Your weights sum to n, not 1: you averaged within each size (1 / C(n - 1, |S|)) but summed "
                "over the n sizes instead of averaging over them. Divide by n too: "
                "|S|! (n - |S| - 1)! / n!.", _times_n),
    ),
)

EXERCISES = (q1, q2, q3)
