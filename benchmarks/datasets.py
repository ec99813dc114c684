"""Larger image sets for the per-image benchmark parts: what ``./get_dataset.sh NAME`` leaves on disk.

``python -m benchmarks --data imagenette`` (or ``coco-sample``; ``make benchmark DATA=...``) runs the parts
that explain images one by one on these images instead of the bundled photos. The layouts are those of
:mod:`utils.data.download` (docs/datasets.md), under ``$COURSE_DATA_DIR`` or ``data/downloads/``:

* ``imagenette/<wnid>/*.JPEG`` with ``MANIFEST.json`` (``classes``: wnid -> ``{"name", "imagenet_index"}``):
  each image is explained for its true ImageNet class; there are no boxes, so no pointing game;
* ``coco-val2017-sample/images/*.jpg`` with ``instances_val2017_sample.json`` (COCO instance annotations):
  each image is explained for the model's top-1 class (COCO's 80 categories are not ImageNet classes),
  and the ground-truth mask for the pointing game and relevance mass is the union of the image's
  non-crowd object boxes, carried through the same resize and centre crop as the image
  (:func:`utils.data.load_image`). Its share of the image is the pointing game's chance level, recorded
  with the results.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATASETS = ("imagenette", "coco-sample")
EXIT_MISSING = 2


class MissingData(Exception):
    """The data set has not been downloaded: the message says which ``./get_dataset.sh`` command to run."""

    exit_code = EXIT_MISSING


@dataclass(frozen=True)
class ImageSet:
    """Images ready for a zoo model, with what each is explained for and its ground truth if any."""

    name: str
    names: list[str]          # one per image (file path inside the data set)
    images: np.ndarray        # (N, size, size, 3) float32 in [0, 255]
    targets: np.ndarray | None  # (N,) ImageNet class to explain, or None: the model's top-1
    masks: np.ndarray | None  # (N, size, size) bool ground truth, or None
    note: str


def dataset_folder(name: str, dest: Path | None = None) -> Path:
    """Where ``./get_dataset.sh name`` puts the data set (``dest``, else $COURSE_DATA_DIR, else data/downloads)."""
    from utils.data.download import COCO_DIR, IMAGENETTE_DIR, resolve_dest

    if name not in DATASETS:
        raise ValueError(f"Unknown benchmark data {name!r}; choose from {', '.join(DATASETS)}.")
    return resolve_dest(dest) / {"imagenette": IMAGENETTE_DIR, "coco-sample": COCO_DIR}[name]


def check_present(name: str, dest: Path | None = None) -> Path:
    """The data set's folder, or :class:`MissingData` with the command that fetches it."""
    from utils.data.download import MANIFEST

    folder = dataset_folder(name, dest)
    if not (folder / MANIFEST).is_file():
        raise MissingData(f"benchmark data {name!r} not found in {folder}: run ./get_dataset.sh {name} first "
                          "(online; see docs/datasets.md)")
    return folder


def coco_mask(boxes, width: int, height: int, size: int = 224) -> np.ndarray:
    """(size, size) bool mask of the union of COCO boxes ``[x, y, w, h]`` (pixels of the original image) on the
    pixels :func:`utils.data.load_image` produces (:func:`utils.data.box_mask`, the bundled photos' rule)."""
    from utils.data import box_mask

    return np.logical_or.reduce([box_mask((x, y, x + w, y + h), (width, height), size) for x, y, w, h in boxes])


def load_imagenette(folder: Path, limit: int | None = None, size: int = 224) -> ImageSet:
    """The Imagenette images in ``folder``, sorted, each with its true ImageNet class (from MANIFEST.json)."""
    from utils.data import load_image
    from utils.data.download import MANIFEST

    classes = json.loads((folder / MANIFEST).read_text()).get("classes", {})
    files = sorted(p for p in folder.glob("n*/*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    files = [p for p in files if classes.get(p.parent.name, {}).get("imagenet_index") is not None][:limit]
    if not files:
        raise MissingData(f"no Imagenette images with a known class in {folder}: run ./get_dataset.sh imagenette "
                          "--force")
    images = np.stack([load_image(p, size=size) for p in files])
    targets = np.array([int(classes[p.parent.name]["imagenet_index"]) for p in files])
    return ImageSet("imagenette", [str(p.relative_to(folder)) for p in files], images, targets, None,
                    "Imagenette validation images, each explained for its true class (no boxes: no pointing game)")


def load_coco_sample(folder: Path, limit: int | None = None, size: int = 224) -> ImageSet:
    """The COCO sample's images with the union of their non-crowd boxes as the ground-truth mask."""
    from utils.data import load_image
    from utils.data.download import COCO_SAMPLE_JSON

    annotations = json.loads((folder / COCO_SAMPLE_JSON).read_text())
    boxes: dict[int, list] = {}
    for a in annotations["annotations"]:
        if not a.get("iscrowd"):
            boxes.setdefault(a["image_id"], []).append(a["bbox"])
    entries = [im for im in sorted(annotations["images"], key=lambda im: im["id"]) if boxes.get(im["id"])][:limit]
    if not entries:
        raise MissingData(f"no annotated images in {folder}: run ./get_dataset.sh coco-sample --force")
    images = np.stack([load_image(folder / im["file_name"], size=size) for im in entries])
    masks = np.stack([coco_mask(boxes[im["id"]], im["width"], im["height"], size) for im in entries])
    return ImageSet("coco-sample", [im["file_name"] for im in entries], images, None, masks,
                    "COCO val2017 sample, each image explained for the model's top-1 class; pointing game and "
                    "relevance mass against the union of its object boxes (chance level = the boxes' share)")


def count(name: str, limit: int | None = None, dest: Path | None = None) -> int:
    """How many images :func:`load` would return (without decoding them); :class:`MissingData` if absent."""
    from utils.data.download import COCO_SAMPLE_JSON

    folder = check_present(name, dest)
    if name == "imagenette":
        n = sum(1 for p in folder.glob("n*/*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    else:
        annotations = json.loads((folder / COCO_SAMPLE_JSON).read_text())
        n = len({a["image_id"] for a in annotations["annotations"] if not a.get("iscrowd")})
    return n if limit is None else min(n, limit)


def load(name: str, limit: int | None = None, size: int = 224, dest: Path | None = None) -> ImageSet:
    """The data set ``name`` (one of :data:`DATASETS`), at most ``limit`` images; :class:`MissingData` if absent."""
    folder = check_present(name, dest)
    loader = load_imagenette if name == "imagenette" else load_coco_sample
    return loader(folder, limit, size)
