"""Helpers for notebook 06 (SHAP): games for shap's model-agnostic explainers, and a small CNN.

* :func:`superpixel_game` turns "the model's probability of a class when only these superpixels are
  kept" into a function of binary coalition vectors, the form ``shap.KernelExplainer`` takes; with it
  shap's KernelSHAP and ours (:mod:`utils.explain.kernel_shap`) play exactly the same game.
* :func:`interventional_game` does the same for a tabular model: features outside the coalition take
  values from background rows, averaged (the value function KernelSHAP estimates).
* :func:`train_digits_cnn` trains, in seconds, a plain Keras CNN on scikit-learn's 8 x 8 digits:
  ``shap.DeepExplainer`` supports its layers (it has no handler for the EfficientNet-Lite0 port's
  ReLU6 and depthwise convolutions), so notebook 06 shows DeepExplainer there.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .explain.segmentation import Hide, fill_image, mask_images, score_batches


def superpixel_game(model, image: np.ndarray, segments: np.ndarray, target: int, hide: Hide = "mean",
                    batch_size: int = 32) -> Callable[[np.ndarray], np.ndarray]:
    """``f(z)`` for coalitions ``z`` of shape (n, K): the target probability with superpixels z kept."""
    fill = fill_image(image, segments, hide)

    def value(coalitions: np.ndarray) -> np.ndarray:
        keep = np.atleast_2d(coalitions) > 0.5
        build = lambda start, stop, _buffer: mask_images(image, segments, keep[start:stop], fill=fill)
        # The same batched, counted scoring loop as our LIME and KernelSHAP.
        return score_batches(model, build, len(keep), target, batch_size=batch_size,
                             show_progress=False).astype(np.float64)

    return value


def interventional_game(predict_fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                        background: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``v(z)`` = mean over background rows b of predict_fn(x where z is 1, b elsewhere)."""
    x, background = np.asarray(x, float), np.asarray(background, float)

    def value(coalitions: np.ndarray) -> np.ndarray:
        coalitions = np.atleast_2d(coalitions).astype(bool)
        mixed = np.where(coalitions[:, None, :], x[None, None, :], background[None])  # (n, B, M)
        scores = predict_fn(mixed.reshape(-1, x.shape[-1])).reshape(len(coalitions), len(background))
        return scores.mean(axis=1)

    return value


def train_digits_cnn(seed: int = 0, epochs: int = 15):
    """A small Keras CNN on scikit-learn's digits (8 x 8 x 1 in [0, 1]), trained in a few seconds.

    Returns ``(model, (x_train, y_train, x_test, y_test))``; the model ends in a softmax and reaches
    ~95% test accuracy. Seeded: the same seed gives the same weights.
    """
    import keras
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.25, random_state=seed,
                                                        stratify=digits.target)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0, shuffle=True)
    return model, (x_train, y_train, x_test, y_test)
