"""Occlusion (Zeiler & Fergus, 2014): slide a grey patch over the image and watch the class score drop.

Introduced in notebook 08. The most literal perturbation method: for every position of a
``window`` x ``window`` patch (moved by ``stride``), replace the pixels under it by ``baseline`` and
record how much the target's score falls; each pixel's value is the average drop over the windows
that cover it. Positive = hiding this region hurts the class (evidence for it); negative = hiding it
helps. A region the model ignores gets exactly zero.

Score: the target's *probability* by default, as in Zeiler & Fergus, because a drop in probability
reads directly ("hiding the head costs 0.6 of the cat's probability") and stays bounded.
``output="logit"`` uses the pre-softmax logit instead, which does not saturate: for a prediction at
0.999 one patch rarely moves the probability, while the logit still shows which patch matters.

Cost: one model call per window position plus one for the image; 224 px with window 32 and
stride 16 gives 13 x 13 = 169 positions.
"""
from __future__ import annotations

import numpy as np

from utils.explain import base
from utils.explain.baselines import Baseline
from utils.explain.perturbation import fill_image, score_batches
from utils.explain.registry import explainer


def window_positions(size: int, window: int, stride: int) -> np.ndarray:
    """Start offsets of a window sliding over ``size`` pixels, the last one flush with the edge."""
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return np.array(starts)


@explainer("occlusion", family="perturbation", signed=True, needs_gradients=False, quick={"window": 32, "stride": 32},
           order=3)
def occlusion(model, image: np.ndarray, target: int, *, window: int = 32, stride: int = 16,
              baseline: Baseline = 127.0, output: str = "probability", batch_size: int = base.DEFAULT_BATCH_SIZE,
              progress: bool | None = None) -> np.ndarray:
    """Occlusion map of class ``target``: the average drop of its score when a patch covers each pixel.

    ``baseline`` is what the patch shows (:mod:`utils.explain.baselines`): a grey value (default 127,
    which the zoo models' scaling maps to about zero), ``"blur"``, ``"mean"`` (the image's mean
    colour), ``"black"``, ``"noise"`` or an (H, W, 3) image. ``output``: ``"probability"`` or ``"logit"``.
    Deterministic (no sampling), so it takes no seed. Returns an (H, W) float32 map.
    """
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    base.check_output(output)
    height, width = image.shape[:2]
    window, stride = base.check_count("window", window), base.check_count("stride", stride)
    batch_size = base.check_count("batch_size", batch_size)
    if window > min(height, width):
        raise ValueError(f"window={window} is larger than the image ({height}x{width}).")
    fill = fill_image(image, baseline=baseline)
    ys, xs = window_positions(height, window, stride), window_positions(width, window, stride)
    corners = np.array([(y, x) for y in ys for x in xs])
    n = len(corners) + 1  # image 0 is the unoccluded image

    def build(start, stop, buffer):
        batch = buffer[:stop - start] if buffer is not None else np.empty((stop - start, *image.shape), np.float32)
        batch[:] = image
        for row, index in enumerate(range(start, stop)):
            if index > 0:
                y, x = corners[index - 1]
                batch[row, y:y + window, x:x + window] = fill[y:y + window, x:x + window]
        return batch

    scores = score_batches(model, build, n, target, batch_size=batch_size, output=output,
                           show_progress=progress, desc="occlusion").astype(np.float64)
    drops = scores[0] - scores[1:]
    total = np.zeros((height, width))
    count = np.zeros((height, width))
    for (y, x), drop in zip(corners, drops):
        total[y:y + window, x:x + window] += drop
        count[y:y + window, x:x + window] += 1
    return (total / count).astype(np.float32)
