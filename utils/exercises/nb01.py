"""Exercises of notebook 01 (interpretable models): reading and using a logistic regression by hand.

The checks run on small synthetic weights, standard deviations and penguin-like measurements (one of them the
notebook's own four numerical weights and standard deviations); no model is trained.
"""
from __future__ import annotations

import numpy as np

from utils.exercises.core import Exercise, Mistake

# The notebook's standardised weights (per sd) and training standard deviations of the four numerical features:
# bill length, bill depth, flipper length (mm), body mass (g).
_PENGUIN_WEIGHTS = np.array([3.4517, -0.4567, 0.2452, -0.4793])
_PENGUIN_SD = np.array([5.492, 1.177, 7.361, 441.5])
_PENGUIN_MEAN = np.array([41.97, 18.37, 191.85, 3724.3])


def _weight_examples() -> list[tuple]:
    """Weights per standard deviation and the standard deviations (in mm or g): the notebook's, and random ones."""
    rng = np.random.default_rng(1)
    return [(_PENGUIN_WEIGHTS, _PENGUIN_SD),
            (rng.normal(0.0, 1.5, 6), rng.uniform(0.5, 12.0, 6))]


def odds_ratio_per_unit(weight_per_sd: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """The factor by which the odds change for one more unit (mm, g) of each feature."""
    return np.exp(weight_per_sd / sd)


q1 = Exercise(
    1, "odds ratio per unit",
    reference=odds_ratio_per_unit,
    examples=_weight_examples,
    why="A weight fitted on standardised inputs is per standard deviation; per millimetre it is divided by the "
        "sd, and exp turns a change in log-odds into a factor on the odds. Always say which unit a weight is in.",
    hint_text="One more mm is 1/sd standard deviations, so the log-odds change by weight / sd; the odds are "
              "multiplied by exp of that change.",
    mistakes=(
        Mistake("You returned the change in log-odds, not the odds ratio: exponentiate it (np.exp).",
                lambda weight_per_sd, sd: weight_per_sd / sd),
        Mistake("You forgot to divide by the standard deviation: exp(weight) is the odds ratio per *sd*; per unit "
                "it is exp(weight / sd).",
                lambda weight_per_sd, sd: np.exp(weight_per_sd)),
        Mistake("You multiplied by the standard deviation: one unit is 1/sd standard deviations, so divide.",
                lambda weight_per_sd, sd: np.exp(weight_per_sd * sd)),
        Mistake("You divided the odds ratio per sd by the sd: divide the *weight* (the log-odds) first, then "
                "exponentiate.",
                lambda weight_per_sd, sd: np.exp(weight_per_sd) / sd),
    ),
)


def _model_examples() -> list[tuple]:
    """Standardised inputs Z (penguins x features), weights w and an intercept b, two sizes."""
    rng = np.random.default_rng(2)
    cases = []
    for rows, bias in ((8, -0.71), (15, 1.3)):
        Z = rng.normal(0.0, 1.0, (rows, 4))
        cases.append((Z, _PENGUIN_WEIGHTS * rng.uniform(0.5, 1.0, 4), bias))
    return cases


def probability_by_hand(Z: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """P(class 1) of a logistic regression for each row of standardised inputs Z."""
    log_odds = Z @ w + b
    return 1 / (1 + np.exp(-log_odds))


q2 = Exercise(
    2, "the probability by hand",
    reference=probability_by_hand,
    examples=_model_examples,
    why="This is all a logistic regression does: a weighted sum plus the bias gives the log-odds, and the "
        "sigmoid maps them to a probability. Nothing else is hidden in the model.",
    hint_text="The log-odds are Z @ w + b (one number per row); the probability is the sigmoid of the log-odds, "
              "1 / (1 + exp(-log_odds)).",
    mistakes=(
        Mistake("You forgot the intercept b: the log-odds are Z @ w + b, and the bias is the log-odds of the "
                "reference penguin.",
                lambda Z, w, b: 1 / (1 + np.exp(-(Z @ w)))),
        Mistake("You returned the log-odds: apply the sigmoid, 1 / (1 + exp(-log_odds)), to get a probability.",
                lambda Z, w, b: Z @ w + b),
        Mistake("You returned the odds, exp(log-odds): a probability is odds / (1 + odds), i.e. the sigmoid.",
                lambda Z, w, b: np.exp(Z @ w + b)),
        Mistake("You computed P(class 0): the sigmoid of +log-odds is the probability of class 1; you have "
                "1 - p (check the sign inside exp).",
                lambda Z, w, b: 1 / (1 + np.exp(Z @ w + b))),
    ),
)


def _penguin_examples() -> list[tuple]:
    """Raw measurements x of one penguin, the weights per sd, the training means and sds."""
    rng = np.random.default_rng(3)
    cases = [(np.array([42.5, 16.7, 187.0, 3350.0]), _PENGUIN_WEIGHTS, _PENGUIN_MEAN, _PENGUIN_SD)]
    for _ in range(2):
        x = _PENGUIN_MEAN + rng.normal(0.0, 1.2, 4) * _PENGUIN_SD
        cases.append((x, _PENGUIN_WEIGHTS * rng.uniform(0.5, 1.5, 4), _PENGUIN_MEAN, _PENGUIN_SD))
    return cases


def contributions(x: np.ndarray, w: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Each feature's contribution to one penguin's log-odds (the waterfall's bars), from raw measurements."""
    return w * (x - mean) / sd


q3 = Exercise(
    3, "the waterfall's contributions",
    reference=contributions,
    examples=_penguin_examples,
    why="Bias plus these contributions is the model's log-odds, exactly: a local explanation that adds up. A "
        "feature at its training mean contributes nothing, however large its weight.",
    hint_text="The model sees standardised inputs, z = (x - mean) / sd; a feature's contribution is its weight "
              "times its z. Keep the sign: it says whether the feature pushes towards the class or away.",
    mistakes=(
        Mistake("You forgot to subtract the mean: the model sees (x - mean) / sd, so a penguin at the training "
                "mean contributes 0.",
                lambda x, w, mean, sd: w * x / sd),
        Mistake("You forgot to divide by the standard deviation: the weights are per sd, so use (x - mean) / sd.",
                lambda x, w, mean, sd: w * (x - mean)),
        Mistake("You took absolute values: a contribution's sign says whether the feature pushes towards "
                "Chinstrap (+) or towards Adelie (-); keep it.",
                lambda x, w, mean, sd: np.abs(w * (x - mean) / sd)),
    ),
)


def _boundary_examples() -> list[tuple]:
    """P(class 1) of a few penguins, one feature's weight per sd and that feature's sd."""
    return [(np.array([0.625, 0.9, 0.2, 0.05]), 3.4517, 5.492),
            (np.array([0.7, 0.3, 0.99]), -0.4567, 1.177)]


def change_to_boundary(p: np.ndarray, weight_per_sd: float, sd: float) -> np.ndarray:
    """How many units one feature must change (others fixed) to bring each prediction to P = 0.5."""
    log_odds = np.log(p / (1 - p))
    return -log_odds * sd / weight_per_sd


q4 = Exercise(
    4, "the change to the decision boundary",
    reference=change_to_boundary,
    examples=_boundary_examples,
    why="A linear model's counterfactual has a closed form: the boundary is where the log-odds are 0, and each "
        "unit of the feature moves them by weight / sd. For the notebook's penguin (P = 0.625) a bill 0.8 mm "
        "shorter makes it a coin flip.",
    hint_text="Convert p to log-odds, log(p / (1 - p)); P = 0.5 means log-odds 0. One unit of the feature "
              "changes the log-odds by weight / sd, so the change needed is -log_odds / (weight / sd); the sign "
              "says in which direction.",
    mistakes=(
        Mistake("You worked with p - 0.5 instead of the log-odds: the model is linear in the log-odds, "
                "log(p / (1 - p)), not in the probability.",
                lambda p, weight_per_sd, sd: -(p - 0.5) * sd / weight_per_sd),
        Mistake("Your change has the wrong sign: moving by your answer pushes the prediction further from 0.5. "
                "The log-odds must go *down* to 0 when p > 0.5 and the weight is positive.",
                lambda p, weight_per_sd, sd: np.log(p / (1 - p)) * sd / weight_per_sd),
        Mistake("You forgot the standard deviation: -log_odds / weight is the change in *sd*; multiply by sd to "
                "get millimetres (or grams).",
                lambda p, weight_per_sd, sd: -np.log(p / (1 - p)) / weight_per_sd),
    ),
)

EXERCISES = (q1, q2, q3, q4)
