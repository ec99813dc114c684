"""The libraries people use (eli5, lime, shap, tf-keras-vis) scored for quality next to our methods.

Each library method has an :class:`Adapter` that turns the library's output into an (H, W) map on our
model, image and target, at two settings: the library's documented **defaults** (what a user who calls
it as its documentation shows gets) and settings **matched** to ours (a dict per adapter, with a
sentence saying why those options). Every map, ours and the libraries', goes through the same metrics,
image by image: deletion and insertion AUC (:func:`utils.evaluation.metrics.deletion_insertion`), pointing game and
relevance mass where a ground-truth mask exists, MuFidelity (:func:`utils.evaluation.metrics.faithfulness_correlation`),
PGI / PGU (:func:`utils.evaluation.metrics.prediction_gaps`), and on the first images the cascading randomisation
check (:func:`utils.evaluation.metrics.model_randomisation_check`) and stability under small input noise
(:func:`utils.evaluation.metrics.noise_stability`), plus the seconds and the model evaluations of each explanation.

Model evaluations are counted the same way for everyone: the explanation runs on a copy of the model
with a counting layer at its input (:func:`counting_copy`), which sees every image that enters the
network whichever API pushes it there (Keras ``predict``, ``model(x)``, a library's own sub-model, our
compiled functions). lime and shap call the model through :func:`utils.explain.base.predict` (compiled,
batched, as notebooks 04 and 06 do), so their seconds compare algorithms, not Keras' ``predict`` overhead.

Each per-image score list gets a mean with a 95% bootstrap interval (:mod:`benchmarks.statistics`), and
each library row a paired comparison with our version of the same method on the same images.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import io
import logging
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from utils.evaluation import metrics
from utils.explain import METHODS, base
from utils.explain.cam_layers import resolve_feature_layer
from utils.explain.gradients import DEFAULT_NOISE_LEVEL, abs_max_over_channels
from utils.explain.registry import takes_option
from utils.explain.segmentation import segment
from utils.models import logits_model

from . import statistics as stats

OURS = "ours"  # a setting's value meaning "what our method uses" (our feature layer, our upsampling, ...)
VARIANTS = ("ours", "default", "matched")
# Every per-image metric and which direction is better.
METRICS = {"seconds": "lower", "model_evaluations": "lower", "deletion_auc": "lower", "insertion_auc": "higher",
           "pointing_game": "higher", "relevance_mass": "higher", "mufidelity": "higher", "pgi": "higher",
           "pgu": "lower", "sanity_rank_correlation_abs": "lower", "stability": "higher"}
BACKGROUND_IMAGES = 8  # shap GradientExplainer's background at its defaults: this many other images of the set


# --------------------------------------------------------------------------- counting model evaluations
def _counter_layer():
    import keras
    import tensorflow as tf

    class CountImages(keras.layers.Layer):
        """Identity layer that adds the batch size of everything passing through to ``count``."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.count = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False,
                                         name="count")

        def call(self, x):
            self.count.assign_add(tf.cast(tf.shape(x)[0], "int64"))
            return x

    return CountImages(name="count_model_evaluations")


def counting_copy(model):
    """A copy of ``model`` (same layer names, weights copied) with a counting layer in front of the layer that
    reads the input; returns ``(copy, read)`` where ``read()`` gives the images evaluated so far. Raises a
    ValueError for a model whose input feeds more than one layer (each image would be counted twice)."""
    import keras

    source = model.inputs[0]
    readers = [layer.name for layer in model.layers
               if any(t is source for node in layer._inbound_nodes for t in node.input_tensors)]
    if len(readers) != 1:
        raise ValueError(f"Cannot count evaluations: the input feeds {len(readers)} layers ({readers}).")
    counter = _counter_layer()

    def call(layer, *args, **kwargs):
        if layer.name == readers[0]:
            return layer(counter(args[0]), *args[1:], **kwargs)
        return layer(*args, **kwargs)

    copy = keras.models.clone_model(model, call_function=call)
    for layer in model.layers:
        if layer.weights:
            copy.get_layer(layer.name).set_weights(layer.get_weights())
    return copy, lambda: int(counter.count.numpy())


