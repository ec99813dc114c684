"""Images with a planted cue: a data set where we *know* what a classifier looks at.

Introduced in notebook 08 (comparing explainers), used by ``scripts/train_cue_models.py``, the
``"cue_resnet"``/``"cue_mobilenet"`` zoo models, ``utils.evaluation.metrics`` and ``benchmarks/``.

Every image is a background of blurred, coloured blobs plus a few small squares of coloured noise,
drawn from the *same* distribution whatever the class, so the background carries no information.
A small class-specific cue (an 8x8 two-colour pattern: a checkerboard, stripes or square rings) is
painted at a random position; the cue alone decides the class. With each image comes the cue's binary
mask: the ground truth that explanations are scored against (pointing game, relevance mass).

The same background can be drawn without its cue (``cue="removed"``) or with another class's cue at
the same place (``cue="swapped"``): a model that relies on the cue falls to chance on the first and
follows the cue on the second (the model card in ``data/models/MODEL_CARD.md`` measures both).

Image ``i`` of ``make_cue_images(n, seed)`` depends only on ``(seed, i)``, and is built with integer
arithmetic only (no ``exp``, ``sin`` or Gaussian noise, whose last bits may differ between
processors), so a test set regenerated from its seed is bit-identical on every machine:
:func:`checksum` proves it against the value recorded in ``data/models/cue_models.json``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 64
CUE_SIZE = 8
CLASS_NAMES = ("checker", "stripes", "rings")
# The two colours of each class's cue pattern.
CUE_COLOURS = (
    ((235, 40, 40), (255, 255, 255)),   # checker: red / white
    ((30, 190, 60), (0, 0, 0)),         # stripes: green / black
    ((40, 80, 255), (255, 225, 0)),     # rings: blue / yellow
)
# Seeds of the committed models' splits (scripts/train_cue_models.py); the test set is regenerated
# from TEST_SEED and checked against its recorded checksum.
TRAIN_SEED, VALIDATION_SEED, TEST_SEED = 0, 1, 2
CUE_MODES = ("present", "removed", "swapped")


@dataclass(frozen=True)
class CueImages:
    """A batch of planted-cue images.

    ``images``: (N, H, W, 3) float32 in [0, 255]; ``masks``: (N, H, W) bool, True on the cue's pixels
    (where the cue is or would be: also set when the cue was removed); ``labels``: (N,) int64, the class
    the image was drawn for; ``cue_labels``: (N,) int64, the class of the cue actually painted (-1 when
    removed, another class when swapped); ``positions``: (N, 2) int64, the cue's top-left (row, column).
    """

    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    cue_labels: np.ndarray
    positions: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def cue_pattern(label: int, size: int = CUE_SIZE) -> np.ndarray:
    """The (size, size, 3) uint8 cue of class ``label``: checkerboard, horizontal stripes or square rings,
    each in its class's two colours (2-pixel cells)."""
    if not 0 <= int(label) < len(CLASS_NAMES):
        raise ValueError(f"label must be a class index 0..{len(CLASS_NAMES) - 1}, got {label!r}.")
    if size < 4:
        raise ValueError(f"The cue needs at least 4x4 pixels to show its pattern, got size={size}.")
    r, c = np.mgrid[:size, :size]
    if label == 0:
        first = ((r // 2) + (c // 2)) % 2 == 0
    elif label == 1:
        first = (r // 2) % 2 == 0
    else:
        ring = np.minimum(np.minimum(r, c), np.minimum(size - 1 - r, size - 1 - c))
        first = (ring // 2) % 2 == 0
    colours = np.asarray(CUE_COLOURS[label], np.uint8)
    return np.where(first[..., None], colours[0], colours[1]).astype(np.uint8)


def _box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """Exact integer box blur (window 2*radius+1, edges repeated, rounded half up)."""
    k = 2 * radius + 1
    out = image.astype(np.int64)
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius + 1, radius)
        c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis)
        n = out.shape[axis]
        out = np.take(c, np.arange(k, k + n), axis=axis) - np.take(c, np.arange(n), axis=axis)
    return (out + (k * k) // 2) // (k * k)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Blurred coloured ellipses and rectangles, then a few squares of colour noise and pixel noise (uint8)."""
    canvas = np.empty((size, size, 3), np.int64)
    canvas[:] = rng.integers(0, 256, 3)
    for _ in range(int(rng.integers(6, 13))):
        cy, cx = (int(v) for v in rng.integers(-size // 8, size + size // 8, 2))
        ry, rx = (int(v) for v in rng.integers(size // 16, size // 3, 2))
        colour = rng.integers(0, 256, 3)
        is_ellipse = bool(rng.integers(2))
        y0, y1, x0, x1 = max(cy - ry, 0), min(cy + ry + 1, size), max(cx - rx, 0), min(cx + rx + 1, size)
        if y0 >= y1 or x0 >= x1:
            continue
        if is_ellipse:  # integer test: (dy * rx)^2 + (dx * ry)^2 <= (rx * ry)^2
            dy, dx = np.ogrid[y0 - cy:y1 - cy, x0 - cx:x1 - cx]
            inside = (dy * rx) ** 2 + (dx * ry) ** 2 <= (rx * ry) ** 2
            canvas[y0:y1, x0:x1][inside] = colour
        else:
            canvas[y0:y1, x0:x1] = colour
    canvas = _box_blur(canvas, radius=2)
    for _ in range(int(rng.integers(0, 3))):  # distractors: small squares of coloured noise
        s = int(rng.integers(size // 12, size // 7 + 1))
        y, x = rng.integers(0, size - s, 2)
        canvas[y:y + s, x:x + s] = rng.integers(0, 256, (s, s, 3))
    canvas += rng.integers(-8, 9, canvas.shape)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def make_cue_images(n: int, seed: int = 0, *, cue: str = "present", swap_shift: int = 1,
                    size: int = IMAGE_SIZE, cue_size: int = CUE_SIZE) -> CueImages:
    """Draw ``n`` planted-cue images from ``seed``; image ``i`` is of class ``i % K`` (balanced).

    ``cue="present"`` paints each image's class cue; ``"removed"`` leaves the same background without
    it; ``"swapped"`` paints the cue of class ``(label + swap_shift) % K`` at the same place instead.
    Image ``i`` depends only on ``(seed, i)``, so the three modes give the same backgrounds, labels,
    positions and masks.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int (number of images), got {n!r}.")
    if cue not in CUE_MODES:
        raise ValueError(f"cue must be one of {CUE_MODES}, got {cue!r}.")
    k = len(CLASS_NAMES)
    if cue == "swapped" and swap_shift % k == 0:
        raise ValueError(f"swap_shift={swap_shift} maps every class onto itself; use 1..{k - 1}.")
    if not 4 <= cue_size <= size // 2:
        raise ValueError(f"cue_size must lie in 4..{size // 2} for {size}x{size} images, got {cue_size}.")
    images = np.empty((n, size, size, 3), np.float32)
    masks = np.zeros((n, size, size), bool)
    labels = np.empty(n, np.int64)
    positions = np.empty((n, 2), np.int64)
    patterns = [cue_pattern(c, cue_size) for c in range(k)]
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        labels[i] = i % k  # balanced classes in every prefix; training shuffles
        image = _background(rng, size)
        y, x = rng.integers(2, size - cue_size - 2, 2)
        positions[i] = (y, x)
        masks[i, y:y + cue_size, x:x + cue_size] = True
        if cue != "removed":
            painted = labels[i] if cue == "present" else (labels[i] + swap_shift) % k
            image[y:y + cue_size, x:x + cue_size] = patterns[painted]
        images[i] = image
    if cue == "present":
        cue_labels = labels.copy()
    elif cue == "removed":
        cue_labels = np.full(n, -1, np.int64)
    else:
        cue_labels = (labels + swap_shift) % k
    return CueImages(images, masks, labels, cue_labels, positions)


def checksum(data: CueImages) -> str:
    """SHA-256 of a batch's images (as uint8), masks, labels and positions: proves a regenerated set is the same."""
    digest = hashlib.sha256()
    for array in (np.round(data.images).astype(np.uint8), data.masks.astype(np.uint8),
                  data.labels.astype(np.int64), data.positions.astype(np.int64)):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
