"""Loading images the way the course's classifiers expect them, with clear errors for bad files.

Introduced in notebook 00; every image notebook loads its photos through :func:`load_image`.

Limits (a file past them is refused with a ``ValueError`` that names it, before it is decoded):
at most :data:`MAX_PIXELS` pixels (Pillow's own decompression-bomb threshold, about 89 megapixels,
e.g. 10000 x 8900) and a long side at most :data:`MAX_ASPECT_RATIO` times the short side. A large
photo is reduced while it is decoded (JPEG) or right after (box filter, as Pillow's
``reducing_gap=3``) so that the short side stays at least 3 times the resize target; only photos
whose short side is at least :data:`REDUCE_FROM` (1536 px) and 6 times the target are reduced, so
every smaller photo (every bundled one) is decoded and resized exactly as before.
"""
from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
IMAGES_DIR = DATA_DIR / "images"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")

MAX_PIXELS = 89_478_485  # Pillow's default Image.MAX_IMAGE_PIXELS: a 3-channel image of this size is ~270 MB
MAX_ASPECT_RATIO = 20  # long side / short side; a 1 x 3000 strip would be resized to 256 x 768000 pixels
MAX_SIZE = 2048  # largest ``size`` load_image accepts (the zoo's models take 224 or 64)
REDUCING_GAP = 3  # reduce a large image by whole factors while its short side stays >= 3x the resize target
REDUCE_FROM = 2 * REDUCING_GAP * 256  # only images whose short side is >= 1536 px are reduced before resizing
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_EIGHT_BIT_MODES = ("1", "L", "P", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV", "LA", "La", "PA")


def _as_path(path) -> Path:
    """``path`` as a Path; a clear ValueError for None, bytes, arrays, images and other non-paths."""
    if isinstance(path, (str, os.PathLike)) and not isinstance(path, bytes):
        if str(path) == "":
            raise ValueError("load_image got an empty path: pass the path of an image file.")
        return Path(path)
    if path is None:
        hint = "pass the path of an image file, e.g. load_image(sample_image_path('chelsea'))"
    elif isinstance(path, (bytes, bytearray, memoryview)):
        hint = ("pass the file's path as a str or pathlib.Path; if these bytes are the file's contents, "
                "decode them with to_rgb_array(PIL.Image.open(io.BytesIO(data)))")
    elif isinstance(path, np.ndarray):
        hint = "this is already an array of pixels: use resize_and_crop(array, size) to bring it to the model's size"
    elif isinstance(path, Image.Image):
        hint = "this is already a PIL image: use resize_and_crop(to_rgb_array(image), size)"
    else:
        hint = "pass the path of an image file as a str or pathlib.Path"
    raise ValueError(f"load_image takes a file path, got {type(path).__name__}: {hint}.")


def _check_size(size) -> int | None:
    """``size`` as an int in [8, MAX_SIZE], or None (keep the resolution)."""
    if size is None:
        return None
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)):
        raise ValueError(f"size must be a whole number of pixels (224 for the zoo models) or None, got {size!r}.")
    if size < 8:
        raise ValueError(f"size={size} is too small; use the model's input size (224 for the zoo models).")
    if size > MAX_SIZE:
        raise ValueError(f"size={size} is larger than {MAX_SIZE}; use the model's input size (224 for the zoo models).")
    return int(size)


def _check_dimensions(path: Path, width: int, height: int) -> None:
    """Refuse, before decoding, an image too large or too elongated to load safely."""
    if width < 1 or height < 1:
        raise ValueError(f"{path} has no pixels ({width}x{height}): the file is damaged.")
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"{path} is {width}x{height} = {width * height / 1e6:.0f} megapixels, more than the limit of "
            f"{MAX_PIXELS / 1e6:.0f} (utils.data.MAX_PIXELS; such a file may be a decompression bomb). "
            "Shrink it with an image editor first.")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ValueError(
            f"{path} is {width}x{height}: one side is more than {MAX_ASPECT_RATIO} times the other "
            "(utils.data.MAX_ASPECT_RATIO), so its centre crop would show almost nothing. Crop it first.")