@contextlib.contextmanager
def quiet():
    """Swallow what the libraries print (Keras predict bars, lime's tqdm bar) and their warnings."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _finite(saliency) -> np.ndarray:
    return np.nan_to_num(np.asarray(saliency, np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def _layer(model, layer: str | None) -> str | None:
    return resolve_feature_layer(model) if layer == OURS else layer


# --------------------------------------------------------------------------- the library calls
def eli5_gradcam(model, image: np.ndarray, target: int, *, output: str = "model", layer: str | None = None,
                 upsample: str = "library", seed: int = 0) -> np.ndarray:
    """``eli5.explain_prediction(model, image[None], targets=[target], layer=...)``'s heatmap as an (H, W) map.

    eli5 returns the map at the layer's resolution divided by its maximum; ``upsample="library"`` resizes it
    the way eli5's ``format_as_image`` does (``expand_heatmap``: an 8-bit image, Lanczos), ``"ours"`` with
    :func:`utils.explain.base.resize_map`. ``output="logit"`` gives eli5 the logits model."""
    import eli5

    net = logits_model(model) if output == "logit" else model
    with quiet():
        heat = eli5.explain_prediction(net, image[None], targets=[int(target)],
                                       layer=_layer(model, layer)).targets[0].heatmap
    if upsample == "library":
        from eli5.formatters.image import expand_heatmap
        from PIL import Image

        picture = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
        return np.asarray(expand_heatmap(heat, picture, resampling_filter=Image.LANCZOS), np.float32) / 255.0
    return _finite(base.resize_map(np.asarray(heat, np.float32), image.shape[:2]))


def lime_map(model, image: np.ndarray, target: int, *, segmentation: str = "quickshift", num_samples: int = 1000,
             batch_size: int = 10, baseline: str | float = "segment_mean", kernel_width: float = 0.25,
             seed: int = 0) -> np.ndarray:
    """lime's ``LimeImageExplainer(kernel_width, random_state=seed).explain_instance`` for ``target``, each pixel
    given its superpixel's weight. ``segmentation``: ``"quickshift"`` (lime's default algorithm and parameters,
    on the image scaled to [0, 1] as scikit-image expects) or ``"slic"`` (ours), both from
    :func:`utils.explain.segmentation.segment`. ``baseline`` in our vocabulary (:mod:`utils.explain.baselines`),
    as far as lime can hide: ``"segment_mean"`` (lime's default, each superpixel its mean colour) or one grey
    level."""
    from lime.lime_image import LimeImageExplainer

    if baseline != "segment_mean" and not isinstance(baseline, (int, float)):
        raise ValueError(f"lime hides superpixels by their mean colour ('segment_mean') or one grey level, "
                         f"got baseline={baseline!r}.")
    segments = segment(image, segmentation)
    explainer = LimeImageExplainer(kernel_width=kernel_width, random_state=seed)
    with quiet():
        explanation = explainer.explain_instance(
            image.astype(np.float64), lambda x: base.predict(model, np.asarray(x, np.float32)), labels=(int(target),),
            top_labels=None, hide_color=None if baseline == "segment_mean" else float(baseline),
            num_samples=int(num_samples), batch_size=int(batch_size),
            segmentation_fn=lambda _: segments, random_seed=seed)
    weights = np.zeros(int(segments.max()) + 1)
    for k, w in explanation.local_exp[int(target)]:
        weights[k] = w
    return weights[segments].astype(np.float32)


def shap_partition(model, image: np.ndarray, target: int, *, masker: str = "blur(128,128)", max_evals: int = 500,
                   batch_size="auto", output: str = "probability", seed: int = 0) -> np.ndarray:
    """shap's Partition explainer with ``shap.maskers.Image(masker)``, the Owen values of ``target`` summed over
    the colour channels. ``output``: what the model function returns (probability or logit)."""
    import shap

    explainer = shap.explainers.Partition(lambda x: base.predict(model, np.asarray(x, np.float32), output=output),
                                          shap.maskers.Image(masker, image.shape))
    with quiet():
        values = explainer(image[None], max_evals=int(max_evals), batch_size=batch_size, outputs=[int(target)],
                           silent=True)
    return _finite(np.asarray(values.values)[0, ..., 0].sum(axis=-1))


def shap_gradient(model, image: np.ndarray, target: int, *, output: str = "model", background: str = "other images",
                  nsamples: int = 200, local_smoothing: float = 0.0, batch_size: int = 50, seed: int = 0,
                  background_images: np.ndarray | None = None) -> np.ndarray:
    """shap's GradientExplainer (expected gradients) for ``target``, summed over the colour channels.

    ``background``: ``"other images"`` (``background_images``: images of the same set, as shap's examples
    pass training data) or ``"black"`` (one black image: the integral then runs from black, like our
    Integrated Gradients). ``output="logit"`` gives shap the logits model."""
    import shap

    net = logits_model(model) if output == "logit" else model
    if background == "black":
        data = np.zeros((1, *image.shape), np.float32)
    elif background_images is None or len(background_images) == 0:
        raise ValueError("shap GradientExplainer with background 'other images' needs background_images.")
    else:
        data = np.asarray(background_images, np.float32)
    explainer = shap.GradientExplainer(net, data, batch_size=int(batch_size), local_smoothing=local_smoothing)
    with quiet():
        values, _ = explainer.shap_values(image[None], nsamples=int(nsamples), ranked_outputs=np.array([[int(target)]]),
                                          output_rank_order="custom", rseed=seed)
    return _finite(np.asarray(values)[0, ..., 0].sum(axis=-1))


def _cam_channels(net, options: dict) -> int:
    """Channels of the layer tf-keras-vis picks for ``options`` (its own layer search): Scorecam refuses a
    ``max_N`` above it, where our Score-CAM simply uses every channel."""
    from tf_keras_vis.utils.model_modifiers import ExtractIntermediateLayerForGradcam

    search = ExtractIntermediateLayerForGradcam(options["penultimate_layer"], options["seek_penultimate_conv_layer"],
                                                include_model_outputs=False)
    return int(search(net).outputs[0].shape[-1])


def tf_keras_vis_cam(kind: str, model, image: np.ndarray, target: int, *, output: str = "model",
                     layer: str | None = None, seek_penultimate_conv_layer: bool = True, expand_cam: bool = True,
                     normalize_cam: bool = True, max_N: int | None = None, seed: int = 0) -> np.ndarray:
    """tf-keras-vis ``Gradcam`` / ``GradcamPlusPlus`` / ``Scorecam`` (``kind``) with ``CategoricalScore([target])``.

    ``layer=None`` lets tf-keras-vis search (the last convolutional layer); with ``seek_penultimate_conv_layer``
    it also moves a given non-convolutional layer back to the nearest convolution. ``expand_cam=False`` returns
    the layer-resolution map, which we upsample with :func:`utils.explain.base.resize_map`; True upsamples with
    scipy's ``zoom``. ``output="logit"`` gives tf-keras-vis the logits model (what ``ReplaceToLinear`` does,
    without cloning)."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    classes = {"Gradcam": Gradcam, "GradcamPlusPlus": GradcamPlusPlus, "Scorecam": Scorecam}
    net = logits_model(model) if output == "logit" else model
    options = {"penultimate_layer": _layer(model, layer), "seek_penultimate_conv_layer": seek_penultimate_conv_layer,
               "expand_cam": expand_cam, "normalize_cam": normalize_cam}
    if kind == "Scorecam":
        options["max_N"] = max_N if max_N is None or max_N < _cam_channels(net, options) else None  # None: all
    with quiet():
        cam = np.asarray(classes[kind](net, clone=False)(CategoricalScore([int(target)]), image[None], **options)[0])
    if not expand_cam:
        cam = base.resize_map(cam.astype(np.float32), image.shape[:2])
    return _finite(cam)


