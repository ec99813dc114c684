"""RISE (Petsiuk, Das & Saenko, 2018): importance from randomly masked images.

Introduced in notebook 08. Show the model many images in which random smooth masks hide parts of
the picture; a pixel's importance is the model's average score over the masks that kept it:

    S(pixel) = 1 / (N p) * sum_i f(image * M_i) M_i(pixel)

The masks, as in the paper: an s x s grid of cells (default 7 x 7), each kept with probability
p = 0.5; upsampled bilinearly to (s + 1) * cell pixels, cell = ceil(H / s); then cropped at a random
shift in [0, cell) so the grid's edges fall anywhere. Hidden pixels become ``hide`` (0 = black, the
paper's choice). The score is the target's probability, as in the paper.

Cost: N model calls (default 1000). The masks are built batch by batch (vectorised: cv2 resize of
the small grids, one multiply-add per batch), never all at once (1000 masks would be 200 MB).
"""
from __future__ import annotations

import numpy as np

from . import base
from .segmentation import Hide, fill_image, score_batches


def rise_masks(count: int, height: int, width: int, cells: int, p_keep: float,
               random: np.random.Generator, out: np.ndarray | None = None) -> np.ndarray:
    """``count`` smooth random masks in [0, 1], float32 of shape (count, height, width, 3).

    Three identical channels, so that masking is a same-shape multiply (numpy's broadcast over a
    trailing axis of 1 is several times slower). ``out`` is an optional buffer to fill.
    """
    import cv2

    cell_h, cell_w = int(np.ceil(height / cells)), int(np.ceil(width / cells))
    grids = (random.random((count, cells, cells)) < p_keep).astype(np.float32)
    shifts = random.integers(0, [cell_h, cell_w], size=(count, 2))
    up_h, up_w = (cells + 1) * cell_h, (cells + 1) * cell_w
    masks = out[:count] if out is not None else np.empty((count, height, width, 3), np.float32)
    for i in range(count):
        # Pad the grid by one cell so the shifted crop never runs off the upsampled mask.
        padded = np.repeat(np.pad(grids[i], ((0, 1), (0, 1)), mode="edge")[..., None], 3, axis=-1)
        big = cv2.resize(padded, (up_w, up_h), interpolation=cv2.INTER_LINEAR)
        dy, dx = shifts[i]
        masks[i] = big[dy:dy + height, dx:dx + width]
    return masks


@base.register("rise")
def rise(model, image: np.ndarray, target: int, *, num_masks: int = 1000, cells: int = 7, p_keep: float = 0.5,
         hide: Hide = 0.0, logits: bool = False, seed: int | None = 0, batch_size: int = base.DEFAULT_BATCH_SIZE,
         progress: bool | None = None) -> np.ndarray:
    """RISE map of class ``target``: the score-weighted average of ``num_masks`` random masks, / p_keep.

    ``cells``: the mask grid (cells x cells); ``p_keep``: probability a cell is kept; ``hide``: what
    masked pixels show (0 = black as in the paper, a grey value, ``"blur"`` or an image).
    Returns an (H, W) float32 map (same seed, same map).
    """
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    if not isinstance(num_masks, (int, np.integer)) or num_masks < 1:
        raise ValueError(f"num_masks must be a positive integer, got {num_masks!r} (the paper uses 4000-8000).")
    if not isinstance(cells, (int, np.integer)) or not 1 <= cells <= min(image.shape[:2]):
        raise ValueError(f"cells must be an integer between 1 and the image side, got {cells!r}.")
    if not 0 < p_keep < 1:
        raise ValueError(f"p_keep must lie strictly between 0 and 1, got {p_keep}.")
    height, width = image.shape[:2]
    fill = fill_image(image, np.zeros((height, width), np.int64), hide)
    difference = image - fill
    random = base.rng(seed)
    saliency = np.zeros((height, width), np.float64)

    mask_buffer = np.empty((min(batch_size, num_masks), height, width, 3), np.float32)

    def build(start, stop, buffer):
        masks = rise_masks(stop - start, height, width, cells, p_keep, random, out=mask_buffer)
        batch = buffer[:stop - start] if buffer is not None else np.empty((stop - start, *image.shape), np.float32)
        np.multiply(masks, difference[None], out=batch)
        batch += fill[None]
        return batch

    def accumulate(start, stop, scores):
        saliency[:] += np.tensordot(scores.astype(np.float64), mask_buffer[:stop - start, :, :, 0], axes=1)

    score_batches(model, build, num_masks, target, batch_size=batch_size, logits=logits,
                  show_progress=progress, desc="RISE", consume=accumulate)
    return (saliency / (num_masks * p_keep)).astype(np.float32)