def _open_image(path: Path, resize_to: int | None = None) -> Image.Image:
    """Open and fully decode ``path``, turning every failure into a ValueError that names the file.

    The size is checked against the limits before any pixel is decoded; with ``resize_to`` a large
    JPEG is decoded directly at a reduced scale (``Image.draft``).
    """
    if not path.exists():
        raise ValueError(f"{path}: no such file. Check the path (sample_images() lists the bundled photos).")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an image file.")
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file (a device, pipe or socket?); pass an image file.")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes): the file was not written or downloaded completely.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is checked below
            image = Image.open(path)
    except Image.DecompressionBombError as err:  # Pillow refuses twice its own limit while reading the header
        found = re.search(r"\((\d+) pixels\)", str(err))
        count = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "too many pixels"
        raise ValueError(f"{path} has {count}, more than the limit of {MAX_PIXELS / 1e6:.0f} (utils.data.MAX_PIXELS; "
                         "such a file may be a decompression bomb). Shrink it with an image editor first.") from err
    except UnidentifiedImageError as err:
        raise ValueError(
            f"{path} is not an image that Pillow can read (JPEG, PNG, BMP, GIF, TIFF, WebP). "
            "Is it another kind of file with an image extension?"
        ) from err
    except PermissionError as err:
        raise ValueError(f"{path} cannot be read (permission denied): check the file's permissions.") from err
    except Exception as err:  # noqa: BLE001 - Pillow's plugins raise many types for a damaged header
        raise ValueError(f"{path} is a damaged image ({type(err).__name__}: {err}). "
                         "Download or copy it again.") from err
    _check_dimensions(path, *image.size)
    short = min(image.size)
    if resize_to and image.format == "JPEG" and _reduction_factor(short, resize_to) >= 2:
        scale = REDUCING_GAP * resize_to / short
        image.draft(None, (math.ceil(image.size[0] * scale), math.ceil(image.size[1] * scale)))
    try:
        image.load()  # decode now: a truncated file fails here, not later inside a model
    except MemoryError as err:
        raise ValueError(f"{path} is too large to decode in the memory available.") from err
    except Exception as err:  # noqa: BLE001 - OSError, SyntaxError, ValueError, struct.error, ... from plugins
        raise ValueError(f"{path} is a damaged or truncated image ({err}). Download or copy it again.") from err
    return image


def _bit_depth(image: Image.Image) -> int:
    """Bits per sample of a single-channel integer image (8 for the 8-bit modes), from the file's format."""
    if image.mode in _SIXTEEN_BIT_MODES:
        return 16
    if image.mode == "I":  # 32-bit container: PGM/PPM and PNG put 16-bit samples in it, TIFF says how many
        if image.format in ("PPM", "PNG"):
            return 16
        tag = getattr(image, "tag_v2", {}).get(258) if image.format == "TIFF" else None
        bits = tag[0] if isinstance(tag, tuple) and tag else tag
        return int(bits) if bits else 32
    if image.mode == "F":
        return 32
    if image.mode in _EIGHT_BIT_MODES:
        return 8
    raise ValueError(f"pixel mode {image.mode!r} is not supported; save the image as 8- or 16-bit RGB or grayscale.")


def _rgb_image(image: Image.Image, name: str = "the image") -> Image.Image:
    """Any Pillow mode -> mode RGB (8-bit data) or F (16-bit data, scaled to [0, 255] by its bit depth).

    EXIF rotation is applied, palettes expanded, transparency composited on white.
    """
    try:
        depth = _bit_depth(image)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    if depth not in (8, 16):
        raise ValueError(f"{name} holds {depth}-bit {'floating-point' if image.mode == 'F' else 'integer'} "
                         "pixels, whose range is not defined; save it as an 8- or 16-bit image first.")
    image = ImageOps.exif_transpose(image)  # phones store the rotation in EXIF, not in the pixels
    if depth == 16:  # 0..65535 -> 0..255 whatever the content: 65535 / 257 = 255
        return Image.fromarray(np.clip(np.asarray(image, dtype=np.float32), 0, 65535) / 257.0, mode="F")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")


