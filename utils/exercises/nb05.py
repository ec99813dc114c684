"""Exercises of notebook 05 (Grad-CAM): the channel weights, the map, the counterfactual map, the share in a box.

The checks run on small random feature maps and gradients shaped like a 7x7x1280 layer (smaller, so a
check is instant); the method is the same as on the photo.
"""
from __future__ import annotations

import numpy as np

from utils.exercises.core import Exercise, Mistake


def _layer_examples() -> list[tuple]:
    """Feature maps A (ReLU'd, so >= 0) and gradients dA of shape (rows, cols, channels), three sizes."""
    rng = np.random.default_rng(5)
    cases = []
    for shape in ((7, 7, 16), (5, 6, 9), (7, 7, 40)):
        A = np.maximum(rng.normal(0.5, 1.0, shape), 0).astype(np.float32)
        dA = rng.normal(0.0, 0.01, shape).astype(np.float32)
        cases.append((A, dA))
    return cases


def channel_weights(dA: np.ndarray) -> np.ndarray:
    """Grad-CAM's weight of each channel: the gradient averaged over the spatial cells."""
    return dA.mean(axis=(0, 1))


q1 = Exercise(
    1, "channel weights",
    reference=channel_weights,
    examples=lambda: [(dA,) for _, dA in _layer_examples()],
    why="Each weight says how much the class score rises, on average over the image, when that channel is "
        "more active: Grad-CAM's whole notion of importance is this one average.",
    hint_text="One weight per channel: average dA over the two spatial axes (rows and columns), not over the "
              "channels. The result has shape (channels,).",
    mistakes=(
        Mistake("You averaged over the channels (the wrong axis): the weights must have one value per channel, "
                "so average over axes (0, 1).", lambda dA: dA.mean(axis=-1)),
        Mistake("You summed instead of averaging: Grad-CAM's weights are the global *average* of the gradient "
                "(divide by rows x cols), so they do not grow with the map's size.", lambda dA: dA.sum(axis=(0, 1))),
        Mistake("You averaged the absolute gradient: a channel whose gradient is negative takes evidence away "
                "and must keep its minus sign.", lambda dA: np.abs(dA).mean(axis=(0, 1))),
    ),
)


def grad_cam_map(A: np.ndarray, dA: np.ndarray) -> np.ndarray:
    """The coarse Grad-CAM map: ReLU of the channel-weighted sum of the feature maps."""
    weights = dA.mean(axis=(0, 1))
    return np.maximum((A * weights).sum(axis=-1), 0)


q2 = Exercise(
    2, "the Grad-CAM map",
    reference=grad_cam_map,
    examples=_layer_examples,
    why="The ReLU keeps only the cells that push the class score up; without it the map mixes evidence for "
        "and against and is no longer class-discriminative.",
    hint_text="Weight each channel of A by its mean gradient, sum over the channel axis (the last one), then "
              "keep only the positive part (np.maximum(..., 0)). The result has the spatial shape of A.",
    mistakes=(
        Mistake("You forgot the ReLU: cells where the weighted sum is negative are evidence *against* the "
                "class; clip them at zero with np.maximum(..., 0).",
                lambda A, dA: (A * dA.mean(axis=(0, 1))).sum(axis=-1)),
        Mistake("You took the absolute value instead of the ReLU: that turns evidence against the class into "
                "evidence for it. Clip at zero instead.",
                lambda A, dA: np.abs((A * dA.mean(axis=(0, 1))).sum(axis=-1))),
        Mistake("You multiplied A by the raw gradient cell by cell: Grad-CAM weights each whole channel by one "
                "number, the gradient's spatial mean.", lambda A, dA: np.maximum((A * dA).sum(axis=-1), 0)),
    ),
)


def counterfactual_cam(A: np.ndarray, dA: np.ndarray) -> np.ndarray:
    """Where the evidence *against* the class lies: negate the channel weights, keep the ReLU."""
    weights = -dA.mean(axis=(0, 1))
    return np.maximum((A * weights).sum(axis=-1), 0)


q3 = Exercise(
    3, "the counterfactual map",
    reference=counterfactual_cam,
    examples=_layer_examples,
    why="Negating the weights before the ReLU shows the evidence *against* the class, the regions whose "
        "removal would make the model more confident; on dog_cat.jpg, look where it puts the evidence "
        "against 'Egyptian cat'.",
    hint_text="Start from your Grad-CAM map but use minus the mean gradient as the channel weights; the ReLU "
              "comes after the weighted sum, exactly as before.",
    mistakes=(
        Mistake("You negated the map after the ReLU: that gives minus the Grad-CAM map (all values <= 0). "
                "Negate the weights first, then apply the ReLU.", lambda A, dA: -grad_cam_map(A, dA)),
        Mistake("You dropped the ReLU: the negated weighted sum still contains the evidence *for* the class "
                "(as negative values). Clip at zero.",
                lambda A, dA: (A * -dA.mean(axis=(0, 1))).sum(axis=-1)),
    ),
)


def _heat_examples() -> list[tuple]:
    rng = np.random.default_rng(50)
    return [(rng.uniform(0, 1, (224, 224)), (slice(40, 120), slice(100, 200))),
            (rng.uniform(0, 1, (14, 14)) ** 3, (slice(0, 7), slice(3, 14)))]


def share_in_box(heat: np.ndarray, box: tuple[slice, slice]) -> float:
    """The share of a non-negative map's total mass that falls inside a (rows, columns) box."""
    return float(heat[box].sum() / heat.sum())


q4 = Exercise(
    4, "share of the map in a box",
    reference=share_in_box,
    examples=_heat_examples,
    why="A share of the map's mass, unlike its peak, says how much of the explanation is on the object; with "
        "the box as the mask it is the relevance mass "
        "(utils.evaluation.metrics.relevance_mass) of notebook 08's benchmark.",
    hint_text="Sum the map inside the box (heat[box]) and divide by the sum of the whole map; the result is a "
              "number between 0 and 1.",
    mistakes=(
        Mistake("You returned the sum inside the box without dividing by the map's total: a share is between "
                "0 and 1.", lambda heat, box: float(heat[box].sum())),
        Mistake("You returned the mean inside the box: divide the sum inside the box by the sum over the whole "
                "map instead.", lambda heat, box: float(heat[box].mean())),
        Mistake("You divided the box's mean by the map's mean: that compares densities, not shares of the mass.",
                lambda heat, box: float(heat[box].mean() / heat.mean())),
    ),
)

EXERCISES = (q1, q2, q3, q4)