def tf_keras_vis_saliency(model, image: np.ndarray, target: int, *, output: str = "model", smooth_samples: int = 0,
                          smooth_noise: float = 0.20, gradient_modifier: str = "abs", keepdims: bool = False,
                          normalize_map: bool = True, seed: int = 0) -> np.ndarray:
    """tf-keras-vis ``Saliency`` (``smooth_samples > 0``: SmoothGrad). ``gradient_modifier="abs"`` is its default
    (|gradient| of each sample, then averaged); ``None`` averages the signed gradients. With ``keepdims`` the
    channels are reduced as ours are (largest |value|); without, tf-keras-vis takes the channel maximum. Its
    noise comes from NumPy's global generator, seeded here with ``seed``."""
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.scores import CategoricalScore

    net = logits_model(model) if output == "logit" else model
    options = {"smooth_samples": int(smooth_samples), "smooth_noise": smooth_noise, "keepdims": keepdims,
               "normalize_map": normalize_map}
    if gradient_modifier is None:
        options["gradient_modifier"] = None
    np.random.seed(seed)
    with quiet():
        out = np.asarray(Saliency(net, clone=False)(CategoricalScore([int(target)]), image[None], **options)[0])
    return _finite(abs_max_over_channels(out) if keepdims else out)


# --------------------------------------------------------------------------- adapters
@dataclass(frozen=True)
class Adapter:
    """One library method: how to call it, what it is compared with, and at which settings.

    ``budget`` names the option of ``matched`` that takes the configuration's budget (``budget_field`` of
    :class:`benchmarks.config.Config`); our method takes the same number in its registered budget option
    (``METHODS[ours].info.budget``), so that the matched library call and our call spend the same budget.
    ``default_budget`` is the option of ``default`` that
    :attr:`benchmarks.config.Config.library_default_budget_cap` may cap (quick runs only).
    """

    library: str           # distribution name (its installed version is recorded)
    api: str               # what a user calls
    ours: str              # our method in utils.explain.METHODS
    explain: Callable[..., np.ndarray]
    default: dict
    matched: dict
    why_matched: str
    budget: str | None = None
    budget_field: str | None = None
    default_budget: str | None = None
    needs_background: bool = False
    ours_options: dict = field(default_factory=dict)
    why_default: str = "the call's own defaults, as its documentation shows it"


