"""What every explainer shares: input checks, compiled batched model calls, gradients, progress bars.

Introduced in notebook 00 (``predict``, ``logit_gradients``); every explainer module builds on it.
Which score a call explains is ``output``: "logit" or "probability" (:func:`check_output`).

Every method in :mod:`utils.explain` has the signature
``method(model, image, target, **options) -> np.ndarray`` of shape (H, W), where ``image`` is one
(H, W, 3) float image in [0, 255] at the model's input size and ``target`` a class index.
Methods register themselves with :func:`utils.explain.registry.explainer`, so ``METHODS[name]`` finds
them together with their metadata (``METHODS[name].info``).

Speed matters on a laptop CPU: calling a Keras model eagerly, ``model(x)``, is 8-16x slower than a
compiled call, and throughput stops growing past a batch of ~16 images. So perturbation methods go
through :func:`predict` (batched, compiled) and gradient methods through :func:`score_gradients`,
both built on :func:`utils.explain.model_calls.compiled`, which also counts every image the model
evaluates for :func:`count_model_calls` (the benchmarks report it).
"""
from __future__ import annotations

from typing import Callable, Iterable

from utils import import_tensorflow_quietly

tf = import_tensorflow_quietly()
import keras  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402  (text bars: no ipywidgets needed)

from utils.checks import check_count, check_seed  # noqa: E402,F401  (public here too)
from utils.explain.model_calls import compiled, count_model_calls  # noqa: E402,F401  (count_model_calls: public here too)
from utils.explain.registry import METHODS  # noqa: E402,F401  (re-exported: base.METHODS is the registry)
from utils.models import logits_model, probability_model  # noqa: E402

DEFAULT_BATCH_SIZE = 32
SHOW_PROGRESS = True  # set utils.explain.base.SHOW_PROGRESS = False to silence every bar


# --------------------------------------------------------------------------- input checks
def check_image(model: keras.Model, image: np.ndarray) -> np.ndarray:
    """Return ``image`` as float32 (H, W, 3) after checking it fits ``model``; raise ValueError otherwise."""
    image = np.asarray(image)
    if image.ndim == 4 and image.shape[0] == 1:
        raise ValueError(f"Pass one image of shape (H, W, 3), not a batch of shape {image.shape}: use image[0].")
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(
            f"Expected one RGB image of shape (H, W, 3), got shape {image.shape}. "
            "Load files with utils.data.load_image(path), which also converts grayscale and RGBA."
        )
    expected = tuple(model.inputs[0].shape[1:3])
    if None not in expected and tuple(image.shape[:2]) != expected:
        raise ValueError(
            f"The model expects {expected[0]}x{expected[1]} images, got {image.shape[0]}x{image.shape[1]}. "
            f"Use utils.data.load_image(path, size={expected[0]})."
        )
    if not np.all(np.isfinite(image)):
        raise ValueError("The image contains NaN or infinite values.")
    lo, hi = float(image.min()), float(image.max())
    if lo < 0 or hi > 255:
        raise ValueError(f"Pixel values must lie in [0, 255] (raw RGB), got [{lo:.3g}, {hi:.3g}].")
    if hi <= 1.0 and hi > 0:
        raise ValueError(
            f"Pixel values lie in [{lo:.3g}, {hi:.3g}]: this looks like an image scaled to [0, 1]. "
            "The zoo models take raw pixels in [0, 255]; multiply by 255."
        )
    return image.astype(np.float32)


def num_classes(model: keras.Model) -> int:
    """Number of output classes of ``model``."""
    return int(model.outputs[0].shape[-1])


def check_target(model: keras.Model, target) -> int:
    """Return ``target`` as an int class index, or raise ValueError if the model has no such class."""
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, np.integer)):
        raise ValueError(f"target must be a class index (an int), got {target!r}.")
    n = num_classes(model)
    if not 0 <= int(target) < n:
        raise ValueError(f"target={target} is outside the model's classes 0..{n - 1}.")
    return int(target)


