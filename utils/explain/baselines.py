"""What removed pixels show: one meaning of each baseline for every explainer and metric.

A perturbation method hides pixels, a path method starts from an image with no evidence, and a
deletion or insertion curve removes pixels; each needs "what a pixel shows when it is taken away".
This module is the only place that answers, so "blur" or "mean" is the same image in LIME,
KernelSHAP, occlusion, RISE, Integrated Gradients and the metrics (introduced in notebook 04,
compared in notebook 07).

``baseline`` is one of:

* ``"black"`` (0), ``"white"`` (255);
* ``"mean"``: every pixel the image's mean colour;
* ``"segment_mean"``: each superpixel its own mean colour (lime's ``hide_color=None``; needs ``segments``);
* ``"blur"``: the image under a Gaussian blur of :data:`BLUR_SIGMA` pixels per channel (the RISE
  paper's insertion canvas: sigma 5 on 224 x 224 images);
* ``"noise"``: uniform random pixels in [0, 255], seeded;
* a number: a flat grey level in [0, 255] (127 is mid-grey);
* an (H, W, 3) array: any other image, in pixel units.
"""
from __future__ import annotations

from typing import Union

import numpy as np
from scipy import ndimage

Baseline = Union[str, float, int, np.ndarray]
BASELINES = ("black", "white", "mean", "segment_mean", "blur", "noise")
BLUR_SIGMA = 5.0


def blurred(image: np.ndarray, sigma: float = BLUR_SIGMA) -> np.ndarray:
    """``image`` under a Gaussian blur of ``sigma`` pixels per channel (edges repeat the border pixel)."""
    return ndimage.gaussian_filter(np.asarray(image, np.float32), sigma=(sigma, sigma, 0), mode="nearest")


def segment_means(image: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Each superpixel of ``segments`` (integer labels, (H, W)) filled with its own mean colour."""
    flat = np.asarray(segments).ravel()
    counts = np.bincount(flat, minlength=flat.max() + 1).astype(np.float32)
    means = np.stack([np.bincount(flat, weights=image[..., c].ravel(), minlength=len(counts))
                      for c in range(image.shape[-1])], axis=-1) / np.maximum(counts, 1)[:, None]
    return means[segments].astype(np.float32)


def _grey(value: float, shape: tuple[int, ...]) -> np.ndarray:
    if not np.isfinite(value) or not 0 <= value <= 255:
        raise ValueError(f"A grey-level baseline must be a pixel value in [0, 255], got {value}.")
    return np.full(shape, value, dtype=np.float32)


def baseline_image(image: np.ndarray, baseline: Baseline = "black", *, segments: np.ndarray | None = None,
                   seed: int | None = 0) -> np.ndarray:
    """The (H, W, 3) float32 image that ``baseline`` means for ``image`` (see the module docstring).

    ``segments`` is needed only by ``"segment_mean"``; ``seed`` only by ``"noise"``. A wrong name, a grey
    level outside [0, 255], an array of another shape or with NaN is a one-line ValueError.
    """
    image = np.asarray(image, np.float32)
    if isinstance(baseline, str):
        if baseline == "black":
            return np.zeros(image.shape, np.float32)
        if baseline == "white":
            return np.full(image.shape, 255.0, np.float32)
        if baseline == "mean":
            return np.broadcast_to(image.mean(axis=(0, 1)), image.shape).astype(np.float32)
        if baseline == "segment_mean":
            if segments is None:
                raise ValueError("baseline='segment_mean' needs superpixels: it is for LIME and KernelSHAP; "
                                 "use 'mean' for one colour over the whole image.")
            return segment_means(image, segments)
        if baseline == "blur":
            return blurred(image)
        if baseline == "noise":
            return np.random.default_rng(seed).uniform(0.0, 255.0, size=image.shape).astype(np.float32)
        raise ValueError(f"Unknown baseline {baseline!r}: use one of {', '.join(BASELINES)}, a grey level in "
                         f"[0, 255] or an (H, W, 3) image.")
    if isinstance(baseline, (bool, np.bool_)):
        raise ValueError(f"baseline={baseline} is a boolean: use a name ({', '.join(BASELINES)}), a grey level "
                         f"or an image.")
    array = np.asarray(baseline, np.float32)
    if array.ndim == 0:
        return _grey(float(array), image.shape)
    if array.shape != image.shape:
        raise ValueError(f"A baseline image must have the image's shape {image.shape}, got {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError("The baseline image contains NaN or infinite values.")
    return array