def _as_array(image: Image.Image) -> np.ndarray:
    """An RGB or F image from :func:`_rgb_image` -> float32 (H, W, 3) array in [0, 255]."""
    array = np.asarray(image, dtype=np.float32)
    return np.repeat(array[..., None], 3, axis=-1) if image.mode == "F" else array


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Pillow image of any mode (L, LA, P, RGBA, I;16, CMYK, ...) -> float32 RGB array in [0, 255].

    Grayscale is repeated on three channels, transparency is composited on white, palettes are
    expanded and 16-bit images are scaled by their bit depth (value / 257, so 65535 -> 255), so that
    every model of the course sees the same kind of input whatever the file held. 32-bit and
    floating-point images have no defined range and raise a ValueError.
    """
    return _as_array(_rgb_image(image, getattr(image, "filename", "") or "the image"))


def _reduction_factor(short: int, resize_to: int) -> int:
    """Whole factor to shrink by before resizing (1 = none): the short side stays >= REDUCING_GAP * ``resize_to``."""
    if short < max(REDUCE_FROM, 2 * REDUCING_GAP * resize_to):
        return 1
    return short // (REDUCING_GAP * resize_to)


def _reduce(image: Image.Image, resize_to: int) -> Image.Image:
    """Shrink a large image by a whole factor (box filter), as Pillow's ``resize(reducing_gap=3)`` does."""
    factor = _reduction_factor(min(image.size), resize_to)
    return image.reduce(factor) if factor >= 2 else image


def resize_and_crop(image: np.ndarray, size: int = 224, resize_to: int | None = None) -> np.ndarray:
    """Resize so the short side is ``resize_to`` (bicubic), then take the centre ``size`` x ``size`` crop.

    ``resize_to`` defaults to ``size * 256 / 224`` (256 for 224), the usual ImageNet evaluation
    preprocessing (resize the short side, centre-crop; not the training augmentation): the object
    keeps its aspect ratio and a thin border is cut.
    """
    resize_to = resize_to or int(round(size * 256 / 224))
    h, w = image.shape[:2]
    scale = resize_to / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    pil = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    resized = np.asarray(pil.resize((new_w, new_h), Image.Resampling.BICUBIC), dtype=np.float32)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return resized[top:top + size, left:left + size]


def load_image(path: str | Path, size: int | None = 224) -> np.ndarray:
    """Load an image file as float32 RGB ``(size, size, 3)`` in [0, 255], ready for a zoo model.

    The short side is resized to 256/224 of ``size`` (bicubic) and the centre is cropped to
    ``size``; ``size=None`` keeps the original resolution. Grayscale, RGBA, palette and 16-bit
    files and EXIF rotation are handled. Every problem raises a ``ValueError`` that names the file
    and says what is wrong: missing, empty, truncated or non-image files, and files past the limits
    of the module docstring (:data:`MAX_PIXELS`, :data:`MAX_ASPECT_RATIO`). A large photo is reduced
    while it is decoded, so loading it costs memory for the reduced image, not the full one.
    """
    path = _as_path(path)
    size = _check_size(size)
    resize_to = None if size is None else int(round(size * 256 / 224))
    image = _open_image(path, resize_to)
    try:
        rgb = _rgb_image(image, str(path))
        array = _as_array(rgb if resize_to is None else _reduce(rgb, resize_to))
    except MemoryError as err:
        raise ValueError(f"{path} is too large to convert in the memory available.") from err
    if size is None:
        return array
    return resize_and_crop(array, size)


