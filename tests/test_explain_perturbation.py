"""Unit tests of the perturbation explainers: segmentation, lime, kernel_shap, occlusion, rise.

Known answers come from tiny hand-made Keras models whose logits are linear functions of the mean
of known image regions, so the right explanation is known exactly. One quick run per method on the
real EfficientNet-Lite0 and on random-weight MobileNetV2 / ResNet50 checks the zoo contract.
"""
from __future__ import annotations

from itertools import combinations
from math import factorial

import keras
import numpy as np
import pytest

from utils.explain import METHODS, base, count_model_calls
from utils.explain.kernel_shap import kernel_shap_explanation, sample_coalitions
from utils.explain.perturbation import fill_image, mask_images
from utils.explain.segmentation import grid_segments, segment
from utils.lime.image import lime_explanation
from utils.shap_helpers import superpixel_game

base.SHOW_PROGRESS = False
PERTURBATION = ("lime", "kernel_shap", "occlusion", "rise")
QUICK = {"lime": {"num_samples": 40}, "kernel_shap": {"num_samples": 40}, "occlusion": {"window": 56, "stride": 56},
         "rise": {"num_samples": 40}}
SIZE = 32


def region_model(weights: np.ndarray, size: int = SIZE) -> keras.Model:
    """Logit of class 0 = sum_k weights[k] * mean brightness of grid cell k (a 2x2 grid); class 1 = 0.

    Follows the zoo contract: [0, 255] input, softmax layer named "predictions" after the logits.
    """
    n = int(np.sqrt(len(weights)))
    cells = grid_segments(size, size, n)
    kernel = np.zeros((size * size * 3, 2), np.float32)
    for k, w in enumerate(weights):
        area = (cells == k).sum() * 3
        kernel[:, 0] += np.repeat((cells == k).ravel(), 3) * w / area / 255.0
    inputs = keras.Input((size, size, 3))
    flat = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(2, name="logits")(flat)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(logits))
    model.get_layer("logits").set_weights([kernel, np.zeros(2, np.float32)])
    return model


@pytest.fixture(scope="module")
def toy():
    weights = np.array([3.0, 0.0, 0.0, -1.0])  # cell 0 for class 0, cells 1-2 ignored, cell 3 against
    image = np.random.default_rng(0).uniform(60, 250, (SIZE, SIZE, 3)).astype(np.float32)
    return region_model(weights), image, weights


@pytest.fixture(scope="module")
def lite0():
    from utils.data import load_image, sample_images
    from utils.models import load_model

    return load_model(), load_image(sample_images()["chelsea"])


# --------------------------------------------------------------------------- segmentation
@pytest.mark.parametrize("method", ["slic", "quickshift", "felzenszwalb", "grid"])
def test_segment_labels_are_consecutive(lite0, method):
    labels = segment(lite0[1], method)
    assert labels.shape == (224, 224) and labels.dtype == np.int64
    assert set(np.unique(labels)) == set(range(labels.max() + 1))
    assert 10 <= labels.max() + 1 <= 200


def test_segment_rejects_bad_input(toy):
    with pytest.raises(ValueError, match="Unknown segmentation"):
        segment(toy[1], "watershed")
    with pytest.raises(ValueError, match="RGB"):
        segment(toy[1][..., 0])
    with pytest.raises(ValueError, match="grid"):
        segment(toy[1], "grid", n=0)
    with pytest.raises(ValueError, match="Bad parameters"):
        segment(toy[1], "slic", no_such_option=3)


def test_grid_is_n_by_n():
    labels = grid_segments(224, 224, 7)
    assert labels.max() == 48 and (labels == 0).sum() == 32 * 32


