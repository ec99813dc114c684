"""Exercises of notebook 02 (LIME for tabular data): the kernel, the weighted R^2, the weighted fit, forward selection.

The checks run on small synthetic neighbourhoods built like the notebook's: standardised samples with the
instance in row 0, a black-box probability that depends on the features non-linearly (so a local fit differs
from a global one) and kernel weights from the distance to the instance; no model is trained.
"""
from __future__ import annotations

import numpy as np

from utils.exercises.core import Exercise, Mistake


def _distance_examples() -> list[tuple]:
    """Distances to the instance (0 first, as for the instance itself) and kernel widths, lime's default included."""
    rng = np.random.default_rng(2)
    return [(np.array([0.0, 0.5, 1.0, 1.837, 2.58, 4.0]), 0.75 * np.sqrt(6)),
            (np.r_[0.0, rng.uniform(0.0, 4.0, 20)], 0.75),
            (np.r_[0.0, rng.uniform(0.0, 60.0, 10)], 25.0)]


def lime_kernel(d: np.ndarray, width: float) -> np.ndarray:
    """lime's exponential kernel: the weight of a sample at distance d from the instance."""
    return np.sqrt(np.exp(-d ** 2 / width ** 2))


q1 = Exercise(
    1, "the LIME kernel",
    reference=lime_kernel,
    examples=_distance_examples,
    why="The kernel is what makes LIME local: the instance weighs 1, a sample one width away about 0.61, and "
        "the width alone decides how fast the weights fall (pitfall 1).",
    hint_text="Weight = sqrt(exp(-d^2 / width^2)) (lime writes it this way; it equals exp(-d^2 / (2 width^2))). "
              "Square both the distance and the width.",
    mistakes=(
        Mistake("You left out the square root: lime's kernel is sqrt(exp(-d^2 / width^2)), which falls half as "
                "fast in the exponent as exp(-d^2 / width^2).",
                lambda d, width: np.exp(-d ** 2 / width ** 2)),
        Mistake("You used the distance, not its square: the exponent is -d^2 / width^2.",
                lambda d, width: np.sqrt(np.exp(-d / width))),
        Mistake("You forgot to square the width: the exponent is -d^2 / width^2, so the width has the units of a "
                "distance.",
                lambda d, width: np.sqrt(np.exp(-d ** 2 / width))),
    ),
)


def _neighbourhood(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised samples X (row 0 = the instance), black-box probabilities y, kernel weights w.

    Feature 0 matters everywhere (and saturates); features 1 and 2 are strongly correlated (r = 0.95) and,
    like feature 3, matter only near the instance; feature 4 has a small global effect.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, (n, 5))
    X[:, 2] = 0.95 * X[:, 1] + np.sqrt(1 - 0.95 ** 2) * rng.normal(0.0, 1.0, n)
    X[0] = [1.0, 0.3, 0.2, -0.4, 0.1]
    d2 = ((X - X[0]) ** 2).sum(axis=1)
    near = np.exp(-d2 / 8)
    score = 2 * np.tanh(2 * X[:, 0]) + near * (X[:, 1] + X[:, 2] + X[:, 3]) + 0.3 * X[:, 4]
    y = 1 / (1 + np.exp(-score)) + rng.normal(0.0, 0.02, n)
    w = np.sqrt(np.exp(-d2 / (0.75 ** 2 * 5)))  # lime's kernel with its default width for 5 features
    return X, y, w


