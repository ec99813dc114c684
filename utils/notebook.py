"""The first cell of every notebook: one call that pins seeds, versions and plotting style.

Introduced in notebook 00. Keeping this here (not copied into each notebook) means every lecture
starts from the same state, so outputs are reproducible and figures look alike.
"""
from __future__ import annotations

import os
import random
import warnings

import numpy as np

# Versions the course was written and tested against (requirements.txt pins them), by the name
# you import; DISTRIBUTIONS maps import names to the names pip installs them under.
EXPECTED_VERSIONS = {
    "tensorflow": "2.21",
    "keras": "3.",
    "shap": "0.51",
    "lime": "0.2.0",
    "eli5": "0.16",
    "tf_keras_vis": "0.8.7",
}
DISTRIBUTIONS = {"tensorflow": "tensorflow-cpu", "tf_keras_vis": "tf-keras-vis", "sklearn": "scikit-learn",
                 "skimage": "scikit-image"}


def set_seed(seed: int = 0) -> None:
    """Seed Python, numpy and TensorFlow, so a notebook gives the same numbers on every run."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"set_seed takes a whole number between 0 and 2**32 - 1 (e.g. set_seed(0)), got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed)
    import keras

    keras.utils.set_random_seed(seed)


def check_versions(packages: tuple[str, ...] = ("tensorflow", "keras")) -> dict[str, str]:
    """Return ``{package: version}`` and fail early if one differs from the course's pins."""
    import importlib
    from importlib import metadata

    from utils import import_tensorflow_quietly

    import_tensorflow_quietly()  # before keras, shap or eli5 import it noisily
    found = {}
    for name in packages:
        module = importlib.import_module(name)  # fails early, with the module's name, if it is missing
        version = getattr(module, "__version__", None)
        if version is None:  # lime, for one, has no __version__
            version = metadata.version(DISTRIBUTIONS.get(name, name))
        found[name] = version
        expected = EXPECTED_VERSIONS.get(name)
        if expected and not version.startswith(expected):
            raise RuntimeError(
                f"{name} {version} is installed but the course expects {expected}*; "
                "run `make install` to get the pinned versions."
            )
    return found


def setup(seed: int = 0, packages: tuple[str, ...] = ("tensorflow", "keras")) -> dict[str, str]:
    """Seed everything, check versions, quiet TensorFlow and set one plotting style.

    Returns the checked versions so the cell can print them.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"setup(seed=...) takes a whole number between 0 and 2**32 - 1 (e.g. setup(0)), got {seed!r}.")
    if isinstance(packages, str) or not all(isinstance(p, str) for p in packages):
        raise ValueError(f"setup(packages=...) takes a tuple of import names, e.g. ('tensorflow', 'shap'), "
                         f"got {packages!r}.")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm.auto without ipywidgets
    # tf-keras-vis passes inputs as a list; Keras 3 warns about it on every call, harmlessly.
    warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 80,
            "figure.figsize": (8, 4),
            "axes.titlesize": 10,
            "axes.labelsize": 9,
            "image.cmap": "viridis",
            "savefig.bbox": "tight",
        }
    )
    versions = check_versions(packages)
    set_seed(seed)
    return versions
