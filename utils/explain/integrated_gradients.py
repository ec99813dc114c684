"""Integrated Gradients (Sundararajan et al., 2017), with the completeness check and adaptive steps.

Introduced in notebook 07. IG attributes f(x) - f(x') to the pixels by integrating the gradient of
the target's pre-softmax logit f along the straight path from a baseline x' to the image x:

    IG_i(x) = (x_i - x'_i) * integral_0^1 df/dx_i (x' + a (x - x')) da

approximated with the trapezoid rule on ``steps`` equal intervals (``steps + 1`` gradient
evaluations, in compiled batches). Completeness, sum_i IG_i = f(x) - f(x'), holds exactly for the
integral; the relative gap of the sum tells whether ``steps`` were enough (:func:`completeness_gap`).

The returned (H, W) map is the attribution summed over the colour channels, signed (positive = the
pixel raised the logit relative to the baseline). Summing keeps completeness: the map's sum is the
attribution's sum.

Baselines: ``"black"`` (all 0), ``"white"`` (all 255), ``"blur"`` (the image under a strong Gaussian
blur), ``"noise"`` (uniform random pixels, seeded; ``num_baselines`` > 1 averages IG over several,
which is close to expected gradients) or an (H, W, 3) array.
"""
from __future__ import annotations

import keras
import numpy as np
from scipy.ndimage import gaussian_filter

from utils.explain import base
from utils.explain.registry import explainer

# The completeness gap of IG on the 25 bundled photos (Lite0 port, black baseline, predicted class), measured with
#   {name: completeness_curve(model, image, predicted, steps=tuple(BUNDLED_PHOTO_GAPS)) for each bundled photo}
# as {steps: (median gap, largest gap, photo with the largest gap)}. The gap does not fall monotonically (ReLU6
# kinks along the path); photos over 5%: 25 at 16 steps, 18 at 64, 5 at 256, none at 512. Notebook 07 prints
# this record and checks two of the photos against it.
BUNDLED_PHOTO_GAPS = {16: (0.755, 1.085, "spiny_lobster"), 32: (0.175, 2.761, "dog_cat"),
                      64: (0.081, 0.991, "dog_cat"), 128: (0.049, 0.210, "pekinese"),
                      256: (0.019, 0.086, "dog_cat"), 512: (0.007, 0.034, "spiny_lobster")}
DEFAULT_STEPS = 512  # the fewest doubled steps with every bundled photo under 5% (BUNDLED_PHOTO_GAPS)
BASELINES = ("black", "white", "blur", "noise")
BLUR_SIGMA = 20.0


