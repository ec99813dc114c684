"""What users would pick instead: lime, shap, tf-keras-vis and eli5 on the same model, image and layer.

Each ``*_explainer`` returns a zero-argument function that computes one explanation, so that
:func:`benchmarks.timing.time_call` times them all the same way (after one warm-up call). Model
calls go through what a user of each library would write: ``model.predict(x, verbose=0)`` for lime
and shap (their documentation's pattern), the Keras model itself for tf-keras-vis and eli5.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from typing import Callable

import numpy as np

from utils.explain.segmentation import segment


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    logging.getLogger("shap").setLevel(logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def silenced(fn: Callable[[], np.ndarray]) -> Callable[[], np.ndarray]:
    """``fn`` with stdout/stderr swallowed: Keras' predict bars (tf-keras-vis) and lime's tqdm bar,
    which neither library lets you switch off, would otherwise flood the benchmark's log."""

    def run():
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return fn()

    return run


def lime_library(model, image: np.ndarray, target: int, num_samples: int = 1000, batch_size: int = 10,
                 segmentation: str = "slic", seed: int = 0) -> Callable[[], np.ndarray]:
    """lime's ``LimeImageExplainer.explain_instance`` with our segmentation (so only the sampling,
    model calls and fit are compared); ``batch_size=10`` is lime's default."""
    from lime.lime_image import LimeImageExplainer

    _quiet()
    segments = segment(image, segmentation)

    def run():
        explainer = LimeImageExplainer(random_state=seed)
        explanation = explainer.explain_instance(
            image.astype(np.float64), lambda x: model.predict(x.astype(np.float32), verbose=0), labels=(target,),
            top_labels=None, hide_color=None, num_samples=num_samples, batch_size=batch_size,
            segmentation_fn=lambda _: segments, random_seed=seed)
        weights = dict(explanation.local_exp[target])
        return np.vectorize(lambda s: weights.get(s, 0.0))(segments).astype(np.float32)

    return silenced(run)


def shap_partition(model, image: np.ndarray, target: int, max_evals: int = 500,
                   batch_size: int = 50) -> Callable[[], np.ndarray]:
    """shap's Partition explainer with a blur masker (``shap.maskers.Image("blur(128,128)")``)."""
    import shap

    _quiet()
    masker = shap.maskers.Image("blur(128,128)", image.shape)
    explainer = shap.Explainer(lambda x: model.predict(np.asarray(x, np.float32), verbose=0), masker)

    def run():
        values = explainer(image[None], max_evals=max_evals, batch_size=batch_size, outputs=[target],
                           silent=True)
        return np.asarray(values.values[0, ..., 0]).sum(axis=-1).astype(np.float32)

    return run


def tf_keras_vis_gradcam(model, image: np.ndarray, target: int, layer: str) -> Callable[[], np.ndarray]:
    """tf-keras-vis ``Gradcam`` on the logit (``ReplaceToLinear``), at ``layer``."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    _quiet()
    gradcam = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    score = CategoricalScore([target])
    return lambda: np.asarray(gradcam(score, image[None], penultimate_layer=layer)[0], np.float32)


def tf_keras_vis_scorecam(model, image: np.ndarray, target: int, layer: str,
                          num_samples: int | None) -> Callable[[], np.ndarray]:
    """tf-keras-vis ``Scorecam`` (softmax score, as Score-CAM defines it) with ``max_N`` = our Score-CAM's
    ``num_samples`` (its number of maps)."""
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    _quiet()
    scorecam = Scorecam(model, clone=False)
    score = CategoricalScore([target])
    return silenced(lambda: np.asarray(scorecam(score, image[None], penultimate_layer=layer, max_N=num_samples)[0],
                                       np.float32))


def eli5_gradcam(model, image: np.ndarray, target: int, layer: str) -> Callable[[], np.ndarray]:
    """``eli5.explain_prediction(model, image)``: eli5's Grad-CAM for Keras image models."""
    import eli5

    _quiet()

    def run():
        explanation = eli5.explain_prediction(model, image[None], targets=[target], layer=layer)
        return np.asarray(explanation.targets[0].heatmap, np.float32)

    return run
