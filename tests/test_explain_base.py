"""Input checks and compiled model calls shared by every explainer (utils.explain.base)."""
import keras
import numpy as np
import pytest

from utils.explain import base
from utils.explain.cam_layers import resolve_feature_layer
from utils.models import load_model


@pytest.fixture(scope="module")
def model():
    return load_model("efficientnet_lite0")


@pytest.fixture(scope="module")
def dense_model():
    inputs = keras.Input((224, 224, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    x = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(x))


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((1, 224, 224, 3)), "not a batch"),
        (np.zeros((224, 224)), r"shape \(H, W, 3\)"),
        (np.zeros((224, 224, 4)), r"shape \(H, W, 3\)"),
        (np.zeros((100, 100, 3)), "load_image"),
        (np.full((224, 224, 3), np.nan), "NaN"),
        (np.full((224, 224, 3), 300.0), r"\[0, 255\]"),
        (np.full((224, 224, 3), 0.5), "multiply by 255"),
    ],
)
def test_check_image_rejects_bad_images(model, image, message):
    with pytest.raises(ValueError, match=message):
        base.check_image(model, image)


@pytest.mark.parametrize("target", [-1, 1000, 3.0, "cat", True])
def test_check_target_rejects_bad_targets(model, target):
    with pytest.raises(ValueError, match="target"):
        base.check_target(model, target)


def test_predict_counts_and_matches_keras(model):
    x = np.random.default_rng(0).uniform(0, 255, (5, 224, 224, 3)).astype(np.float32)
    with base.count_model_calls() as calls:
        probs = base.predict(model, x, batch_size=2)
    assert calls[0] == 5
    np.testing.assert_allclose(probs, model.predict(x, verbose=0), atol=1e-5)


def test_logit_gradients_match_finite_differences(model):
    x = np.random.default_rng(1).uniform(50, 200, (1, 224, 224, 3)).astype(np.float32)
    score, grad = base.logit_gradients(model, x, target=5)
    direction = np.sign(grad)
    eps = 0.05
    up = base.predict(model, x + eps * direction, output="logit")[0, 5]
    down = base.predict(model, x - eps * direction, output="logit")[0, 5]
    assert (up - down) / (2 * eps) == pytest.approx(np.abs(grad).sum(), rel=0.05)
    assert score[0] == pytest.approx(base.predict(model, x, output="logit")[0, 5], abs=1e-3)


def test_feature_layer_default_and_errors(model, dense_model):
    assert resolve_feature_layer(model) == "top_activation"
    with pytest.raises(ValueError, match="top_activation"):
        resolve_feature_layer(model, "no_such_layer")
    with pytest.raises(ValueError, match="no spatial output"):
        resolve_feature_layer(model, "logits")
    with pytest.raises(ValueError, match="no convolutional layer"):
        resolve_feature_layer(dense_model)


@pytest.mark.parametrize("output", ["logits", "prob", None, True])
def test_bad_output_is_refused(model, output):
    x = np.zeros((1, 224, 224, 3), np.float32)
    with pytest.raises(ValueError, match="output must be 'logit'"):
        base.predict(model, x, output=output)
    with pytest.raises(ValueError, match="output must be 'logit'"):
        base.score_gradients(model, x, 0, output=output)


def test_probability_gradients_are_the_softmax_chain_rule(model):
    """d p_t / dx = p_t * (d z_t / dx - sum_c p_c d z_c / dx); checked on a direction by finite differences."""
    x = np.random.default_rng(2).uniform(50, 200, (1, 224, 224, 3)).astype(np.float32)
    prob, grad = base.score_gradients(model, x, 5, output="probability")
    assert prob[0] == pytest.approx(base.predict(model, x)[0, 5], rel=1e-4)
    direction = np.sign(grad)
    eps = 0.05
    up = base.predict(model, x + eps * direction, output="probability").astype(np.float64)[0, 5]
    down = base.predict(model, x - eps * direction, output="probability").astype(np.float64)[0, 5]
    assert (up - down) / (2 * eps) == pytest.approx(np.abs(grad).sum(dtype=np.float64), rel=0.05)


def test_resize_map_keeps_constant_maps_constant():
    out = base.resize_map(np.full((7, 7), 2.0), (224, 224))
    assert out.shape == (224, 224)
    np.testing.assert_allclose(out, 2.0, atol=1e-6)


def test_predict_gives_probabilities_for_a_model_that_outputs_logits():
    from helpers_models import plain_cnn

    logits_net = plain_cnn("logits")
    images = np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    probs = base.predict(logits_net, images)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    raw = base.predict(logits_net, images, output="logit")
    np.testing.assert_allclose(probs, np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True), atol=1e-5)
