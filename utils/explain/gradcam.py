"""Class activation maps: Grad-CAM, Grad-CAM++, Score-CAM and Guided Grad-CAM.

Introduced in notebook 05. All four read the feature maps ``A`` (h x w x K) of one convolutional
layer, by default the last one with a spatial map (7x7 on the zoo's 224x224 models), and weight its
K channels by how much each matters for the target class:

* Grad-CAM (Selvaraju et al., 2017): weights = spatial mean of d(logit)/dA; map = ReLU(sum_k w_k A_k);
* Grad-CAM++ (Chattopadhyay et al., 2018): a pixel-weighted mean of the positive gradients;
* Score-CAM (Wang et al., 2020): gradient-free; each channel, upsampled and scaled to [0, 1], masks
  the image, and the softmax score of the target on the masked image is the channel's weight;
* Guided Grad-CAM: Grad-CAM (upsampled) times Guided Backpropagation.

The gradient and the feature maps come from one compiled (``tf.function``) call, cached per model,
layer and score, so a Grad-CAM costs about one forward-plus-backward pass.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from utils.explain import base
from utils.explain.cam_layers import resolve_feature_layer
from utils.explain.model_calls import compiled
from utils.explain.registry import explainer
from utils.models import logits_model

DEFAULT_SCORE_CAM_MAPS = 256


def _feature_model(model: keras.Model, layer: str) -> keras.Model:
    """A model returning (feature maps of ``layer``, pre-softmax logits); shares ``model``'s weights."""
    logits = logits_model(model)
    return keras.Model(model.inputs, [model.get_layer(layer).output, logits.output], name=f"{model.name}_{layer}_cam")