def test_mask_images_keeps_and_hides(toy):
    image = toy[1]
    cells = grid_segments(SIZE, SIZE, 2)
    out = mask_images(image, cells, np.array([[1, 0, 1, 0]]), baseline=7.0)
    assert out.shape == (1, SIZE, SIZE, 3)
    np.testing.assert_array_equal(out[0][cells == 0], image[cells == 0])
    assert np.all(out[0][cells == 1] == 7.0)
    mean_fill = fill_image(image, cells, "segment_mean")
    np.testing.assert_allclose(mean_fill[cells == 3].mean(axis=0), image[cells == 3].mean(axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="Unknown baseline"):
        fill_image(image, cells, "sparkle")
    with pytest.raises(ValueError, match="masks must have shape"):
        mask_images(image, cells, np.ones((2, 5)))


def test_fill_image_is_the_one_baseline_image(toy):
    """fill_image only checks the image and hands over to baselines.baseline_image: one meaning of each name."""
    from utils.explain.baselines import BLUR_SIGMA, baseline_image, blurred

    image = toy[1]
    cells = grid_segments(SIZE, SIZE, 2)
    np.testing.assert_array_equal(fill_image(image, baseline="blur"), blurred(image, BLUR_SIGMA))
    assert BLUR_SIGMA == 5.0
    np.testing.assert_array_equal(fill_image(image, cells, "segment_mean"), baseline_image(image, "segment_mean",
                                                                                           segments=cells))
    np.testing.assert_array_equal(fill_image(image, baseline="noise", seed=3), baseline_image(image, "noise", seed=3))
    assert not np.array_equal(fill_image(image, baseline="noise", seed=3), fill_image(image, baseline="noise", seed=4))
    with pytest.raises(ValueError, match="needs superpixels"):
        fill_image(image, baseline="segment_mean")
    with pytest.raises(ValueError, match="RGB"):
        fill_image(image[..., 0], baseline="black")


def test_score_masks_counts_and_matches_predict(toy):
    from utils.explain.perturbation import score_masks

    model, image, _ = toy
    cells = grid_segments(SIZE, SIZE, 2)
    masks = np.array([[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 0, 1]])
    fill = fill_image(image, cells, 0.0)
    with count_model_calls() as calls:
        scores = score_masks(model, image, cells, masks, 0, fill, batch_size=2)
    assert calls[0] == 3 and scores.shape == (3,) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, model.predict(mask_images(image, cells, masks, fill=fill), verbose=0)[:, 0],
                               rtol=1e-5)
    assert scores[1] == pytest.approx(0.5, abs=1e-6)  # every cell black: both logits 0
    with pytest.raises(ValueError, match="output must be 'logit'"):
        score_masks(model, image, cells, masks, 0, fill, output="logits")


# --------------------------------------------------------------------------- every method: contract
@pytest.mark.parametrize("name", PERTURBATION)
def test_registered_shape_finite_and_seeded(toy, name):
    model, image, _ = toy
    options = {"lime": {"num_samples": 64, "segmentation": "grid", "segmentation_params": {"n": 4}},
               "kernel_shap": {"num_samples": 64, "segmentation": "grid", "segmentation_params": {"n": 4}},
               "occlusion": {"window": 8, "stride": 4}, "rise": {"num_samples": 64, "cells": 4}}[name]
    first = METHODS[name](model, image, 0, **options)
    again = METHODS[name](model, image, 0, **options)
    assert first.shape == (SIZE, SIZE) and first.dtype == np.float32 and np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, again)
    if name in ("lime", "kernel_shap", "rise"):
        other = METHODS[name](model, image, 0, **options, seed=1)
        assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", PERTURBATION)
def test_bad_inputs_raise_clear_errors(toy, name):
    model, image, _ = toy
    with pytest.raises(ValueError, match="shape"):
        METHODS[name](model, image[..., :2], 0)
    with pytest.raises(ValueError, match="scaled to \\[0, 1\\]"):
        METHODS[name](model, image / 255.0, 0)
    with pytest.raises(ValueError, match="outside the model's classes"):
        METHODS[name](model, image, 2)
    if name in ("lime", "kernel_shap"):
        with pytest.raises(ValueError, match="Unknown segmentation"):
            METHODS[name](model, image, 0, segmentation="watershed")


