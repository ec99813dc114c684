"""Write the README's course-map thumbnails, docs/thumbnails/<notebook>.png, from the committed notebooks.

Each thumbnail is the notebook's first figure (or that of a cell tagged `thumbnail`), README_WIDTH px wide,
made by the same code as the website's home page (scripts/build_site.py). `make execute` runs this after
re-executing the notebooks; `--check` writes nothing and exits 1 when a thumbnail is missing or stale.

    python scripts/thumbnails.py            # write them
    python scripts/thumbnails.py --check    # exit 1 if one would change
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_site import first_png, write_thumbnail  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "thumbnails"
README_WIDTH = 160  # narrow enough for a table column on a code-hosting site


def thumbnail_bytes(notebook: Path) -> bytes | None:
    """The thumbnail PNG of one notebook, or None when it has no figure."""
    png = first_png(nbformat.read(notebook, as_version=4))
    if png is None:
        return None
    scratch = io.BytesIO()
    write_thumbnail(png, scratch, width=README_WIDTH)
    return scratch.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a thumbnail would change")
    args = parser.parse_args(argv)
    stale = []
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        png, dest = thumbnail_bytes(notebook), FOLDER / f"{notebook.stem}.png"
        if png is None or (dest.is_file() and dest.read_bytes() == png):
            continue
        stale.append(dest.relative_to(ROOT))
        if not args.check:
            FOLDER.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(png)
    if args.check and stale:
        print(f"stale or missing thumbnails: {', '.join(map(str, stale))}; run python scripts/thumbnails.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