def _fit_examples() -> list[tuple]:
    """(y, y_hat, w): probabilities, a linear surrogate's predictions and the kernel weights."""
    cases = []
    for seed in (1, 2):
        X, y, w = _neighbourhood(seed)
        A = np.c_[np.ones(len(X)), X[:, :2]]
        coef = np.linalg.lstsq(A * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
        cases.append((y, A @ coef, w))
    return cases


def weighted_r2(y: np.ndarray, y_hat: np.ndarray, w: np.ndarray) -> float:
    """The weighted coefficient of determination of predictions y_hat of y, sample weights w."""
    mean = np.sum(w * y) / np.sum(w)
    return float(1 - np.sum(w * (y - y_hat) ** 2) / np.sum(w * (y - mean) ** 2))


q2 = Exercise(
    2, "the weighted R^2",
    reference=weighted_r2,
    examples=_fit_examples,
    why="The weighted R^2 (lime's `score`) measures how well the surrogate fits where the kernel looks: a "
        "low value says the linear story does not hold even locally, and the weights should not be trusted.",
    hint_text="R^2 = 1 - (weighted sum of squared residuals) / (weighted sum of squared deviations from the "
              "*weighted* mean of y). Every sum carries the weights w, and so does the mean.",
    mistakes=(
        Mistake("You computed the ordinary, unweighted R^2: LIME's fit is judged where the kernel looks, so "
                "weight every squared residual and deviation by w.",
                lambda y, y_hat, w: float(1 - np.sum((y - y_hat) ** 2) / np.sum((y - y.mean()) ** 2))),
        Mistake("You weighted the sums but took the plain mean of y: the deviations are from the weighted mean, "
                "np.sum(w * y) / np.sum(w).",
                lambda y, y_hat, w: float(1 - np.sum(w * (y - y_hat) ** 2) / np.sum(w * (y - y.mean()) ** 2))),
        Mistake("You returned the ratio of the residual to the total sum of squares: R^2 is 1 minus that ratio.",
                lambda y, y_hat, w: float(np.sum(w * (y - y_hat) ** 2)
                                          / np.sum(w * (y - np.sum(w * y) / np.sum(w)) ** 2))),
    ),
)


def _surrogate_examples() -> list[tuple]:
    """(X, y, w) neighbourhoods, the second restricted to three features."""
    X1, y1, w1 = _neighbourhood(1)
    X2, y2, w2 = _neighbourhood(2)
    return [(X1, y1, w1), (X2[:, [0, 1, 3]], y2, w2)]


def fit_surrogate(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The weights (one per column of X, intercept excluded) of the weighted least-squares fit of y on X."""
    A = np.c_[np.ones(len(X)), X]
    root = np.sqrt(w)
    coef = np.linalg.lstsq(A * root[:, None], y * root, rcond=None)[0]
    return coef[1:]


def _unweighted_fit(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(np.c_[np.ones(len(X)), X], y, rcond=None)[0][1:]


def _fit_without_intercept(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    root = np.sqrt(w)
    return np.linalg.lstsq(X * root[:, None], y * root, rcond=None)[0]


def _fit_weights_squared(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    A = np.c_[np.ones(len(X)), X]
    return np.linalg.lstsq(A * w[:, None], y * w, rcond=None)[0][1:]


q3 = Exercise(
    3, "the weighted surrogate",
    reference=fit_surrogate,
    examples=_surrogate_examples,
    why="These weights are LIME's explanation: the local slopes of the black box's probability, per standard "
        "deviation of each feature, fitted where the kernel looks (lime adds a small ridge penalty on top).",
    hint_text="Minimise sum_i w_i (y_i - b - X_i @ beta)^2. Add a column of ones for the intercept b, multiply "
              "every row of [1, X] and every y_i by sqrt(w_i), and solve with np.linalg.lstsq; return beta "
              "without b. (sklearn's LinearRegression().fit(X, y, sample_weight=w).coef_ is the same.)",
    mistakes=(
        Mistake("Your fit ignores the kernel weights: this is a global linear fit. Scale each row of [1, X] and "
                "each y by sqrt(w) (or pass sample_weight=w).", _unweighted_fit),
        Mistake("You forgot the intercept: without a column of ones the line is forced through the origin and "
                "the slopes absorb the mean probability. Add np.ones as the first column and drop its "
                "coefficient at the end.", _fit_without_intercept),
        Mistake("You multiplied the rows by w instead of sqrt(w): least squares squares the residuals, so that "
                "weights each sample by w^2. Use np.sqrt(w).", _fit_weights_squared),
    ),
)


def _selection_examples() -> list[tuple]:
    """(X, y, w, k) neighbourhoods and how many features to choose."""
    X1, y1, w1 = _neighbourhood(1)
    X2, y2, w2 = _neighbourhood(2)
    return [(X1, y1, w1, 3), (X2, y2, w2, 3)]


def forward_selection(X: np.ndarray, y: np.ndarray, w: np.ndarray, k: int) -> list[int]:
    """The k columns of X chosen greedily, each the one that most raises the weighted R^2, in the order chosen."""
    def score(cols: list[int]) -> float:
        A = np.c_[np.ones(len(X)), X[:, cols]]
        root = np.sqrt(w)
        coef = np.linalg.lstsq(A * root[:, None], y * root, rcond=None)[0]
        mean = np.sum(w * y) / np.sum(w)
        return 1 - np.sum(w * (y - A @ coef) ** 2) / np.sum(w * (y - mean) ** 2)

    chosen: list[int] = []
    for _ in range(k):
        rest = [j for j in range(X.shape[1]) if j not in chosen]
        chosen.append(max(rest, key=lambda j: score(chosen + [j])))
    return chosen


def _unweighted_selection(X: np.ndarray, y: np.ndarray, w: np.ndarray, k: int) -> list[int]:
    return forward_selection(X, y, np.ones_like(w), k)


def _best_alone(X: np.ndarray, y: np.ndarray, w: np.ndarray, k: int) -> list[int]:
    alone = [weighted_r2(y, _single_fit(X[:, j], y, w), w) for j in range(X.shape[1])]
    return [int(j) for j in np.argsort(alone)[::-1][:k]]


def _single_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    A = np.c_[np.ones(len(x)), x]
    return A @ np.linalg.lstsq(A * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]


def _largest_weights(X: np.ndarray, y: np.ndarray, w: np.ndarray, k: int) -> list[int]:
    return [int(j) for j in np.argsort(np.abs(fit_surrogate(X, y, w)))[::-1][:k]]


q4 = Exercise(
    4, "forward selection",
    reference=forward_selection,
    examples=_selection_examples,
    why="Greedy selection asks at each step which feature adds most *given the ones already chosen*: of two "
        "correlated features only one is picked, because the second adds little once the first is in.",
    hint_text="Keep a list `chosen`. k times: for every column j not yet chosen, fit the weighted surrogate on "
              "chosen + [j] (with an intercept) and compute its weighted R^2; append the j with the highest "
              "score. Fit as in exercise 3 but keep the intercept to predict, then score with your weighted_r2.",
    mistakes=(
        Mistake("You scored the candidates with the unweighted R^2 (or an unweighted fit): the selection must "
                "be judged where the kernel looks, with the weights w.", _unweighted_selection),
        Mistake("You ranked each feature by its R^2 *alone* and took the k best: that picks correlated features "
                "twice. Score each candidate together with the features already chosen.", _best_alone),
        Mistake("You took the k largest |weights| of one fit on all features: that is lime's 'highest_weights' "
                "option, not forward selection. Add one feature at a time, re-fitting with those already chosen.",
                _largest_weights),
    ),
)

EXERCISES = (q1, q2, q3, q4)
