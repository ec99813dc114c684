"""Exercises of notebook 04 (LIME for images): the kernel weight, the top-k overlap, a perturbed image, the
surrogate's weights.

The checks run on small synthetic superpixel games (a few superpixels on an 8x10 image, a few hundred
random masks), so a check is instant; the method is the same as on the espresso photo.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression, Ridge

from utils.exercises.core import Exercise, Mistake


def kernel_weight(hidden: int, n: int, width: float) -> float:
    """LIME's weight of a sample with ``hidden`` of ``n`` superpixels hidden: the cosine distance d of its mask
    to the all-ones mask (the image itself), through the kernel sqrt(exp(-d^2 / width^2))."""
    z = np.ones(n)
    z[:hidden] = 0
    similarity = z.sum() / (np.linalg.norm(z) * np.sqrt(n)) if hidden < n else 0.0
    distance = 1.0 - similarity
    return float(np.sqrt(np.exp(-distance ** 2 / width ** 2)))


def _kernel_examples() -> list[tuple]:
    """Lime's width 0.25 on 40 superpixels (as on the espresso), plus other counts and widths."""
    return [(1, 40, 0.25), (10, 40, 0.25), (20, 40, 0.25), (25, 40, 0.25), (3, 7, 0.25), (0, 50, 0.25),
            (1, 50, 1.0), (30, 50, 1.0)]


q1 = Exercise(
    1, "the kernel weight",
    reference=kernel_weight,
    examples=_kernel_examples,
    why="The cosine distance depends on the share of superpixels kept, not on their number, so the kernel "
        "treats a 40-part and a 400-part segmentation alike: with width 0.25 a sample that hides half of "
        "the parts still counts about half as much as the image itself.",
    hint_text="The mask z has n - hidden ones; its cosine similarity to the all-ones vector is "
              "z.sum() / (|z| sqrt(n)) = sqrt((n - hidden) / n). The distance is 1 minus that; then apply "
              "np.sqrt(np.exp(-d**2 / width**2)).",
    mistakes=(
        Mistake("You used the Euclidean distance (sqrt(hidden)): on binary masks it grows with the number of "
                "hidden parts, so with width 0.25 every perturbed sample gets a weight near 0. lime_image uses "
                "the cosine distance, 1 - sqrt((n - hidden) / n).",
                lambda hidden, n, width: float(np.sqrt(np.exp(-hidden / width ** 2)))),
        Mistake("You forgot the square root of the kernel: lime weights a sample by sqrt(exp(-d^2 / width^2)), "
                "which is exp(-d^2 / (2 width^2)).",
                lambda hidden, n, width: float(np.exp(-(1 - np.sqrt((n - hidden) / n)) ** 2 / width ** 2))),
        Mistake("You used the share of hidden superpixels (hidden / n) as the distance: lime uses the cosine "
                "distance, 1 - sqrt((n - hidden) / n), which is smaller for a few hidden parts.",
                lambda hidden, n, width: float(np.sqrt(np.exp(-(hidden / n) ** 2 / width ** 2)))),
    ),
)


