"""The models the course explains.

* ``zoo``: the pretrained image classifiers, their preprocessing and labels (re-exported here) - notebook 00
* ``cue``: the planted-cue models, trained on images with a known cue      - notebook 08
* ``torch_weights``: a safe reader of the EfficientNet-Lite0 PyTorch weights file
"""
from utils.models.zoo import (  # noqa: F401 - the package's main API
    DATA_DIR,
    KERAS_WEIGHTS,
    LABELS_FILE,
    LOGITS_SUPPORTED,
    MODEL_NAMES,
    CaffePreprocess,
    DenseLogits,
    ModelUnavailableError,
    available_models,
    build_efficientnet_lite0,
    decode_predictions,
    imagenet_labels,
    input_size,
    keras_cache_dir,
    keras_weights_path,
    lite0_weights_path,
    load_model,
    logits_model,
    outputs_logits,
    probability_model,
)
