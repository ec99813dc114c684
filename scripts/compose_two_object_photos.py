"""Compose the bundled two-object photos from pairs of bundled single-object photos.

No photo with two ImageNet objects side by side was to be had under a clear licence, so the
class-discriminative demos (Grad-CAM for "cat" vs "dog", notebook 05; comparing explainers,
notebook 08) use photos put together here: two photos, each centre-cropped to a 2:3 portrait
tile, placed side by side on a 4:3 canvas. A 4:3 canvas keeps most of both tiles inside the
model's centre crop (``utils.data.load_image`` resizes the short side to 256 and crops 224).

Run from the repository root (deterministic; it overwrites the outputs)::

    python scripts/compose_two_object_photos.py

The inputs, outputs and licences are listed in data/SOURCES.md.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

IMAGES_DIR = Path(__file__).resolve().parent.parent / "data" / "images"
TILE_SIZE = (256, 384)  # width, height of each half: 2:3 portrait, so the canvas is 512 x 384 (4:3)
GAP = 8  # white pixels between the two tiles, so the seam is visible and not mistaken for an edge of either

Centering = tuple[float, float] | None

# output name -> (left photo, right photo, left tile centring, right tile centring);
# centring is ImageOps.fit's (x, y) in [0, 1]: where to keep the crop window; None keeps the
# whole photo, shrunk to fit the tile on white (for cut-out objects that cropping would cut in two).
COMPOSITES: dict[str, tuple[str, str, Centering, Centering]] = {
    "dog_cat.jpg": ("pekinese.jpg", "chelsea.png", (0.5, 0.5), (0.55, 0.5)),
    "espresso_strawberry.jpg": ("coffee.png", "strawberry.jpg", (0.5, 0.5), (0.5, 0.6)),
    "zebra_elephant.jpg": ("zebra.jpg", "african_elephant.jpg", None, None),
}


def portrait_tile(path: Path, centering: Centering) -> Image.Image:
    """The photo at ``path`` as a ``TILE_SIZE`` portrait tile: cropped at ``centering``, or whole on white if None."""
    image = Image.open(path)
    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(background, image.convert("RGBA")).convert("RGB")
    if centering is not None:
        return ImageOps.fit(rgb, TILE_SIZE, Image.Resampling.LANCZOS, centering=centering)
    tile = Image.new("RGB", TILE_SIZE, "white")
    shrunk = ImageOps.contain(rgb, TILE_SIZE, Image.Resampling.LANCZOS)
    tile.paste(shrunk, ((TILE_SIZE[0] - shrunk.width) // 2, (TILE_SIZE[1] - shrunk.height) // 2))
    return tile


def compose_pair(left: Path, right: Path, left_centering: Centering = (0.5, 0.5),
                 right_centering: Centering = (0.5, 0.5)) -> Image.Image:
    """Two photos side by side on a white 4:3 canvas with a thin white gap between them."""
    width, height = TILE_SIZE
    canvas = Image.new("RGB", (2 * width + GAP, height), "white")
    canvas.paste(portrait_tile(left, left_centering), (0, 0))
    canvas.paste(portrait_tile(right, right_centering), (width + GAP, 0))
    return canvas


def main() -> None:
    for name, (left, right, left_c, right_c) in COMPOSITES.items():
        image = compose_pair(IMAGES_DIR / left, IMAGES_DIR / right, left_c, right_c)
        image.save(IMAGES_DIR / name, quality=90, optimize=True)
        print(f"wrote data/images/{name} ({image.width}x{image.height}) from {left} + {right}")


if __name__ == "__main__":
    main()
