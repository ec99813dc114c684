"""Exercises of notebook 07 (Integrated Gradients): the known answer on a linear model, the completeness gap,
the path images, the IG sum with the trapezoid rule.

The checks run in numpy on small "images" (4x5x3 to 8x8x3 arrays in [0, 255]) and on smooth functions whose
gradient is known in closed form, so a check is instant and needs no model; the rule is the one
``utils.explain.integrated_gradients`` uses on the photos.
"""
from __future__ import annotations

import numpy as np

from utils.exercises.core import Exercise, Mistake


def _image_examples(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, baseline) pairs: a black, a white and a random baseline."""
    rng = np.random.default_rng(seed)
    cases = []
    for shape, baseline in (((8, 8, 3), "black"), ((4, 5, 3), "white"), ((6, 4, 3), "random")):
        x = rng.uniform(0, 255, shape)
        if baseline == "black":
            cases.append((x, np.zeros(shape)))
        elif baseline == "white":
            cases.append((x, np.full(shape, 255.0)))
        else:
            cases.append((x, rng.uniform(0, 255, shape)))
    return cases


def linear_ig(w: np.ndarray, x: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """IG of the linear model f(x) = sum(w * x) + b from ``baseline`` to ``x``, one value per input value: the
    gradient is w everywhere on the path, so the integral is exact."""
    return (x - baseline) * w


def _linear_examples() -> list[tuple]:
    rng = np.random.default_rng(70)
    return [(rng.normal(0, 0.01, x.shape), x, baseline) for x, baseline in _image_examples(71)]


q1 = Exercise(
    1, "a known answer",
    reference=linear_ig,
    examples=_linear_examples,
    why="On a linear model IG needs no steps and adds up exactly: sum(w (x - x')) = f(x) - f(x'). It is the "
        "test to run on any IG code (the unit tests of utils do), and with the background mean as baseline "
        "it is the linear SHAP of notebook 06.",
    hint_text="The gradient of w . x is w at every point of the path, so the average gradient is w; multiply by "
              "(x - baseline). Keep one value per input value (do not sum over the channels).",
    mistakes=(
        Mistake("You forgot the baseline: w * x is Gradient x Input, which equals IG only from a black (all-0) "
                "baseline. Multiply w by (x - baseline).", lambda w, x, baseline: w * x),
        Mistake("You returned the gradient w alone: IG multiplies the average gradient by (x - baseline), how "
                "far each input value moved along the path.", lambda w, x, baseline: w),
        Mistake("The sign is reversed: the path runs from the baseline to the image, so the factor is "
                "x - baseline, and the attributions sum to f(x) - f(baseline).",
                lambda w, x, baseline: (baseline - x) * w),
        Mistake("You summed over the colour channels: that is the (H, W) map the notebook draws; here return "
                "the attribution of every input value, the same shape as x.",
                lambda w, x, baseline: ((x - baseline) * w).sum(axis=-1)),
    ),
)


def relative_gap(attributions: np.ndarray, f_x: float, f_baseline: float) -> float:
    """IG's relative completeness gap: |sum of the attributions - (f(x) - f(x'))| / |f(x) - f(x')|."""
    change = f_x - f_baseline
    return float(abs(attributions.sum() - change) / abs(change))


def _gap_examples() -> list[tuple]:
    """Attributions that sum to a bit less, a bit more, and (with a falling logit) about the change."""
    rng = np.random.default_rng(72)
    cases = []
    for f_x, f_baseline, share in ((9.5, 1.2, 0.96), (7.0, 0.5, 1.3), (-2.0, 3.0, 0.9), (4.0, 4.5, 1.02)):
        a = rng.uniform(0, 1, (6, 6))
        cases.append((a * share * (f_x - f_baseline) / a.sum(), f_x, f_baseline))
    return cases


q2 = Exercise(
    2, "the completeness gap",
    reference=relative_gap,
    examples=_gap_examples,
    why="Completeness is IG's built-in test: the integral adds up exactly, so the gap measures only the "
        "numerical error of the sum, and relative to the change it is comparable between photos and classes.",
    hint_text="Sum all the attributions, subtract the change f_x - f_baseline, take the absolute value and "
              "divide by the absolute value of the change.",
    mistakes=(
        Mistake("Your gap is signed: an error is an error whether the sum over- or undershoots; take the "
                "absolute value of sum - (f_x - f_baseline).",
                lambda attributions, f_x, f_baseline: float((attributions.sum() - (f_x - f_baseline))
                                                            / abs(f_x - f_baseline))),
        Mistake("You returned the absolute gap: divide it by |f_x - f_baseline| so that it is a share of the "
                "change (0.05 = 5%), comparable between photos.",
                lambda attributions, f_x, f_baseline: float(abs(attributions.sum() - (f_x - f_baseline)))),
        Mistake("You divided by the sum of the attributions: the reference is the change of the logit, "
                "|f_x - f_baseline|, which IG is supposed to account for.",
                lambda attributions, f_x, f_baseline: float(abs(attributions.sum() - (f_x - f_baseline))
                                                            / abs(attributions.sum()))),
    ),
)


def path_images(x: np.ndarray, baseline: np.ndarray, steps: int) -> np.ndarray:
    """The ``steps + 1`` points x' + a (x - x') of the straight path, a = 0, 1/steps, ..., 1, stacked on a new
    first axis: the baseline first, the image last."""
    alphas = np.linspace(0.0, 1.0, steps + 1)
    return baseline[None] + alphas[:, None, None, None] * (x - baseline)[None]


def _path_examples() -> list[tuple]:
    return [(x, baseline, steps) for (x, baseline), steps in zip(_image_examples(73), (4, 8, 5))]


q3 = Exercise(
    3, "the path images",
    reference=path_images,
    examples=_path_examples,
    why="These are the images IG computes gradients at; steps intervals need steps + 1 points, with both ends "
        "included, because the trapezoid rule uses the gradient at the baseline and at the image.",
    hint_text="alphas = np.linspace(0, 1, steps + 1) (steps intervals have steps + 1 end points); reshape them "
              "to (steps + 1, 1, 1, 1) so that they broadcast against (x - baseline)[None].",
    mistakes=(
        Mistake("Off by one: np.linspace(0, 1, steps) gives steps points, i.e. steps - 1 intervals. "
                "steps intervals need np.linspace(0, 1, steps + 1).",
                lambda x, baseline, steps: baseline[None]
                + np.linspace(0, 1, steps)[:, None, None, None] * (x - baseline)[None]),
        Mistake("Your path runs backwards, from the image to the baseline: start at the baseline (a = 0) and "
                "end at the image (a = 1).",
                lambda x, baseline, steps: x[None]
                + np.linspace(0, 1, steps + 1)[:, None, None, None] * (baseline - x)[None]),
        Mistake("You forgot the baseline: a * x is the path from a black image whatever the baseline is; the "
                "points are baseline + a * (x - baseline).",
                lambda x, baseline, steps: np.linspace(0, 1, steps + 1)[:, None, None, None] * x[None]),
    ),
)


def ig_attributions(grad_fn, x: np.ndarray, baseline: np.ndarray, steps: int) -> np.ndarray:
    """Integrated Gradients with the trapezoid rule on ``steps`` equal intervals (``steps + 1`` gradients, the
    two end points weighted 1/2), as utils.explain.integrated_gradients computes it. ``grad_fn`` maps a
    batch of images (n, *x.shape) to the gradients of f at them (same shape)."""
    alphas = np.linspace(0.0, 1.0, steps + 1)
    grads = grad_fn(baseline[None] + alphas[:, None, None, None] * (x - baseline)[None])
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] = 0.5 / steps
    return (x - baseline) * np.tensordot(weights, grads, axes=1)


