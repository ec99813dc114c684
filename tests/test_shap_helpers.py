"""Tests of utils.shap_helpers (notebook 06): the games handed to shap, and the small digits CNN."""
import numpy as np

from utils.explain import predict
from utils.explain.segmentation import grid_segments, mask_images
from utils.shap_helpers import interventional_game, superpixel_game, train_digits_cnn


def test_interventional_game_of_a_linear_model():
    weights = np.array([1.0, -2.0, 0.5])
    f = lambda rows: rows @ weights
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
    game = superpixel_game(model, image, cells, target=1, hide=0.0)
    expected = predict(model, mask_images(image, cells, coalitions, hide=0.0))[:, 1]
    np.testing.assert_allclose(game(coalitions), expected, rtol=1e-6)


def test_digits_cnn_learns():
    model, (x_train, y_train, x_test, y_test) = train_digits_cnn(seed=0, epochs=3)
    assert x_train.shape[1:] == (8, 8, 1) and 0 <= x_train.min() and x_train.max() <= 1
    assert (model.predict(x_test, verbose=0).argmax(1) == y_test).mean() > 0.6
