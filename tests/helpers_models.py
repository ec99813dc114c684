"""Random-weight versions of the zoo models, for tests that must run without ImageNet weight files.

``random_zoo_model(name)`` returns a model with the same contract as
:func:`utils.models.load_model` (float32 RGB [0, 255] input at 224x224, preprocessing inside the
model, a separate softmax layer named ``"predictions"`` whose input is the ``"logits"`` layer), with
seeded random weights: ``load_model(name, pretrained=False)`` built under a fixed seed and cached,
so a test module builds each architecture once (ResNet50 takes a few seconds).
"""
from __future__ import annotations

import functools

import keras

from utils.models import load_model


@functools.lru_cache(maxsize=None)
def random_zoo_model(name: str, seed: int = 0) -> keras.Model:
    """A zoo model (``"efficientnet_lite0"``, ``"mobilenet_v2"``, ``"resnet50"``) with seeded random weights.

    Cached per (name, seed): treat it as read-only (build your own with
    ``load_model(name, pretrained=False)`` before changing weights).
    """
    keras.utils.set_random_seed(seed)
    return load_model(name, pretrained=False)