@pytest.mark.parametrize("name", PERTURBATION)
@pytest.mark.parametrize("output", ["logits", True, None, "softmax"])
def test_bad_output_gives_one_line_error(toy, name, output):
    model, image, _ = toy
    with pytest.raises(ValueError, match="output must be 'logit'") as error:
        METHODS[name](model, image, 0, output=output)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", PERTURBATION)
def test_old_option_names_are_refused(toy, name):
    model, image, _ = toy
    old = {"lime": "hide_color", "kernel_shap": "hide_color", "occlusion": "logits", "rise": "num_masks"}[name]
    with pytest.raises(ValueError, match=f"does not take the option\\(s\\) '{old}'"):
        METHODS[name](model, image, 0, **{old: 1})


@pytest.mark.parametrize("name", ["occlusion", "rise"])
def test_segment_mean_needs_superpixels(toy, name):
    model, image, _ = toy
    with pytest.raises(ValueError, match="needs superpixels"):
        METHODS[name](model, image, 0, baseline="segment_mean")


@pytest.mark.parametrize("name", PERTURBATION)
@pytest.mark.parametrize("baseline, match", [("sparkle", "Unknown baseline"), (300.0, r"\[0, 255\]"),
                                             (np.zeros((4, 4, 3)), "shape"), (True, "boolean")])
def test_bad_baseline_gives_one_line_error(toy, name, baseline, match):
    model, image, _ = toy
    with pytest.raises(ValueError, match=match) as error:
        METHODS[name](model, image, 0, baseline=baseline)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name, options, match", [
    ("lime", {"num_samples": 2.5}, "num_samples"), ("lime", {"num_samples": 1}, "num_samples"),
    ("lime", {"num_samples": True}, "num_samples"), ("lime", {"num_samples": "1000"}, "num_samples"),
    ("lime", {"kernel_width": "a"}, "kernel_width"), ("lime", {"kernel_width": 0}, "kernel_width"),
    ("lime", {"kernel_width": float("nan")}, "kernel_width"), ("lime", {"num_features": 0}, "num_features"),
    ("lime", {"batch_size": 0}, "batch_size"), ("lime", {"seed": -1}, "seed"),
    ("rise", {"num_samples": 0}, "num_samples"), ("rise", {"num_samples": 2.5}, "num_samples"),
    ("rise", {"num_samples": True}, "num_samples"), ("rise", {"batch_size": 0}, "batch_size"),
    ("rise", {"cells": True}, "cells"), ("rise", {"p_keep": 1.0}, "p_keep"), ("rise", {"seed": 1.5}, "seed"),
    ("occlusion", {"window": 0}, "window"), ("occlusion", {"stride": 2.5}, "stride"),
    ("occlusion", {"window": 64}, "larger than the image"), ("occlusion", {"batch_size": 0}, "batch_size"),
    ("kernel_shap", {"seed": "0"}, "seed")])
def test_bad_option_gives_one_line_error_naming_it(toy, name, options, match):
    model, image, _ = toy
    with pytest.raises(ValueError, match=match) as error:
        METHODS[name](model, image, 0, **options)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("options, match", [({"num_samples": 2.5}, "num_samples"),
                                            ({"num_samples": "1000"}, "num_samples"),
                                            ({"num_samples": 3}, "num_samples"), ({"batch_size": 0}, "batch_size")])
def test_kernel_shap_bad_budget_gives_one_line_error_naming_it(toy, options, match):
    model, image, _ = toy
    with pytest.raises(ValueError, match=match) as error:
        METHODS["kernel_shap"](model, image, 0, segmentation="grid", segmentation_params={"n": 4}, **options)
    assert "\n" not in str(error.value)