ADAPTERS: dict[str, Adapter] = {
    "eli5_gradcam": Adapter(
        "eli5", "eli5.explain_prediction (Keras Grad-CAM)", "grad_cam", eli5_gradcam,
        default={"output": "model", "layer": None, "upsample": "library"},
        matched={"output": "logit", "layer": OURS, "upsample": OURS},
        why_matched="our Grad-CAM differentiates the logit (the softmax saturates, notebook 05), reads our feature "
                    "layer and upsamples with half-pixel centres; eli5 differentiates whatever the model outputs "
                    "and its formatter upsamples an 8-bit copy of the map"),
    "lime_image": Adapter(
        "lime", "lime.lime_image.LimeImageExplainer.explain_instance", "lime", lime_map,
        default={"segmentation": "quickshift", "num_samples": 1000, "batch_size": 10, "baseline": "segment_mean",
                 "kernel_width": 0.25},
        matched={"segmentation": "slic", "num_samples": None, "batch_size": base.DEFAULT_BATCH_SIZE,
                 "baseline": "segment_mean", "kernel_width": 0.25},
        why_matched="our LIME uses SLIC superpixels, hides a superpixel with its mean colour (baseline "
                    "'segment_mean', lime's default) and lime's kernel width; matched gives lime our segments and "
                    "our sample budget, so only lime's sampling and ridge fit differ (the batch size changes no "
                    "number)",
        budget="num_samples", budget_field="library_samples", default_budget="num_samples",
        why_default="explain_instance's defaults with labels=(target,) and top_labels=None (to get the target's "
                    "weights); its default quickshift segmentation runs on the image scaled to [0, 1], the range "
                    "scikit-image expects of a float image"),
    "shap_partition": Adapter(
        "shap", "shap.explainers.Partition + shap.maskers.Image('blur(128,128)')", "kernel_shap", shap_partition,
        default={"masker": "blur(128,128)", "max_evals": 500, "batch_size": "auto", "output": "probability"},
        matched={"masker": "blur(128,128)", "max_evals": None, "batch_size": base.DEFAULT_BATCH_SIZE,
                 "output": "probability"},
        why_matched="our KernelSHAP explains the probability with a budget of model evaluations; matched spends "
                    "the same budget; shap's image masker cannot hide our superpixels by their mean colour, so the "
                    "hiding (blur) and the coalitions (shap's axis-aligned partition tree) stay shap's",
        budget="max_evals", budget_field="library_samples", default_budget="max_evals"),
    "shap_gradient": Adapter(
        "shap", "shap.GradientExplainer.shap_values", "integrated_gradients", shap_gradient,
        default={"output": "model", "background": "other images", "nsamples": 200, "local_smoothing": 0.0,
                 "batch_size": 50},
        matched={"output": "logit", "background": "black", "nsamples": None, "local_smoothing": 0.0,
                 "batch_size": base.DEFAULT_BATCH_SIZE},
        why_matched="expected gradients with one black background image is Integrated Gradients from black on the "
                    "logit, as ours, with the path points drawn at random instead of on a trapezoid grid; matched "
                    "spends as many gradient evaluations as our path intervals (num_samples)",
        budget="nsamples", budget_field="library_gradient_samples", default_budget="nsamples",
        needs_background=True, ours_options={"baseline": "black"},
        why_default="shap_values' defaults (200 samples, no local smoothing) on the model as given, with a "
                    f"background of {BACKGROUND_IMAGES} other images of the same set, as shap's examples pass a "
                    "sample of the data; ranked_outputs picks the target"),
    "tf_keras_vis_gradcam": Adapter(
        "tf-keras-vis", "tf_keras_vis.gradcam.Gradcam", "grad_cam", functools.partial(tf_keras_vis_cam, "Gradcam"),
        default={"output": "model", "layer": None, "seek_penultimate_conv_layer": True, "expand_cam": True,
                 "normalize_cam": True},
        matched={"output": "logit", "layer": OURS, "seek_penultimate_conv_layer": False, "expand_cam": False,
                 "normalize_cam": False},
        why_matched="ours differentiates the logit at our feature layer (tf-keras-vis' default moves to the last "
                    "convolution, before its batch norm and activation) and upsamples bilinearly with half-pixel "
                    "centres (tf-keras-vis uses scipy's zoom); unnormalised like ours"),
    "tf_keras_vis_gradcam_pp": Adapter(
        "tf-keras-vis", "tf_keras_vis.gradcam_plus_plus.GradcamPlusPlus", "grad_cam_pp",
        functools.partial(tf_keras_vis_cam, "GradcamPlusPlus"),
        default={"output": "model", "layer": None, "seek_penultimate_conv_layer": True, "expand_cam": True,
                 "normalize_cam": True},
        matched={"output": "logit", "layer": OURS, "seek_penultimate_conv_layer": False, "expand_cam": False,
                 "normalize_cam": False},
        why_matched="as for Grad-CAM: the logit, our feature layer, our upsampling; the closed-form alphas are the "
                    "same formula as ours"),
    "tf_keras_vis_scorecam": Adapter(
        "tf-keras-vis", "tf_keras_vis.scorecam.Scorecam", "score_cam", functools.partial(tf_keras_vis_cam, "Scorecam"),
        default={"output": "model", "layer": None, "seek_penultimate_conv_layer": True, "expand_cam": True,
                 "normalize_cam": True, "max_N": None},
        matched={"output": "logit", "layer": OURS, "seek_penultimate_conv_layer": False, "expand_cam": False,
                 "normalize_cam": False, "max_N": None},
        why_matched="tf-keras-vis applies a softmax to what the model returns, so on a softmax model it takes the "
                    "softmax twice; given the logits it weighs each channel by the softmax probability, as ours "
                    "does, at our feature layer, our number of maps and our upsampling",
        budget="max_N", budget_field="library_score_cam_maps", default_budget="max_N"),
    "tf_keras_vis_saliency": Adapter(
        "tf-keras-vis", "tf_keras_vis.saliency.Saliency", "saliency", tf_keras_vis_saliency,
        default={"output": "model", "smooth_samples": 0, "gradient_modifier": "abs", "keepdims": False,
                 "normalize_map": True},
        matched={"output": "logit", "smooth_samples": 0, "gradient_modifier": "abs", "keepdims": False,
                 "normalize_map": False},
        why_matched="ours is the largest |gradient of the logit| over the channels; tf-keras-vis computes the same "
                    "once given the logits (its default differentiates the softmax output)"),
    "tf_keras_vis_smoothgrad": Adapter(
        "tf-keras-vis", "tf_keras_vis.saliency.Saliency(smooth_samples=...)", "smoothgrad", tf_keras_vis_saliency,
        default={"output": "model", "smooth_samples": 20, "smooth_noise": 0.20, "gradient_modifier": "abs",
                 "keepdims": False, "normalize_map": True},
        matched={"output": "logit", "smooth_samples": None, "smooth_noise": DEFAULT_NOISE_LEVEL,
                 "gradient_modifier": None, "keepdims": True, "normalize_map": False},
        why_matched="ours averages the signed logit gradients of noisy copies (noise 0.15 of the range) and then "
                    "takes the largest |value| over the channels; tf-keras-vis does that with gradient_modifier=None "
                    "and keepdims, at our budget (its documented example uses 20 samples and noise 0.20, averaging "
                    "|gradient| per sample)",
        budget="smooth_samples", budget_field="library_smoothgrad_samples", default_budget="smooth_samples",
        why_default="Saliency's call defaults to plain saliency (smooth_samples=0); its documented SmoothGrad "
                    "example passes smooth_samples=20, smooth_noise=0.20"),
}


