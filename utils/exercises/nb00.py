"""Exercises of notebook 00 (introduction): reading a classifier's probabilities and computing them from logits.

The checks run on small random probability tables shaped like the notebook's ``probs`` (one row per photo,
one column per class, rows summing to 1) but with fewer classes, and on logits that include values large
enough to overflow ``np.exp``; no model is loaded.
"""
from __future__ import annotations

import numpy as np

from utils.exercises.core import Exercise, Mistake


def _probability_examples() -> list[tuple]:
    """Probability tables (photos x classes) with the photos' names: peaked and flat rows mixed, three sizes."""
    rng = np.random.default_rng(0)
    cases = []
    for photos, classes in ((6, 12), (9, 20), (25, 40)):
        logits = rng.normal(0.0, 1.0, (photos, classes)) * rng.uniform(0.5, 4.0, (photos, 1))
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        names = [f"photo_{i:02d}" for i in range(photos)]
        cases.append((probs, names))
    return cases


def least_confident(probs: np.ndarray, names: list[str]) -> str:
    """The name of the photo whose top-1 probability is the lowest."""
    return names[int(probs.max(axis=1).argmin())]


q1 = Exercise(
    1, "least confident photo",
    reference=least_confident,
    examples=_probability_examples,
    why="A low top-1 probability marks a photo where several classes compete (two animals, an ambiguous "
        "object): the predictions most worth explaining.",
    hint_text="Take each photo's largest probability (the maximum over the classes, axis=1), find the position "
              "of the smallest of these with argmin, and return the name at that position.",
    mistakes=(
        Mistake("You returned the most confident photo: the model is least sure where its top-1 probability is "
                "smallest, so use argmin, not argmax.",
                lambda probs, names: names[int(probs.max(axis=1).argmax())]),
        Mistake("You returned the photo's position, not its name: look the position up in `names`.",
                lambda probs, names: int(probs.max(axis=1).argmin())),
        Mistake("You used argmax over the classes, which gives each photo's *class index*, not its top-1 "
                "probability: use probs.max(axis=1) for the probabilities.",
                lambda probs, names: names[int(probs.argmax(axis=1).argmin())]),
    ),
)


def top5_mass(probs: np.ndarray) -> float:
    """The probability held by each photo's five most probable classes, averaged over the photos."""
    return float(np.sort(probs, axis=1)[:, -5:].sum(axis=1).mean())


q2 = Exercise(
    2, "top-5 probability mass",
    reference=top5_mass,
    examples=lambda: [(probs,) for probs, _ in _probability_examples()],
    why="If five classes hold most of the probability, the rest of the 1000 classes hardly matter: that is "
        "why the notebook reads the top-5 list and why explanations target one of those few classes.",
    hint_text="Sort each row (np.sort(probs, axis=1) sorts ascending), keep the last five columns, sum them per "
              "photo, then average over the photos. The answer is one number between 0 and 1.",
    mistakes=(
        Mistake("You summed the five *smallest* probabilities: np.sort sorts ascending, so the five largest are "
                "the last five columns, [:, -5:].",
                lambda probs: float(np.sort(probs, axis=1)[:, :5].sum(axis=1).mean())),
        Mistake("You kept the last five *rows* (photos) instead of the last five columns (classes): every row "
                "sums to 1, hence exactly 1.0. Index with [:, -5:].",
                lambda probs: float(np.sort(probs, axis=1)[-5:].sum(axis=1).mean())),
        Mistake("You returned one number per photo: average them over the photos with .mean().",
                lambda probs: np.sort(probs, axis=1)[:, -5:].sum(axis=1)),
    ),
)


def _logit_examples() -> list[tuple]:
    """Logits of a batch (rows = inputs): ordinary values, one vector, and rows near exp's float64 limit."""
    rng = np.random.default_rng(1)
    ordinary = rng.normal(0.0, 3.0, (4, 6))
    vector = rng.normal(0.0, 2.0, 7)
    large = np.vstack([rng.normal(0.0, 2.0, 5), [709.5, 709.0, 708.2, 700.0, 3.0], rng.normal(0.0, 1.0, 5)])
    return [(ordinary,), (vector,), (large,)]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits along the last axis, without overflow for large logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _naive_softmax(logits: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        e = np.exp(logits)
        return e / e.sum(axis=-1, keepdims=True)


def _stable_exp(logits: np.ndarray) -> np.ndarray:
    return np.exp(logits - logits.max(axis=-1, keepdims=True))


q3 = Exercise(
    3, "a stable softmax",
    reference=softmax,
    examples=_logit_examples,
    why="Subtracting the row's maximum changes nothing mathematically (it cancels in the ratio) but keeps "
        "np.exp below its float64 limit (about exp(709)); scipy.special.softmax does exactly this.",
    hint_text="Subtract each row's maximum first (logits.max(axis=-1, keepdims=True)), take np.exp, then divide "
              "by the sum over the same last axis, again with keepdims=True so the shapes broadcast. One row of "
              "the check has logits around 709.",
    mistakes=(
        Mistake("Your softmax breaks on large logits (a row of zeros or nan where the logits are near 709): "
                "np.exp overflows. Subtract each row's maximum before np.exp; it cancels in the ratio.",
                _naive_softmax),
        Mistake("You divided by the sum over the whole batch: each row (one input) must sum to 1 on its own, so "
                "sum over axis=-1 with keepdims=True.",
                lambda logits: _stable_exp(logits) / _stable_exp(logits).sum()),
        Mistake("You normalised over the wrong axis (axis=0, the inputs): the classes are on the last axis, so "
                "every row must sum to 1.",
                lambda logits: _stable_exp(logits) / _stable_exp(logits).sum(axis=0, keepdims=True)),
        Mistake("You forgot to normalise: after np.exp, divide by the row's sum so the probabilities add up to 1.",
                _stable_exp),
    ),
)

EXERCISES = (q1, q2, q3)
