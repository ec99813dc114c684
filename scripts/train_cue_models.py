"""Train the planted-cue models ``cue_resnet`` and ``cue_mobilenet`` and write their model card.

    .venv/bin/python scripts/train_cue_models.py            # the committed models (a few minutes, 2 CPU cores)
    .venv/bin/python scripts/train_cue_models.py --epochs 1 --out /tmp/cue   # a smoke run

Data: :func:`utils.data.cue.make_cue_images` (train seed 0, validation seed 1, test seed 2). Writes to
``--out`` (default ``data/models/``): ``cue_resnet.keras``, ``cue_mobilenet.keras`` (weights only, no
optimizer state), ``cue_models.json`` (the measured numbers and the test set's checksum) and
``MODEL_CARD.md``. The test set is not committed: it is regenerated from its seed, and the checksum
proves it is the same set (``tests/test_cue.py`` checks it).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from utils.data.cue import (  # noqa: E402
    CLASS_NAMES,
    CUE_SIZE,
    IMAGE_SIZE,
    TEST_SEED,
    TRAIN_SEED,
    VALIDATION_SEED,
    CueImages,
    checksum,
    make_cue_images,
)
from utils.explain.base import predict  # noqa: E402
from utils.models.cue import BUILDERS  # noqa: E402

SEED = 0
N_VALIDATION, N_TEST = 300, 600
# Per model: training images (the first n of the train seed), epochs, peak learning rate. MobileNetV2
# over-fits the backgrounds of 3000 images (train 0.95, validation 0.65 after 8 epochs), so it sees more.
SETTINGS = {
    "cue_resnet": {"n_train": 3000, "epochs": 8, "learning_rate": 2e-3},
    "cue_mobilenet": {"n_train": 6000, "epochs": 10, "learning_rate": 2e-3},
}
BATCH_SIZE = 32


def evaluate(model: keras.Model, n_test: int) -> dict:
    """Accuracy on clean test images, with the cue removed, and with another class's cue swapped in."""
    k = len(CLASS_NAMES)
    clean = make_cue_images(n_test, TEST_SEED)
    removed = make_cue_images(n_test, TEST_SEED, cue="removed")
    result = {"clean_accuracy": float((predict(model, clean.images).argmax(1) == clean.labels).mean())}
    pred = predict(model, removed.images).argmax(1)
    result["removed_accuracy"] = float((pred == removed.labels).mean())
    result["removed_predicted_share"] = {CLASS_NAMES[c]: float((pred == c).mean()) for c in range(k)}
    for shift in range(1, k):
        swapped = make_cue_images(n_test, TEST_SEED, cue="swapped", swap_shift=shift)
        pred = predict(model, swapped.images).argmax(1)
        result[f"swapped{shift}_accuracy_original_label"] = float((pred == swapped.labels).mean())
        result[f"swapped{shift}_follows_cue"] = float((pred == swapped.cue_labels).mean())
    return result


