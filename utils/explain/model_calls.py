"""Every model evaluation of every explainer goes through one place: a compiled function that counts.

:func:`compiled` builds a model function once per model and kind (a ``tf.function``: 8-16x faster than
calling a Keras model eagerly), caches it on the model object, and wraps it so that each call adds the
number of images it evaluated to every open :func:`count_model_calls` block. The count is taken from
the function's first output (one row per image), so a method cannot forget to report its calls: the
benchmark's "model calls" column is what the model actually saw.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

_COUNTERS: list[list[int]] = []


@contextlib.contextmanager
def count_model_calls() -> Iterator[list[int]]:
    """Count the images the model evaluates in this block (forward passes and gradients alike).

    ``with count_model_calls() as n: ...`` then ``n[0]`` is the number of images evaluated.
    """
    counter = [0]
    _COUNTERS.append(counter)
    try:
        yield counter
    finally:
        _COUNTERS.remove(counter)


def _counting(fn: Callable) -> Callable:
    """``fn`` that adds the length of its first output to the open counters after each call."""

    def run(*args):
        out = fn(*args)
        first = out[0] if isinstance(out, (tuple, list)) else out
        for counter in _COUNTERS:
            counter[0] += int(first.shape[0])
        return out

    return run


def compiled(model, kind: str, build: Callable[[], Callable]) -> Callable:
    """The function ``build()`` for ``model``, built once per model and ``kind`` and counting its images.

    ``build`` returns a function of a batch (a compiled ``tf.function``) whose first output has one row
    per image the model evaluated, e.g. logits (n, classes), or (scores (n,), gradients (n, H, W, 3)).
    The cache lives on the model object, so a new model (or a clone) gets its own functions.
    """
    cache = model.__dict__.setdefault("_course_compiled", {})
    if kind not in cache:
        cache[kind] = _counting(build())
    return cache[kind]