def sample_images() -> dict[str, Path]:
    """The bundled photos in ``data/images`` as ``{name: path}``, sorted by name (see data/SOURCES.md)."""
    paths = sorted(p for p in IMAGES_DIR.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return {p.stem: p for p in paths}


def sample_image_path(name: str) -> Path:
    """Path of the bundled photo ``name`` (a key of :func:`sample_images`), with a helpful error."""
    images = sample_images()
    if not isinstance(name, str) or name not in images:
        raise ValueError(f"No bundled photo named {name!r}. Available: {', '.join(images)}.")
    return images[name]


LABELS_FILE = IMAGES_DIR / "labels.csv"


def expected_labels():
    """The expected ImageNet classes of the bundled photos, from ``data/images/labels.csv``, as a DataFrame.

    One row per photo: ``file``, ``name`` (its key in :func:`sample_images`), ``path``,
    ``expected_class_index`` (``<NA>`` when no single ImageNet class is clear, e.g. a rocket: ImageNet-1k
    has none), ``expected_class_name``, ``second_class_index`` (the other object of the two-object
    photos used by the class-discriminative demos, else ``<NA>``) and ``notes`` (why a photo is hard).
    Notebook 00 compares the classifier's top-5 with it; tests/test_data.py checks the model against it.
    """
    import pandas as pd  # imported here: only the notebooks and tests that need the table pay for pandas

    table = pd.read_csv(LABELS_FILE, dtype={"expected_class_name": "string", "notes": "string"},
                        keep_default_na=False, na_values={"expected_class_index": [""], "second_class_index": [""]})
    for column in ("expected_class_index", "second_class_index"):
        table[column] = table[column].astype("Int64")
    missing = [f for f in table["file"] if not (IMAGES_DIR / f).is_file()]
    if missing:
        raise ValueError(f"{LABELS_FILE} lists photos that are not in {IMAGES_DIR}: {', '.join(missing)}.")
    table.insert(1, "name", [Path(f).stem for f in table["file"]])
    table.insert(2, "path", [IMAGES_DIR / f for f in table["file"]])
    return table


# --------------------------------------------------------------------------- object boxes
BOXES_FILE = IMAGES_DIR / "boxes.csv"


@dataclass(frozen=True, slots=True)
class Box:
    """One object box of a bundled photo (a row of ``data/images/boxes.csv``).

    Coordinates are pixel edges of the photo as :func:`load_image` decodes it with ``size=None``
    (after EXIF rotation): the box covers columns ``x0 <= x < x1`` and rows ``y0 <= y < y1``.
    ``class_index`` is None for the photos with no ImageNet class (the object is named in
    ``class_name``). ``method`` says how the box was drawn (scripts/draw_boxes.py, data/SOURCES.md).
    """

    file: str
    class_index: int | None
    class_name: str
    x0: int
    y0: int
    x1: int
    y1: int
    method: str
    notes: str

    @property
    def coords(self) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` in the original photo's pixels."""
        return self.x0, self.y0, self.x1, self.y1


def _photo_file(file: str | Path) -> str:
    """The file name in data/images of a bundled photo given by file name, stem or path."""
    if not isinstance(file, (str, os.PathLike)):
        raise ValueError(f"pass a bundled photo's file name, stem or path, got {type(file).__name__}.")
    path = Path(file)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if (IMAGES_DIR / path.name).is_file():
            return path.name
    elif path.name in sample_images():
        return sample_images()[path.name].name
    raise ValueError(f"No bundled photo {str(file)!r}. Available: {', '.join(sample_images())}.")


def object_boxes(file: str | Path, class_index: int | None = None) -> list[Box]:
    """The object boxes of the bundled photo ``file`` (name, stem or path), from ``data/images/boxes.csv``.

    With ``class_index`` only the boxes of that ImageNet class. Introduced for the pointing game on
    real photos (notebook 08 and the benchmarks); every bundled photo has at least one box.
    """
    import csv

    name = _photo_file(file)
    with open(BOXES_FILE, newline="", encoding="utf-8") as handle:
        boxes = [Box(file=row["file"], class_index=int(row["class_index"]) if row["class_index"] else None,
                     class_name=row["class_name"], x0=int(row["x0"]), y0=int(row["y0"]), x1=int(row["x1"]),
                     y1=int(row["y1"]), method=row["method"], notes=row["notes"])
                 for row in csv.DictReader(handle) if row["file"] == name]
    if class_index is not None:
        boxes = [b for b in boxes if b.class_index == class_index]
    return boxes


def crop_geometry(width: int, height: int, size: int = 224) -> tuple[float, float, int, int]:
    """How :func:`resize_and_crop` maps a ``width`` x ``height`` photo onto the model's ``size`` x ``size`` input.

    Returns ``(scale_x, scale_y, left, top)``: original pixel edge ``x`` lands at ``x * scale_x - left``
    in the model's input (and ``y`` at ``y * scale_y - top``). The scales are those of Pillow's
    resize (output width / input width), so they differ from each other by rounding only. For a
    photo large enough to be reduced while decoding (short side >= :data:`REDUCE_FROM`) the
    reduction keeps the field of view, so the mapping holds to within one model pixel.
    """
    size = _check_size(size)
    if size is None:
        return 1.0, 1.0, 0, 0
    resize_to = int(round(size * 256 / 224))
    scale = resize_to / min(height, width)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    return new_w / width, new_h / height, (new_w - size) // 2, (new_h - size) // 2


def _span(lo: float, hi: float, size: int) -> slice:
    """Model pixels whose centres lie in ``[lo, hi)``, clipped to the image; one pixel if the box is thinner."""
    start, stop = math.ceil(lo - 0.5), math.ceil(hi - 0.5)
    if stop <= start and hi > 0 and lo < size:  # a box thinner than a model pixel keeps the pixel it is in
        start = min(max(int(math.floor((lo + hi) / 2)), 0), size - 1)
        stop = start + 1
    return slice(min(max(start, 0), size), min(max(stop, 0), size))


def box_mask(coords: tuple[float, float, float, float], image_size: tuple[int, int], size: int | None = 224
             ) -> np.ndarray:
    """A box ``(x0, y0, x1, y1)`` of a ``(width, height)`` photo as a bool mask on the model's input.

    The mask is ``(size, size)``: a pixel of :func:`load_image`'s output is in it when its centre
    falls inside the box (resized and centre-cropped exactly as the photo is); a box outside the
    crop gives an empty mask. ``size=None`` gives the mask at the photo's own resolution.
    """
    width, height = (int(v) for v in image_size)
    scale_x, scale_y, left, top = crop_geometry(width, height, size)
    out_h, out_w = (height, width) if size is None else (size, size)
    x0, y0, x1, y1 = (float(v) for v in coords)
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"a box needs x0 < x1 and y0 < y1, got {coords}.")
    mask = np.zeros((out_h, out_w), dtype=bool)
    mask[_span(y0 * scale_y - top, y1 * scale_y - top, out_h),
         _span(x0 * scale_x - left, x1 * scale_x - left, out_w)] = True
    return mask


def photo_size(file: str | Path) -> tuple[int, int]:
    """``(width, height)`` of a bundled photo as :func:`load_image` sees it (after EXIF rotation), not decoded."""
    with Image.open(IMAGES_DIR / _photo_file(file)) as image:
        width, height = image.size
        rotated = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF orientations that swap the sides
    return (height, width) if rotated else (width, height)


def object_mask(file: str | Path, size: int | None = 224, class_index: int | None = None) -> np.ndarray:
    """The ``(size, size)`` bool mask of the bundled photo's objects, on the same pixels as ``load_image(file, size)``.

    The union of the boxes of ``class_index``; by default the photo's expected class in
    ``labels.csv`` (for a photo without one, its unclassed boxes). The ground truth of the
    pointing game and relevance mass on real photos (``utils.evaluation.metrics``).
    """
    import pandas as pd  # imported here, as in expected_labels

    name = _photo_file(file)
    if class_index is None:
        expected = expected_labels().set_index("file").loc[name, "expected_class_index"]
        target = None if pd.isna(expected) else int(expected)
        boxes = [b for b in object_boxes(name) if b.class_index == target]
    else:
        boxes = object_boxes(name, class_index)
    if not boxes:
        known = sorted({str(b.class_index) for b in object_boxes(name)})
        raise ValueError(f"{name} has no box of class {class_index}; its boxes are of classes {', '.join(known)}.")
    image_size = photo_size(name)
    return np.logical_or.reduce([box_mask(b.coords, image_size, size) for b in boxes])