def overlap_of_top_k(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Share of the ``k`` largest entries of weight vector ``a`` that are also among the ``k`` largest of ``b``."""
    top_a = set(np.argsort(-a)[:k].tolist())
    top_b = set(np.argsort(-b)[:k].tolist())
    return len(top_a & top_b) / k


def _overlap_examples() -> list[tuple]:
    """Pairs of weight vectors without ties: a second draw (a plus noise) and an unrelated vector."""
    rng = np.random.default_rng(4)
    cases = []
    for n, k, noise in ((40, 5, 0.5), (40, 5, 1.0), (12, 3, 0.7), (30, 10, 1.0)):
        a = rng.normal(0, 1, n)
        cases.append((a, a + rng.normal(0, noise, n), k))
    a = rng.normal(0, 1, 20)
    cases.append((a, -a + rng.normal(0, 0.2, 20), 4))
    return cases


q2 = Exercise(
    2, "top-k overlap",
    reference=overlap_of_top_k,
    examples=_overlap_examples,
    why="The share of the top-k that two runs agree on is what section 6 measured between two seeds: it says "
        "whether a reader of the explanation would see the same superpixels, which a correlation of all the "
        "weights does not.",
    hint_text="np.argsort sorts in ascending order: np.argsort(-a)[:k] gives the indices of the k largest. "
              "Put the two index lists in sets, count the common ones and divide by k.",
    mistakes=(
        Mistake("You took the k smallest weights: np.argsort sorts in ascending order, so use np.argsort(-a)[:k] "
                "(or np.argsort(a)[::-1][:k]) for the k largest.",
                lambda a, b, k: len(set(np.argsort(a)[:k].tolist()) & set(np.argsort(b)[:k].tolist())) / k),
        Mistake("You returned the number of shared superpixels: divide it by k, so that the overlap is a share "
                "between 0 and 1.",
                lambda a, b, k: float(len(set(np.argsort(-a)[:k].tolist()) & set(np.argsort(-b)[:k].tolist())))),
        Mistake("You ranked by absolute value: a large negative weight is evidence *against* the class, not one "
                "of the superpixels that make it. Rank by the signed weights.",
                lambda a, b, k: len(set(np.argsort(-np.abs(a))[:k].tolist())
                                    & set(np.argsort(-np.abs(b))[:k].tolist())) / k),
    ),
)


def perturbed_image(image: np.ndarray, segments: np.ndarray, mask: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """The image with the superpixels whose ``mask`` entry is 0 replaced by ``fill`` (the kept ones untouched)."""
    keep = mask[segments].astype(bool)  # (H, W): is each pixel's superpixel kept?
    return np.where(keep[..., None], image, fill)


def _perturb_examples() -> list[tuple]:
    """An 8x10 image cut into 6 blocks, two masks; the fill is each block's mean colour or a grey image."""
    rng = np.random.default_rng(40)
    image = rng.uniform(0, 255, (8, 10, 3))
    segments = (np.arange(8)[:, None] // 4) * 3 + np.arange(10)[None, :] // 4  # 2 x 3 blocks, labels 0..5
    means = np.stack([np.bincount(segments.ravel(), weights=image[..., c].ravel()) / np.bincount(segments.ravel())
                      for c in range(3)], axis=-1)
    mean_fill = means[segments]
    grey = np.full(image.shape, 127.0)
    return [(image, segments, np.array([1, 0, 1, 1, 0, 0]), mean_fill),
            (image, segments, np.array([0, 0, 1, 0, 1, 1]), mean_fill),
            (image, segments, np.array([1, 1, 0, 1, 0, 1]), grey)]


q3 = Exercise(
    3, "a perturbed image",
    reference=perturbed_image,
    examples=_perturb_examples,
    why="Each of LIME's samples is such an image: the model sees the photo with some parts replaced by their "
        "mean colour, and what it answers is the data the linear model is fitted to.",
    hint_text="mask[segments] turns the (K,) mask into an (H, W) map of 0 and 1, one per pixel (each pixel "
              "looks up its superpixel). Where it is 1 keep the image, where it is 0 take the fill: "
              "np.where(keep[..., None], image, fill), the [..., None] for the colour channels.",
    mistakes=(
        Mistake("You inverted the mask: 1 means the superpixel is *kept* (the all-ones mask is the image "
                "itself) and 0 that it shows the fill.",
                lambda image, segments, mask, fill: np.where(mask[segments][..., None] == 0, image, fill)),
        Mistake("You painted the hidden superpixels black: they must show the fill image (here their mean "
                "colour or grey), as the baseline says (lime's hide_color). Take the hidden pixels from fill.",
                lambda image, segments, mask, fill: image * mask[segments][..., None]),
    ),
)


def surrogate_weights(samples: np.ndarray, predictions: np.ndarray, sample_weights: np.ndarray) -> np.ndarray:
    """LIME's explanation: the coefficients of a ridge regression (alpha = 1, with intercept) of the model's
    predictions on the binary masks, each sample weighted by its kernel weight."""
    from sklearn.linear_model import Ridge

    ridge = Ridge(alpha=1.0, fit_intercept=True)
    ridge.fit(samples, predictions, sample_weight=sample_weights)
    return ridge.coef_


def _surrogate_examples() -> list[tuple]:
    """Masks over 6 and 10 superpixels (row 0 all ones), a non-linear model's scores, lime's kernel weights."""
    rng = np.random.default_rng(41)
    cases = []
    for n_samples, n_parts in ((200, 6), (300, 10)):
        samples = rng.integers(0, 2, (n_samples, n_parts)).astype(float)
        samples[0] = 1
        effect = rng.normal(0, 1, n_parts)
        predictions = 1 / (1 + np.exp(-(samples @ effect - effect.sum() / 2))) + rng.normal(0, 0.02, n_samples)
        distance = 1 - np.sqrt(samples.sum(axis=1) / n_parts)
        cases.append((samples, predictions, np.sqrt(np.exp(-distance ** 2 / 0.25 ** 2))))
    return cases


q4 = Exercise(
    4, "the surrogate's weights",
    reference=surrogate_weights,
    examples=_surrogate_examples,
    why="These coefficients are LIME's explanation: the kernel weights make the fit local (samples that hide "
        "a lot barely count), and the ridge penalty (alpha = 1) shrinks every coefficient slightly towards 0.",
    hint_text="sklearn.linear_model.Ridge(alpha=1.0) fits an intercept by default; pass the kernel weights to "
              "fit(..., sample_weight=...) and return the fitted coef_ (one per superpixel).",
    mistakes=(
        Mistake("You fitted without the kernel weights: then a sample that hides most of the image counts as "
                "much as one close to it, and the model is no longer local. Pass sample_weight= to fit.",
                lambda samples, predictions, sample_weights: Ridge(alpha=1.0).fit(samples, predictions).coef_),
        Mistake("You fitted ordinary least squares: lime fits a ridge regression with alpha = 1 (Ridge(alpha=1.0)), "
                "which shrinks the coefficients a little.",
                lambda samples, predictions, sample_weights: LinearRegression().fit(
                    samples, predictions, sample_weight=sample_weights).coef_),
        Mistake("You fitted without an intercept: the linear model needs one for the score with every "
                "superpixel hidden; keep Ridge's default fit_intercept=True.",
                lambda samples, predictions, sample_weights: Ridge(alpha=1.0, fit_intercept=False).fit(
                    samples, predictions, sample_weight=sample_weights).coef_),
    ),
)

EXERCISES = (q1, q2, q3, q4)
