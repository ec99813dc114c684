"""The object boxes of the bundled photos (data/images/boxes.csv) and their masks at model resolution."""
from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage

from utils.data.images import (
    BOXES_FILE,
    IMAGES_DIR,
    Box,
    box_mask,
    crop_geometry,
    expected_labels,
    object_boxes,
    object_mask,
    photo_size,
    resize_and_crop,
)

REPO = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def draw():
    return _script("draw_boxes")


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with open(BOXES_FILE, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def labels():
    return expected_labels()


def _all_boxes(labels) -> list[Box]:
    return [box for file in labels["file"] for box in object_boxes(file)]


def test_every_photo_has_a_box_of_its_expected_and_second_class(labels, rows):
    assert set(r["file"] for r in rows) == set(labels["file"])
    for row in labels.itertuples():
        for index in (row.expected_class_index, row.second_class_index):
            if not pd.isna(index):
                assert object_boxes(row.file, int(index)), (row.file, index)
        if pd.isna(row.expected_class_index):  # no ImageNet class: the object is still boxed
            assert [b for b in object_boxes(row.file) if b.class_index is None], row.file


def test_boxes_lie_inside_their_photo_and_name_their_class(labels):
    index = json.loads((REPO / "data" / "imagenet_class_index.json").read_text())  # read directly: no TensorFlow
    names = [index[str(i)][1] for i in range(len(index))]
    for box in _all_boxes(labels):
        width, height = photo_size(box.file)
        assert 0 <= box.x0 < box.x1 <= width and 0 <= box.y0 < box.y1 <= height, box
        assert (box.x1 - box.x0) * (box.y1 - box.y0) >= 0.01 * width * height, box  # not a sliver
        if box.class_index is not None:
            assert names[box.class_index] == box.class_name, box
        assert box.method, box


def _scaled(box: Box, size: int) -> tuple[float, float, float, float]:
    """The box's edges on the model input, computed here from load_image's documented preprocessing."""
    width, height = photo_size(box.file)
    resize_to = round(size * 256 / 224)
    new_w, new_h = max(size, round(width * resize_to / min(width, height))), max(
        size, round(height * resize_to / min(width, height)))
    left, top = (new_w - size) // 2, (new_h - size) // 2
    x0, x1 = np.clip([box.x0 * new_w / width - left, box.x1 * new_w / width - left], 0, size)
    y0, y1 = np.clip([box.y0 * new_h / height - top, box.y1 * new_h / height - top], 0, size)
    return x0, y0, x1, y1


@pytest.mark.parametrize("size", [224, 64])
def test_mask_is_non_empty_and_matches_the_scaled_box(labels, size):
    for box in _all_boxes(labels):
        mask = box_mask(box.coords, photo_size(box.file), size)
        assert mask.shape == (size, size) and mask.dtype == bool
        assert mask.any(), box
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        x0, y0, x1, y1 = _scaled(box, size)
        assert abs(cols[0] - x0) <= 1 and abs(cols[-1] + 1 - x1) <= 1, (box, cols[[0, -1]], x0, x1)
        assert abs(rows[0] - y0) <= 1 and abs(rows[-1] + 1 - y1) <= 1, (box, rows[[0, -1]], y0, y1)
        assert mask.sum() == len(rows) * len(cols)  # a filled rectangle
    for file in labels["file"]:
        assert object_mask(file, size).any(), file  # the expected class (or the unclassed object) is in the crop


def test_mask_lands_on_the_pixels_load_image_gives(labels):
    """Paint each box white on black at the photo's size, preprocess it as load_image does: same pixels."""
    for box in _all_boxes(labels):
        width, height = photo_size(box.file)
        painted = np.zeros((height, width, 3), np.float32)
        painted[box.y0:box.y1, box.x0:box.x1] = 255
        seen = resize_and_crop(painted, 224)[..., 0] > 127.5
        mask = box_mask(box.coords, (width, height), 224)
        differ = seen ^ mask
        edge = ndimage.binary_dilation(mask) & ~ndimage.binary_erosion(mask)
        assert not (differ & ~edge).any(), box  # they can disagree only on the box's one-pixel rim
        assert differ.sum() <= 0.05 * max(mask.sum(), 1) + 4, (box, differ.sum(), mask.sum())


def test_mask_at_full_resolution_is_the_box():
    box = object_boxes("coffee")[0]
    mask = box_mask(box.coords, photo_size("coffee.png"), None)
    expected = np.zeros((400, 600), bool)
    expected[box.y0:box.y1, box.x0:box.x1] = True
    np.testing.assert_array_equal(mask, expected)
    assert crop_geometry(600, 400, None) == (1.0, 1.0, 0, 0)


def test_committed_csv_is_what_the_rules_draw(draw, rows):
    """Auto and derived boxes re-computed from the pixels, by-eye boxes from the script's table: no drift."""
    fresh = [{k: str(v) for k, v in r.items()} for r in draw.all_rows()]
    assert fresh == rows
    methods = [r["method"] for r in rows]
    assert methods.count(draw.AUTO) == 12 and methods.count(draw.AUTO_TILE) == 3
    assert sum(m.startswith("derived") for m in methods) == 3 and methods.count(draw.BY_EYE) == 13


def test_auto_rule_is_the_bounding_box_of_non_white_pixels(draw, rows):
    for row in rows:
        if row["method"] == draw.AUTO:
            pixels = draw.rgb(IMAGES_DIR / row["file"])
            x0, y0, x1, y1 = (int(row[k]) for k in ("x0", "y0", "x1", "y1"))
            inside = pixels[y0:y1, x0:x1].min(axis=-1) < draw.WHITE_LEVEL
            assert inside.sum() == (pixels.min(axis=-1) < draw.WHITE_LEVEL).sum(), row["file"]  # nothing outside
            for edge in (inside[0], inside[-1], inside[:, 0], inside[:, -1]):
                assert edge.any(), row["file"]  # tight: each side touches the object


def test_derived_boxes_follow_the_compose_script(draw, tmp_path):
    """fit_box maps a box as the compose script's tile crop moves the pixels (a painted box, within a pixel)."""
    compose = _script("compose_two_object_photos")
    for source, centering, coords in (("pekinese.jpg", (0.5, 0.5), (0, 24, 384, 400)),
                                      ("chelsea.png", (0.55, 0.5), (0, 0, 394, 300)),
                                      ("coffee.png", (0.5, 0.5), (171, 16, 411, 305)),
                                      ("chelsea.png", (0.55, 0.5), (120, 40, 300, 250))):
        width, height = Image.open(IMAGES_DIR / source).size
        painted = np.zeros((height, width, 3), np.uint8)
        painted[coords[1]:coords[3], coords[0]:coords[2]] = 255
        path = tmp_path / "painted.png"
        Image.fromarray(painted).save(path)
        tile = np.asarray(compose.portrait_tile(path, centering))[..., 0] > 127
        rows_, cols = np.flatnonzero(tile.any(axis=1)), np.flatnonzero(tile.any(axis=0))
        x0, y0, x1, y1 = draw.fit_box(coords, (width, height), compose.TILE_SIZE, centering, 0)
        assert abs(cols[0] - x0) <= 1 and abs(cols[-1] + 1 - x1) <= 1, (source, coords, cols[[0, -1]], x0, x1)
        assert abs(rows_[0] - y0) <= 1 and abs(rows_[-1] + 1 - y1) <= 1, (source, coords, rows_[[0, -1]], y0, y1)


def test_object_mask_takes_the_expected_class_by_default_and_a_named_one():
    dog = object_mask("dog_cat.jpg")
    cat = object_mask("dog_cat", class_index=285)
    assert dog.any() and cat.any() and not (dog & cat).any()
    np.testing.assert_array_equal(dog, object_mask(IMAGES_DIR / "dog_cat.jpg", class_index=154))
    oranges = object_boxes("fruits.jpg", 950)
    each = [box_mask(b.coords, photo_size("fruits.jpg")) for b in oranges]
    assert len(oranges) == 2  # two oranges: the mask is the union of their boxes
    np.testing.assert_array_equal(object_mask("fruits.jpg", class_index=950), each[0] | each[1])
    assert object_mask("rocket").any()  # no ImageNet class: the unclassed rocket box
    with pytest.raises(ValueError, match="no box of class 340"):
        object_mask("dog_cat.jpg", class_index=340)
    with pytest.raises(ValueError, match="No bundled photo"):
        object_boxes("no_such_photo.jpg")
    with pytest.raises(ValueError, match="x0 < x1"):
        box_mask((10, 10, 5, 20), (100, 100))
