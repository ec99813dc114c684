"""LIME for tabular data, written from scratch (the lesson of notebook 02; reused by 08/09).

LIME explains one prediction of a black box ``f`` by fitting a small, weighted linear model to
``f``'s answers on samples drawn around the instance:

1. sample: numerical features from a normal with the training mean and standard deviation,
   categorical features from their training frequencies (coded 1 when equal to the instance);
2. query the black box on the samples;
3. weight each sample by an exponential kernel of its distance to the instance (standardised units);
4. fit a weighted linear model on K features chosen by greedy forward selection.

Each step is its own function so the notebook can show it. The kernel of step 3 and the forward
selection and weighted fit of step 4 are the LIME core that text and images share
(:mod:`utils.lime.core`); they are imported here, so ``utils.lime.tabular.exponential_kernel`` is
that function. The sampling draws its random numbers in
the same order as ``lime.lime_tabular.LimeTabularExplainer(discretize_continuous=False)``, so with
the same seed both give the same neighbourhood: notebook 02 and the tests use that to check the
whole pipeline number by number, and independent seeds to measure the sampling noise.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from utils.checks import check_count
from utils.lime.core import check_kernel_width, exponential_kernel, fit_weighted_linear, forward_selection


@dataclass
class TrainingStats:
    """What LIME needs to know about the training data: per-column mean/scale, category frequencies."""

    mean: np.ndarray
    scale: np.ndarray
    categorical: tuple[int, ...]
    values: dict[int, np.ndarray]
    frequencies: dict[int, np.ndarray]


@dataclass
class Neighbourhood:
    """The samples around one instance; row 0 is the instance itself."""

    inverse: np.ndarray  # samples in the original (coded) feature space: what the black box sees
    data: np.ndarray  # the interpretable view: numbers as sampled, categoricals 1 = "same as instance"
    scaled: np.ndarray  # ``data`` standardised with the training statistics (the linear model's input)


@dataclass
class TabularExplanation:
    """A LIME explanation: ``weights[j]`` is the local slope of the explained probability."""

    weights: dict[int, float]
    intercept: float
    score: float  # weighted R^2 of the surrogate on the neighbourhood (its local fidelity)
    local_prediction: float
    prediction: float
    neighbourhood: Neighbourhood = field(repr=False)
    labels: np.ndarray = field(repr=False)
    kernel_weights: np.ndarray = field(repr=False)

    def as_array(self, n_features: int) -> np.ndarray:
        """Weights as a dense vector (0 for features LIME did not select)."""
        out = np.zeros(n_features)
        for j, w in self.weights.items():
            out[j] = w
        return out


def training_stats(training_data: np.ndarray, categorical_features: Sequence[int] = ()) -> TrainingStats:
    """Column means and standard deviations, and level frequencies of the categorical columns."""
    X = _check_matrix(training_data, "training_data")
    categorical = tuple(sorted(int(c) for c in categorical_features))
    if any(c < 0 or c >= X.shape[1] for c in categorical):
        raise ValueError(f"categorical_features {categorical} must be column indices in [0, {X.shape[1]}).")
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0  # a constant column: keep it in its own units
    values, freqs = {}, {}
    for c in categorical:
        counts = sorted(Counter(X[:, c]).items())
        values[c] = np.array([v for v, _ in counts])
        freqs[c] = np.array([n for _, n in counts], dtype=float) / len(X)
        mean[c], scale[c] = 0.0, 1.0  # a same-as-instance indicator is not standardised
    return TrainingStats(mean, scale, categorical, values, freqs)


def sample_neighbourhood(instance: np.ndarray, stats: TrainingStats, num_samples: int = 5000,
                         seed: int = 0) -> Neighbourhood:
    """Step 1: draw ``num_samples`` rows from the training statistics (row 0 = the instance).

    Numerical columns: mean + scale * N(0, 1), i.e. around the training mean, not around the
    instance (as lime does by default); categorical columns: a level drawn with its training
    frequency, recorded in ``data`` as 1 when it equals the instance's level.
    """
    x = np.asarray(instance, dtype=float)
    if x.ndim != 1 or x.shape[0] != stats.mean.shape[0]:
        raise ValueError(f"instance must be one row of {stats.mean.shape[0]} values, got shape {x.shape}.")
    num_samples = check_count("num_samples", num_samples, minimum=2)  # row 0 is the instance
    rng = np.random.RandomState(seed)
    n_cols = x.shape[0]
    data = rng.normal(0, 1, num_samples * n_cols).reshape(num_samples, n_cols)
    data = data * stats.scale + stats.mean
    data[0] = x
    inverse = data.copy()
    for c in stats.categorical:
        levels = rng.choice(stats.values[c], size=num_samples, replace=True, p=stats.frequencies[c])
        same = (levels == x[c]).astype(float)
        same[0] = 1.0
        levels[0] = x[c]
        data[:, c] = same
        inverse[:, c] = levels
    scaled = (data - stats.mean) / stats.scale
    return Neighbourhood(inverse=inverse, data=data, scaled=scaled)


def default_kernel_width(n_features: int) -> float:
    """lime's default: 0.75 * sqrt(number of features), in standardised units."""
    return 0.75 * float(np.sqrt(n_features))


