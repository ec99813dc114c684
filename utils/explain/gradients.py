"""Gradient maps: vanilla saliency, Gradient x Input, SmoothGrad and Guided Backpropagation.

Introduced in notebook 07 (next to Integrated Gradients); guided backprop returns in notebook 08's
sanity checks. All differentiate the target's score with respect to the input pixels through
:func:`utils.explain.base.score_gradients` (compiled, batched): by default the pre-softmax logit
(``output="logit"``), or the softmax probability with ``output="probability"``.

How an (H, W, 3) gradient becomes an (H, W) map:

* ``saliency``, ``smoothgrad``, ``guided_backprop``: the largest absolute value over the colour
  channels (Simonyan et al., 2014), so >= 0;
* ``gradient_x_input``: gradient times pixel value summed over channels, signed.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from utils.explain import base
from utils.explain.model_calls import compiled
from utils.explain.registry import explainer
from utils.models import logits_model

# The smallest budget at which two seeds' SmoothGrad maps agree (median Pearson r >= 0.9 over 5 bundled
# photos, Lite0, noise 0.15): medians 0.41 / 0.52 / 0.65 / 0.77 / 0.87 / 0.93 at 25 / 50 / 100 / 200 / 400 /
# 800 samples (at 800, 0.87-0.96 per photo). benchmarks/results (part "agreement") re-measures it.
DEFAULT_SMOOTHGRAD_SAMPLES = 800
DEFAULT_NOISE_LEVEL = 0.15


def abs_max_over_channels(gradients: np.ndarray) -> np.ndarray:
    """(..., H, W, C) gradients -> (..., H, W) map: the largest absolute value over the channels."""
    return np.abs(gradients).max(axis=-1).astype(np.float32)


def input_gradient(model: keras.Model, image: np.ndarray, target: int, output: str = "logit") -> np.ndarray:
    """d score_target / d pixels for one checked image, shape (H, W, 3); the score is ``output``."""
    return base.score_gradients(model, image[None], target, output)[1][0]


@explainer("saliency", family="gradient", signed=False, needs_gradients=True, order=1)
def saliency(model: keras.Model, image: np.ndarray, target: int, *, output: str = "logit") -> np.ndarray:
    """Vanilla gradient map: max over channels of |d logit_target / d pixel| (Simonyan et al., 2014)."""
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    return abs_max_over_channels(input_gradient(model, image, target, base.check_output(output)))


@explainer("gradient_x_input", family="gradient", signed=True, needs_gradients=True, order=2)
def gradient_x_input(model: keras.Model, image: np.ndarray, target: int, *, output: str = "logit") -> np.ndarray:
    """Gradient x Input, summed over channels (signed): the first-order Taylor term of each pixel.

    "Input" is the raw pixel value in [0, 255], so this is Integrated Gradients with a black baseline
    and one step, which is exact only for a model that is linear in the pixels.
    """
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    return (input_gradient(model, image, target, base.check_output(output)) * image).sum(axis=-1).astype(np.float32)


@explainer("smoothgrad", family="gradient", signed=False, needs_gradients=True, stochastic=True, budget="num_samples",
           quick={"num_samples": 16}, order=3)
def smoothgrad(model: keras.Model, image: np.ndarray, target: int, *, num_samples: int = DEFAULT_SMOOTHGRAD_SAMPLES,
               noise_level: float = DEFAULT_NOISE_LEVEL, seed: int | None = 0, output: str = "logit",
               batch_size: int = base.DEFAULT_BATCH_SIZE, progress: bool | None = None) -> np.ndarray:
    """SmoothGrad (Smilkov et al., 2017): the gradient averaged over ``num_samples`` noisy copies of the image.

    Gaussian noise with standard deviation ``noise_level * (max(image) - min(image))`` (the paper's
    10-20% of the input range); noisy pixels are not clipped, as in the paper. The gradients are
    averaged first, then reduced as in :func:`saliency` (max |.| over channels); tf-keras-vis'
    ``Saliency(smooth_samples=...)`` averages |gradient| per sample unless called with
    ``gradient_modifier=None`` (notebook 07 compares the two on the same quantity).

    The default budget (800 samples, i.e. 800 forward+backward passes) is the smallest at which the map
    depends on the image rather than on the seed: two seeds' maps agree at a median Pearson r of 0.9 or
    more over 5 bundled photos on Lite0 (median 0.93, 0.87-0.96 per photo; 0.87 at 400). At the paper's
    25-50 samples they agree at only r 0.2-0.7 per photo (medians 0.41 at 25, 0.52 at 50, 0.65 at 100,
    0.77 at 200): at pixel level such a map is mostly noise. Pass a smaller ``num_samples`` for a quick
    look, knowing that.
    """
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    num_samples = base.check_count("num_samples", num_samples)
    batch_size = base.check_count("batch_size", batch_size)
    base.check_output(output)
    if isinstance(noise_level, (bool, np.bool_)) or not isinstance(noise_level, (int, float, np.number)) \
            or not noise_level >= 0:
        raise ValueError(f"noise_level is a fraction of the input range (e.g. 0.15), got {noise_level}.")
    sigma = noise_level * float(image.max() - image.min())
    generator = base.rng(seed)
    total = np.zeros_like(image)
    starts = range(0, num_samples, batch_size)
    for i in base.progress(starts, total=len(starts), desc="SmoothGrad", enabled=progress):
        n = min(batch_size, num_samples - i)
        noisy = image[None] + generator.normal(0.0, sigma, size=(n, *image.shape)).astype(np.float32)
        total += base.score_gradients(model, noisy, target, output, batch_size)[1].sum(axis=0)
    return abs_max_over_channels(total / num_samples)


# --------------------------------------------------------------------------- guided backpropagation
def guided_activation(x: tf.Tensor, max_value: float | None = None) -> tf.Tensor:
    """ReLU (or ReLU6 when ``max_value=6``) whose gradient only passes where the upstream gradient is > 0.

    Forward: min(max(x, 0), max_value). Backward: upstream * [0 < x (< max_value)] * [upstream > 0]
    (Springenberg et al., 2015): the usual ReLU mask, and negative gradients are zeroed on the way back.
    """

    @tf.custom_gradient
    def run(inputs):
        out = tf.nn.relu(inputs) if max_value is None else tf.clip_by_value(inputs, 0.0, max_value)

        def grad(upstream):
            passes = inputs > 0
            if max_value is not None:
                passes = tf.logical_and(passes, inputs < max_value)
            keep = tf.logical_and(passes, upstream > 0)
            return upstream * tf.cast(keep, upstream.dtype)

        return out, grad

    return run(x)


class GuidedReLU(keras.layers.Layer):
    """A ReLU / ReLU6 layer with guided-backprop gradients (used only inside the guided copy of a model)."""

    def __init__(self, max_value: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.max_value = max_value

    def call(self, x):
        return guided_activation(x, self.max_value)

    def compute_output_shape(self, input_shape):
        return input_shape


class GuidedWrapped(keras.layers.Layer):
    """A layer whose built-in ReLU activation (e.g. ``Conv2D(activation="relu")``) is applied guided.

    It calls the original layer's computation without its activation, through a linear twin that
    shares its weights, then the guided ReLU.
    """

    def __init__(self, layer: keras.layers.Layer, max_value: float | None, **kwargs):
        super().__init__(name=f"{layer.name}_guided", **kwargs)
        self.inner = layer
        self.max_value = max_value

    def call(self, x):
        saved = self.inner.activation
        self.inner.activation = keras.activations.linear
        try:
            out = self.inner(x)
        finally:
            self.inner.activation = saved
        return guided_activation(out, self.max_value)

    def compute_output_shape(self, input_shape):
        return self.inner.compute_output_shape(input_shape)


def _relu_kind(layer: keras.layers.Layer) -> tuple[bool, float | None]:
    """(is it a ReLU-like activation, its max_value) for ReLU layers, Activation("relu"/"relu6") and
    layers with a built-in relu/relu6 activation."""
    if isinstance(layer, keras.layers.ReLU):
        cfg = layer.get_config()
        if cfg.get("negative_slope", 0.0) or cfg.get("threshold", 0.0):
            raise ValueError(f"Guided backprop: layer {layer.name!r} is a leaky/thresholded ReLU, which it does "
                             "not support.")
        return True, None if cfg.get("max_value") is None else float(cfg["max_value"])
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", "")
    if name in ("relu", "relu6"):
        return True, 6.0 if name == "relu6" else None
    return False, None


def guided_model(model: keras.Model) -> keras.Model:
    """A copy of ``model``'s logits graph in which every ReLU / ReLU6 back-propagates the guided way.

    Built with ``keras.models.clone_model``: ReLU layers are replaced by :class:`GuidedReLU`, layers
    with a built-in ReLU activation are wrapped by :class:`GuidedWrapped`, every other layer is reused
    as it is (same weights, no copy). Works on the Lite0 port (``ReLU(max_value=6)``) and on the
    keras.applications models (``ReLU(6.)`` in MobileNetV2, ``Activation("relu")`` in ResNet50).
    Nested sub-models are not entered.
    """

    def replace(layer: keras.layers.Layer) -> keras.layers.Layer:
        is_relu, max_value = _relu_kind(layer)
        if not is_relu:
            return layer
        if isinstance(layer, (keras.layers.ReLU, keras.layers.Activation)):
            return GuidedReLU(max_value, name=f"{layer.name}_guided")
        return GuidedWrapped(layer, max_value)

    return keras.models.clone_model(logits_model(model), clone_function=replace)


def guided_gradients(model: keras.Model, images: np.ndarray, target: int, output: str = "logit") -> np.ndarray:
    """Guided-backprop gradients of the target's score (``output``: the logit, or the softmax of the guided
    logits) for a stack of images, (N, H, W, 3); compiled, cached."""
    use_softmax = base.check_output(output) == "probability"
    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)

    def build():
        net = guided_model(model)

        @tf.function(input_signature=[spec, tf.TensorSpec([], tf.int32)], reduce_retracing=True)
        def run(x, t):
            with tf.GradientTape() as tape:
                tape.watch(x)
                scores = net(x, training=False)
                score = (tf.nn.softmax(scores) if use_softmax else scores)[:, t]
            return tape.gradient(score, x)

        return run

    fn = compiled(model, f"guided_gradients_{output}", build)
    return fn(tf.constant(np.asarray(images, np.float32)), tf.constant(target, tf.int32)).numpy()


@explainer("guided_backprop", family="gradient", signed=False, needs_gradients=True, order=4)
def guided_backprop(model: keras.Model, image: np.ndarray, target: int, *, output: str = "logit") -> np.ndarray:
    """Guided Backpropagation map (Springenberg et al., 2015): max over channels of |guided gradient|.

    Sharp, edge-like maps; Adebayo et al. (2018) show they hardly depend on the model's weights
    (they behave like an edge detector), which notebook 08's sanity check reproduces.
    """
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    return abs_max_over_channels(guided_gradients(model, image[None], target, base.check_output(output))[0])
