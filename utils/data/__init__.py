"""The data the course uses.

* ``images``: the bundled photos, their labels and object boxes (re-exported here)  - notebook 00
* ``cue``: images with a planted cue (known ground truth)                 - notebook 08
* ``download``: optional larger data sets (``./get_dataset.sh``)
"""
from utils.data.images import (  # noqa: F401 - the package's main API
    BOXES_FILE,
    DATA_DIR,
    IMAGE_SUFFIXES,
    IMAGES_DIR,
    LABELS_FILE,
    MAX_ASPECT_RATIO,
    MAX_PIXELS,
    MAX_SIZE,
    REDUCE_FROM,
    REDUCING_GAP,
    Box,
    box_mask,
    expected_labels,
    load_image,
    object_boxes,
    object_mask,
    photo_size,
    resize_and_crop,
    sample_image_path,
    sample_images,
    to_rgb_array,
)
