"""Explainers for image classifiers, each built from scratch, all with one signature.

``METHODS[name](model, image, target, **options) -> np.ndarray`` of shape (H, W) at the image's
resolution. ``model`` is any Keras image classifier (the zoo's :func:`utils.models.load_model`, or one
ending in ``Dense(softmax)`` or in logits), ``image`` one (H, W, 3) float image in [0, 255], ``target`` a
class index. One vocabulary: every method takes ``output`` ("logit" or "probability": the score it
explains); ``baseline`` is what hidden pixels show (:mod:`utils.explain.baselines`); a method's budget is
``num_samples``; methods that sample take ``seed``.
``METHODS[name].info`` is the method's metadata (:class:`~utils.explain.registry.ExplainerInfo`:
family, signed or not, its budget option, quick settings, what it needs from the model).

Every module of this folder is imported here, and a module registers its methods where they are
defined (``@explainer(...)``, :mod:`utils.explain.registry`): a new method is one decorated function
in one file. LIME for images lives with the other LIMEs in :mod:`utils.lime.image` and is imported
here too. Modules (and the notebook that introduces each):

* ``segmentation``: superpixels (quickshift, slic, felzenszwalb, grid)       - notebook 04
* ``baselines``: what hidden pixels show (black, mean, blur, noise, ...)     - notebook 04
* ``perturbation``: masking, filling and batched scoring of perturbations    - notebook 04
* ``utils.lime.image``: LIME for images                                       - notebook 04
* ``kernel_shap``: superpixel KernelSHAP                                      - notebook 06
* ``occlusion``, ``rise``: perturbation maps                                  - notebook 08
* ``gradcam``: Grad-CAM, Grad-CAM++, Score-CAM, Guided Grad-CAM               - notebook 05
* ``cam_layers``: which layer a CAM method reads                              - notebook 05
* ``gradients``: saliency, Gradient x Input, SmoothGrad, Guided Backprop      - notebook 07
* ``integrated_gradients``: Integrated Gradients                              - notebook 07
* ``base``, ``model_calls``, ``registry``: input checks, counted compiled model calls, the registry
"""
from pathlib import Path

from . import base
from .base import count_model_calls, logit_gradients, predict, score_gradients
from .registry import METHODS, Explainer, ExplainerInfo, explainer, import_modules

import_modules(__name__, __path__)
import_modules("utils.lime", [str(Path(__file__).resolve().parents[1] / "lime")])

__all__ = ["METHODS", "Explainer", "ExplainerInfo", "base", "count_model_calls", "explainer", "logit_gradients",
           "predict", "score_gradients"]