# --------------------------------------------------------------------------- known answers
def test_occlusion_of_ignored_region_is_zero(toy):
    model, image, _ = toy
    saliency = METHODS["occlusion"](model, image, 0, window=8, stride=8, output="logit")
    cells = grid_segments(SIZE, SIZE, 2)
    np.testing.assert_allclose(saliency[(cells == 1) | (cells == 2)], 0.0, atol=1e-5)
    assert saliency[cells == 0].min() > 0 and saliency[cells == 3].max() < 0


def test_lime_weights_follow_the_linear_logit(toy):
    model, image, weights = toy
    explanation = lime_explanation(model, image, 0, num_samples=200, segmentation="grid",
                                  segmentation_params={"n": 2}, baseline=0.0, output="logit")
    # The logit is exactly linear in the mask, so the surrogate recovers w_k * mean(cell k) / 255
    # (shrunk a little by the ridge penalty) and fits almost perfectly.
    cells = grid_segments(SIZE, SIZE, 2)
    expected = np.array([weights[k] * image[cells == k].mean() / 255 for k in range(4)])
    assert explanation.score > 0.99
    np.testing.assert_allclose(explanation.weights, expected, atol=0.05 * np.abs(expected).max())
    assert explanation.top_segments(1)[0] == 0 and explanation.top_segments(1, positive=False)[0] == 3


def test_map_functions_return_the_explanation_maps(toy):
    """lime and kernel_shap return exactly the map of lime_explanation and kernel_shap_explanation."""
    model, image, _ = toy
    options = {"num_samples": 50, "segmentation": "grid", "segmentation_params": {"n": 3}, "seed": 2}
    lime_result = lime_explanation(model, image, 0, **options)
    np.testing.assert_array_equal(METHODS["lime"](model, image, 0, **options), lime_result.map)
    shap_result = kernel_shap_explanation(model, image, 0, **options)
    np.testing.assert_array_equal(METHODS["kernel_shap"](model, image, 0, **options), shap_result.map)
    np.testing.assert_array_equal(lime_result.map, lime_result.weights[lime_result.segments].astype(np.float32))
    with pytest.raises(AttributeError):
        lime_result.score = 1.0  # frozen: a result is not edited after the fact


def test_noise_baseline_is_seeded(toy):
    model, image, _ = toy
    options = {"num_samples": 30, "cells": 4, "baseline": "noise"}
    first, again = (METHODS["rise"](model, image, 0, seed=4, **options) for _ in range(2))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, METHODS["rise"](model, image, 0, seed=5, **options))


def test_lime_weights_by_budget_equal_separate_runs(toy):
    from utils.lime.image import refit_by_budget, sample_masks, weights_by_budget

    model, image, _ = toy
    assert np.array_equal(sample_masks(300, 4, seed=3)[:40], sample_masks(40, 4, seed=3))  # prefixes
    cells = grid_segments(SIZE, SIZE, 2)
    with count_model_calls() as calls:
        by_budget = weights_by_budget(model, image, 0, (40, 300, 100), seed=3, segments=cells)
    assert sorted(by_budget) == [40, 100, 300] and calls[0] == 300  # scored once, at the largest budget
    for n, weights in by_budget.items():
        alone = lime_explanation(model, image, 0, num_samples=n, seed=3, segments=cells)
        np.testing.assert_allclose(weights, alone.weights, atol=1e-6)
    with pytest.raises(ValueError, match="budget"):
        weights_by_budget(model, image, 0, (1,), segments=cells)
    with pytest.raises(ValueError, match="budgets between 2 and the 5 samples"):
        refit_by_budget(np.ones((5, 4)), np.ones(5), (10,))


def test_top_k_overlap():
    from utils.lime.image import top_k_overlap

    a = np.array([5.0, 4, 3, 2, 1, 0])
    assert top_k_overlap(a, a, k=3) == 1.0
    assert top_k_overlap(a, a[::-1].copy(), k=3) == 0.0
    assert top_k_overlap(a, np.array([5.0, 4, 0, 2, 1, 3]), k=3) == 2 / 3
    with pytest.raises(ValueError, match="k=7"):
        top_k_overlap(a, a, k=7)


