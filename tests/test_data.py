"""Tests of image loading (utils.data.load_image), the bundled photos and their expected labels."""
from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from helpers_images import png_header_only
from PIL import Image

from utils.data import (
    DATA_DIR,
    IMAGES_DIR,
    MAX_ASPECT_RATIO,
    MAX_PIXELS,
    expected_labels,
    load_image,
    resize_and_crop,
    sample_images,
    to_rgb_array,
)
from utils.data import images as data_module

REPO = DATA_DIR.parent
MAX_BUNDLE_BYTES = 10 * 1024 * 1024


def save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


# --- load_image: the contract ---------------------------------------------------------------

def test_bundled_photo_is_float32_224_in_0_255():
    image = load_image(IMAGES_DIR / "coffee.png")
    assert image.dtype == np.float32
    assert image.shape == (224, 224, 3)
    assert 0.0 <= image.min() and image.max() <= 255.0
    assert image.max() > 200 and image.min() < 50  # real pixel values, not rescaled to [0, 1]


def test_other_sizes_give_square_images_of_that_size():
    assert load_image(IMAGES_DIR / "coffee.png", size=160).shape == (160, 160, 3)
    with pytest.raises(ValueError, match="too small"):
        load_image(IMAGES_DIR / "coffee.png", size=4)


def test_size_none_keeps_the_resolution(tmp_path):
    path = save(Image.new("RGB", (123, 45), (10, 20, 30)), tmp_path / "small.png")
    image = load_image(path, size=None)
    assert image.shape == (45, 123, 3) and image.dtype == np.float32
    np.testing.assert_array_equal(image[0, 0], [10, 20, 30])


def test_resize_keeps_the_aspect_ratio(tmp_path):
    """A circle in a 2:1 image stays a circle: the short side is resized, the long side follows."""
    canvas = Image.new("RGB", (400, 200), "white")
    from PIL import ImageDraw
    ImageDraw.Draw(canvas).ellipse((150, 50, 250, 150), fill="black")  # 100 px circle at the centre
    image = load_image(save(canvas, tmp_path / "circle.png"))
    dark = image.mean(axis=-1) < 128
    rows, cols = np.nonzero(dark)
    height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert abs(height - width) <= 2, (height, width)
    # 200 px -> 256 px short side: the 100 px circle becomes 128 px, whatever the crop.
    assert abs(height - 128) <= 3


def test_centre_crop_cuts_the_long_side_evenly(tmp_path):
    """400x200: resized to 512x256, the centre 224x224 is kept, so original columns < 112 and
    >= 288 (and a 16/256 band top and bottom) are cut; a marker at the centre stays at the centre."""
    array = np.full((200, 400, 3), 255, np.uint8)
    array[:, :100] = (255, 0, 0)     # left edge band: cut
    array[:, 300:] = (0, 0, 255)     # right edge band: cut
    array[95:105, 195:205] = (0, 0, 0)  # centre marker
    image = load_image(save(Image.fromarray(array), tmp_path / "bands.png"))
    red = (image[..., 0] > 200) & (image[..., 1] < 60)
    blue = (image[..., 2] > 200) & (image[..., 1] < 60)
    assert not red.any() and not blue.any()
    rows, cols = np.nonzero(image.mean(axis=-1) < 60)
    assert abs(rows.mean() - 111.5) < 1.5 and abs(cols.mean() - 111.5) < 1.5


# --- load_image: every kind of pixel data --------------------------------------------------

def test_grayscale_is_repeated_on_three_channels(tmp_path):
    path = save(Image.new("L", (50, 40), 100), tmp_path / "gray.png")
    image = load_image(path, size=None)
    assert image.shape == (40, 50, 3)
    np.testing.assert_array_equal(image, 100)


