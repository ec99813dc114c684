"""Explainers for image classifiers, each built from scratch, all with one signature.

``METHODS[name](model, image, target, **options) -> np.ndarray`` of shape (H, W) at the image's
resolution. ``model`` is any model from :func:`utils.models.load_model`, ``image`` one (H, W, 3)
float image in [0, 255], ``target`` a class index. Methods that sample take ``seed``.

Modules (and the notebook that introduces each):

* ``segmentation``: superpixels (quickshift, slic, felzenszwalb, grid)       - notebook 04
* ``lime_image``: LIME for images                                             - notebook 04
* ``kernel_shap``: superpixel KernelSHAP                                      - notebook 06
* ``occlusion``, ``rise``: perturbation maps                                  - notebook 08
* ``gradcam``: Grad-CAM, Grad-CAM++, Score-CAM, Guided Grad-CAM               - notebook 05
* ``gradients``: saliency, Gradient x Input, SmoothGrad, Guided Backprop      - notebook 07
* ``integrated_gradients``: Integrated Gradients                              - notebook 07
"""
from . import base  # noqa: I001  (import order = the order in which methods register in METHODS)
from .base import METHODS, count_model_calls, predict, logit_gradients, register

# Importing a module registers its methods in METHODS.
from . import segmentation, lime_image, kernel_shap, occlusion, rise  # noqa: E402,F401
from . import gradcam, gradients, integrated_gradients  # noqa: E402,F401

__all__ = ["METHODS", "base", "count_model_calls", "predict", "logit_gradients", "register"]
