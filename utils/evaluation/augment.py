"""Image augmentations for asking "does the explanation survive a small change of the photo?".

Introduced in notebook 09 (LIME in practice), after the second source proposal, which studied how
contrast, brightness, blur, noise and rotation change a MobileNet's prediction and LIME's map.
Every function takes and returns a float32 (H, W, 3) image in [0, 255] of the same shape (so the
result goes straight back into a zoo model), and ``strength=0`` (or 1 for factors) is the identity.

* :func:`adjust_contrast`, :func:`adjust_brightness`: photometric, pixels keep their place;
* :func:`gaussian_blur`, :func:`gaussian_noise`: lose or add detail (noise is seeded);
* :func:`rotate`: geometric: the map of a rotated photo must be rotated back before it is compared
  with the original map, which :func:`align_map` does.

:data:`AUGMENTATIONS` lists each one with a range of strengths the notebook sweeps.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage


def _check(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"Expected one RGB image of shape (H, W, 3), got shape {image.shape}.")
    if not np.all(np.isfinite(image)):
        raise ValueError("The image contains NaN or infinite values.")
    return image


def _clip(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0.0, 255.0).astype(np.float32)


def adjust_contrast(image: np.ndarray, factor: float) -> np.ndarray:
    """Scale each pixel's distance to the image's mean grey by ``factor`` (1 = unchanged, 0 = flat grey)."""
    if factor < 0:
        raise ValueError(f"factor must be >= 0 (1 keeps the image), got {factor}.")
    image = _check(image)
    mean = float(image.mean())
    return _clip(mean + factor * (image - mean))


def adjust_brightness(image: np.ndarray, factor: float) -> np.ndarray:
    """Multiply every pixel by ``factor`` (1 = unchanged, 0 = black, 1.5 = half again as bright), as PIL does."""
    if factor < 0:
        raise ValueError(f"factor must be >= 0 (1 keeps the image), got {factor}.")
    return _clip(_check(image) * factor)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` pixels (0 = unchanged), each channel alike."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0 pixels, got {sigma}.")
    image = _check(image)
    if sigma == 0:
        return image.copy()
    return _clip(ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0), mode="reflect"))


def gaussian_noise(image: np.ndarray, std: float, seed: int | None = 0) -> np.ndarray:
    """Add i.i.d. Gaussian noise of standard deviation ``std`` (in pixel units of [0, 255]); seeded."""
    if std < 0:
        raise ValueError(f"std must be >= 0 (in [0, 255] pixel units), got {std}.")
    image = _check(image)
    noise = np.random.default_rng(seed).normal(0.0, std, size=image.shape)
    return _clip(image + noise)


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre by ``degrees`` (counter-clockwise), same size, borders mirrored."""
    image = _check(image)
    if degrees == 0:
        return image.copy()
    return _clip(ndimage.rotate(image, degrees, axes=(1, 0), reshape=False, order=1, mode="reflect"))


AUGMENTATIONS: dict[str, tuple[Callable[..., np.ndarray], tuple[float, ...], float]] = {
    # name: (function, strengths swept in notebook 09, the strength that leaves the image unchanged)
    "contrast": (adjust_contrast, (0.25, 0.5, 0.75, 1.0, 1.5, 2.0), 1.0),
    "brightness": (adjust_brightness, (0.25, 0.5, 0.75, 1.0, 1.25, 1.5), 1.0),
    "blur": (gaussian_blur, (0.0, 1.0, 2.0, 4.0, 8.0), 0.0),
    "noise": (gaussian_noise, (0.0, 10.0, 25.0, 50.0, 100.0), 0.0),
    "rotation": (rotate, (0.0, 5.0, 15.0, 30.0, 90.0), 0.0),
}


def augment(image: np.ndarray, name: str, strength: float, seed: int | None = 0) -> np.ndarray:
    """Apply augmentation ``name`` (a key of :data:`AUGMENTATIONS`) at ``strength``."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"Unknown augmentation {name!r}. Choose one of: {', '.join(AUGMENTATIONS)}.")
    fn = AUGMENTATIONS[name][0]
    return fn(image, strength, seed=seed) if name == "noise" else fn(image, strength)


def align_map(saliency: np.ndarray, name: str, strength: float) -> np.ndarray:
    """Bring the map of an augmented image back to the original's pixel grid.

    Only rotation moves pixels: its map is rotated back by ``-strength`` degrees; the map of a
    photometric change (contrast, brightness, blur, noise) is already aligned and returned as is.
    """
    saliency = np.asarray(saliency, dtype=np.float32)
    if name == "rotation" and strength != 0:
        return ndimage.rotate(saliency, -strength, axes=(1, 0), reshape=False, order=1, mode="nearest")
    return saliency