class _TanhGradient:
    """The gradient of f(z) = sum(tanh(c * (z - 100) / 255)): saturating like a trained network, so the rules
    of summation give different answers."""

    def __init__(self, c: np.ndarray):
        self.c = c

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.c / 255 * (1 - np.tanh(self.c * (np.asarray(batch) - 100) / 255) ** 2)


def _ig_examples() -> list[tuple]:
    rng = np.random.default_rng(74)
    return [(_TanhGradient(rng.uniform(0.5, 4, x.shape)), x, baseline, steps)
            for (x, baseline), steps in zip(_image_examples(75), (8, 16, 5))]


def _riemann(rule: str):
    """A wrong summation rule over the path, for the mistakes of exercise 4."""
    def attributions(grad_fn, x, baseline, steps):
        alphas = {"mean": np.linspace(0, 1, steps + 1), "sum": np.linspace(0, 1, steps + 1),
                  "left": np.arange(steps) / steps, "no factor": np.linspace(0, 1, steps + 1)}[rule]
        grads = grad_fn(baseline[None] + alphas[:, None, None, None] * (x - baseline)[None])
        if rule == "sum":
            return (x - baseline) * grads.sum(axis=0)
        if rule == "no factor":
            weights = np.full(steps + 1, 1.0 / steps)
            weights[[0, -1]] = 0.5 / steps
            return np.tensordot(weights, grads, axes=1)
        return (x - baseline) * grads.mean(axis=0)
    return attributions


q4 = Exercise(
    4, "the IG sum",
    reference=ig_attributions,
    examples=_ig_examples,
    why="This is all of IG: path points, gradients, a weighted average, times (x - x'). The grid of steps + 1 "
        "points contains the grid of half as many steps, so doubling the steps only adds the midpoints: the "
        "adaptive option of section 3 reuses every gradient it has.",
    hint_text="Build the steps + 1 path points as in exercise 3 and call grad_fn once on all of them. Average "
              "the gradients with the trapezoid weights: 1/steps for the interior points, 1/(2 steps) for the "
              "two ends (they sum to 1). Multiply by (x - baseline).",
    mistakes=(
        Mistake("You forgot the factor (x - baseline): the average gradient alone is not an attribution, and it "
                "does not sum to f(x) - f(baseline).", _riemann("no factor")),
        Mistake("You summed the gradients instead of averaging them: the integral over a from 0 to 1 is the "
                "*average* of the gradient along the path (weights that sum to 1), so the result must not grow "
                "with the steps.", _riemann("sum")),
        Mistake("You averaged the steps + 1 gradients with equal weights: the trapezoid rule gives the two end "
                "points half the weight of the others (1/(2 steps) against 1/steps).", _riemann("mean")),
        Mistake("You took a left Riemann sum (a = 0, 1/steps, ..., (steps - 1)/steps): the course's rule is the "
                "trapezoid on steps + 1 points, a from 0 to 1 with both ends, the ends weighted 1/2.",
                _riemann("left")),
    ),
)

EXERCISES = (q1, q2, q3, q4)