# --------------------------------------------------------------------------- which score
OUTPUTS = ("logit", "probability")  # the values of every explainer's and metric's ``output`` option


def check_output(output) -> str:
    """Return ``output`` if it is "logit" (the pre-softmax score) or "probability"; a one-line ValueError otherwise."""
    if not isinstance(output, str) or output not in OUTPUTS:
        raise ValueError(f"output must be 'logit' (the pre-softmax score) or 'probability', got {output!r}.")
    return output


def score_model(model: keras.Model, output: str = "probability") -> keras.Model:
    """The model whose outputs are the scores ``output`` names: logits, or softmax probabilities even for a
    model that outputs logits itself (both share ``model``'s weights and are cached on it)."""
    return logits_model(model) if check_output(output) == "logit" else probability_model(model)


# --------------------------------------------------------------------------- compiled model calls
def forward_fn(model: keras.Model, output: str = "probability") -> Callable[[tf.Tensor], tf.Tensor]:
    """A compiled (``tf.function``), counted forward pass of ``model`` returning the scores ``output`` names."""
    net = score_model(model, output)
    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)
    return compiled(model, f"forward_{output}", lambda: tf.function(lambda x: net(x, training=False),
                                                                    input_signature=[spec], reduce_retracing=True))


def predict(model: keras.Model, images: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE,
            output: str = "probability") -> np.ndarray:
    """Model scores (``output="probability"`` or ``"logit"``) for a stack of images, in compiled batches."""
    images = np.asarray(images, dtype=np.float32)
    fn = forward_fn(model, output)
    outputs = [fn(tf.constant(images[i:i + batch_size])).numpy() for i in range(0, len(images), batch_size)]
    return np.concatenate(outputs) if outputs else np.zeros((0, num_classes(model)), np.float32)


def score_gradients(model: keras.Model, images: np.ndarray, target: int, output: str = "logit",
                    batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The target's score (``output``) and its gradient with respect to the input pixels, for a stack of images.

    Gradient methods default to the pre-softmax logit: the softmax saturates for confident predictions
    and would make every gradient-based map fade (notebook 05 shows it); ``output="probability"``
    differentiates the softmax probability of the target instead.
    Returns ``(scores of shape (N,), gradients of shape (N, H, W, 3))``.
    """
    net = score_model(model, output)
    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)

    def build():
        @tf.function(input_signature=[spec, tf.TensorSpec([], tf.int32)], reduce_retracing=True)
        def grad(x, t):
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = net(x, training=False)[:, t]
            return score, tape.gradient(score, x)

        return grad

    fn = compiled(model, f"gradients_{output}", build)
    images = np.asarray(images, dtype=np.float32)
    scores, grads = [], []
    for i in range(0, len(images), batch_size):
        s, g = fn(tf.constant(images[i:i + batch_size]), tf.constant(target, tf.int32))
        scores.append(s.numpy())
        grads.append(g.numpy())
    return np.concatenate(scores), np.concatenate(grads)


def logit_gradients(model: keras.Model, images: np.ndarray, target: int,
                    batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """:func:`score_gradients` of the pre-softmax logit (notebook 00 introduces it): ``(logits (N,), gradients)``."""
    return score_gradients(model, images, target, "logit", batch_size)


# --------------------------------------------------------------------------- progress and seeds
def progress(iterable: Iterable, total: int | None = None, desc: str = "", enabled: bool | None = None):
    """A tqdm progress bar that ``enabled=False`` (or ``SHOW_PROGRESS = False``) switches off."""
    show = SHOW_PROGRESS if enabled is None else enabled
    return tqdm(iterable, total=total, desc=desc, disable=not show, leave=False)


def rng(seed: int | None) -> np.random.Generator:
    """The random generator a sampling method must use: the same seed gives the same map."""
    return np.random.default_rng(check_seed(seed))


def resize_map(saliency: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D map to ``size`` = (H, W), with half-pixel centres (tf.image.resize)."""
    resized = tf.image.resize(np.asarray(saliency, np.float32)[None, ..., None], size, method="bilinear")
    return resized.numpy()[0, ..., 0]
