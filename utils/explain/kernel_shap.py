"""KernelSHAP over superpixels (Lundberg & Lee, 2017), from scratch.

Introduced in notebook 06. The players of the game are the K superpixels; a coalition z in {0, 1}^K
keeps its superpixels and hides the rest; the payoff v(z) is the model's probability of the target
on that image. Shapley values are the unique attribution with efficiency, symmetry, dummy and
additivity; KernelSHAP finds them as a weighted linear regression of v(z) on z:

* the Shapley kernel weight of a coalition of size s is (K - 1) / (C(K, s) s (K - s)), infinite for
  the empty and full coalitions, which are therefore not sampled but enforced as constraints:
  phi_0 = v(0) and sum(phi) = v(1) - v(0) (efficiency);
* coalitions are chosen as the shap package does: sizes are visited from the outside in (1 and
  K - 1, then 2 and K - 2, ...); a size pair whose every coalition fits in the remaining budget is
  enumerated completely with its exact weights; the remaining budget is sampled, a size drawn in
  proportion to the kernel mass left and a random coalition of that size together with its
  complement (paired sampling); repeated draws add weight instead of model calls;
* the regression is solved with the efficiency constraint eliminated (the last player's value is
  v(1) - v(0) minus the others'), so the attributions sum to v(1) - v(0) exactly.

With a budget of 2^K coalitions every size is enumerated and the result equals the exact Shapley
values of the game (tested). ``num_samples`` counts model evaluations, the empty and full included.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np

from utils.explain import base
from utils.explain.baselines import Baseline
from utils.explain.perturbation import fill_image, score_masks
from utils.explain.registry import explainer
from utils.explain.segmentation import superpixels


@dataclass(frozen=True, slots=True)
class KernelShapExplanation:
    """Superpixel Shapley values and the game they come from (notebook 06): :func:`kernel_shap_explanation`."""

    map: np.ndarray  # (H, W): each pixel's superpixel value
    segments: np.ndarray
    values: np.ndarray  # (K,) Shapley value estimates; sum == full - empty
    base_value: float  # v(empty coalition): every superpixel hidden
    full_value: float  # v(full coalition): the image itself
    coalitions: np.ndarray  # (n, K) evaluated coalitions (without empty and full)
    coalition_weights: np.ndarray  # (n,) kernel weights used in the regression
    payoffs: np.ndarray  # (n,) model scores of those coalitions


def shapley_kernel_size_mass(n_players: int) -> np.ndarray:
    """Total Shapley-kernel weight of each coalition size s = 1..K-1 (normalised to sum to 1).

    The kernel weight of one coalition, (K-1) / (C(K,s) s (K-s)), times the C(K,s) coalitions of
    that size gives (K-1) / (s (K-s)) per size.
    """
    sizes = np.arange(1, n_players)
    mass = (n_players - 1) / (sizes * (n_players - sizes))
    return mass / mass.sum()


def sample_coalitions(n_players: int, budget: int, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Coalitions (excluding empty and full) and their regression weights, chosen as KernelSHAP does.

    Returns ``(coalitions of shape (n, K) int8, weights of shape (n,))`` with n <= ``budget``.
    """
    if n_players < 2:
        raise ValueError(f"KernelSHAP needs at least 2 players (superpixels), got {n_players}.")
    size_mass = shapley_kernel_size_mass(n_players)  # index s-1
    n_pairs = n_players // 2  # size pairs (s, K-s) for s = 1..K//2
    coalitions: list[np.ndarray] = []
    weights: list[float] = []
    remaining_budget = budget
    remaining_mass = 1.0
    complete_sizes: set[int] = set()
    for s in range(1, n_pairs + 1):
        paired = s != n_players - s
        count = comb(n_players, s) * (2 if paired else 1)
        if count > remaining_budget:
            break
        sizes = (s, n_players - s) if paired else (s,)
        for size in sizes:
            per_coalition = size_mass[size - 1] / comb(n_players, size)
            for members in combinations(range(n_players), size):
                row = np.zeros(n_players, np.int8)
                row[list(members)] = 1
                coalitions.append(row)
                weights.append(per_coalition)
            remaining_mass -= size_mass[size - 1]
            complete_sizes.add(size)
        remaining_budget -= count
    open_sizes = np.array([s for s in range(1, n_players) if s not in complete_sizes])
    if remaining_budget >= 2 and len(open_sizes):
        random = base.rng(seed)
        probs = size_mass[open_sizes - 1] / size_mass[open_sizes - 1].sum()
        drawn: dict[bytes, int] = {}
        order: list[np.ndarray] = []
        draws = 0
        # Distinct coalitions are capped by the budget; repeats only add weight (bounded number of tries).
        while len(order) + 1 < remaining_budget and draws < 50 * remaining_budget:
            size = random.choice(open_sizes, p=probs)
            row = np.zeros(n_players, np.int8)
            row[random.permutation(n_players)[:size]] = 1
            for candidate in (row, 1 - row):  # paired sampling: a coalition and its complement
                key = candidate.tobytes()
                if key not in drawn:
                    drawn[key] = 0
                    order.append(candidate)
                drawn[key] += 1
            draws += 1
        counts = np.array([drawn[row.tobytes()] for row in order], dtype=np.float64)
        coalitions.extend(order)
        weights.extend(counts / counts.sum() * remaining_mass)
    if not coalitions:
        raise ValueError(f"num_samples={budget + 2} is too small for {n_players} superpixels; "
                         f"use at least {min(2 * n_players, 2 ** n_players - 2) + 2}.")
    return np.array(coalitions, dtype=np.int8), np.array(weights, dtype=np.float64)


