"""Helpers for notebook 06 (SHAP): games for shap's model-agnostic explainers, and a small CNN.

* :func:`superpixel_game` turns "the model's probability of a class when only these superpixels are
  kept" into a function of binary coalition vectors, the form ``shap.KernelExplainer`` takes; with it
  shap's KernelSHAP and ours (:mod:`utils.explain.kernel_shap`) play exactly the same game.
* :func:`interventional_game` does the same for a tabular model: features outside the coalition take
  values from background rows, averaged (the value function KernelSHAP estimates).
* :func:`train_digits_cnn` trains, in seconds, a plain Keras CNN on scikit-learn's 8 x 8 digits:
  ``shap.DeepExplainer`` supports all its layers out of the box.
* :func:`deep_explainer_session` runs ``shap.DeepExplainer`` and leaves TensorFlow as it was, even when
  shap fails (as it does on the EfficientNet-Lite0 port, whose ReLU6 and depthwise convolutions have
  no DeepLIFT handler in shap 0.51); optionally it registers those two handlers for the session.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import numpy as np

from utils.explain.base import check_count, check_output
from utils.explain.baselines import Baseline
from utils.explain.perturbation import fill_image, score_masks


def superpixel_game(model, image: np.ndarray, segments: np.ndarray, target: int,
                    baseline: Baseline = "segment_mean", output: str = "probability",
                    batch_size: int = 32) -> Callable[[np.ndarray], np.ndarray]:
    """``f(z)`` for coalitions ``z`` of shape (n, K): the target's score with superpixels z kept.

    Hidden superpixels show ``baseline`` (default their own mean colour, as in our KernelSHAP);
    ``output`` is ``"probability"`` (default) or ``"logit"``.
    """
    batch_size = check_count("batch_size", batch_size)
    check_output(output)
    fill = fill_image(image, segments, baseline)

    def value(coalitions: np.ndarray) -> np.ndarray:
        keep = np.atleast_2d(coalitions) > 0.5
        # The same batched, counted scoring loop as our LIME and KernelSHAP.
        return score_masks(model, image, segments, keep, target, fill, batch_size=batch_size, output=output,
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
    epochs = check_count("epochs", epochs)
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


def shap_patch_active() -> bool:
    """True while shap's DeepExplainer replacement of TensorFlow's eager gradient recorder is installed."""
    from tensorflow.python.eager import execute

    return getattr(execute.record_gradient, "__module__", "").startswith("shap.")


@contextlib.contextmanager
def deep_explainer_session(extra_handlers: bool = False) -> Iterator[None]:
    """A block in which ``shap.DeepExplainer`` may run, or fail, without breaking later gradients.

    shap 0.51's DeepExplainer (TensorFlow backend) swaps TensorFlow's eager ``record_gradient`` for its
    own while it computes and puts the original back only when it succeeds. After a failure every
    later gradient in the process fails ("gradient registry has no entry for: shap_..."). On leaving
    this block the original recorder is back, whatever happened inside.

    ``extra_handlers=True`` registers, for the block only, the two DeepLIFT rules the EfficientNet-Lite0
    port needs and shap lacks: ``Relu6`` as a one-input nonlinearity (the rule shap uses for ``Relu``)
    and ``DepthwiseConv2dNative`` as a linear operation (the rule it uses for ``Conv2D``).
    """
    from shap.explainers._deep import deep_tf
    from tensorflow.python.eager import execute

    recorder = execute.record_gradient
    handlers = dict(deep_tf.op_handlers)
    if extra_handlers:
        deep_tf.op_handlers["Relu6"] = deep_tf.nonlinearity_1d(0)
        deep_tf.op_handlers["DepthwiseConv2dNative"] = deep_tf.linearity_1d(0)
    try:
        yield
    finally:
        execute.record_gradient = recorder
        deep_tf.op_handlers.clear()
        deep_tf.op_handlers.update(handlers)


def draw_shap_map(ax, values: np.ndarray, image: np.ndarray | None = None, title: str = "",
                  vmax: float | None = None, label: str = "SHAP value", colorbar: bool = True):
    """Draw a signed (H, W) map in its own units: :data:`utils.plot.SIGNED_CMAP` centred on zero, with a colour bar.

    Unlike :func:`utils.plot.overlay` the bar keeps the values' units (SHAP values add up to a model
    output), so two panels given the same ``vmax`` are directly comparable. ``vmax`` defaults to the
    map's largest magnitude; ``image`` (RGB in [0, 255], or one grey channel) is drawn faintly underneath.
    Returns the image artist (for a shared colour bar).
    """
    from utils.plot import SIGNED_CMAP, as_uint8

    values = np.asarray(values, dtype=np.float32)
    limit = float(np.abs(values).max()) if vmax is None else float(vmax)
    limit = limit if limit > 0 else 1.0
    if image is not None:
        grey = np.asarray(image, np.float32)
        grey = as_uint8(grey).mean(axis=-1) if grey.ndim == 3 and grey.shape[-1] == 3 else np.squeeze(grey)
        ax.imshow(grey, cmap="gray", alpha=0.35)
    shown = ax.imshow(values, cmap=SIGNED_CMAP, vmin=-limit, vmax=limit, alpha=0.85 if image is not None else 1.0)
    if colorbar:
        import matplotlib.pyplot as plt

        bar = plt.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        bar.set_label(label, fontsize=7)
        bar.ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return shown