def train(name: str, train_set, validation_set, epochs: int, batch_size: int, learning_rate: float) -> tuple:
    keras.utils.set_random_seed(SEED)
    model = BUILDERS[name]()
    steps = epochs * int(np.ceil(len(train_set) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps, alpha=0.05)
    model.compile(keras.optimizers.Adam(schedule), keras.losses.SparseCategoricalCrossentropy(),
                  metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(train_set.images, train_set.labels, batch_size=batch_size, epochs=epochs, shuffle=True,
                        validation_data=(validation_set.images, validation_set.labels), verbose=2)
    seconds = time.perf_counter() - start
    # Save an uncompiled copy: the weights only, no optimizer state (a smaller file).
    clean = BUILDERS[name]()
    clean.set_weights(model.get_weights())
    return clean, seconds, {k: [round(float(v), 4) for v in vals] for k, vals in history.history.items()}


def model_card(info: dict) -> str:
    rows = []
    for name, m in info["models"].items():
        e = m["evaluation"]
        rows.append(f"| `{name}` | {m['parameters']:,} | {m['file_mb']:.2f} MB | {m['n_train']} | {m['epochs']} | "
                    f"{m['train_seconds']:.0f} s | "
                    f"{e['clean_accuracy']:.3f} | {e['removed_accuracy']:.3f} | "
                    f"{e['swapped1_accuracy_original_label']:.3f} | {e['swapped1_follows_cue']:.3f} | "
                    f"{e['swapped2_follows_cue']:.3f} |")
    shares = "; ".join(f"`{n}`: " + ", ".join(f"{c} {v:.2f}" for c, v in m["evaluation"]["removed_predicted_share"].items())
                       for n, m in info["models"].items())
    k = len(CLASS_NAMES)
    relies = {n: m["evaluation"]["removed_accuracy"] < 0.5 and m["evaluation"]["clean_accuracy"] > 0.9
              and min(m["evaluation"][f"swapped{j}_follows_cue"] for j in range(1, k)) > 0.9
              for n, m in info["models"].items()}
    verdict = ("Every model falls to about chance without the cue and follows a swapped cue, not the background: "
               "the models rely on the cue, so a faithful explanation of their predictions must point at its pixels."
               if all(relies.values()) else
               "NOT every model relies on the cue (clean accuracy > 0.9, cue removed < 0.5 and swapped cue followed "
               "> 0.9 fails for: " + ", ".join(n for n, ok in relies.items() if not ok) + "): retrain before use.")
    return f"""# Model card: the planted-cue classifiers `cue_resnet` and `cue_mobilenet`

Two small Keras classifiers trained by `scripts/train_cue_models.py` on images whose class is decided
by a small planted cue, so that an explanation has a known right answer: the cue's pixels. Load them
with `utils.models.load_model("cue_resnet")` / `load_model("cue_mobilenet")` (offline).

## Data (`utils/data/cue.py`)
- {IMAGE_SIZE}x{IMAGE_SIZE} RGB, float32 in [0, 255]. Background: blurred coloured ellipses and rectangles, 0-2
  small squares of coloured noise (distractors) and pixel noise, drawn from the same distribution for
  every class, so it carries no information about the class.
- Cue: a {CUE_SIZE}x{CUE_SIZE} two-colour pattern at a uniformly random position: {", ".join(f"class {i} `{c}`" for i, c in enumerate(CLASS_NAMES))}
  (checkerboard red/white, horizontal stripes green/black, square rings blue/yellow). It covers
  {CUE_SIZE * CUE_SIZE / IMAGE_SIZE ** 2:.1%} of the image. Image `i` is of class `i % {k}` (balanced).
- Masks: `make_cue_images(...).masks` is the cue's binary mask for every image (True on its
  {CUE_SIZE * CUE_SIZE} pixels), the ground truth for the pointing game and relevance mass.
- Splits, regenerated from their seeds: train (seed {TRAIN_SEED}; the first 3000 or 6000 images, see below), validation
  {info['n_validation']} (seed {VALIDATION_SEED}), test {info['n_test']} (seed {TEST_SEED}). The test set is not committed;
  `make_cue_images({info['n_test']}, {TEST_SEED})` rebuilds it bit for bit (integer arithmetic only) and its
  SHA-256 (`utils.data.cue.checksum`) is `{info['test_checksum']}`.
- Counterfactual test sets from the same seed: `cue="removed"` (same background, no cue) and
  `cue="swapped"` (the cue of class `(label + shift) % {k}` at the same place).

## Architectures (`utils/models/cue.py`)
- `cue_resnet`: [0, 255] -> [-1, 1] rescaling, stem 3x3 conv (16, stride 2), three basic residual
  blocks (16, 32, 64 filters; strides 1, 2, 2; last feature map 8x8 at `block3_out`), global average
  pooling, Dense `logits`, softmax `predictions`.
- `cue_mobilenet`: the same rescaling, `keras.applications.MobileNetV2(alpha=0.35, weights=None,
  input_shape={IMAGE_SIZE}x{IMAGE_SIZE})` (last feature map 2x2 at `out_relu`, BatchNorm momentum 0.9),
  Dense `logits`, softmax `predictions`.

## Training
Adam, cosine-decayed learning rate (peak in the table's settings: {", ".join(f"`{n}` {m['learning_rate']}" for n, m in info["models"].items())}),
batch {info['batch_size']}, training images and epochs as in the table, sparse categorical cross-entropy, no augmentation; `keras.utils.set_random_seed({SEED})`. TensorFlow on a
multi-core CPU is not bit-reproducible, so a rerun gives close but not identical weights; the
committed files are the reference. Measured on {info['machine']} (TensorFlow {info['tensorflow']},
Keras {info['keras']}); the machine was shared with other jobs, so the times are upper bounds.

## Results on the {info['n_test']} test images

| model | parameters | file | training images | epochs | training time | clean accuracy | cue removed | cue swapped (+1): original label | swapped (+1): follows the cue | swapped (+2): follows the cue |
|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Chance is {1 / k:.3f}. Class shares predicted with the cue removed: {shares}.
{verdict}

## Intended use and limits
Teaching and benchmarking explanation methods against a known ground truth (notebook 08,
`benchmarks/`). Not a model of anything real. "Relies on the cue" is measured on the decision; a model
may still respond weakly to other pixels, so a relevance mass below 1 is not by itself a failure of the
explainer.
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="override every model's number of epochs (smoke runs)")
    parser.add_argument("--n-train", type=int, help="override every model's number of training images")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "models")
    parser.add_argument("--models", default="cue_resnet,cue_mobilenet")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    names = args.models.split(",")
    settings = {n: {**SETTINGS[n], **({"epochs": args.epochs} if args.epochs else {}),
                    **({"n_train": args.n_train} if args.n_train else {})} for n in names}
    full_train_set = make_cue_images(max(s["n_train"] for s in settings.values()), TRAIN_SEED)
    validation_set = make_cue_images(N_VALIDATION, VALIDATION_SEED)
    data_seconds = time.perf_counter() - t0
    print(f"generated {len(full_train_set)} + {N_VALIDATION} images in {data_seconds:.1f} s", flush=True)
    info = {"n_validation": N_VALIDATION, "n_test": N_TEST, "batch_size": BATCH_SIZE, "seed": SEED,
            "train_seed": TRAIN_SEED, "validation_seed": VALIDATION_SEED, "test_seed": TEST_SEED,
            "data_seconds": round(data_seconds, 1),
            "test_checksum": checksum(make_cue_images(N_TEST, TEST_SEED)),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "tensorflow": tf.__version__,
            "keras": keras.__version__, "models": {}}
    for name in names:
        s = settings[name]
        train_set = CueImages(*(getattr(full_train_set, f)[:s["n_train"]] for f in
                                ("images", "masks", "labels", "cue_labels", "positions")))
        model, seconds, history = train(name, train_set, validation_set, s["epochs"], BATCH_SIZE, s["learning_rate"])
        path = args.out / f"{name}.keras"
        model.save(path)
        evaluation = evaluate(model, N_TEST)
        print(name, f"{seconds:.0f} s", evaluation, flush=True)
        info["models"][name] = {**s, "parameters": int(model.count_params()), "file_mb": path.stat().st_size / 2 ** 20,
                                "train_seconds": round(seconds, 1), "history": history, "evaluation": evaluation}
    (args.out / "cue_models.json").write_text(json.dumps(info, indent=1) + "\n")
    if set(info["models"]) == set(BUILDERS):
        (args.out / "MODEL_CARD.md").write_text(model_card(info))
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
