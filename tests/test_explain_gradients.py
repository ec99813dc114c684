"""Tests of the gradient explainers: Grad-CAM family, saliency/SmoothGrad/guided backprop, Integrated Gradients.

Known answers on tiny hand-built Keras models (linear, one conv channel, one hidden ReLU layer), agreement
with tf-keras-vis and eli5 on the real Lite0 model, and every method on random-weight MobileNetV2/ResNet50.
"""
from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers_models import random_zoo_model

from utils.data import load_image, sample_images
from utils.explain import METHODS, base, count_model_calls
from utils.explain.gradcam import grad_cam, grad_cam_pp, guided_grad_cam, score_cam
from utils.explain.gradients import (
    gradient_x_input,
    guided_backprop,
    guided_gradients,
    guided_model,
    saliency,
    smoothgrad,
)
from utils.explain.integrated_gradients import (
    completeness_gap,
    integrated_gradients,
    integrated_gradients_adaptive,
    integrated_gradients_result,
    make_baselines,
)
from utils.models import load_model, logits_model

GRADIENT_METHODS = ["grad_cam", "grad_cam_pp", "score_cam", "guided_grad_cam", "saliency", "gradient_x_input",
                    "smoothgrad", "guided_backprop", "integrated_gradients"]
# Small settings so that every method runs in well under a second on Lite0.
QUICK = {"score_cam": {"num_samples": 8, "progress": False}, "smoothgrad": {"num_samples": 4},
         "integrated_gradients": {"num_samples": 8}}


def corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def lite0():
    return load_model()


@pytest.fixture(scope="module")
def cat(lite0):
    image = load_image(sample_images()["chelsea"])
    return image, int(base.predict(lite0, image[None]).argmax())


def _with_softmax(inputs, logits, name):
    return keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(logits), name=name)


@pytest.fixture(scope="module")
def linear():
    """logits = W . flatten(x) + b on 8x8 RGB images, 3 classes; returns (model, W as (8, 8, 3, 3))."""
    inputs = keras.Input((8, 8, 3))
    dense = keras.layers.Dense(3, name="logits")
    model = _with_softmax(inputs, dense(keras.layers.Flatten()(inputs)), "linear")
    w = np.random.default_rng(0).normal(0, 0.01, size=(192, 3)).astype(np.float32)
    dense.set_weights([w, np.array([0.1, -0.2, 0.3], np.float32)])
    return model, w.reshape(8, 8, 3, 3)


@pytest.fixture(scope="module")
def red_channel_cam():
    """Conv 1x1 features: channel 0 = red, channel 1 = green; logit 0 = mean of channel 0, logit 1 = of channel 1."""
    inputs = keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(2, 1, use_bias=False, name="features")
    feats = conv(inputs)
    dense = keras.layers.Dense(2, name="logits")
    model = _with_softmax(inputs, dense(keras.layers.GlobalAveragePooling2D()(feats)), "red_cam")
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[0, 0, 0, 0] = kernel[0, 0, 1, 1] = 1.0 / 255
    conv.set_weights([kernel])
    dense.set_weights([np.eye(2, dtype=np.float32), np.zeros(2, np.float32)])
    return model