def feature_maps_and_gradients(model: keras.Model, image: np.ndarray, target: int, layer: str,
                               output: str = "logit") -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Feature maps ``A`` of ``layer`` (1, h, w, K), the target's score and d score / dA, in one compiled call.

    ``output="probability"`` differentiates the softmax probability instead of the logit (notebook 05
    shows why that is a mistake: the softmax saturates and its gradient fades).
    """
    as_logit = base.check_output(output) == "logit"
    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32)

    def build():
        net = _feature_model(model, layer)

        @tf.function(input_signature=[spec, tf.TensorSpec([], tf.int32)], reduce_retracing=True)
        def run(x, t):
            with tf.GradientTape() as tape:
                feats, logits = net(x, training=False)
                tape.watch(feats)
                scores = logits if as_logit else tf.nn.softmax(logits)
                score = scores[:, t]
            return feats, score, tape.gradient(score, feats)

        return run

    fn = compiled(model, f"cam_grads_{layer}_{output}", build)
    return fn(tf.constant(image[None]), tf.constant(target, tf.int32))


def _finish(cam: np.ndarray, image_shape: tuple[int, int], upsample: bool) -> np.ndarray:
    cam = np.nan_to_num(np.asarray(cam, np.float32))
    return base.resize_map(cam, image_shape) if upsample else cam


@explainer("grad_cam", family="cam", signed=False, needs_gradients=True, needs_conv_layer=True, order=1)
def grad_cam(model: keras.Model, image: np.ndarray, target: int, *, layer: str | None = None,
             upsample: bool = True, output: str = "logit") -> np.ndarray:
    """Grad-CAM map of ``target`` on ``image``: ReLU(sum_k mean(d logit / dA_k) * A_k).

    Args:
        layer: name of the feature layer; default: the last layer with a spatial map
            (``resolve_feature_layer``; an unknown name raises a ValueError listing the candidates).
        upsample: True resizes the map to the image (bilinear, half-pixel centres, like
            ``tf.image.resize``); False returns it at the layer's resolution (7x7 on the zoo models).
        output: differentiate the pre-softmax ``"logit"`` (default, as in the paper) or the ``"probability"``.

    Returns an unnormalised (h, w) or (H, W) float32 map, >= 0.
    """
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    base.check_output(output)
    layer = resolve_feature_layer(model, layer)
    feats, _, grads = feature_maps_and_gradients(model, image, target, layer, output)
    weights = tf.reduce_mean(grads[0], axis=(0, 1))                 # step 2: one weight per channel
    cam = tf.nn.relu(tf.reduce_sum(feats[0] * weights, axis=-1))    # step 3: ReLU of the weighted sum
    return _finish(cam.numpy(), image.shape[:2], upsample)


@explainer("grad_cam_pp", family="cam", signed=False, needs_gradients=True, needs_conv_layer=True, order=2)
def grad_cam_pp(model: keras.Model, image: np.ndarray, target: int, *, layer: str | None = None,
                upsample: bool = True, output: str = "logit") -> np.ndarray:
    """Grad-CAM++ map: channel weights sum_ij alpha_ij * ReLU(dS/dA_ij) with the paper's closed-form alpha.

    With S = exp(logit), the higher derivatives are powers of the first one, so
    alpha_ij = g^2 / (2 g^2 + sum_ab A_ab * g^3) with g = d logit / dA (the exp(logit) factors cancel,
    except an overall scale; we drop it so that large logits cannot overflow). Same formula as
    tf-keras-vis ``GradcamPlusPlus``, up to that positive scale. ``output="probability"`` puts the
    probability's gradient into the same formula (what tf-keras-vis does on a softmax model).
    """
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    base.check_output(output)
    layer = resolve_feature_layer(model, layer)
    feats, _, grads = feature_maps_and_gradients(model, image, target, layer, output)
    a, g = feats[0], grads[0]
    g2, g3 = g ** 2, g ** 3
    denom = 2.0 * g2 + tf.reduce_sum(a, axis=(0, 1), keepdims=True) * g3
    denom = tf.where(tf.equal(g2, 0.0), tf.ones_like(denom), denom)
    alphas = g2 / denom
    norm = tf.reduce_sum(alphas, axis=(0, 1), keepdims=True)
    alphas = alphas / tf.where(tf.equal(norm, 0.0), tf.ones_like(norm), norm)
    weights = tf.reduce_sum(alphas * tf.nn.relu(g), axis=(0, 1))
    cam = tf.nn.relu(tf.reduce_sum(a * weights, axis=-1))
    return _finish(cam.numpy(), image.shape[:2], upsample)


def _score_cam_masked_scores_fn(model: keras.Model):
    """Compiled: (image, masks (n, H, W)) -> logits of the n masked images ``image * mask``."""
    net = logits_model(model)
    size = model.inputs[0].shape[1:]

    def build():
        @tf.function(input_signature=[tf.TensorSpec(size, tf.float32), tf.TensorSpec([None, *size[:2]], tf.float32)],
                     reduce_retracing=True)
        def run(x, masks):
            return net(x[None] * masks[..., None], training=False)

        return run

    return compiled(model, "score_cam_masked", build)


# Score-CAM weighs the channels without gradients, but reads its feature maps through
# feature_maps_and_gradients, which also differentiates the model.
@explainer("score_cam", family="cam", signed=False, needs_gradients=True, needs_conv_layer=True,
           budget="num_samples", quick={"num_samples": 128}, order=3)
def score_cam(model: keras.Model, image: np.ndarray, target: int, *, layer: str | None = None,
              num_samples: int | None = DEFAULT_SCORE_CAM_MAPS, output: str = "probability",
              batch_size: int = base.DEFAULT_BATCH_SIZE, upsample: bool = True,
              progress: bool | None = None) -> np.ndarray:
    """Score-CAM map: channels weighted by the target's softmax score on the image masked by each channel.

    Each of the K feature maps is upsampled to the image (bilinear, half-pixel centres), min-max scaled
    to [0, 1] and multiplied into the image; the K masked images go through the model in compiled
    batches; softmax over the classes of each masked image's logits gives the weight of its channel
    (``output="logit"``: the target's logit itself); map = ReLU(sum_k w_k A_k). ``num_samples`` (the
    number of maps) keeps only the channels with the largest spatial standard deviation ("Faster
    Score-CAM", as tf-keras-vis' ``max_N``); None uses all K (1280 on Lite0, ~12 s). Costs
    ``num_samples`` forward passes and no gradient. ``num_samples`` and ``batch_size`` must be whole
    numbers >= 1 (a ValueError names the option otherwise).
    """
    image = base.check_image(model, image)
    target = base.check_target(model, target)
    use_softmax = base.check_output(output) == "probability"
    if num_samples is not None:
        num_samples = base.check_count("num_samples", num_samples)
    batch_size = base.check_count("batch_size", batch_size)
    layer = resolve_feature_layer(model, layer)
    feats, _, _ = feature_maps_and_gradients(model, image, target, layer)
    a = feats[0]
    channels = int(a.shape[-1])
    if num_samples is not None:
        if num_samples < channels:
            _, keep = tf.math.top_k(tf.math.reduce_std(a, axis=(0, 1)), num_samples)
            a = tf.gather(a, tf.sort(keep), axis=-1)
    size = image.shape[:2]
    up = tf.image.resize(tf.transpose(a, (2, 0, 1))[..., None], size, method="bilinear")[..., 0]  # (K, H, W)
    lo = tf.reduce_min(up, axis=(1, 2), keepdims=True)
    hi = tf.reduce_max(up, axis=(1, 2), keepdims=True)
    masks = (up - lo) / (hi - lo + keras.backend.epsilon())
    fn = _score_cam_masked_scores_fn(model)
    x = tf.constant(image)
    weights = []
    starts = range(0, int(masks.shape[0]), batch_size)
    for i in base.progress(starts, total=len(starts), desc="Score-CAM", enabled=progress):
        logits = fn(x, masks[i:i + batch_size])
        weights.append((tf.nn.softmax(logits) if use_softmax else logits)[:, target])
    weights = tf.concat(weights, axis=0)
    cam = tf.nn.relu(tf.reduce_sum(a * weights, axis=-1))
    return _finish(cam.numpy(), size, upsample)


@explainer("guided_grad_cam", family="cam", signed=False, needs_gradients=True, needs_conv_layer=True, order=4)
def guided_grad_cam(model: keras.Model, image: np.ndarray, target: int, *, layer: str | None = None,
                    output: str = "logit") -> np.ndarray:
    """Guided Grad-CAM: the upsampled Grad-CAM map times the Guided Backpropagation map (both (H, W)), both
    of the same score ``output``.

    Sharp like Guided Backprop, class-discriminative like Grad-CAM; but Adebayo et al. (2018) show it
    barely changes when the model's weights are randomised (notebook 08 measures that).
    """
    from utils.explain.gradients import guided_backprop

    cam = grad_cam(model, image, target, layer=layer, upsample=True, output=output)
    return (cam * guided_backprop(model, image, target, output=output)).astype(np.float32)