def exact_shapley(value, n_players: int) -> np.ndarray:
    """Shapley values by enumerating every coalition (the definition)."""
    phi = np.zeros(n_players)
    for i in range(n_players):
        others = [j for j in range(n_players) if j != i]
        for size in range(n_players):
            for subset in combinations(others, size):
                weight = factorial(size) * factorial(n_players - size - 1) / factorial(n_players)
                with_i = np.zeros(n_players, int)
                with_i[list(subset)] = 1
                without_i = with_i.copy()
                with_i[i] = 1
                phi[i] += weight * (value(with_i) - value(without_i))
    return phi


def test_kernel_shap_is_exact_with_full_budget_and_efficient(toy):
    model, image, _ = toy
    cells = grid_segments(SIZE, SIZE, 2)
    explanation = kernel_shap_explanation(model, image, 0, num_samples=16, segments=cells, baseline=100.0)
    fill = fill_image(image, cells, 100.0)

    def value(mask):
        return float(base.predict(model, mask_images(image, cells, mask, fill=fill))[0, 0])

    np.testing.assert_allclose(explanation.values, exact_shapley(value, 4), atol=1e-5)
    assert explanation.values.sum() == pytest.approx(explanation.full_value - explanation.base_value, abs=1e-6)
    # Probability output is not linear, yet efficiency holds by construction; the ignored cells get ~0.
    assert abs(explanation.values[1]) < 1e-5 and abs(explanation.values[2]) < 1e-5


def test_kernel_shap_sampled_on_linear_logit(toy):
    model, image, weights = toy
    cells = grid_segments(SIZE, SIZE, 4)  # 16 players, sampled (budget 120 < 2^16)
    explanation = kernel_shap_explanation(model, image, 0, num_samples=120, segments=cells, baseline=0.0,
                                          output="logit")
    # For a linear game the Shapley value of each player is its own contribution.
    game = superpixel_game(model, image, cells, 0, baseline=0.0, output="logit")
    empty = game(np.zeros(16))[0]
    contributions = game(np.eye(16)) - empty
    np.testing.assert_allclose(explanation.values, contributions, atol=1e-4)
    assert explanation.values.sum() == pytest.approx(explanation.full_value - explanation.base_value, abs=1e-5)
    assert np.count_nonzero(np.abs(explanation.values) > 1e-3) == 8  # cells of regions 0 and 3


def test_coalition_sampling_budget_and_weights():
    coalitions, weights = sample_coalitions(50, 998, seed=0)
    assert len(coalitions) <= 998 and len({c.tobytes() for c in coalitions}) == len(coalitions)
    assert weights.sum() == pytest.approx(1.0)
    sizes = coalitions.sum(axis=1)
    assert (sizes == 1).sum() == 50 and (sizes == 49).sum() == 50  # the outer sizes are enumerated
    assert 0 < sizes.min() and sizes.max() < 50


def test_rise_of_a_constant_model_is_exactly_its_constant():
    inputs = keras.Input((SIZE, SIZE, 3))
    logits = keras.layers.Dense(2, name="logits", kernel_initializer="zeros", bias_initializer="ones")(
        keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(logits))
    image = np.full((SIZE, SIZE, 3), 120.0, np.float32)
    saliency = METHODS["rise"](model, image, 0, num_samples=256, cells=4)
    # f = 0.5 for every mask, so E[f | pixel kept] = 0.5 at every pixel; dividing by N p instead would
    # leave each pixel's coverage noise (a spread of several percent at 256 masks).
    assert np.abs(saliency - 0.5).max() < 1e-6


