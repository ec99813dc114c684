"""RISE (Petsiuk, Das & Saenko, 2018): importance from randomly masked images.

Introduced in notebook 08. Show the model many images in which random smooth masks hide parts of
the picture; a pixel's importance is the model's average score over the masks that kept it, each
mask weighted by how much of the pixel it kept:

    S(pixel) = sum_i f(image * M_i) M_i(pixel) / sum_i M_i(pixel)

the estimate of E[f | pixel kept]. The paper divides by N p instead (N masks, p the keep
probability), which has the same expectation (every pixel's mean mask value is exactly p) but adds
the mean score times each pixel's coverage noise, (sum_i M_i(pixel) - N p) / (N p): for a confident
class that noise is larger than the map's own spatial spread. Dividing by the coverage removes it
(on 5 bundled photos at 1000 masks, two seeds' maps agree at Pearson r 0.88-0.97 instead of 0.44-0.69;
benchmarks/results measures it).

The masks follow the authors' ``generate_masks`` (github.com/eclique/RISE): an s x s binary grid
(default 7 x 7), each cell kept with probability p = 0.5, upsampled bilinearly (pixel-centre
aligned, mirrored at the border, as skimage's ``resize(order=1, mode="reflect")``) to
(s + 1) * cell pixels with cell = ceil(H / s), so one grid cell spans (s + 1) * cell / s pixels
(36.6 px for 7 cells on 224 px); then cropped at a random shift in [0, cell) so the grid's edges
fall anywhere. Hidden pixels become ``baseline`` (0 = black, the paper's choice). The score is the
target's probability, as in the paper (``output="logit"`` for the logit).

Cost: N model calls (default 1000). The masks are built batch by batch as two small matrix products
per mask (the bilinear upsampling is separable), never all at once (1000 masks at 224 px: 200 MB).
"""
from __future__ import annotations

import numpy as np

from utils.explain import base
from utils.explain.baselines import Baseline
from utils.explain.perturbation import fill_image, score_batches
from utils.explain.registry import explainer


def upsampling_matrix(cells: int, size: int) -> np.ndarray:
    """(size, cells) weights of bilinear upsampling from ``cells`` to ``size`` samples along one axis.

    Pixel-centre aligned (output pixel u sits at input coordinate (u + 0.5) * cells / size - 0.5) and
    mirrored about the first and last cell centres outside them, which is what skimage's
    ``resize(grid, ..., order=1, mode="reflect", anti_aliasing=False)`` computes; the 2-D upsampled
    grid is ``A_rows @ grid @ A_cols.T``.
    """
    weights = np.zeros((size, cells))
    if cells == 1:
        weights[:, 0] = 1.0
        return weights
    coords = np.abs((np.arange(size) + 0.5) * cells / size - 0.5)
    coords = np.where(coords > cells - 1, 2 * (cells - 1) - coords, coords)
    low = np.clip(np.floor(coords).astype(int), 0, cells - 2)
    frac = coords - low
    rows = np.arange(size)
    weights[rows, low] += 1.0 - frac
    weights[rows, low + 1] += frac
    return weights


def rise_masks(count: int, height: int, width: int, cells: int, p_keep: float,
               random: np.random.Generator) -> np.ndarray:
    """``count`` smooth random masks in [0, 1], float32 of shape (count, height, width).

    The authors' geometry (see the module docstring): a ``cells`` x ``cells`` Bernoulli(``p_keep``)
    grid upsampled bilinearly to (cells + 1) * cell pixels, cell = ceil(side / cells), cropped at a
    random shift in [0, cell). The upsampling is separable, so each mask is the crop's rows of the
    row weights times the grid times the crop's columns of the column weights.
    """
    cell_h, cell_w = int(np.ceil(height / cells)), int(np.ceil(width / cells))
    grids = (random.random((count, cells, cells)) < p_keep).astype(np.float32)
    shifts = random.integers(0, [cell_h, cell_w], size=(count, 2))
    up_rows = upsampling_matrix(cells, (cells + 1) * cell_h).astype(np.float32)
    up_cols = upsampling_matrix(cells, (cells + 1) * cell_w).astype(np.float32)
    rows = up_rows[shifts[:, :1] + np.arange(height)[None]]   # (count, height, cells): the crop's rows
    cols = up_cols[shifts[:, 1:] + np.arange(width)[None]]    # (count, width, cells)
    return rows @ grids @ cols.transpose(0, 2, 1)


@explainer("rise", family="perturbation", signed=False, needs_gradients=False, stochastic=True, budget="num_samples",
           quick={"num_samples": 500}, order=4)
def rise(model, image: np.ndarray, target: int, *, num_samples: int = 1000, cells: int = 7, p_keep: float = 0.5,
         baseline: Baseline = 0.0, output: str = "probability", seed: int | None = 0,
         batch_size: int = base.DEFAULT_BATCH_SIZE, progress: bool | None = None) -> np.ndarray:
    """RISE map of class ``target``: the masks' score-weighted average at each pixel, over the masks' coverage.

    ``num_samples``: the number of random masks (model calls); ``cells``: the mask grid (cells x cells);
    ``p_keep``: probability a cell is kept; ``baseline``: what masked pixels show
    (:mod:`utils.explain.baselines`: 0 = black as in the paper, a grey value, ``"blur"``, ``"mean"``,
    ``"noise"`` drawn with ``seed``, or an image).
    Each pixel's value is sum_i f_i M_i / sum_i M_i, in the units of the score (a probability, or a
    logit with ``output="logit"``): a constant model gives its constant everywhere. A pixel no mask
    covered (possible only with a handful of masks) gets the mean score (no evidence either way).
    Returns an (H, W) float32 map (same seed, same map).
    """
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    base.check_output(output)
    num_samples = base.check_count("num_samples", num_samples)
    batch_size = base.check_count("batch_size", batch_size)
    seed = base.check_seed(seed)
    if isinstance(cells, (bool, np.bool_)) or not isinstance(cells, (int, np.integer)) \
            or not 1 <= cells <= min(image.shape[:2]):
        raise ValueError(f"cells must be an integer between 1 and the image side, got {cells!r}.")
    if isinstance(p_keep, (bool, np.bool_)) or not isinstance(p_keep, (int, float, np.number)) or not 0 < p_keep < 1:
        raise ValueError(f"p_keep must lie strictly between 0 and 1, got {p_keep}.")
    height, width = image.shape[:2]
    fill = fill_image(image, baseline=baseline, seed=seed)
    difference = image - fill
    random = base.rng(seed)
    weighted = np.zeros((height, width), np.float64)   # sum_i f_i M_i
    coverage = np.zeros((height, width), np.float64)   # sum_i M_i

    current = {}  # the batch's masks, shared by build and accumulate

    def build(start, stop, buffer):
        current["masks"] = masks = rise_masks(stop - start, height, width, cells, p_keep, random)
        batch = buffer[:stop - start] if buffer is not None else np.empty((stop - start, *image.shape), np.float32)
        np.multiply(masks[..., None], difference[None], out=batch)
        batch += fill[None]
        return batch

    def accumulate(start, stop, scores):
        masks = current["masks"]
        weighted[:] += np.tensordot(scores.astype(np.float64), masks, axes=1)
        coverage[:] += masks.sum(axis=0, dtype=np.float64)

    scores = score_batches(model, build, num_samples, target, batch_size=batch_size, output=output,
                           show_progress=progress, desc="RISE", consume=accumulate)
    covered = coverage > 0
    saliency = np.full((height, width), float(np.mean(scores, dtype=np.float64)))
    np.divide(weighted, coverage, out=saliency, where=covered)
    return saliency.astype(np.float32)
