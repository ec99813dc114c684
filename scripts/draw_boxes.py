"""Draw the object boxes of the bundled photos and write ``data/images/boxes.csv``.

The boxes are the ground truth of the pointing game and relevance mass on real photos
(``utils.data.object_boxes`` / ``object_mask``; notebook 08 and the benchmarks). Each box is drawn
in one of four ways, named in its ``method`` column:

* ``auto: non-white pixels``: cut-outs on white (and the transparent balloon, composited on white
  as ``load_image`` does): the bounding box of the pixels with some channel below ``WHITE_LEVEL``.
* ``auto: non-white pixels of its tile``: a cut-out placed on a white tile of a composed two-object
  photo (scripts/compose_two_object_photos.py): the same rule inside that tile.
* ``derived: ...``: a photo tile cropped into a composed photo: its source photo's box (by eye)
  mapped through the same crop and resize the compose script applies (``ImageOps.fit``).
* ``by eye, checked on an overlay``: the other photos: the coordinates in ``EYE_BOXES`` were read
  off a gridded rendering of the photo and adjusted on an overlay (``--overlays``) until tight.

Run from the repository root (deterministic; it overwrites the CSV)::

    python scripts/draw_boxes.py                 # write data/images/boxes.csv
    python scripts/draw_boxes.py --check         # exit 1 if the committed CSV differs from the rule
    python scripts/draw_boxes.py --overlays DIR  # also draw every photo with its boxes, to check them by eye

How the boxes were drawn is also in data/SOURCES.md; tests/test_boxes.py re-runs the rules.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
IMAGES_DIR = ROOT / "data" / "images"
BOXES_FILE = IMAGES_DIR / "boxes.csv"
LABELS_FILE = IMAGES_DIR / "labels.csv"
CLASS_INDEX_FILE = ROOT / "data" / "imagenet_class_index.json"
COLUMNS = ("file", "class_index", "class_name", "x0", "y0", "x1", "y1", "method", "notes")

WHITE_LEVEL = 240  # a pixel is background when all three channels are >= 240 (JPEG noise on white stays above)
AUTO = "auto: non-white pixels"
AUTO_TILE = "auto: non-white pixels of its tile"
BY_EYE = "by eye, checked on an overlay"

Coords = tuple[int, int, int, int]
# file -> [(class index or None, object name (None: the ImageNet name), (x0, y0, x1, y1), notes)]
EYE_BOXES: dict[str, list[tuple[int | None, str | None, Coords, str]]] = {
    "cameraman.jpg": [(872, None, (177, 143, 321, 400),
                       "the tripod from its head under the camera to the feet; the camera and the man are not boxed")],
    "chelsea.png": [(282, None, (0, 0, 394, 300),
                     "the cat fills the frame: head, ears and chest; the blurred background on the right is out")],
    "coffee.png": [(967, None, (171, 16, 411, 305),
                    "the cup of espresso with its handle; the saucer and the spoon are not boxed")],
    "fox_squirrel.jpg": [(335, None, (128, 104, 360, 364), "the squirrel with its tail; the branch is out")],
    "fruits.jpg": [(951, None, (318, 247, 512, 480), "the lemon half (bottom right); the lime above it is not boxed"),
                   (950, None, (73, 41, 347, 476), "the orange wedge in the middle"),
                   (950, None, (0, 0, 113, 99), "the piece of orange at the top left, cut by the frame")],
    "pekinese.jpg": [(154, None, (0, 24, 384, 400),
                      "the dog: head and body; the brown fur on the left edge is taken as the dog's")],
    "summer_palace.jpg": [(698, None, (62, 28, 373, 400),
                           "the pavilion from its finial to where the trees hide it")],
    "dahlia.jpg": [(None, "dahlia", (168, 84, 447, 361), "no ImageNet class; the dahlia in the middle"),
                   (None, "dahlia", (287, 373, 470, 427), "no ImageNet class; the second dahlia, cut by the bottom")],
    "grace_hopper.jpg": [(None, "person in uniform", (19, 22, 512, 600),
                          "no single ImageNet class (military uniform, 652, is the model's third): "
                          "cap, face and uniform")],
    "rocket.jpg": [(None, "rocket", (307, 125, 339, 406),
                    "no ImageNet class (the model says missile, 657): the rocket from its nose to the pad; "
                    "towers and the launch mount are out")],
}
# composed photo -> (class of the left tile's object, class of the right tile's object)
COMPOSED_CLASSES: dict[str, tuple[int, int]] = {
    "dog_cat.jpg": (154, 285),
    "espresso_strawberry.jpg": (967, 949),
    "zebra_elephant.jpg": (340, 386),
}


def _compose_module():
    """scripts/compose_two_object_photos.py, whose tile layout the boxes of the composed photos follow."""
    spec = importlib.util.spec_from_file_location("compose_two_object_photos",
                                                  ROOT / "scripts" / "compose_two_object_photos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def labels() -> list[dict[str, str]]:
    """The rows of data/images/labels.csv."""
    with open(LABELS_FILE, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def class_name(index: int) -> str:
    """The ImageNet name of class ``index`` (data/imagenet_class_index.json)."""
    return json.loads(CLASS_INDEX_FILE.read_text())[str(index)][1]


def rgb(path: Path) -> np.ndarray:
    """The photo as load_image sees it at full resolution (transparency composited on white)."""
    sys.path.insert(0, str(ROOT))
    from utils.data.images import load_image

    return load_image(path, size=None)


def non_white_box(pixels: np.ndarray, offset_x: int = 0) -> Coords:
    """Bounding box (pixel edges) of the pixels with some channel below WHITE_LEVEL, shifted by ``offset_x``."""
    found = np.argwhere(pixels.min(axis=-1) < WHITE_LEVEL)
    if not len(found):
        raise ValueError("no non-white pixel: nothing to box")
    (y0, x0), (y1, x1) = found.min(axis=0), found.max(axis=0) + 1
    return int(x0) + offset_x, int(y0), int(x1) + offset_x, int(y1)


def fit_box(coords: Coords, source_size: tuple[int, int], tile_size: tuple[int, int],
            centering: tuple[float, float], offset_x: int) -> Coords:
    """A box of a source photo mapped through ``ImageOps.fit(source, tile_size, centering=...)`` into its tile.

    Mirrors Pillow's ``ImageOps.fit`` (bleed 0): the largest window of the tile's aspect ratio is cut
    at ``centering`` and resized to the tile; the box is clipped to the tile and rounded outwards.
    """
    (width, height), (tile_w, tile_h) = source_size, tile_size
    if width / height >= tile_w / tile_h:
        crop_w, crop_h = tile_w / tile_h * height, float(height)
    else:
        crop_w, crop_h = float(width), width / (tile_w / tile_h)
    left, top = (width - crop_w) * centering[0], (height - crop_h) * centering[1]
    x0, y0, x1, y1 = coords
    sx, sy = tile_w / crop_w, tile_h / crop_h
    tx0, tx1 = np.clip([(x0 - left) * sx, (x1 - left) * sx], 0, tile_w)
    ty0, ty1 = np.clip([(y0 - top) * sy, (y1 - top) * sy], 0, tile_h)
    return (int(np.floor(tx0)) + offset_x, int(np.floor(ty0)), int(np.ceil(tx1)) + offset_x, int(np.ceil(ty1)))


def eye_rows(file: str) -> list[dict]:
    """The by-eye boxes of ``file`` as CSV rows."""
    return [dict(file=file, class_index="" if index is None else index, class_name=name or class_name(index),
                 x0=c[0], y0=c[1], x1=c[2], y1=c[3], method=BY_EYE, notes=notes)
            for index, name, c, notes in EYE_BOXES[file]]


def auto_row(file: str, index: int, notes: str) -> dict:
    """The non-white box of a cut-out photo as a CSV row."""
    x0, y0, x1, y1 = non_white_box(rgb(IMAGES_DIR / file))
    return dict(file=file, class_index=index, class_name=class_name(index), x0=x0, y0=y0, x1=x1, y1=y1,
                method=AUTO, notes=notes)


def composed_rows(file: str) -> list[dict]:
    """The two boxes of a composed photo: each tile's object, by the rule its source photo's tile allows."""
    compose = _compose_module()
    left_file, right_file, *centerings = compose.COMPOSITES[file]
    tile_w, tile_h = compose.TILE_SIZE
    pixels = rgb(IMAGES_DIR / file)
    rows = []
    for side, (source, centering, index) in enumerate(zip((left_file, right_file), centerings,
                                                          COMPOSED_CLASSES[file])):
        offset = side * (tile_w + compose.GAP)
        where = "left" if side == 0 else "right"
        if source in EYE_BOXES:  # a photo tile: map its source's box through the crop
            source_size = Image.open(IMAGES_DIR / source).size
            for _, _, coords, _ in EYE_BOXES[source]:
                x0, y0, x1, y1 = fit_box(coords, source_size, compose.TILE_SIZE, centering, offset)
                rows.append(dict(file=file, class_index=index, class_name=class_name(index), x0=x0, y0=y0,
                                 x1=x1, y1=y1, method=f"derived: the box of {source} through the composition",
                                 notes=f"{where} tile: {source} cropped by ImageOps.fit, centring {centering}"))
        else:  # a cut-out on a white tile: its non-white pixels
            tile = pixels[:, offset:offset + tile_w]
            x0, y0, x1, y1 = non_white_box(tile, offset_x=offset)
            rows.append(dict(file=file, class_index=index, class_name=class_name(index), x0=x0, y0=y0, x1=x1,
                             y1=y1, method=AUTO_TILE, notes=f"{where} tile: {source} on white"))
    return sorted(rows, key=lambda r: r["class_index"] != int(labels_by_file()[file]["expected_class_index"]))


def labels_by_file() -> dict[str, dict[str, str]]:
    """labels.csv keyed by file."""
    return {row["file"]: row for row in labels()}


def photo_rows(row: dict[str, str]) -> list[dict]:
    """Every box of one photo of labels.csv, the expected class first."""
    file = row["file"]
    if file in COMPOSED_CLASSES:
        return composed_rows(file)
    if file in EYE_BOXES:
        return eye_rows(file)
    if "cut-out" in row["notes"]:
        return [auto_row(file, int(row["expected_class_index"]), "cut-out: the whole object")]
    raise ValueError(f"{file}: no rule to box it; add it to EYE_BOXES")


def all_rows() -> list[dict]:
    """The rows of boxes.csv, in the order of labels.csv."""
    return [box for row in labels() for box in photo_rows(row)]


def write_csv(rows: list[dict], path: Path = BOXES_FILE) -> None:
    """Write ``rows`` as the boxes CSV (fixed column order, LF line ends)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def draw_overlays(rows: list[dict], folder: Path) -> None:
    """Each photo with its boxes in red, next to the model's 224 x 224 input with the object mask shaded."""
    sys.path.insert(0, str(ROOT))
    from utils.data.images import load_image, object_mask

    folder.mkdir(parents=True, exist_ok=True)
    for file in dict.fromkeys(r["file"] for r in rows):
        photo = Image.fromarray(rgb(IMAGES_DIR / file).astype(np.uint8))
        draw = ImageDraw.Draw(photo)
        for r in rows:
            if r["file"] == file:
                draw.rectangle([r["x0"], r["y0"], r["x1"] - 1, r["y1"] - 1], outline=(255, 0, 0), width=2)
        model = load_image(IMAGES_DIR / file)
        mask = np.zeros((224, 224), bool)
        for index in {r["class_index"] for r in rows if r["file"] == file}:
            mask |= object_mask(file, 224, None if index == "" else int(index))
        model[~mask] = model[~mask] * 0.35
        canvas = Image.new("RGB", (photo.width + 234, max(photo.height, 224)), "white")
        canvas.paste(photo, (0, 0))
        canvas.paste(Image.fromarray(model.astype(np.uint8)), (photo.width + 10, 0))
        canvas.save(folder / f"{Path(file).stem}.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed CSV instead of writing")
    parser.add_argument("--overlays", type=Path, help="folder to draw every photo with its boxes into")
    args = parser.parse_args()
    rows = all_rows()
    if args.check:
        with open(BOXES_FILE, newline="", encoding="utf-8") as handle:
            committed = list(csv.DictReader(handle))
        fresh = [{k: str(v) for k, v in r.items()} for r in rows]
        if committed != fresh:
            print(f"{BOXES_FILE.relative_to(ROOT)} differs from the rules: run python scripts/draw_boxes.py")
            return 1
        print(f"{BOXES_FILE.relative_to(ROOT)} matches the rules ({len(rows)} boxes)")
    else:
        write_csv(rows)
        print(f"wrote {BOXES_FILE.relative_to(ROOT)}: {len(rows)} boxes of {len({r['file'] for r in rows})} photos")
    if args.overlays:
        draw_overlays(rows, args.overlays)
        print(f"drew the overlays into {args.overlays}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
