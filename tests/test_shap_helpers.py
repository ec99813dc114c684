"""Tests of utils.shap_helpers (notebook 06): the games handed to shap, and the small digits CNN."""
import numpy as np

from utils.explain import predict
from utils.explain.perturbation import mask_images
from utils.explain.segmentation import grid_segments
from utils.shap_helpers import interventional_game, superpixel_game, train_digits_cnn


def test_interventional_game_of_a_linear_model():
    weights = np.array([1.0, -2.0, 0.5])

    def f(rows):
        return rows @ weights

    x, background = np.array([1.0, 1.0, 1.0]), np.array([[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]])
    v = interventional_game(f, x, background)
    # Features outside the coalition take the background mean (1.0 here), so every coalition is worth f(1, 1, 1).
    np.testing.assert_allclose(v(np.array([[0, 0, 0], [1, 0, 1], [1, 1, 1]])), [-0.5, -0.5, -0.5])
    v2 = interventional_game(f, np.array([3.0, 0.0, 0.0]), background)
    np.testing.assert_allclose(v2(np.array([[1, 0, 0], [0, 0, 0]])), [3.0 - 2.0 + 0.5, -0.5])


def test_superpixel_game_matches_masking():
    import keras

    inputs = keras.Input((16, 16, 3))
    logits = keras.layers.Dense(2, name="logits")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(logits))
    image = np.random.default_rng(0).uniform(10, 240, (16, 16, 3)).astype(np.float32)
    cells = grid_segments(16, 16, 2)
    coalitions = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
    game = superpixel_game(model, image, cells, target=1, baseline=0.0)
    expected = predict(model, mask_images(image, cells, coalitions, baseline=0.0))[:, 1]
    np.testing.assert_allclose(game(coalitions), expected, rtol=1e-6)
    logit_game = superpixel_game(model, image, cells, target=1, baseline="blur", output="logit")
    expected = predict(model, mask_images(image, cells, coalitions, baseline="blur"), output="logit")[:, 1]
    np.testing.assert_allclose(logit_game(coalitions), expected, rtol=1e-5, atol=1e-6)
    # The default baseline is each superpixel's own mean colour, as in our KernelSHAP.
    default = superpixel_game(model, image, cells, target=1)(coalitions)
    expected = predict(model, mask_images(image, cells, coalitions, baseline="segment_mean"))[:, 1]
    np.testing.assert_allclose(default, expected, rtol=1e-6)


def test_digits_cnn_learns():
    model, (x_train, y_train, x_test, y_test) = train_digits_cnn(seed=0, epochs=3)
    assert x_train.shape[1:] == (8, 8, 1) and 0 <= x_train.min() and x_train.max() <= 1
    assert (model.predict(x_test, verbose=0).argmax(1) == y_test).mean() > 0.6


def test_bad_counts_give_one_line_errors_naming_them():
    import keras
    import pytest

    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="batch_size") as error:
        superpixel_game(model, np.zeros((4, 4, 3), np.float32), grid_segments(4, 4, 2), 0, batch_size=2.5)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="epochs"):
        train_digits_cnn(epochs=0)
    with pytest.raises(ValueError, match="output must be") as error:
        superpixel_game(model, np.zeros((4, 4, 3), np.float32), grid_segments(4, 4, 2), 0, output="logits")
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="Unknown baseline"):
        superpixel_game(model, np.zeros((4, 4, 3), np.float32), grid_segments(4, 4, 2), 0, baseline="grey")


def _relu6_depthwise_model():
    """A tiny CNN with the two operations shap 0.51's DeepExplainer has no rule for (ReLU6, depthwise conv)."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.DepthwiseConv2D(3, padding="same")(inputs)
    x = keras.layers.ReLU(max_value=6.0)(x)
    x = keras.layers.Conv2D(3, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def _input_gradient(model, x):
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(model(x))
    return tape.gradient(out, x).numpy()


def test_deep_explainer_session_repairs_tensorflow_after_a_failure():
    import pytest
    import shap

    from utils.shap_helpers import deep_explainer_session, shap_patch_active

    model = _relu6_depthwise_model()
    data = np.random.default_rng(0).uniform(0, 3, (4, 6, 6, 2)).astype(np.float32)
    expected = _input_gradient(model, data[:1])
    with deep_explainer_session():
        with pytest.raises(Exception, match="Relu6|DepthwiseConv2dNative"):
            shap.DeepExplainer(model, data[1:]).shap_values(data[:1])
        assert shap_patch_active()  # shap left its gradient recorder in TensorFlow
    assert not shap_patch_active()
    np.testing.assert_allclose(_input_gradient(model, data[:1]), expected, rtol=1e-6)


def test_deep_explainer_with_extra_handlers_is_additive():
    import shap
    from shap.explainers._deep import deep_tf

    from utils.shap_helpers import deep_explainer_session

    model = _relu6_depthwise_model()
    data = np.random.default_rng(1).uniform(0, 3, (5, 6, 6, 2)).astype(np.float32)
    with deep_explainer_session(extra_handlers=True):
        explainer = shap.DeepExplainer(model, data[1:])
        values = np.asarray(explainer.shap_values(data[:1], check_additivity=False))  # (1, 6, 6, 2, 2)
    assert "Relu6" not in deep_tf.op_handlers  # the handlers were for the block only
    total = values.sum(axis=(1, 2, 3))[0] + np.asarray(explainer.expected_value)
    np.testing.assert_allclose(total, model(data[:1]).numpy()[0], atol=1e-4)


def test_draw_shap_map_is_centred_with_a_colour_bar():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utils.plot import SIGNED_CMAP
    from utils.shap_helpers import draw_shap_map

    fig, ax = plt.subplots()
    shown = draw_shap_map(ax, np.array([[0.5, -2.0], [1.0, 0.0]]), image=np.full((2, 2, 3), 100.0))
    assert shown.get_cmap().name == SIGNED_CMAP and shown.get_clim() == (-2.0, 2.0)
    assert len(fig.axes) == 2  # the map and its colour bar
    plt.close(fig)