def make_baselines(image: np.ndarray, baseline: str | np.ndarray = "black", num_baselines: int = 1,
                   seed: int | None = 0) -> np.ndarray:
    """The baseline images, shape (num_baselines, H, W, 3), float32 in [0, 255].

    Only ``"noise"`` (and an array, repeated) is random; the other named baselines are one image
    whatever ``num_baselines`` says (averaging identical baselines would change nothing).
    """
    seed = base.check_seed(seed)
    num_baselines = base.check_count("num_baselines", num_baselines)
    if isinstance(baseline, str):
        if baseline == "black":
            return np.zeros((1, *image.shape), np.float32)
        if baseline == "white":
            return np.full((1, *image.shape), 255.0, np.float32)
        if baseline == "blur":
            return gaussian_filter(image, sigma=(BLUR_SIGMA, BLUR_SIGMA, 0))[None].astype(np.float32)
        if baseline == "noise":
            return base.rng(seed).uniform(0.0, 255.0, size=(num_baselines, *image.shape)).astype(np.float32)
        raise ValueError(f"Unknown baseline {baseline!r}: use one of {', '.join(BASELINES)} or an (H, W, 3) array.")
    array = np.asarray(baseline, np.float32)
    if array.shape != image.shape:
        raise ValueError(f"A baseline array must have the image's shape {image.shape}, got {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError("The baseline contains NaN or infinite values.")
    return array[None]


def _trapezoid_weights(steps: int) -> np.ndarray:
    w = np.full(steps + 1, 1.0 / steps)
    w[[0, -1]] = 0.5 / steps
    return w


class _PathIntegral:
    """Running trapezoid-rule integral of the gradient along x' -> x, refinable by halving the step.

    Keeps the sum of the gradients at the end points and at the interior points evaluated so far,
    so that doubling the steps only evaluates the new midpoints (the adaptive option reuses work).
    """

    def __init__(self, model: keras.Model, image: np.ndarray, baseline: np.ndarray, target: int,
                 batch_size: int, progress: bool | None):
        self.model, self.image, self.baseline, self.target = model, image, baseline, target
        self.batch_size, self.progress = batch_size, progress
        self.steps = 0
        self.interior = np.zeros_like(image, dtype=np.float64)
        logits, grads = self._gradients(np.array([0.0, 1.0]))
        self.f_baseline, self.f_image = float(logits[0]), float(logits[1])
        self.ends = grads.sum(axis=0, dtype=np.float64)

    def _points(self, alphas: np.ndarray) -> np.ndarray:
        a = alphas.astype(np.float32)[:, None, None, None]
        return self.baseline[None] + a * (self.image - self.baseline)[None]

    def _gradients(self, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and gradients at a few path points (one compiled batch)."""
        return base.logit_gradients(self.model, self._points(alphas), self.target, batch_size=self.batch_size)

    def _gradient_sum(self, alphas: np.ndarray) -> np.ndarray:
        """Sum of the gradients at the path points ``alphas``, batch by batch (bounded memory at 1024 steps)."""
        total = np.zeros_like(self.image, dtype=np.float64)
        starts = range(0, len(alphas), self.batch_size)
        for i in base.progress(starts, total=len(starts), desc=f"IG, {len(alphas)} points", enabled=self.progress):
            total += self._gradients(alphas[i:i + self.batch_size])[1].sum(axis=0, dtype=np.float64)
        return total

    def refine_to(self, steps: int) -> None:
        """Evaluate the interior points of a ``steps``-interval grid (a multiple of the current one)."""
        grid = np.arange(1, steps)
        if self.steps:
            if steps % self.steps:
                raise ValueError("steps must be a multiple of the previous steps")
            grid = grid[grid % (steps // self.steps) != 0]  # only the points not evaluated yet
        if len(grid):
            self.interior += self._gradient_sum(grid / steps)
        self.steps = steps

    def attributions(self) -> np.ndarray:
        """(H, W, 3) attributions: (x - x') times the trapezoid average of the gradients."""
        mean_grad = (0.5 * self.ends + self.interior) / self.steps
        return ((self.image - self.baseline) * mean_grad).astype(np.float32)

    @property
    def difference(self) -> float:
        return self.f_image - self.f_baseline


def _relative_gap(total: float, difference: float) -> float:
    return abs(total - difference) / max(abs(difference), 1e-12)


def _check_options(seed, batch_size, **counts) -> dict[str, int]:
    """Validate ``seed``, ``batch_size`` and the step counts given by name; return the counts as ints.

    Checked before any gradient is computed, so a wrong option fails at once with its name in the message.
    """
    base.check_seed(seed)
    base.check_count("batch_size", batch_size)
    return {name: base.check_count(name, value) for name, value in counts.items()}


def integrated_gradients_attributions(model: keras.Model, image: np.ndarray, target: int, *,
                                      baseline: str | np.ndarray = "black", steps: int = DEFAULT_STEPS,
                                      batch_size: int = base.DEFAULT_BATCH_SIZE, seed: int | None = 0,
                                      num_baselines: int = 1, progress: bool | None = None
                                      ) -> tuple[np.ndarray, float, float]:
    """Per-channel IG attributions (H, W, 3), averaged over the baselines, with the completeness gap.

    Returns ``(attributions, gap, f(x) - mean f(x'))``.
    """
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    steps = _check_options(seed, batch_size, steps=steps)["steps"]
    total = np.zeros_like(image)
    difference = 0.0
    baselines = make_baselines(image, baseline, num_baselines, seed)
    for b in baselines:
        path = _PathIntegral(model, image, b, target, batch_size, progress)
        path.refine_to(steps)
        total += path.attributions() / len(baselines)
        difference += path.difference / len(baselines)
    return total, _relative_gap(float(total.sum(dtype=np.float64)), difference), difference


@explainer("integrated_gradients", family="path", signed=True, needs_gradients=True, stochastic=True,
           budget="steps", quick={"steps": 32}, order=1)
def integrated_gradients(model: keras.Model, image: np.ndarray, target: int, *,
                         baseline: str | np.ndarray = "black", steps: int = DEFAULT_STEPS,
                         batch_size: int = base.DEFAULT_BATCH_SIZE, seed: int | None = 0, num_baselines: int = 1,
                         return_gap: bool = False, progress: bool | None = None):
    """Integrated Gradients map (H, W): attributions summed over channels (signed).

    Args:
        baseline: "black", "white", "blur", "noise" or an (H, W, 3) array in pixel units.
        steps: trapezoid intervals; ``steps + 1`` gradients are evaluated. The default (512) keeps
            the completeness gap under 5% on every bundled photo (largest 3.4%, BUNDLED_PHOTO_GAPS).
        num_baselines: with ``baseline="noise"``, average IG over this many seeded noise images.
        return_gap: also return the relative completeness gap |sum(attr) - (f(x) - f(x'))| / |f(x) - f(x')|.

    Returns the map, or ``(map, gap)`` when ``return_gap``.
    """
    attributions, gap, _ = integrated_gradients_attributions(
        model, image, target, baseline=baseline, steps=steps, batch_size=batch_size, seed=seed,
        num_baselines=num_baselines, progress=progress)
    result = attributions.sum(axis=-1)
    return (result, gap) if return_gap else result


def integrated_gradients_adaptive(model: keras.Model, image: np.ndarray, target: int, *,
                                  baseline: str | np.ndarray = "black", tolerance: float = 0.01,
                                  start_steps: int = 32, max_steps: int = 1024,
                                  batch_size: int = base.DEFAULT_BATCH_SIZE, seed: int | None = 0,
                                  return_info: bool = False, progress: bool | None = None):
    """IG that doubles the steps (32, 64, 128, ...) until the completeness gap is under ``tolerance``.

    Doubling the trapezoid grid only adds the midpoints, so reaching m steps costs m + 1 gradients in
    all, not 2m. Stops at ``max_steps`` even if the gap is still larger (``return_info`` tells).
    Takes one baseline (a name or an array; "noise" uses ``seed``).

    Returns the (H, W) map, or ``(map, {"steps", "gap", "history": [(steps, gap), ...]})``.
    """
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    counts = _check_options(seed, batch_size, start_steps=start_steps, max_steps=max_steps)
    start_steps, max_steps = counts["start_steps"], counts["max_steps"]
    if isinstance(tolerance, (bool, np.bool_)) or not isinstance(tolerance, (int, float, np.number)) \
            or not tolerance > 0:
        raise ValueError(f"tolerance is a relative gap such as 0.01, got {tolerance}.")
    if start_steps > max_steps:
        raise ValueError(f"start_steps ({start_steps}) is larger than max_steps ({max_steps}).")
    path = _PathIntegral(model, image, make_baselines(image, baseline, 1, seed)[0], target, batch_size, progress)
    steps, history = start_steps, []
    while True:
        path.refine_to(steps)
        attributions = path.attributions()
        gap = _relative_gap(float(attributions.sum(dtype=np.float64)), path.difference)
        history.append((steps, gap))
        if gap < tolerance or steps * 2 > max_steps:
            break
        steps *= 2
    result = attributions.sum(axis=-1)
    return (result, {"steps": steps, "gap": gap, "history": history}) if return_info else result


def completeness_gap(model: keras.Model, image: np.ndarray, target: int, attributions: np.ndarray, *,
                     baseline: str | np.ndarray = "black", num_baselines: int = 1, seed: int | None = 0) -> float:
    """|sum(attributions) - (f(x) - f(x'))| / |f(x) - f(x')|, f = the target's logit.

    ``attributions`` is an (H, W) map or (H, W, 3) attribution from any method; ``baseline``,
    ``num_baselines`` and ``seed`` must be those the attributions were computed with (for several
    noise baselines, f(x') is their mean). 0 means the attributions account for the whole change.
    """
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    attributions = np.asarray(attributions)
    if attributions.shape not in (image.shape, image.shape[:2]):
        raise ValueError(f"attributions must have shape {image.shape[:2]} or {image.shape}, got {attributions.shape}.")
    baselines = make_baselines(image, baseline, num_baselines, seed)
    logits = base.predict(model, np.concatenate([image[None], baselines]), logits=True)[:, target]
    difference = float(logits[0]) - float(logits[1:].mean())
    return _relative_gap(float(attributions.sum(dtype=np.float64)), difference)


def completeness_curve(model: keras.Model, image: np.ndarray, target: int, *, baseline: str | np.ndarray = "black",
                       steps: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512, 1024), seed: int | None = 0,
                       batch_size: int = base.DEFAULT_BATCH_SIZE, return_maps: bool = False,
                       progress: bool | None = None):
    """Completeness gap of IG at each number of ``steps`` (each a multiple of the one before), in one pass.

    Refines one trapezoid grid, so the whole curve costs ``max(steps) + 1`` gradients (1024 steps on
    Lite0: ~20 s). Notebook 07 plots it; the gap at m steps equals that of ``integrated_gradients(steps=m)``.
    Returns ``{steps: gap}``, or ``({steps: gap}, {steps: (H, W) IG map})`` with ``return_maps``.
    """
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    _check_options(seed, batch_size)
    steps = sorted(base.check_count("steps", s) for s in steps)
    if not steps:
        raise ValueError("steps must list at least one number of steps, e.g. steps=(32, 64, 128).")
    if any(larger % smaller for smaller, larger in zip(steps, steps[1:])):
        raise ValueError(f"each number of steps must be a multiple of the one before (one grid refined), got {steps}.")
    path = _PathIntegral(model, image, make_baselines(image, baseline, 1, seed)[0], target, batch_size, progress)
    gaps, maps = {}, {}
    for s in steps:
        path.refine_to(s)
        attributions = path.attributions()
        gaps[s] = _relative_gap(float(attributions.sum(dtype=np.float64)), path.difference)
        if return_maps:
            maps[s] = attributions.sum(axis=-1)
    return (gaps, maps) if return_maps else gaps
