"""Figures shared by the image notebooks: photo grids, heatmap overlays, method comparisons.

Introduced in notebook 00 (``show_images``) and 04-05 (overlays). One style for all notebooks, so a
student reads every heatmap the same way: the image in grey-scale underneath, the map on top with a
colour bar. Signed maps use one diverging colormap centred on zero, :data:`SIGNED_CMAP`, with red =
evidence *for* the class and blue = evidence *against* it (the bar charts of notebooks 01-03 and the
superpixel highlights use the same two colours); unsigned maps (importance only) use the sequential
:data:`UNSIGNED_CMAP`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

SIGNED_CMAP = "RdBu_r"     # diverging, centred on zero: red = for the class, blue = against
UNSIGNED_CMAP = "inferno"  # sequential, for maps that only say "how important"
FOR_COLOUR, AGAINST_COLOUR = "#c0392b", "#2e86c1"  # the same red and blue in bar charts and highlights


def as_uint8(image: np.ndarray) -> np.ndarray:
    """A [0, 255] float image as uint8 for display."""
    return np.clip(np.asarray(image), 0, 255).astype(np.uint8)


def normalize_map(saliency: np.ndarray, signed: bool = False) -> np.ndarray:
    """Scale a map for display: to [0, 1] (``signed=False``) or to [-1, 1] keeping zero at zero."""
    saliency = np.asarray(saliency, dtype=np.float32)
    if signed:
        peak = float(np.abs(saliency).max())
        return saliency / peak if peak > 0 else saliency
    lo, hi = float(saliency.min()), float(saliency.max())
    return (saliency - lo) / (hi - lo) if hi > lo else np.zeros_like(saliency)


def _grid(n: int, cols: int, size: float) -> tuple[plt.Figure, np.ndarray]:
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes.flat


def finish(fig: plt.Figure, title: str = "") -> plt.Figure:
    """Lay out ``fig`` and add a figure-wide ``title`` above the panel titles, never over them."""
    if title:
        fig.suptitle(title, fontsize=11)
        fig.tight_layout(rect=(0, 0, 1, 0.93))
    else:
        fig.tight_layout()
    return fig


def show_images(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, cols: int = 4,
                size: float = 2.6, title: str = "") -> plt.Figure:
    """A grid of [0, 255] RGB images with optional panel titles and a figure ``title``."""
    fig, axes = _grid(len(images), cols, size)
    for i, (ax, image) in enumerate(zip(axes, images)):
        ax.imshow(as_uint8(image))
        ax.set_title(titles[i] if titles else "", fontsize=8)
        ax.axis("off")
    return finish(fig, title)


def overlay(ax: plt.Axes, image: np.ndarray, saliency: np.ndarray, title: str = "", signed: bool = False,
            alpha: float = 0.55, colorbar: bool = True) -> plt.Axes:
    """Draw ``saliency`` over a grey version of ``image`` on ``ax``, with a colour bar by default.

    Unsigned maps use :data:`UNSIGNED_CMAP` on [0, 1] (scaled min to max); signed maps use
    :data:`SIGNED_CMAP` on [-1, 1], scaled by the largest magnitude so that zero stays white
    (red for, blue against).
    """
    grey = as_uint8(image).mean(axis=-1)
    ax.imshow(grey, cmap="gray", vmin=0, vmax=255)
    if signed:
        shown = ax.imshow(normalize_map(saliency, signed=True), cmap=SIGNED_CMAP, vmin=-1, vmax=1, alpha=alpha)
    else:
        shown = ax.imshow(normalize_map(saliency), cmap=UNSIGNED_CMAP, vmin=0, vmax=1, alpha=alpha)
    if colorbar:
        bar = plt.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        bar.set_label("relative attribution (for / against)" if signed else "relative importance", fontsize=7)
        bar.ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return ax


def show_maps(image: np.ndarray, maps: Mapping[str, np.ndarray], signed: bool | Mapping[str, bool] = False,
              cols: int = 4, size: float = 2.8, show_image: bool = True, title: str = "") -> plt.Figure:
    """The image followed by one overlay per named map (e.g. one per method or per layer), each with a colour bar."""
    n = len(maps) + int(show_image)
    fig, axes = _grid(n, min(cols, n), size)
    axes = list(axes)
    if show_image:
        axes[0].imshow(as_uint8(image))
        axes[0].set_title("input", fontsize=9)
        axes[0].axis("off")
        axes = axes[1:]
    for ax, (name, saliency) in zip(axes, maps.items()):
        is_signed = signed.get(name, False) if isinstance(signed, Mapping) else signed
        overlay(ax, image, saliency, title=name, signed=is_signed)
    return finish(fig, title)


def show_grid(images: Sequence[np.ndarray], maps: Sequence[Mapping[str, np.ndarray]],
              row_titles: Sequence[str] | None = None, size: float = 2.2,
              signed: bool | Mapping[str, bool] = False, title: str = "") -> plt.Figure:
    """Rows = images, columns = methods: the comparison grid of notebook 08 (colour bars on the last column)."""
    methods = list(maps[0])
    fig, axes = plt.subplots(len(images), len(methods) + 1, figsize=(size * (len(methods) + 1), size * len(images)),
                             squeeze=False)
    for r, (image, row) in enumerate(zip(images, maps)):
        axes[r, 0].imshow(as_uint8(image))
        axes[r, 0].set_title(row_titles[r] if row_titles else "", fontsize=8)
        axes[r, 0].axis("off")
        for c, name in enumerate(methods, start=1):
            is_signed = signed.get(name, False) if isinstance(signed, Mapping) else signed
            overlay(axes[r, c], image, row[name], title=name if r == 0 else "", signed=is_signed,
                    colorbar=c == len(methods))
    return finish(fig, title)


def overlay_rgb(image: np.ndarray, saliency: np.ndarray, signed: bool = False, alpha: float = 0.55) -> np.ndarray:
    """The :func:`overlay` picture as a uint8 (H, W, 3) array, without a figure (fast, for files).

    Same style as :func:`overlay`: grey image underneath, :data:`UNSIGNED_CMAP` on [0, 1] (or
    :data:`SIGNED_CMAP` on [-1, 1] for signed maps) on top. The folder pipeline (``utils.pipeline``,
    notebook 09) saves these as PNG.
    """
    from matplotlib import colormaps

    grey = as_uint8(image).mean(axis=-1, keepdims=True).repeat(3, axis=-1) / 255.0
    saliency = np.asarray(saliency, dtype=np.float32)
    if saliency.shape != grey.shape[:2]:
        raise ValueError(f"The map's shape {saliency.shape} differs from the image's {grey.shape[:2]}.")
    if signed:
        colours = colormaps[SIGNED_CMAP]((normalize_map(saliency, signed=True) + 1) / 2)[..., :3]
    else:
        colours = colormaps[UNSIGNED_CMAP](normalize_map(saliency))[..., :3]
    blended = (1 - alpha) * grey + alpha * colours
    return np.clip(np.round(blended * 255), 0, 255).astype(np.uint8)


def show_segments(ax: plt.Axes, image: np.ndarray, segments: np.ndarray, title: str = "") -> plt.Axes:
    """The image with superpixel boundaries drawn in yellow (notebook 04: segmentation algorithms)."""
    from skimage.segmentation import mark_boundaries

    ax.imshow(mark_boundaries(as_uint8(image), np.asarray(segments), color=(1, 1, 0)))
    ax.set_title(title or f"{int(np.max(segments)) + 1} superpixels", fontsize=9)
    ax.axis("off")
    return ax


def show_top_superpixels(ax: plt.Axes, image: np.ndarray, segments: np.ndarray, positive: Sequence[int] = (),
                         negative: Sequence[int] = (), title: str = "", dim: float = 0.35) -> plt.Axes:
    """Highlight chosen superpixels: ``positive`` ones tinted red (for), ``negative`` ones blue (against),
    the rest dimmed.

    The figure lime's ``get_image_and_mask`` draws (lime itself tints green and red), in the course's
    colours, for any list of superpixel labels (notebook 04).
    """
    from matplotlib.colors import to_rgb
    from skimage.segmentation import mark_boundaries

    picture = as_uint8(image).astype(np.float32) / 255.0
    segments = np.asarray(segments)
    pos, neg = np.isin(segments, list(positive)), np.isin(segments, list(negative))
    shown = picture * dim
    shown[pos] = 0.5 * picture[pos] + 0.5 * np.array(to_rgb(FOR_COLOUR))
    shown[neg] = 0.5 * picture[neg] + 0.5 * np.array(to_rgb(AGAINST_COLOUR))
    ax.imshow(mark_boundaries(np.clip(shown, 0, 1), np.where(pos | neg, segments, -1), color=(1, 1, 0)))
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return ax


def clip_outliers(saliency: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """Clip a map's magnitude at the ``percentile``-th percentile of |map|, keeping the sign (for display only).

    Pixel-level gradient maps (saliency, Gradient x Input, Integrated Gradients) are dominated by a few
    extreme pixels, so a linear colour scale shows almost nothing else; clipping them makes the rest
    visible. Introduced in notebook 07.
    """
    saliency = np.asarray(saliency, dtype=np.float32)
    limit = float(np.percentile(np.abs(saliency), percentile))
    return np.clip(saliency, -limit, limit) if limit > 0 else saliency


def visible_share(saliency: np.ndarray, signed: bool = False, level: float = 0.1) -> float:
    """Share of a map's pixels that :func:`overlay` draws at least ``level`` away from the bottom of its colour
    scale (``|value| / max |value|`` for signed maps, ``(value - min) / (max - min)`` otherwise).

    A check against blank panels: a constant map scores 0, and so does, nearly, a map whose few extreme pixels
    squash everything else to the bottom of the scale (clip those with :func:`clip_outliers`). Notebook 08
    asserts it for every panel it draws.
    """
    return float((np.abs(normalize_map(saliency, signed=signed)) >= level).mean())


def line_styles(names: Sequence[str]) -> dict[str, dict]:
    """One distinct ``{"color", "linestyle"}`` per name, for line plots with more curves than the ten default
    colours (notebook 08 draws one curve per method): tab10's colours, solid for the first ten, dashed after.
    Pass the same names in the same order to every figure and a method keeps its style across figures."""
    colours = plt.get_cmap("tab10").colors
    return {name: {"color": colours[i % 10], "linestyle": "-" if i < 10 else "--"} for i, name in enumerate(names)}
