"""Models for tests that must run without ImageNet weight files: random-weight zoo models, plain Keras
CNNs from outside the zoo, and a writer of the legacy HDF5 weights files that keras.applications downloads.

``random_zoo_model(name)`` returns a model with the same contract as
:func:`utils.models.load_model` (float32 RGB [0, 255] input at 224x224, preprocessing inside the
model, a separate softmax layer named ``"predictions"`` whose input is the ``"logits"`` layer), with
seeded random weights: ``load_model(name, pretrained=False)`` built under a fixed seed and cached,
so a test module builds each architecture once (ResNet50 takes a few seconds).
``plain_cnn(head)`` is an ordinary small Keras classifier with the usual heads (softmax inside the last
Dense, a separate softmax, logits, sigmoid), for :func:`utils.models.logits_model` and the explainers.
"""
from __future__ import annotations

import functools
from pathlib import Path

import h5py
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


def plain_cnn(head: str = "dense_softmax", *, size: int = 64, classes: int = 10, seed: int = 0,
              sequential: bool = False) -> keras.Model:
    """An ordinary Keras CNN, as a student would write it (not from the zoo), with seeded weights.

    Input (size, size, 3) raw pixels in [0, 255] (a Rescaling layer inside), Conv2D, ReLU layer, Conv2D
    with a built-in relu, global average pooling, then the head:

    * ``"dense_softmax"``: ``Dense(classes, activation="softmax")`` (the softmax inside the last layer);
    * ``"activation_softmax"``: ``Dense(classes)`` then ``Activation("softmax")`` (the zoo's layout);
    * ``"softmax_layer"``: ``Dense(classes)`` then ``keras.layers.Softmax()``;
    * ``"logits"``: ``Dense(classes)`` (outputs logits);
    * ``"sigmoid"``: ``Dense(classes, activation="sigmoid")`` (multi-label scores, not a softmax).

    The same ``seed`` gives the same weights for every head, so the heads can be compared.
    """
    keras.utils.set_random_seed(seed)
    body = [
        keras.Input((size, size, 3), name="image"),
        keras.layers.Rescaling(1 / 255, name="scale"),
        keras.layers.Conv2D(8, 3, padding="same", name="conv1"),
        keras.layers.ReLU(name="relu1"),
        keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv2"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
    ]
    dense = keras.layers.Dense
    heads = {  # built only when chosen, so that every head draws the same initial weights
        "dense_softmax": lambda: [dense(classes, activation="softmax", name="predictions")],
        "activation_softmax": lambda: [dense(classes, name="logits"),
                                       keras.layers.Activation("softmax", name="predictions")],
        "softmax_layer": lambda: [dense(classes, name="logits"), keras.layers.Softmax(name="predictions")],
        "logits": lambda: [dense(classes, name="logits")],
        "sigmoid": lambda: [dense(classes, activation="sigmoid", name="predictions")],
    }
    layers = body + heads[head]()
    if sequential:
        return keras.Sequential(layers, name=f"plain_cnn_{head}")
    x = layers[0]
    for layer in layers[1:]:
        x = layer(x)
    return keras.Model(layers[0], x, name=f"plain_cnn_{head}")


def save_legacy_h5_weights(model: keras.Model, path: Path) -> bytes:
    """Write ``model``'s weights in the legacy HDF5 layout of the keras-applications downloads; return the bytes.

    The layout Keras' ``load_weights`` reads from a ``.h5`` file: the root attribute ``layer_names``; one
    group per layer whose attribute ``weight_names`` lists its datasets, trainable weights first, then the
    non-trainable ones (BatchNorm: gamma, beta, moving mean, moving variance). Layers are matched by order.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode("utf8") for layer in model.layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = keras.__version__.encode("utf8")
        for layer in model.layers:
            group = f.create_group(layer.name)
            weights = layer.trainable_weights + layer.non_trainable_weights
            names = [f"{layer.name}/{w.name}_{k}".encode("utf8") for k, w in enumerate(weights)]
            group.attrs["weight_names"] = names
            for name, weight in zip(names, weights, strict=True):
                group.create_dataset(name.decode("utf8"), data=weight.numpy())
    return path.read_bytes()
