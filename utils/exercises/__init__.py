"""Exercises with feedback for every notebook: ``from utils.exercises.nb05 import q1, q2, q3``.

Each module ``nbNN`` holds the exercises that end notebook NN, their reference solutions and the mistakes
their checks recognise; :mod:`utils.exercises.core` holds the checking machinery they share.
"""
from __future__ import annotations

import importlib
import pkgutil

from utils.exercises.core import Exercise, Feedback, Mistake

__all__ = ["Exercise", "Feedback", "Mistake", "all_exercises"]


def all_exercises() -> dict[str, list[Exercise]]:
    """Every notebook module's ``EXERCISES``, keyed by module name (``"nb05"``), in notebook order."""
    found = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("nb")):
        found[module] = list(importlib.import_module(f"{__name__}.{module}").EXERCISES)
    return found