def distances_to_instance(scaled: np.ndarray) -> np.ndarray:
    """Euclidean distance of every standardised sample to row 0 (the instance)."""
    return np.sqrt(((scaled - scaled[0]) ** 2).sum(axis=1))


def explain_tabular(instance: np.ndarray, predict_fn: Callable[[np.ndarray], np.ndarray],
                    training_data: np.ndarray, categorical_features: Sequence[int] = (),
                    label: int = 1, num_features: int | None = None, num_samples: int = 5000,
                    kernel_width: float | None = None, seed: int = 0) -> TabularExplanation:
    """LIME on one row: steps 1-4 end to end. ``num_features=None`` keeps every feature.

    ``predict_fn`` maps an ``(n, d)`` array in the coded feature space to class probabilities.
    """
    X = _check_matrix(training_data, "training_data")
    stats = training_stats(X, categorical_features)
    hood = sample_neighbourhood(instance, stats, num_samples=num_samples, seed=seed)
    probs = np.asarray(predict_fn(hood.inverse), dtype=float)
    if probs.ndim != 2 or probs.shape[0] != num_samples:
        raise ValueError(f"predict_fn must return a (samples, classes) array of probabilities, "
                         f"got shape {probs.shape}.")
    if not 0 <= label < probs.shape[1]:
        raise ValueError(f"label {label} is not a class index of predict_fn's output ({probs.shape[1]} classes).")
    y = probs[:, label]
    width = default_kernel_width(X.shape[1]) if kernel_width is None else check_kernel_width(kernel_width)
    kw = exponential_kernel(distances_to_instance(hood.scaled), width)
    k = X.shape[1] if num_features is None else check_count("num_features", num_features)
    if not 1 <= k <= X.shape[1]:
        raise ValueError(f"num_features must be between 1 and {X.shape[1]}, got {num_features}.")
    features = list(range(X.shape[1])) if k == X.shape[1] else forward_selection(hood.scaled, y, kw, k)
    model, score = fit_weighted_linear(hood.scaled, y, kw, features)
    local = float(model.predict(hood.scaled[:1, features])[0])
    weights = {int(j): float(w) for j, w in zip(features, model.coef_)}
    return TabularExplanation(weights=weights, intercept=float(model.intercept_), score=score,
                              local_prediction=local, prediction=float(y[0]), neighbourhood=hood,
                              labels=y, kernel_weights=kw)


def lime_library_weights(explanation, label: int, n_features: int) -> np.ndarray:
    """Dense weight vector from a ``lime`` ``Explanation`` (0 for unselected features)."""
    out = np.zeros(n_features)
    for j, w in explanation.local_exp[label]:
        out[j] = w
    return out


def _check_matrix(a: np.ndarray, name: str) -> np.ndarray:
    X = np.asarray(a, dtype=float)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"{name} must be a 2-D array with at least 2 rows, got shape {X.shape}.")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values; drop or impute them first.")
    return X