def library_version(name: str) -> str:
    try:
        return f"{name} {importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{name} (not installed)"


def settings(adapter: Adapter, variant: str, config) -> dict:
    """The options the adapter is called with at ``variant`` ("default" or "matched") under ``config``."""
    if variant == "matched":
        options = dict(adapter.matched)
        if adapter.budget:
            options[adapter.budget] = int(getattr(config, adapter.budget_field))
        return options
    options = dict(adapter.default)
    cap = getattr(config, "library_default_budget_cap", None)
    key = adapter.default_budget
    if cap and key:
        full = options[key]
        options[key] = int(cap) if full is None else min(int(full), int(cap))
    return options


def ours_settings(adapter: Adapter, config) -> dict:
    """Our method's options next to ``adapter``: the course's defaults, with the matched budget in our method's
    registered budget option (``METHODS[adapter.ours].info.budget``)."""
    options = dict(adapter.ours_options)
    if adapter.budget:
        budget = METHODS[adapter.ours].info.budget
        if budget is None:
            raise ValueError(f"adapter for {adapter.ours!r} has a budget ({adapter.budget}) but our method has none.")
        options[budget] = int(getattr(config, adapter.budget_field))
    return options


def selected_adapters(config) -> dict[str, Adapter]:
    names = config.library_adapters or tuple(ADAPTERS)
    unknown = [n for n in names if n not in ADAPTERS]
    if unknown:
        raise ValueError(f"Unknown library adapter(s) {unknown}; known: {', '.join(ADAPTERS)}.")
    return {n: ADAPTERS[n] for n in names}


# --------------------------------------------------------------------------- scoring one map
def score_map(model, image: np.ndarray, target: int, saliency: np.ndarray, mask: np.ndarray | None, config) -> dict:
    """The per-image metrics of one map (see the module docstring)."""
    curve = metrics.deletion_insertion(model, image, saliency, target,
                                       steps=config.library_metric_steps or config.metric_steps)
    gaps = metrics.prediction_gaps(model, image, saliency, target, num_samples=config.library_pgi_samples)
    row = {"deletion_auc": curve["deletion_auc"], "insertion_auc": curve["insertion_auc"],
           "mufidelity": metrics.faithfulness_correlation(model, image, saliency, target,
                                                          num_samples=config.library_mufidelity_samples),
           "pgi": gaps["pgi"], "pgu": gaps["pgu"], "pointing_game": None, "relevance_mass": None}
    if mask is not None and np.any(mask):
        row["pointing_game"] = metrics.pointing_game(saliency, mask)
        row["relevance_mass"] = metrics.relevance_mass(saliency, mask)
    return row


@dataclass
class Variant:
    """One row of the table: our method or a library adapter at one setting."""

    method: str        # our method's name (the row group)
    variant: str       # "ours", "default" or "matched"
    explainer: str     # what was called
    library: str
    fn: Callable[..., np.ndarray]
    options: dict
    adapter: str | None = None
    why: str = ""


def build_variants(config, image_size: int = 224) -> list[Variant]:
    """Our version of every method an adapter covers (at the matched budget), each adapter at its two settings,
    and ``config.library_extra_ours`` (ours only, e.g. RISE for the published rankings)."""
    rows, seen = [], set()
    for key, adapter in selected_adapters(config).items():
        ours = ours_settings(adapter, config)
        if (adapter.ours, tuple(sorted(ours.items()))) not in seen:
            seen.add((adapter.ours, tuple(sorted(ours.items()))))
            rows.append(Variant(adapter.ours, "ours", f"utils.explain.METHODS['{adapter.ours}']", "ours",
                                METHODS[adapter.ours], ours))
        for variant in ("default", "matched"):
            rows.append(Variant(adapter.ours, variant, adapter.api, library_version(adapter.library),
                                adapter.explain, settings(adapter, variant, config), key,
                                adapter.why_matched if variant == "matched" else adapter.why_default))
    from .quality import method_options

    for name in config.library_extra_ours:
        if name not in {r.method for r in rows if r.variant == "ours"}:
            rows.append(Variant(name, "ours", f"utils.explain.METHODS['{name}']", "ours", METHODS[name],
                                method_options(name, config, image_size)))
    return rows


def _bound(variant: Variant, background: np.ndarray | None) -> Callable[..., np.ndarray]:
    """``variant``'s explainer with its options bound: fn(model, image, target[, seed]) (a seed only for
    what samples), as :func:`utils.evaluation.metrics.model_randomisation_check` and ``noise_stability`` call it."""
    options = dict(variant.options)
    if variant.adapter and ADAPTERS[variant.adapter].needs_background and options.get("background") != "black":
        options["background_images"] = background
    if takes_option(variant.fn, "progress"):
        options["progress"] = False
    return functools.partial(variant.fn, **options)