def test_rgba_transparent_pixels_become_white(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[:, :10] = (200, 10, 10, 255)  # opaque red on the left
    rgba[:, 10:] = (0, 0, 0, 0)        # fully transparent (black underneath) on the right
    image = load_image(save(Image.fromarray(rgba, "RGBA"), tmp_path / "rgba.png"), size=None)
    np.testing.assert_array_equal(image[:, :10], np.broadcast_to([200, 10, 10], (20, 10, 3)))
    np.testing.assert_array_equal(image[:, 10:], 255)


def test_rgba_half_transparent_pixels_are_blended_with_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[...] = (0, 0, 0, 128)
    image = load_image(save(Image.fromarray(rgba, "RGBA"), tmp_path / "half.png"), size=None)
    np.testing.assert_allclose(image, 127, atol=1)


def test_la_grayscale_with_alpha(tmp_path):
    la = Image.merge("LA", (Image.new("L", (8, 8), 60), Image.new("L", (8, 8), 0)))
    la.paste((60, 255), (0, 0, 4, 8))  # left half opaque
    image = load_image(save(la, tmp_path / "la.png"), size=None)
    np.testing.assert_array_equal(image[:, :4], 60)
    np.testing.assert_array_equal(image[:, 4:], 255)


def test_palette_image_is_expanded(tmp_path):
    palette_image = Image.new("P", (6, 6), 0)
    palette_image.putpalette([255, 0, 0, 0, 128, 0] + [0] * (256 * 3 - 6))
    palette_image.paste(1, (0, 3, 6, 6))  # bottom half: palette entry 1 (dark green)
    image = load_image(save(palette_image, tmp_path / "palette.png"), size=None)
    np.testing.assert_array_equal(image[:3].reshape(-1, 3), np.tile([255, 0, 0], (18, 1)))
    np.testing.assert_array_equal(image[3:].reshape(-1, 3), np.tile([0, 128, 0], (18, 1)))


def test_16_bit_values_are_rescaled_to_0_255(tmp_path):
    values = np.array([[0, 32768, 65535]], dtype=np.uint16).repeat(4, axis=0)
    path = save(Image.fromarray(values), tmp_path / "deep.png")
    assert Image.open(path).mode.startswith("I")  # really a 16-bit file
    image = load_image(path, size=None)
    np.testing.assert_allclose(image[0, :, 0], [0, 127.5, 255], atol=0.01)
    assert image.dtype == np.float32 and image.shape == (4, 3, 3)


def test_cmyk_is_converted_to_rgb(tmp_path):
    cmyk = Image.new("CMYK", (5, 5), (0, 255, 255, 0))  # no cyan, full magenta and yellow: red
    image = load_image(save(cmyk, tmp_path / "cmyk.tif"), size=None)
    np.testing.assert_array_equal(image.reshape(-1, 3), np.tile([255, 0, 0], (25, 1)))


def test_exif_orientation_6_is_applied(tmp_path):
    """Orientation 6 = the camera was turned: display rotated 90 degrees clockwise (left half -> top)."""
    array = np.zeros((30, 60, 3), np.uint8)
    array[:, :30] = (255, 0, 0)  # left half red
    array[:, 30:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(Image.fromarray(array), tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    image = load_image(path, size=None)
    assert image.shape == (60, 30, 3)  # portrait after rotation
    top, bottom = image[:25].mean(axis=(0, 1)), image[35:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 50, top        # red on top
    assert bottom[2] > 200 and bottom[0] < 50, bottom  # blue at the bottom


# --- load_image: bad inputs give a ValueError that names the file ---------------------------

def _truncated(tmp_path: Path, fmt: str) -> Path:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, fmt)
    path = tmp_path / f"truncated.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def make_bad_input(tmp_path: Path, case: str) -> Path:
    """A file (or folder) that is not a loadable image, of the given kind."""
    path = tmp_path / f"{case}.jpg"
    if case == "folder":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("not a photo, just text with a .jpg name\n")
    elif case.startswith("truncated"):
        path = _truncated(tmp_path, "JPEG" if case.endswith("jpeg") else "PNG")
    return path  # "missing": never created


# case -> words the message must contain (besides the file's path)
BAD_INPUTS = {"missing": "no such file", "folder": "folder", "empty": "empty", "text": "not an image",
              "truncated_jpeg": "truncated", "truncated_png": "truncated"}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_value_error_naming_the_file(tmp_path, case):
    path = make_bad_input(tmp_path, case)
    with pytest.raises(ValueError) as info:
        load_image(path)
    message = str(info.value)
    assert str(path) in message, message
    assert BAD_INPUTS[case] in message, message


# --- load_image: bounded resources, bit-depth scaling, arguments that are not paths --------

@pytest.mark.parametrize("width, height, words", [
    (1, 3000, f"more than {MAX_ASPECT_RATIO} times"),
    (10000, 1, f"more than {MAX_ASPECT_RATIO} times"),
    (11000, 11000, "121 megapixels"),
    (20000, 20000, "400 megapixels"),  # past twice Pillow's limit: Pillow itself refuses it on open
])
def test_too_large_or_too_elongated_images_are_refused_before_decoding(tmp_path, width, height, words):
    import time

    path = png_header_only(tmp_path / f"bomb {width}x{height}.png", width, height)
    assert path.stat().st_size < 200
    start = time.perf_counter()
    with pytest.raises(ValueError) as info:
        load_image(path)
    assert time.perf_counter() - start < 1.0
    assert str(path) in str(info.value) and words in str(info.value), info.value
    assert "\n" not in str(info.value)


def test_limits_are_documented_values():
    assert MAX_PIXELS == 89_478_485 and MAX_ASPECT_RATIO == 20
    assert "MAX_PIXELS" in data_module.__doc__ and "MAX_ASPECT_RATIO" in data_module.__doc__


def _smooth(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    channels = [x * 255 / width, y * 255 / height, np.full_like(x, 128.0)]
    return np.stack(channels, axis=-1).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_large_photo_is_reduced_while_decoding_and_matches_the_full_recipe(tmp_path, monkeypatch, fmt):
    """A 2400x1600 photo (short side >= 1536 px): JPEG decodes at a reduced scale (draft), PNG is
    box-reduced before the bicubic resize; either way the result is the plain recipe's up to rounding."""
    pixels = _smooth(2400, 1600)
    options = {"quality": 95} if fmt == "JPEG" else {}
    path = save(Image.fromarray(pixels), tmp_path / f"large.{fmt.lower()}", **options)
    calls = []
    for name in ("draft", "reduce"):
        original = getattr(Image.Image, name)
        monkeypatch.setattr(Image.Image, name, lambda self, *a, _o=original, _n=name: calls.append(_n) or _o(self, *a))
    from PIL import JpegImagePlugin
    original_draft = JpegImagePlugin.JpegImageFile.draft
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft",
                        lambda self, *a: calls.append("draft") or original_draft(self, *a))
    image = load_image(path)
    assert calls == (["draft"] if fmt == "JPEG" else ["reduce"]), calls
    exact = resize_and_crop(pixels.astype(np.float32), 224)
    assert image.shape == (224, 224, 3) and np.abs(image - exact).mean() < 2.0


def test_bundled_photos_load_exactly_as_the_plain_recipe():
    """No photo under 1536 px on its short side is reduced: every bundled photo, at every size the
    notebooks use, is bit-identical to decoding it fully and resizing it once."""
    for path in sample_images().values():
        plain = to_rgb_array(Image.open(path))
        np.testing.assert_array_equal(load_image(path, size=None), plain, err_msg=path.name)
        for size in (224, 112, 64):
            np.testing.assert_array_equal(load_image(path, size=size), resize_and_crop(plain, size),
                                          err_msg=f"{path.name} at {size}")


def test_16_bit_values_are_scaled_by_the_bit_depth_not_the_content(tmp_path):
    """Raw 200 loads as 200/257 whether or not another pixel of the file is above 255."""
    values = np.full((4, 4), 200, np.uint16)
    dim = save(Image.fromarray(values), tmp_path / "dim.png")
    values[0, 0] = 300
    bright = save(Image.fromarray(values), tmp_path / "bright.png")
    for path in (dim, bright):
        np.testing.assert_allclose(load_image(path, size=None)[1, 1], 200 / 257, rtol=1e-6)


def test_16_bit_pgm_is_scaled_by_its_bit_depth(tmp_path):
    path = tmp_path / "deep.pgm"
    path.write_bytes(b"P5\n2 1\n65535\n\x00\xc8\xff\xff")  # 200 and 65535
    assert Image.open(path).mode == "I"
    np.testing.assert_allclose(load_image(path, size=None)[0, :, 0], [200 / 257, 255], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_images_without_a_defined_range_are_refused(tmp_path, dtype):
    path = save(Image.fromarray(np.full((4, 4), 7, dtype)), tmp_path / f"{np.dtype(dtype).name}.tif")
    with pytest.raises(ValueError, match="8- or 16-bit") as info:
        load_image(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("argument, words", [
    (b"\x89PNG...", "got bytes"),
    (None, "got NoneType"),
    (np.zeros((8, 8, 3)), "resize_and_crop"),
    (Image.new("RGB", (8, 8)), "to_rgb_array"),
    (42, "got int"),
    ("", "empty path"),
])
def test_arguments_that_are_not_paths_give_a_clear_error(argument, words):
    with pytest.raises(ValueError, match=words) as info:
        load_image(argument)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("size", ["224", 2.5, True, 100_000])
def test_bad_sizes_give_a_clear_error(size):
    with pytest.raises(ValueError, match="size"):
        load_image(IMAGES_DIR / "coffee.png", size=size)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    import os

    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    with pytest.raises(ValueError, match="not a regular file"):
        load_image(path)


# --- the bundled photos ---------------------------------------------------------------------

def test_at_least_12_bundled_photos_all_loadable():
    photos = sample_images()
    assert len(photos) >= 12, sorted(photos)
    for name, path in photos.items():
        image = load_image(path)
        assert image.shape == (224, 224, 3) and image.dtype == np.float32, name
        assert image.std() > 10, f"{name} looks blank"


def test_bundle_is_at_most_10_mb():
    total = sum(p.stat().st_size for p in IMAGES_DIR.iterdir() if p.is_file())
    assert total <= MAX_BUNDLE_BYTES, f"data/images holds {total / 2**20:.1f} MB"


def test_every_bundled_file_is_listed_in_sources():
    sources = (DATA_DIR / "SOURCES.md").read_text()
    section = sources.split("## Photos (`images/`)")[1].split("\n## ")[0]
    unlisted = [p.name for p in IMAGES_DIR.iterdir() if p.is_file() and f"`{p.name}`" not in section]
    assert not unlisted, f"not in the photos section of data/SOURCES.md: {unlisted}"


def test_labels_table_covers_every_photo_with_valid_classes():
    from utils.models import imagenet_labels

    table = expected_labels()
    assert set(table["name"]) == set(sample_images())
    labels = imagenet_labels()
    known = table.dropna(subset=["expected_class_index"])
    assert len(known) >= 12
    for row in known.itertuples():
        assert 0 <= row.expected_class_index < 1000
        assert labels[row.expected_class_index] == row.expected_class_name, row.file
    two_objects = table.dropna(subset=["second_class_index"])
    assert len(two_objects) >= 2
    assert (two_objects["second_class_index"] != two_objects["expected_class_index"]).all()


def test_compose_script_puts_two_tiles_side_by_side():
    spec = importlib.util.spec_from_file_location("compose", REPO / "scripts" / "compose_two_object_photos.py")
    compose = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compose)
    left, right = IMAGES_DIR / "pekinese.jpg", IMAGES_DIR / "chelsea.png"
    image = np.asarray(compose.compose_pair(left, right, (0.5, 0.5), None))
    width, height = compose.TILE_SIZE
    assert image.shape == (height, 2 * width + compose.GAP, 3)
    np.testing.assert_array_equal(image[:, :width], np.asarray(compose.portrait_tile(left, (0.5, 0.5))))
    assert (image[:, width:width + compose.GAP] == 255).all()
    for name in compose.COMPOSITES:
        assert (IMAGES_DIR / name).is_file(), name


# --- the model on the bundled photos ----------------------------------------------------------

@pytest.fixture(scope="module")
def top10():
    """{file: [class indices, best first]} of EfficientNet-Lite0 on every bundled photo (one batch)."""
    from utils.explain.base import predict
    from utils.models import load_model

    table = expected_labels()
    images = np.stack([load_image(p) for p in table["path"]])
    probs = predict(load_model(), images)
    return {f: list(np.argsort(-p)[:10]) for f, p in zip(table["file"], probs)}


def test_model_top1_is_the_expected_class(top10):
    table = expected_labels().dropna(subset=["expected_class_index"])
    wrong = {r.file: (r.expected_class_index, int(top10[r.file][0])) for r in table.itertuples()
             if top10[r.file][0] != r.expected_class_index}
    assert not wrong, f"file: (expected, top-1): {wrong}"


def test_model_second_object_is_in_the_top5(top10):
    table = expected_labels().dropna(subset=["second_class_index"])
    missing = {r.file: r.second_class_index for r in table.itertuples()
               if r.second_class_index not in top10[r.file][:5]}
    assert not missing, f"second class not in the top-5: {missing}"