@pytest.fixture(scope="module")
def small_cnn():
    """A small random CNN with ReLUs (nonlinear, cheap) for path and determinism tests."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv2")(x)
    x = keras.layers.ReLU(max_value=6.0, name="relu2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return _with_softmax(inputs, keras.layers.Dense(4, name="logits")(x), "small_cnn")


@pytest.fixture(scope="module")
def small_image():
    return np.random.default_rng(3).uniform(0, 255, size=(16, 16, 3)).astype(np.float32)


# --------------------------------------------------------------------------- registry, shapes, finiteness
def test_methods_registered():
    assert set(GRADIENT_METHODS) <= set(METHODS)


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_shape_finite_and_deterministic_on_lite0(lite0, cat, name):
    image, target = cat
    first = METHODS[name](lite0, image, target, **QUICK.get(name, {}))
    again = METHODS[name](lite0, image, target, **QUICK.get(name, {}))
    assert first.shape == (224, 224) and first.dtype == np.float32
    assert np.all(np.isfinite(first)) and np.abs(first).max() > 0
    np.testing.assert_allclose(first, again, rtol=1e-5, atol=1e-7 * float(np.abs(first).max()))


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet50"])
def test_every_method_runs_on_random_keras_applications(name, cat):
    model = random_zoo_model(name)
    image, _ = cat
    for method in GRADIENT_METHODS:
        result = METHODS[method](model, image, 3, **QUICK.get(method, {}))
        assert result.shape == (224, 224), method
        assert np.all(np.isfinite(result)), method


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_bad_inputs_raise_clear_errors(lite0, cat, name):
    image, target = cat
    method, options = METHODS[name], QUICK.get(name, {})
    with pytest.raises(ValueError, match="224x224"):
        method(lite0, np.zeros((100, 100, 3), np.float32) + 5, target, **options)
    with pytest.raises(ValueError, match="shape"):
        method(lite0, image[..., 0], target, **options)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        method(lite0, image / 255.0, target, **options)
    with pytest.raises(ValueError, match="outside the model's classes"):
        method(lite0, image, 1000, **options)
    with pytest.raises(ValueError, match="class index"):
        method(lite0, image, "tabby", **options)


@pytest.mark.parametrize("name", ["grad_cam", "grad_cam_pp", "score_cam", "guided_grad_cam"])
def test_missing_layer_lists_spatial_layers(lite0, cat, name):
    image, target = cat
    with pytest.raises(ValueError, match="top_activation"):
        METHODS[name](lite0, image, target, layer="conv_that_does_not_exist")


@pytest.mark.parametrize("name", ["grad_cam", "grad_cam_pp", "score_cam"])
def test_cam_needs_a_convolutional_layer(linear, name):
    model, _ = linear
    image = np.full((8, 8, 3), 100.0, np.float32)
    with pytest.raises(ValueError, match="no convolutional layer"):
        METHODS[name](model, image, 0)


def test_option_errors(lite0, cat, small_cnn, small_image):
    image, target = cat
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(small_cnn, small_image, 0, baseline="grey")
    with pytest.raises(ValueError, match="shape"):
        integrated_gradients(small_cnn, small_image, 0, baseline=np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match="num_samples"):
        integrated_gradients(small_cnn, small_image, 0, num_samples=0)
    with pytest.raises(ValueError, match="tolerance"):
        integrated_gradients_adaptive(small_cnn, small_image, 0, tolerance=0)
    with pytest.raises(ValueError, match="samples"):
        smoothgrad(small_cnn, small_image, 0, num_samples=0)
    with pytest.raises(ValueError, match="num_samples"):
        score_cam(lite0, image, target, num_samples=0)


@pytest.mark.parametrize("options, match", [({"num_samples": 2.5}, "num_samples"),
                                            ({"num_samples": "64"}, "num_samples"),
                                            ({"num_samples": True}, "num_samples"), ({"batch_size": 0}, "batch_size"),
                                            ({"output": "logits"}, "output must be 'logit'")])
def test_score_cam_bad_budget_gives_one_line_error_naming_it(small_cnn, small_image, options, match):
    with pytest.raises(ValueError, match=match) as error:
        score_cam(small_cnn, small_image, 0, **options)
    assert "\n" not in str(error.value)


IG_BAD_OPTIONS = [
    ("integrated_gradients", {"seed": "0"}, "seed"),
    ("integrated_gradients", {"seed": -1}, "seed"),
    ("integrated_gradients", {"baseline": "noise", "seed": 1.5}, "seed"),
    ("integrated_gradients", {"num_samples": 2.5}, "num_samples"),
    ("integrated_gradients", {"num_samples": "64"}, "num_samples"),
    ("integrated_gradients", {"output": "softmax"}, "output must be 'logit'"),
    ("integrated_gradients", {"batch_size": 0}, "batch_size"),
    ("integrated_gradients", {"baseline": "noise", "num_baselines": 0}, "num_baselines"),
    ("integrated_gradients_adaptive", {"seed": "0"}, "seed"),
    ("integrated_gradients_adaptive", {"start_samples": 0}, "start_samples"),
    ("integrated_gradients_adaptive", {"max_samples": 64.5}, "max_samples"),
    ("integrated_gradients_adaptive", {"start_samples": 64, "max_samples": 32},
     r"start_samples \(64\) is larger than max_samples"),
    ("integrated_gradients_adaptive", {"tolerance": "0.01"}, "tolerance"),
    ("completeness_curve", {"seed": "0"}, "seed"),
    ("completeness_curve", {"num_samples": (8, 0)}, "num_samples"),
    ("completeness_curve", {"num_samples": ()}, "at least one"),
    ("completeness_curve", {"num_samples": (8, 12)}, "multiple"),
    ("completeness_gap", {"seed": "0"}, "seed"),
    ("completeness_gap", {"output": "logits"}, "output must be 'logit'"),
]


@pytest.mark.parametrize("name, options, match", IG_BAD_OPTIONS)
def test_ig_bad_options_give_one_line_errors_naming_them(small_cnn, small_image, name, options, match):
    import utils.explain.integrated_gradients as ig

    args = (small_cnn, small_image, 0) + ((np.zeros((16, 16)),) if name == "completeness_gap" else ())
    with pytest.raises(ValueError, match=match) as error:
        getattr(ig, name)(*args, **options)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("options, match", [
    ({"num_samples": 2.5}, "num_samples must be a whole number"),
    ({"num_samples": 0}, "num_samples must be a whole number"),
    ({"num_samples": "25"}, "num_samples must be a whole number"),
    ({"batch_size": 0}, "batch_size must be a whole number"),
    ({"noise_level": -0.1}, "noise_level is a fraction"),
    ({"noise_level": "0.15"}, "noise_level is a fraction"),
    ({"seed": "abc"}, "seed must be a whole number"),
])
def test_smoothgrad_bad_options_give_one_line_errors_naming_them(small_cnn, small_image, options, match):
    with pytest.raises(ValueError, match=match) as error:
        smoothgrad(small_cnn, small_image, 0, **{"num_samples": 4, **options})
    assert "\n" not in str(error.value)


# --------------------------------------------------------------------------- known answers on tiny models
def test_ig_on_linear_model_is_exact(linear):
    model, w = linear
    image = np.random.default_rng(1).uniform(0, 255, size=(8, 8, 3)).astype(np.float32)
    for baseline in ("black", "white", "mean", "blur", "noise", 127.0):
        b = make_baselines(image, baseline, 1, seed=0)[0]
        expected = ((image - b) * w[..., 2]).sum(axis=-1)
        result = integrated_gradients_result(model, image, 2, baseline=baseline, num_samples=4)
        np.testing.assert_allclose(result.map, expected, atol=1e-4 * np.abs(expected).max() + 1e-6)
        assert result.gap < 1e-4 and result.history == ((4, result.gap),), (baseline, result.gap)
        np.testing.assert_array_equal(result.map, result.attributions.sum(axis=-1))
        assert completeness_gap(model, image, 2, result.map, baseline=baseline) < 1e-4


def test_ig_baselines_are_those_of_the_baselines_module(small_image):
    """"blur" is the one sigma-5 blur of utils.explain.baselines; several noise baselines use seeds seed, seed + 1."""
    from utils.explain.baselines import baseline_image, blurred

    np.testing.assert_array_equal(make_baselines(small_image, "blur")[0], blurred(small_image, 5.0))
    noise = make_baselines(small_image, "noise", 3, seed=5)
    assert noise.shape == (3, 16, 16, 3)
    for i, b in enumerate(noise):
        np.testing.assert_array_equal(b, baseline_image(small_image, "noise", seed=5 + i))
    assert make_baselines(small_image, "white", 3).shape == (1, 16, 16, 3)  # identical baselines: one


def test_probability_output_is_the_softmax_chain_rule_on_a_linear_model(linear):
    """With logits z = W x, d p_t / dx = p_t (w_t - sum_c p_c w_c): Gradient x Input and IG of the probability."""
    model, w = linear
    image = np.random.default_rng(5).uniform(0, 60, size=(8, 8, 3)).astype(np.float32)
    p = base.predict(model, image[None]).astype(np.float64)[0]
    grad = p[1] * (w[..., 1] - np.tensordot(w, p, axes=([3], [0])))
    expected = (grad * image).sum(axis=-1)
    np.testing.assert_allclose(gradient_x_input(model, image, 1, output="probability"), expected, rtol=1e-3,
                               atol=1e-6 * np.abs(expected).max())
    assert not np.allclose(gradient_x_input(model, image, 1), expected)
    result = integrated_gradients_result(model, image, 1, output="probability", num_samples=64)
    assert result.gap < 0.01, result.gap  # completeness holds for the probability too, at enough samples
    assert completeness_gap(model, image, 1, result.map, output="probability") == pytest.approx(result.gap, abs=1e-5)


def test_saliency_and_gradient_x_input_of_linear_model(linear):
    model, w = linear
    image = np.random.default_rng(2).uniform(0, 255, size=(8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(saliency(model, image, 1), np.abs(w[..., 1]).max(axis=-1), rtol=1e-5)
    np.testing.assert_allclose(gradient_x_input(model, image, 1), (image * w[..., 1]).sum(-1), rtol=1e-4, atol=1e-5)
    # SmoothGrad of a linear model: the gradient is the same at every noisy copy.
    np.testing.assert_allclose(smoothgrad(model, image, 1, num_samples=3), np.abs(w[..., 1]).max(axis=-1), rtol=1e-5)


def test_grad_cam_highlights_where_the_channel_is_active(red_channel_cam):
    image = np.full((16, 16, 3), 20.0, np.float32)
    image[4:8, 10:14, 0] = 250.0   # a red square
    image[10:14, 2:6, 1] = 250.0   # a green square
    red = image[..., 0] / 255
    cam_red = grad_cam(red_channel_cam, image, 0, layer="features", upsample=False)
    np.testing.assert_allclose(cam_red, red / 256, rtol=1e-5)  # weight 1/(16*16) times channel 0
    assert cam_red[4:8, 10:14].min() > cam_red.max() * 0.99 and cam_red[10:14, 2:6].max() < cam_red.max() * 0.1
    cam_green = grad_cam(red_channel_cam, image, 1, layer="features", upsample=False)
    assert np.unravel_index(cam_green.argmax(), cam_green.shape)[0] in range(10, 14)
    assert corr(grad_cam_pp(red_channel_cam, image, 0, layer="features", upsample=False), red) > 0.999
    # Score-CAM weighs both channels by softmax scores, so the red channel only dominates.
    scored = score_cam(red_channel_cam, image, 0, layer="features", upsample=False)
    assert scored[4:8, 10:14].min() > scored[10:14, 2:6].max()


def test_guided_backprop_matches_hand_formula():
    """y = v . relu(W x): guided gradient = W^T (max(v, 0) * [W x > 0])."""
    inputs = keras.Input((2, 2, 3))
    hidden = keras.layers.Dense(5, activation="relu", name="hidden")
    out = keras.layers.Dense(2, use_bias=False, name="logits")
    model = _with_softmax(inputs, out(hidden(keras.layers.Flatten()(inputs))), "mlp")
    rng = np.random.default_rng(4)
    w, v = rng.normal(size=(12, 5)).astype(np.float32), rng.normal(size=(5, 2)).astype(np.float32)
    hidden.set_weights([w, np.zeros(5, np.float32)])
    out.set_weights([v])
    x = rng.uniform(0, 255, size=(2, 2, 3)).astype(np.float32)
    z = x.reshape(-1) @ w
    expected = w @ (np.maximum(v[:, 0], 0) * (z > 0))
    np.testing.assert_allclose(guided_gradients(model, x[None], 0)[0].reshape(-1), expected, rtol=1e-5, atol=1e-6)


def test_guided_model_on_lite0_keeps_the_forward_pass(lite0, cat):
    image, target = cat
    guided = guided_model(lite0)
    n_guided = sum(type(layer).__name__ == "GuidedReLU" for layer in guided.layers)
    n_relu = sum(isinstance(layer, keras.layers.ReLU) for layer in lite0.layers)
    assert n_guided == n_relu > 30
    np.testing.assert_allclose(guided.predict(image[None], verbose=0),
                               base.predict(lite0, image[None], output="logit"), rtol=1e-4, atol=1e-3)
    gb = guided_backprop(lite0, image, target)
    assert corr(gb, saliency(lite0, image, target)) < 0.9  # it is not the plain gradient
    ggc = guided_grad_cam(lite0, image, target)
    np.testing.assert_allclose(ggc, grad_cam(lite0, image, target) * gb, rtol=1e-5)


def test_seeds(small_cnn, small_image):
    a = smoothgrad(small_cnn, small_image, 1, num_samples=5, seed=7)
    np.testing.assert_array_equal(a, smoothgrad(small_cnn, small_image, 1, num_samples=5, seed=7))
    assert not np.array_equal(a, smoothgrad(small_cnn, small_image, 1, num_samples=5, seed=8))
    b = integrated_gradients(small_cnn, small_image, 1, baseline="noise", num_samples=4, num_baselines=2, seed=3)
    np.testing.assert_array_equal(b, integrated_gradients(small_cnn, small_image, 1, baseline="noise", num_samples=4,
                                                          num_baselines=2, seed=3))
    assert not np.array_equal(b, integrated_gradients(small_cnn, small_image, 1, baseline="noise", num_samples=4,
                                                      seed=4))


def test_ig_adaptive_reuses_points_and_matches_a_fixed_budget(small_cnn, small_image):
    with count_model_calls() as calls:
        adaptive = integrated_gradients_adaptive(small_cnn, small_image, 2, tolerance=1e-12, start_samples=4,
                                                 max_samples=32)
    assert [s for s, _ in adaptive.history] == [4, 8, 16, 32] and adaptive.num_samples == 32
    assert calls[0] == 33  # 32 intervals = 33 points, each evaluated once
    fixed = integrated_gradients_result(small_cnn, small_image, 2, num_samples=32)
    np.testing.assert_allclose(adaptive.map, fixed.map, rtol=1e-4, atol=1e-6 * np.abs(fixed.map).max())
    assert abs(fixed.gap - adaptive.gap) < 1e-6 and adaptive.history[-1] == (32, adaptive.gap)
    assert abs(completeness_gap(small_cnn, small_image, 2, fixed.map) - fixed.gap) < 1e-4
    easy = integrated_gradients_adaptive(small_cnn, small_image, 2, tolerance=0.5, start_samples=4)
    assert easy.gap < 0.5 and easy.history[-1][1] == easy.gap
    assert all(gap >= 0.5 for _, gap in easy.history[:-1])  # it stopped at the first budget under the tolerance


def test_ig_averaged_noise_baselines(small_cnn, small_image):
    from utils.explain.integrated_gradients import score_difference

    single = [integrated_gradients_result(small_cnn, small_image, 0, baseline=np.asarray(b), num_samples=16)
              for b in make_baselines(small_image, "noise", 3, seed=5)]
    averaged = integrated_gradients_result(small_cnn, small_image, 0, baseline="noise", num_baselines=3, seed=5,
                                           num_samples=16)
    np.testing.assert_allclose(averaged.attributions, np.mean([s.attributions for s in single], axis=0), rtol=1e-5,
                               atol=1e-7)
    differences = [score_difference(small_cnn, small_image, 0, s.map, baseline=b)[1]
                   for s, b in zip(single, make_baselines(small_image, "noise", 3, seed=5))]
    _, difference, gap = score_difference(small_cnn, small_image, 0, averaged.map, baseline="noise", num_baselines=3,
                                          seed=5)
    assert difference == pytest.approx(np.mean(differences), rel=1e-5)
    assert gap == pytest.approx(averaged.gap, rel=1e-4, abs=1e-7)


def test_call_counts(lite0, cat):
    image, target = cat
    with count_model_calls() as calls:
        integrated_gradients(lite0, image, target, num_samples=8)
    assert calls[0] == 9
    with count_model_calls() as calls:
        score_cam(lite0, image, target, num_samples=8, progress=False)
    assert calls[0] == 9  # one pass for the feature maps, one per map


# --------------------------------------------------------------------------- Lite0: options and libraries
def test_grad_cam_options(lite0, cat):
    image, target = cat
    coarse = grad_cam(lite0, image, target, upsample=False)
    assert coarse.shape == (7, 7) and coarse.min() >= 0
    np.testing.assert_allclose(grad_cam(lite0, image, target), base.resize_map(coarse, (224, 224)), rtol=1e-5,
                               atol=1e-6)
    assert grad_cam(lite0, image, target, layer="block15_project_bn", upsample=False).shape == (7, 7)
    assert grad_cam(lite0, image, target, layer="block10_add", upsample=False).shape == (14, 14)
    probability = grad_cam(lite0, image, target, upsample=False, output="probability")
    assert np.all(np.isfinite(probability)) and not np.allclose(probability / probability.max(), coarse / coarse.max())


def test_grad_cam_agrees_with_tf_keras_vis_and_eli5(lite0, cat):
    import eli5
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    image, target = cat
    net, layer = logits_model(lite0), "top_activation"
    kwargs = dict(penultimate_layer=layer, seek_penultimate_conv_layer=False, expand_cam=False)
    ours = grad_cam(lite0, image, target, layer=layer, upsample=False)
    theirs = Gradcam(net, clone=False)(CategoricalScore([target]), image[None], **kwargs)[0]
    assert corr(ours, theirs) >= 0.99
    heatmap = eli5.explain_prediction(net, image[None], targets=[target], layer=layer).targets[0].heatmap
    assert corr(ours, heatmap) >= 0.99
    pp = GradcamPlusPlus(net, clone=False)(CategoricalScore([target]), image[None], **kwargs)[0]
    assert corr(grad_cam_pp(lite0, image, target, layer=layer, upsample=False), pp) >= 0.99
    sc = Scorecam(net, clone=False)(CategoricalScore([target]), image[None], max_N=16, **kwargs)[0]
    assert corr(score_cam(lite0, image, target, layer=layer, num_samples=16, upsample=False, progress=False),
                sc) >= 0.98


def test_completeness_curve_matches_fixed_budgets(small_cnn, small_image):
    from utils.explain.integrated_gradients import completeness_curve

    with count_model_calls() as calls:
        curve = completeness_curve(small_cnn, small_image, 3, num_samples=(8, 2, 4))
    assert list(curve.gaps) == list(curve.maps) == [2, 4, 8] and calls[0] == 9  # one grid refined: 9 points
    for n, gap in curve.gaps.items():
        fixed = integrated_gradients_result(small_cnn, small_image, 3, num_samples=n)
        assert gap == pytest.approx(fixed.gap, rel=1e-4, abs=1e-7)
        np.testing.assert_allclose(curve.maps[n], fixed.map, rtol=1e-4, atol=1e-6 * np.abs(fixed.map).max())


def test_clip_outliers_keeps_sign_and_clips_the_tail():
    from utils.plot import clip_outliers

    values = np.concatenate([np.linspace(-1, 1, 98), [-50.0, 80.0]])
    clipped = clip_outliers(values, percentile=98)
    limit = np.percentile(np.abs(values), 98)
    assert np.abs(clipped).max() == pytest.approx(limit) and clipped[-2] < 0 < clipped[-1]
    np.testing.assert_allclose(clipped[:98], values[:98], rtol=1e-6)
    assert np.array_equal(clip_outliers(np.zeros(4)), np.zeros(4))