def _explain(fn: Callable[..., np.ndarray], model, image: np.ndarray, target: int) -> np.ndarray:
    """One map from a bound explainer, with seed 0 when it takes a seed."""
    extra = {"seed": 0} if takes_option(fn, "seed") else {}
    return _finite(fn(model, image, int(target), **extra))


def _backgrounds(images: np.ndarray, i: int) -> np.ndarray:
    others = [k for k in range(len(images)) if k != i] or [i]
    return images[others[:BACKGROUND_IMAGES]]


def run_variant(variant: Variant, model, counted, read_count, images: np.ndarray, targets: np.ndarray,
                masks: np.ndarray | None, config, bar=None, explained: int | None = None,
                sanity_images: int = 0) -> dict:
    """Explain the first ``explained`` images (all when None) with ``variant`` (on the counting copy) and score the
    maps (on ``model``); the stability score on the first ``sanity_images``. Returns per-image lists, None for
    an image not explained (the sanity check's entries are filled in by :func:`sanity_pass`)."""
    per = {key: [] for key in METRICS}
    explained = len(images) if explained is None else min(int(explained), len(images))
    warm = _bound(variant, _backgrounds(images, 0))
    with quiet():
        _explain(warm, counted, images[0], targets[0])  # tracing and building are paid once per session
    for i, (image, target) in enumerate(zip(images, targets)):
        if i >= explained:
            for key in per:
                per[key].append(None)
            continue
        fn = _bound(variant, _backgrounds(images, i))
        before = read_count()
        start = time.perf_counter()
        saliency = _explain(fn, counted, image, target)
        per["seconds"].append(time.perf_counter() - start)
        per["model_evaluations"].append(read_count() - before)
        scored = score_map(model, image, int(target), saliency, None if masks is None else masks[i], config)
        for key, value in scored.items():
            per[key].append(value)
        per["sanity_rank_correlation_abs"].append(None)
        if i < sanity_images:
            with quiet():
                stable = metrics.noise_stability(fn, model, image, int(target),
                                                 num_samples=max(1, config.stability_repeats - 1))
            per["stability"].append(float(stable["spearman"]))
        else:
            per["stability"].append(None)
        if bar is not None:
            bar.update(1)
    return {"per_image": {k: [None if v is None else float(v) for v in vals] for k, vals in per.items()},
            "sanity_verdicts": []}


def sanity_pass(fns: dict[str, Callable[..., np.ndarray]], sanity_model, image: np.ndarray, target: int,
                stages: int) -> dict[str, dict]:
    """The cascading randomisation check of every explainer in ``fns`` on one image, in one
    :func:`utils.evaluation.metrics.model_randomisation_check` run: its method records each explainer's map at every
    stage (building the private copy and the random twin once instead of once per explainer), and each
    explainer's verdict is computed from its own maps as the check computes it: the rank correlation of
    abs(map) between the first and the last stage (:func:`utils.evaluation.metrics.map_similarity`), the verdict
    :func:`utils.evaluation.metrics.sanity_verdict`, undefined when the last map is constant."""
    recorded: dict[str, list[np.ndarray]] = {name: [] for name in fns}
    first = next(iter(fns))

    def every(model, image, target, seed=0):
        for name, fn in fns.items():
            extra = {"seed": seed} if takes_option(fn, "seed") else {}
            recorded[name].append(np.asarray(_finite(fn(model, image, int(target), **extra)), np.float64))
        return recorded[first][-1]

    with quiet():
        metrics.model_randomisation_check(every, sanity_model, image, int(target), stages=stages)
    out = {}
    for name, maps in recorded.items():
        rho = float(metrics.map_similarity(maps[0], maps[-1])["spearman_abs"])
        out[name] = {"rank_correlation_abs": rho, "verdict": metrics.sanity_verdict(rho, bool(np.ptp(maps[-1]) == 0))}
    return out


def summarise(per_image: dict, resamples: int, seed: int = 0) -> dict:
    """Mean and 95% bootstrap interval of every metric."""
    return {key: stats.bootstrap_mean(values, resamples=resamples, seed=seed) for key, values in per_image.items()}


def compare_with_ours(row: dict, ours: dict, resamples: int) -> dict:
    """Paired test per metric: is this library row better than our row on the same images?"""
    out = {}
    for key, better in METRICS.items():
        test = stats.paired_test(row["per_image"][key], ours["per_image"][key], better=better,
                                 names=(f"{row['explainer']} ({row['variant']})", "ours"), resamples=resamples)
        if test["n"]:
            out[key] = {k: test[k] for k in ("n", "mean_difference", "low", "high", "wilcoxon_p", "verdict")}
    return out


def rankings(rows: list[dict], config) -> list[dict]:
    """The published rankings of ``config.library_rankings`` checked on our rows' per-image scores."""
    ours = {r["method"]: r["per_image"] for r in rows if r["variant"] == "ours"}
    out = []
    for metric, order, better, source in config.library_rankings:
        if all(m in ours for m in order):
            check = stats.ranking_check({m: ours[m][metric] for m in order}, order, better=better,
                                        resamples=config.library_resamples)
            out.append({"metric": metric, "source": source, **check})
    return out


def explained_images(variant: Variant, images: int, default_images: int | None) -> int:
    """How many of ``images`` a row explains: all, except a library's defaults when ``default_images`` caps them
    (on Lite0 some defaults cost tens of seconds a photo: tf-keras-vis Scorecam runs over all 1280 channels)."""
    if variant.variant == "default" and default_images is not None:
        return min(int(default_images), images)
    return images


