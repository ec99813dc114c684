"""Loading images the way the course's classifiers expect them, with clear errors for bad files.

Introduced in notebook 00; every image notebook loads its photos through :func:`load_image`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
IMAGES_DIR = DATA_DIR / "images"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _open_image(path: Path) -> Image.Image:
    """Open and fully decode ``path``, turning every failure into a ValueError that names the file."""
    if not path.exists():
        raise ValueError(f"{path}: no such file. Check the path (sample_images() lists the bundled photos).")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an image file.")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes): the file was not written or downloaded completely.")
    try:
        image = Image.open(path)
        image.load()  # decode now: a truncated file fails here, not later inside a model
    except UnidentifiedImageError as err:
        raise ValueError(
            f"{path} is not an image that Pillow can read (JPEG, PNG, BMP, GIF, TIFF, WebP). "
            "Is it another kind of file with an image extension?"
        ) from err
    except (OSError, SyntaxError) as err:
        raise ValueError(f"{path} is a damaged or truncated image ({err}). Download or copy it again.") from err
    return image


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Pillow image of any mode (L, LA, P, RGBA, I;16, CMYK, ...) -> float32 RGB array in [0, 255].

    Grayscale is repeated on three channels, transparency is composited on white, palettes are
    expanded and 16-bit images are rescaled from [0, 65535] to [0, 255], so that every model of
    the course sees the same kind of input whatever the file held.
    """
    image = ImageOps.exif_transpose(image)  # phones store the rotation in EXIF, not in the pixels
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float32)
        scale = 65535.0 if array.max() > 255 else 255.0
        array = np.clip(array / scale * 255.0, 0, 255)
        return np.repeat(array[..., None], 3, axis=-1).astype(np.float32)
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float32)
        lo, hi = float(array.min()), float(array.max())
        array = (array - lo) / (hi - lo or 1.0) * 255.0
        return np.repeat(array[..., None], 3, axis=-1).astype(np.float32)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return np.asarray(image.convert("RGB"), dtype=np.float32)


def resize_and_crop(image: np.ndarray, size: int = 224, resize_to: int | None = None) -> np.ndarray:
    """Resize so the short side is ``resize_to`` (bicubic), then take the centre ``size`` x ``size`` crop.

    ``resize_to`` defaults to ``size * 256 / 224`` (256 for 224), the ImageNet evaluation recipe the
    zoo's models were trained for: the object keeps its aspect ratio and a thin border is cut.
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
    files and EXIF rotation are handled; a missing, empty, truncated or non-image file raises a
    ``ValueError`` that names the file and says what is wrong.
    """
    path = Path(path)
    array = to_rgb_array(_open_image(path))
    if size is None:
        return array
    if size < 8:
        raise ValueError(f"size={size} is too small; use the model's input size (224 for the zoo models).")
    return resize_and_crop(array, size)


def sample_images() -> dict[str, Path]:
    """The bundled photos in ``data/images`` as ``{name: path}``, sorted by name (see data/SOURCES.md)."""
    paths = sorted(p for p in IMAGES_DIR.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return {p.stem: p for p in paths}


def sample_image_path(name: str) -> Path:
    """Path of the bundled photo ``name`` (a key of :func:`sample_images`), with a helpful error."""
    images = sample_images()
    if name not in images:
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
