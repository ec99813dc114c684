"""Checks of the options every lesson's functions share (counts, seeds), free of TensorFlow.

The tabular and text lessons use them without importing TensorFlow; the image explainers get them
through :mod:`utils.explain.base`. Each raises a one-line ValueError that names the option.
"""
from __future__ import annotations

import numpy as np


def check_seed(seed) -> int | None:
    """Return ``seed`` if it is a whole number >= 0 or None; raise a ValueError that names ``seed`` otherwise."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0 (e.g. seed=0) or None, got {seed!r}.")
    return int(seed)


def check_count(name: str, value, minimum: int = 1) -> int:
    """Return a count option (``num_samples``, ``num_features``, ...) as an int; a ValueError naming it otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
    return int(value)