def benchmark_set(model, images: np.ndarray, targets: np.ndarray, masks: np.ndarray | None, config,
                  sanity_model=None, log=print, progress: bool = False, label: str = "",
                  default_images: int | None = None, sanity_images: int | None = None) -> dict:
    """Every variant of :func:`build_variants` on ``images``; per-image scores, summaries and comparisons.
    The library defaults explain only the first ``default_images`` (all when None); the randomisation check
    and the stability score run on the first ``sanity_images`` (``config.library_sanity_images`` when None)."""
    from tqdm import tqdm

    variants = build_variants(config, int(images.shape[1]))
    counted, read_count = counting_copy(model)
    rows = []
    sanity_images = min(config.library_sanity_images if sanity_images is None else sanity_images, len(images))
    explained = [explained_images(v, len(images), default_images) for v in variants]
    with tqdm(total=sum(explained) + len(variants) * sanity_images, desc=f"library_quality {label}".strip(),
              unit="map", disable=not progress, file=sys.stderr, mininterval=5) as bar:
        for variant, n_explained in zip(variants, explained):
            start = time.perf_counter()
            result = run_variant(variant, model, counted, read_count, images, targets, masks, config, bar,
                                 explained=n_explained, sanity_images=sanity_images)
            rows.append({"method": variant.method, "variant": variant.variant, "explainer": variant.explainer,
                         "library": variant.library, "adapter": variant.adapter, "settings": variant.options,
                         "why": variant.why, **result, "wall_seconds": time.perf_counter() - start})
            s = {k: stats._clean(v) for k, v in rows[-1]["per_image"].items()}
            log(f"  {variant.method} / {variant.variant} ({variant.explainer}), {n_explained} images: "
                f"del {np.mean(s['deletion_auc']):.3f}, ins {np.mean(s['insertion_auc']):.3f}, "
                f"{np.mean(s['seconds']):.2f} s, {np.mean(s['model_evaluations']):.0f} evaluations")
        for i in range(sanity_images):
            start = time.perf_counter()
            fns = {k: _bound(v, _backgrounds(images, i)) for k, v in enumerate(variants)}
            verdicts = sanity_pass(fns, sanity_model or model, images[i], int(targets[i]), config.sanity_stages)
            for k, row in enumerate(rows):
                row["per_image"]["sanity_rank_correlation_abs"][i] = verdicts[k]["rank_correlation_abs"]
                row["sanity_verdicts"].append(verdicts[k]["verdict"])
                row["wall_seconds"] += (time.perf_counter() - start) / len(rows)
            bar.update(len(rows))
    for row, n_explained in zip(rows, explained):
        row["images_explained"] = n_explained
        row["wall_seconds_per_image"] = row.pop("wall_seconds") / len(images)
        row["summary"] = summarise(row["per_image"], config.library_resamples)
    for row in rows:
        if row["variant"] != "ours":
            ours = next(r for r in rows if r["variant"] == "ours" and r["method"] == row["method"])
            row["vs_ours"] = compare_with_ours(row, ours, config.library_resamples)
    block = {"images": len(images), "targets": [int(t) for t in targets], "rows": rows,
             "rankings": rankings(rows, config)}
    if masks is not None:
        share = [float(np.mean(m)) for m in masks if m is not None]
        block["mask_share"] = stats.bootstrap_mean(share, resamples=config.library_resamples)
    return block


def pointing_game_sample_sizes(block: dict, delta: float = 0.1) -> dict:
    """The images a pointing-game difference of ``delta`` needs: from the binomial bound, and from this block's
    per-image hits taken as a pilot, for every pair of rows (the hardest pair, the one whose difference varies
    most, and the median over the pairs)."""
    hits = {f"{r['method']}/{r['variant']}": r["per_image"]["pointing_game"] for r in block["rows"]
            if any(v is not None for v in r["per_image"]["pointing_game"])}
    sizes = []
    names = sorted(hits)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            try:
                sizes.append({**stats.pointing_game_sample_size(delta, pilot_a=hits[a], pilot_b=hits[b]),
                              "pair": [a, b]})
            except ValueError:  # fewer than two images with both hits
                continue
    worst = max(sizes, key=lambda s: s["n_wilcoxon"]) if sizes else None
    median = int(np.median([s["n_wilcoxon"] for s in sizes])) if sizes else None
    return {"delta": delta, "bound": stats.pointing_game_sample_size(delta), "pilot": worst,
            "pilot_median_n_wilcoxon": median, "pairs": len(sizes), "images": block["images"],
            "enough_by_pilot": None if worst is None else block["images"] >= worst["n_wilcoxon"]}


# --------------------------------------------------------------------------- the benchmark part
def adapter_table(config) -> dict:
    """Each adapter's two settings and why (for results.json and the report)."""
    return {key: {"library": library_version(a.library), "api": a.api, "ours": a.ours,
                  "ours_settings": ours_settings(a, config), "default": settings(a, "default", config),
                  "matched": settings(a, "matched", config), "why_default": a.why_default,
                  "why_matched": a.why_matched}
            for key, a in selected_adapters(config).items()}


