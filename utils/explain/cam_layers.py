"""Which layer a CAM method reads: the layers with spatial feature maps, and the default choice.

Introduced in notebook 05 (Grad-CAM): CAM methods weight the channels of one convolutional layer's
feature maps, by default those of the last layer whose output is still a spatial map (7x7 on the zoo's
224x224 models). :func:`resolve_feature_layer` picks it, or checks a layer the caller names.
"""
from __future__ import annotations

import keras


def spatial_layers(model: keras.Model) -> list[str]:
    """Names of the layers whose output is a spatial feature map (batch, h, w, channels)."""
    names = []
    for layer in model.layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4 and not isinstance(layer, keras.layers.InputLayer) and shape[1] and shape[1] > 1:
            names.append(layer.name)
    return names


def conv_layers(model: keras.Model) -> list[str]:
    """Names of the convolution layers of ``model`` (Conv2D, DepthwiseConv2D, SeparableConv2D)."""
    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    return [layer.name for layer in model.layers if isinstance(layer, kinds)]


def resolve_feature_layer(model: keras.Model, layer: str | None = None) -> str:
    """The layer whose feature maps CAM methods use: ``layer`` if given, else the last spatial one.

    Raises a ValueError that lists the candidates when ``layer`` does not exist, and one that says
    why when the model has no convolutional layer at all.
    """
    if not conv_layers(model):
        raise ValueError(
            f"Model {model.name!r} has no convolutional layer, so CAM methods (Grad-CAM, Score-CAM) do "
            "not apply. Use a model-agnostic method instead: 'lime', 'kernel_shap', 'occlusion', 'rise', "
            "'saliency' or 'integrated_gradients'."
        )
    candidates = spatial_layers(model)
    if layer is None:
        return candidates[-1]
    names = {lyr.name for lyr in model.layers}
    if layer not in names:
        shown = ", ".join(candidates[-8:])
        raise ValueError(
            f"Model {model.name!r} has no layer named {layer!r}. Layers with spatial feature maps "
            f"(last {min(8, len(candidates))} of {len(candidates)}): {shown}. "
            "See utils.explain.cam_layers.spatial_layers(model) for all of them."
        )
    if layer not in candidates:
        raise ValueError(f"Layer {layer!r} has no spatial output (shape {model.get_layer(layer).output.shape}); "
                         f"pick one of the last convolutional blocks, e.g. {candidates[-1]!r}.")
    return layer
