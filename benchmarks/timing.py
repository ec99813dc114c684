"""Wall-clock timing that is fair on a busy 2-core CPU (warm-up first, then the median of repeats), and the
speed probe that scales a time recorded on one machine to another."""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from utils.explain import base


def time_call(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> dict[str, float]:
    """Median, min and max seconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls.

    The warm-up call pays for tracing/compilation, which a user pays once per session, not per map.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "repeats": len(times)}


def forward_seconds(model, n: int, batch_size: int = base.DEFAULT_BATCH_SIZE, repeats: int = 3,
                    seed: int = 0) -> dict[str, float]:
    """Seconds for ``n`` raw forward passes in compiled batches of ``batch_size`` (what bounds perturbation)."""
    size = model.inputs[0].shape[1:]
    batch = tf.constant(np.random.default_rng(seed).uniform(0, 255, (batch_size, *size)).astype(np.float32))
    fn = base.forward_fn(model)
    full, rest = divmod(n, batch_size)
    tail = batch[:rest] if rest else None

    def run():
        for _ in range(full):
            fn(batch).numpy()
        if tail is not None:
            fn(tail).numpy()

    return time_call(run, repeats=repeats, warmup=1)


def forward_backward_seconds(model, n: int, batch_size: int = base.DEFAULT_BATCH_SIZE, repeats: int = 3,
                             target: int = 0, seed: int = 0) -> dict[str, float]:
    """Seconds for ``n`` forward+backward passes (gradient of one logit w.r.t. the input) in compiled batches."""
    size = model.inputs[0].shape[1:]
    images = np.random.default_rng(seed).uniform(0, 255, (n, *size)).astype(np.float32)
    return time_call(lambda: base.logit_gradients(model, images, target, batch_size=batch_size),
                     repeats=repeats, warmup=1)


def throughput(model, batches=(1, 16, 32, 64), repeats: int = 3) -> dict[str, dict[str, float]]:
    """Images per second of the compiled forward and forward+backward at each batch size."""
    out = {}
    for b in batches:
        fwd = forward_seconds(model, b, batch_size=b, repeats=repeats)["median_s"]
        both = forward_backward_seconds(model, b, batch_size=b, repeats=repeats)["median_s"]
        out[str(b)] = {"forward_images_per_s": b / fwd, "forward_backward_images_per_s": b / both,
                       "forward_s": fwd, "forward_backward_s": both}
    return out


SPEED_BATCH = 16  # images per batch of the speed probe that scales recorded times to this machine


def machine_speed(model) -> float:
    """This machine's compiled forward+backward images per second of ``model`` at :data:`SPEED_BATCH` images
    (one warm-up and one timed batch: about 3 s for Lite0 on 2 cores). Processors differ by 2x or more on
    the same code (AVX-512 or not), so a time recorded elsewhere is scaled by the ratio of the two speeds."""
    entry = throughput(model, (SPEED_BATCH,), repeats=1)[str(SPEED_BATCH)]
    return float(entry["forward_backward_images_per_s"])


def recorded_speed(results: dict) -> float | None:
    """The :func:`machine_speed` of the machine that wrote ``results``: its ``speed`` entry (written by ``--data``
    runs), else its throughput part at :data:`SPEED_BATCH`; None when it has neither."""
    if results.get("speed"):
        return float(results["speed"])
    entry = results.get("parts", {}).get("throughput", {}).get("throughput", {}).get(str(SPEED_BATCH))
    return float(entry["forward_backward_images_per_s"]) if entry else None


def slowdown(recorded: float | None, here: float | None) -> float:
    """How many times longer this machine takes than the recording one (1 when either speed is unknown)."""
    return recorded / here if recorded and here else 1.0