# Seconds per image for all rows when no earlier run of the same sizes is recorded: the full sizes' figures of
# the run committed in benchmarks/results (2 cores; Lite0 at 224 px, defaults on 4 of 25 photos; the cue model
# at 64 px, defaults on 40 of 213 images), refined by any recorded run.
ROUGH_SECONDS_PER_IMAGE = {"efficientnet_lite0": 85.0, "cue": 7.0}


def _per_image_seconds(block: dict) -> float:
    """Wall seconds per image of all the rows of a recorded model block."""
    return float(sum(r.get("wall_seconds_per_image", 0.0) for r in block.get("rows", [])))


def estimate_seconds(config, image_counts: dict[str, int], previous: dict | None) -> tuple[float, str]:
    """Seconds the part will take for ``image_counts`` (model key -> images), from ``previous`` (an earlier
    ``library_quality`` block of the same sizes) when it has the model, else :data:`ROUGH_SECONDS_PER_IMAGE`."""
    recorded = (previous or {}).get("models", {}) if (previous or {}).get("config_name") == config.name else {}
    total, sources = 0.0, set()
    for key, n in image_counts.items():
        kind = "efficientnet_lite0" if key == "efficientnet_lite0" else "cue"
        per_image = _per_image_seconds(recorded.get(key, {}))
        sources.add("the recorded run" if per_image else "rough full-size figures")
        total += n * (per_image or ROUGH_SECONDS_PER_IMAGE[kind])
    return total, " and ".join(sorted(sources))


def _photo_set(config, lite0):
    """(images, targets, masks, names, note) of the Lite0 block: ``config.data`` when set, else bundled photos."""
    from utils.data import load_image, sample_images

    if config.data:
        from . import datasets

        data = datasets.load(config.data, limit=config.data_limit)
        targets = data.targets if data.targets is not None else base.predict(lite0, data.images).argmax(axis=1)
        return data.images, targets, data.masks, data.names, data.note
    from .quality import photo_masks

    names = list(sample_images())[: config.library_photos]
    images = np.stack([load_image(sample_images()[n]) for n in names])
    targets = base.predict(lite0, images).argmax(axis=1)
    masks = photo_masks(names, targets, int(images.shape[1]))
    boxed = sum(m is not None for m in masks)
    return (images, targets, masks, names,
            f"bundled photos, each explained for its top-1 class; pointing game and relevance mass on the {boxed} "
            "whose top-1 class has an object box (data/images/boxes.csv)")


def run_library_quality(config, out_dir=None, log=print, previous: dict | None = None) -> dict:
    """The part ``library_quality``: every adapter and our methods on the photos (Lite0) and the planted-cue
    images (the cue models), those of ``config.library_models``, or on ``config.data`` alone (Lite0) when set;
    means, intervals, paired comparisons.
    Prints its time estimate first; shows a progress bar with ``config.data`` (or on a terminal)."""
    from utils.data import load_image, sample_images
    from utils.models import load_model

    from .quality import TWIN_CHECK_PHOTOS, check_random_twin

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes for each model copy
    progress = bool(config.data) or sys.stderr.isatty()
    wanted = ("efficientnet_lite0",) if config.data else config.library_models
    cue_names = [n for n in ("cue_resnet", "cue_mobilenet") if n in wanted] if config.library_cue_images else []
    lite0 = load_model() if "efficientnet_lite0" in wanted else None
    photo_set = _photo_set(config, lite0) if lite0 is not None else None
    counts = {**({"efficientnet_lite0": len(photo_set[0])} if photo_set else {}),
              **{n: config.library_cue_images for n in cue_names}}
    estimate, how = estimate_seconds(config, counts, previous)
    log(f"library_quality: {sum(counts.values())} images, {len(build_variants(config))} rows per image; "
        f"estimated {estimate / 60:.1f} min (from {how})")
    models = {}
    if photo_set:
        images, targets, masks, names, note = photo_set
        twin_photos = np.stack([load_image(sample_images()[n]) for n in TWIN_CHECK_PHOTOS])
        twin = check_random_twin("efficientnet_lite0", twin_photos, log=log)
        block = benchmark_set(lite0, images, targets, masks, config, sanity_model="efficientnet_lite0", log=log,
                              progress=progress, label="efficientnet_lite0",
                              default_images=config.library_default_photos, sanity_images=config.library_sanity_photos)
        models["efficientnet_lite0"] = {**block, "names": list(names), "note": note, "random_twin": twin}
        if masks is not None:
            models["efficientnet_lite0"]["sample_size"] = pointing_game_sample_sizes(block)
    if cue_names:
        from utils.data.cue import make_cue_images
        from utils.models.cue import training_record

        cue = make_cue_images(config.library_cue_images, seed=training_record()["test_seed"])
        for name in cue_names:
            try:
                model = load_model(name)
            except (OSError, ValueError, RuntimeError) as err:
                models[name] = {"unavailable": str(err).splitlines()[0]}
                continue
            log(f" {name}")
            twin = check_random_twin(model, cue.images, log=log)
            block = benchmark_set(model, cue.images, cue.labels, cue.masks, config, log=log, progress=progress,
                                  label=name, default_images=config.library_default_cue_images)
            models[name] = {**block, "random_twin": twin, "sample_size": pointing_game_sample_sizes(block),
                            "note": "explained for the true class; pointing game and relevance mass against the "
                                    "planted cue's mask"}
    return {"models": models, "adapters": adapter_table(config), "data": config.data,
            "estimate_seconds": estimate, "estimate_from": how, "config_name": config.name}