def solve_constrained(coalitions: np.ndarray, payoffs: np.ndarray, weights: np.ndarray, base_value: float,
                      full_value: float) -> np.ndarray:
    """Weighted least squares for phi with sum(phi) = full - base (the last player eliminated)."""
    z = coalitions.astype(np.float64)
    total = full_value - base_value
    y = payoffs - base_value - z[:, -1] * total
    x = z[:, :-1] - z[:, -1:]
    root = np.sqrt(weights)[:, None]
    phi_rest, *_ = np.linalg.lstsq(x * root, y * root[:, 0], rcond=None)
    return np.append(phi_rest, total - phi_rest.sum())


def kernel_shap_explanation(model, image: np.ndarray, target: int, *, num_samples: int = 1000,
                            segmentation: str = "slic", segmentation_params: dict | None = None,
                            segments: np.ndarray | None = None, baseline: Baseline = "segment_mean",
                            output: str = "probability", seed: int | None = 0,
                            batch_size: int = base.DEFAULT_BATCH_SIZE,
                            progress: bool | None = None) -> KernelShapExplanation:
    """Superpixel KernelSHAP of class ``target`` with everything it computed (options as :func:`kernel_shap`)."""
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    base.check_output(output)
    num_samples = base.check_count("num_samples", num_samples, minimum=4)
    batch_size = base.check_count("batch_size", batch_size)
    seed = base.check_seed(seed)
    segments = superpixels(image, segmentation, segmentation_params, segments)
    n_players = int(segments.max()) + 1
    coalitions, weights = sample_coalitions(n_players, num_samples - 2, seed)
    masks = np.concatenate([np.ones((1, n_players), np.int8), np.zeros((1, n_players), np.int8), coalitions])
    fill = fill_image(image, segments, baseline, seed=seed)
    scores = score_masks(model, image, segments, masks, target, fill, batch_size=batch_size, output=output,
                         show_progress=progress, desc="KernelSHAP").astype(np.float64)
    full_value, base_value, payoffs = float(scores[0]), float(scores[1]), scores[2:]
    values = solve_constrained(coalitions, payoffs, weights, base_value, full_value)
    return KernelShapExplanation(values[segments].astype(np.float32), segments, values, base_value, full_value,
                                 coalitions, weights, payoffs)


@explainer("kernel_shap", family="perturbation", signed=True, needs_gradients=False, stochastic=True,
           budget="num_samples", quick={"num_samples": 500}, order=2)
def kernel_shap(model, image: np.ndarray, target: int, *, num_samples: int = 1000, segmentation: str = "slic",
                segmentation_params: dict | None = None, segments: np.ndarray | None = None,
                baseline: Baseline = "segment_mean", output: str = "probability", seed: int | None = 0,
                batch_size: int = base.DEFAULT_BATCH_SIZE, progress: bool | None = None) -> np.ndarray:
    """Superpixel KernelSHAP map of class ``target``: each pixel gets its superpixel's Shapley value.

    ``num_samples`` model evaluations (the empty and full coalitions included); superpixels,
    ``baseline`` (what a hidden superpixel shows, default each superpixel's mean colour) and ``output``
    (``"probability"`` or ``"logit"``) as in :func:`utils.lime.image.lime`. The values sum to
    v(image) - v(all hidden) exactly. ``num_samples`` (>= 4) and ``batch_size`` (>= 1) must be whole
    numbers (a ValueError names the option otherwise). Returns an (H, W) float32 map;
    :func:`kernel_shap_explanation` returns the values, the game and the coalitions too.
    """
    return kernel_shap_explanation(model, image, target, num_samples=num_samples, segmentation=segmentation,
                                   segmentation_params=segmentation_params, segments=segments, baseline=baseline,
                                   output=output, seed=seed, batch_size=batch_size, progress=progress).map
