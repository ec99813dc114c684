"""The course-trained planted-cue classifiers: architectures and the files they load from.

Introduced in notebook 08. ``scripts/train_cue_models.py`` trains both on :mod:`utils.data.cue` and
saves them to ``data/models/``; :func:`utils.models.load_model` serves them as ``"cue_resnet"`` and
``"cue_mobilenet"`` under the zoo contract: float32 RGB [0, 255] input at 64x64, preprocessing inside,
a Dense named ``"logits"`` followed by a softmax named ``"predictions"``.
"""
from __future__ import annotations

import json
from pathlib import Path

import keras

from utils.data.cue import CLASS_NAMES, IMAGE_SIZE

MODELS_DIR = Path(__file__).resolve().parents[2] / "data" / "models"
CUE_MODEL_NAMES = ("cue_resnet", "cue_mobilenet")


def training_record() -> dict:
    """What scripts/train_cue_models.py recorded: seeds (``test_seed`` regenerates the test set),
    accuracies, timings and the test set's checksum (the model card's numbers)."""
    return json.loads((MODELS_DIR / "cue_models.json").read_text())


def cue_model_path(name: str) -> Path:
    """The committed ``.keras`` file of a planted-cue model."""
    return MODELS_DIR / f"{name}.keras"


def _residual_block(x, filters: int, stride: int, name: str):
    """A ResNet basic block: two 3x3 convolutions with batch norm, and a 1x1 projection when the shape changes."""
    shortcut = x
    y = keras.layers.Conv2D(filters, 3, stride, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    y = keras.layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = keras.layers.Conv2D(filters, 3, 1, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = keras.layers.BatchNormalization(name=f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, stride, use_bias=False, name=f"{name}_proj")(x)
        shortcut = keras.layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def build_cue_resnet(num_classes: int = len(CLASS_NAMES), size: int = IMAGE_SIZE) -> keras.Model:
    """A small ResNet (random weights): stem conv stride 2, three basic blocks of 16/32/64 filters
    (strides 1/2/2, so the last feature map is size/8 = 8x8), global average pooling, logits, softmax."""
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")(inputs)
    x = keras.layers.Conv2D(16, 3, 2, padding="same", use_bias=False, name="stem_conv")(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for i, (filters, stride) in enumerate([(16, 1), (32, 2), (64, 2)]):
        x = _residual_block(x, filters, stride, f"block{i + 1}")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="cue_resnet")


def build_cue_mobilenet(num_classes: int = len(CLASS_NAMES), size: int = IMAGE_SIZE) -> keras.Model:
    """``keras.applications.MobileNetV2(alpha=0.35, weights=None)`` on size x size input (last feature map
    size/32 = 2x2), built on a [0, 255] -> [-1, 1] rescaling layer as one flat graph, with the contract's
    ``logits`` Dense and ``predictions`` softmax. BatchNorm momentum 0.9 (not 0.999) for short training."""
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")(inputs)
    backbone = keras.applications.MobileNetV2(input_tensor=x, alpha=0.35, weights=None, classes=num_classes,
                                              classifier_activation=None)
    backbone.layers[-1].name = "logits"  # keras.applications calls its last Dense 'predictions'
    backbone.layers[-2].name = "avg_pool"  # a fixed name (Keras numbers it per process otherwise)
    for layer in backbone.layers:  # momentum 0.999 needs thousands of steps; ours trains for a few hundred
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    outputs = keras.layers.Activation("softmax", name="predictions")(backbone.output)
    return keras.Model(inputs, outputs, name="cue_mobilenet")


BUILDERS = {"cue_resnet": build_cue_resnet, "cue_mobilenet": build_cue_mobilenet}


def load_cue_model(name: str, pretrained: bool = True) -> keras.Model:
    """The trained planted-cue model ``name`` from ``data/models/`` (or its architecture with random
    weights when ``pretrained=False``)."""
    if name not in BUILDERS:
        raise ValueError(f"Unknown planted-cue model {name!r}; choose one of {', '.join(CUE_MODEL_NAMES)}.")
    if not pretrained:
        return BUILDERS[name]()
    path = cue_model_path(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path.relative_to(MODELS_DIR.parent.parent)} is missing: it is committed with the repository; "
            "restore it with git, or retrain it with `python scripts/train_cue_models.py`."
        )
    return keras.models.load_model(path, compile=False)
