"""Random-weight versions of the zoo models, for tests that must run without ImageNet weight files.

``random_zoo_model(name)`` returns a model with the same contract as
:func:`utils.models.load_model` (float32 RGB [0, 255] input at 224x224, preprocessing inside the
model, a separate softmax layer named ``"predictions"`` whose input is the logits), but with seeded
random weights. ``keras.applications`` weights are downloaded at run time, so offline tests of
``mobilenet_v2`` and ``resnet50`` use these instead (issue 5: "with randomly initialised weights
otherwise").
"""
from __future__ import annotations

import functools

import keras

from utils.models import CaffePreprocess, MODEL_NAMES, build_efficientnet_lite0


def _keras_application(name: str) -> keras.Model:
    inputs = keras.Input((224, 224, 3), name="image")
    if name == "mobilenet_v2":
        pre = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")
        backbone_fn = keras.applications.MobileNetV2
    else:
        pre = CaffePreprocess(name="preprocess")
        backbone_fn = keras.applications.ResNet50
    backbone = backbone_fn(weights=None, classifier_activation=None, input_tensor=pre(inputs))
    # keras.applications names its last Dense "predictions" too; the contract keeps that name for the softmax.
    backbone.layers[-1].name = "logits"
    outputs = keras.layers.Activation("softmax", name="predictions")(backbone.output)
    return keras.Model(inputs, outputs, name=name)


@functools.lru_cache(maxsize=None)
def random_zoo_model(name: str, seed: int = 0) -> keras.Model:
    """A zoo model (``"efficientnet_lite0"``, ``"mobilenet_v2"``, ``"resnet50"``) with random weights.

    Cached per (name, seed): treat the returned model as read-only (copy it before changing weights).
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"Unknown model {name!r}. Choose one of: {', '.join(MODEL_NAMES)}.")
    keras.utils.set_random_seed(seed)
    if name == "efficientnet_lite0":
        return build_efficientnet_lite0()
    return _keras_application(name)