def test_rise_masks_follow_the_authors_generate_masks():
    """The masks equal eclique/RISE's generate_masks: skimage's bilinear resize of the s x s grid to
    (s + 1) * ceil(H / s) pixels, cropped at the drawn shift (same grids and shifts, same generator)."""
    from skimage.transform import resize

    from utils.explain.rise import rise_masks

    height, width, cells = 224, 200, 7
    masks = rise_masks(6, height, width, cells, 0.5, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    grids = (rng.random((6, cells, cells)) < 0.5).astype(np.float32)
    cell = np.ceil(np.array([height, width]) / cells).astype(int)
    shifts = rng.integers(0, cell, size=(6, 2))
    for mask, grid, (dy, dx) in zip(masks, grids, shifts):
        big = resize(grid, (cells + 1) * cell, order=1, mode="reflect", anti_aliasing=False)
        np.testing.assert_allclose(mask, big[dy:dy + height, dx:dx + width], atol=1e-6)
    # One grid cell spans (s + 1) * cell / s = 36.6 px on 224 px (a padded 8 x 8 grid would give 32).
    assert (cells + 1) * cell[0] / cells == pytest.approx(36.57, abs=0.01)


def test_rise_is_the_coverage_weighted_mean_score(toy):
    """sum_i f_i M_i / sum_i M_i, recomputed from the same masks and the model's scores."""
    from utils.explain.rise import rise_masks

    model, image, _ = toy
    saliency = METHODS["rise"](model, image, 0, num_samples=70, cells=4, output="logit", seed=5, batch_size=32)
    rng = base.rng(5)
    masks = np.concatenate([rise_masks(n, SIZE, SIZE, 4, 0.5, rng) for n in (32, 32, 6)])  # batch by batch
    logit = keras.Model(model.inputs, model.get_layer("logits").output)
    scores = logit.predict(masks[..., None] * image[None], verbose=0)[:, 0].astype(np.float64)
    expected = np.tensordot(scores, masks, axes=1) / masks.sum(axis=0)
    np.testing.assert_allclose(saliency, expected, rtol=1e-5, atol=1e-6)


def test_rise_ranks_the_toy_cells_by_their_weight(toy):
    """Logit = 3 * mean(cell 0) - mean(cell 3): E[logit | pixel kept] is highest on cell 0 and lowest on
    cell 3, with the ignored cells 1 and 2 in between; two seeds agree closely at 2000 masks."""
    model, image, _ = toy
    cells = grid_segments(SIZE, SIZE, 2)
    maps = [METHODS["rise"](model, image, 0, num_samples=2000, cells=4, output="logit", seed=s) for s in (0, 1)]
    for saliency in maps:
        means = [saliency[cells == k].mean() for k in range(4)]
        assert means[0] > max(means[1], means[2]) and min(means[1], means[2]) > means[3], means
    assert np.corrcoef(maps[0].ravel(), maps[1].ravel())[0, 1] > 0.95


# --------------------------------------------------------------------------- zoo models
@pytest.mark.parametrize("name", PERTURBATION)
def test_on_lite0_counts_model_calls(lite0, name):
    model, image = lite0
    with count_model_calls() as calls:
        saliency = METHODS[name](model, image, 282, **QUICK[name])
    assert saliency.shape == (224, 224) and np.all(np.isfinite(saliency)) and saliency.std() > 0
    expected = {"lime": 40, "kernel_shap": 40, "occlusion": 4 * 4 + 1, "rise": 40}[name]
    assert calls[0] <= expected and calls[0] >= expected - 2


@pytest.mark.parametrize("zoo_name", ["mobilenet_v2", "resnet50"])
def test_random_keras_applications_models(lite0, zoo_name):
    from helpers_models import random_zoo_model

    model = random_zoo_model(zoo_name)
    image = lite0[1]
    for name in PERTURBATION:
        options = {**QUICK[name], **({"num_samples": 8} if name in ("lime", "kernel_shap") else {}),
                   **({"num_samples": 8} if name == "rise" else {}), **({"window": 112, "stride": 112}
                                                                      if name == "occlusion" else {})}
        saliency = METHODS[name](model, image, 3, **options)
        assert saliency.shape == (224, 224) and np.all(np.isfinite(saliency))
