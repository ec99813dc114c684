"""Export notebooks to reveal.js slide decks that work offline (`make slides`).

nbconvert's own slides template links reveal.js, require.js, jQuery, mermaid and MathJax from CDNs,
so its decks fall back to one long page without a network. This script exports with the template in
scripts/templates/reveal_offline, which loads every script from files copied next to the decks:

* reveal.js (MIT) and its speaker-notes plugin, from the copy the PyPI package `sphinx-revealjs`
  ships (sphinx_revealjs/_static/revealjs);
* MathJax 3 (Apache-2.0), its self-contained SVG build es5/tex-svg.js, from the PyPI package
  `django-static-mathjax` (which installs the plain `mathjax` folder and depends on nothing);
  notebooks 01, 02 and 08 write formulas in `$...$`.

The notebooks are not executed: the decks show the committed outputs. Slide breaks come from the
cells' `metadata.slideshow.slide_type` (see scripts/add_slide_metadata.py). In the exported copy (the
notebook file is not changed) a link to another notebook points at its deck, and a link to a file
the slides folder does not hold becomes plain text.

    python scripts/build_slides.py                      # every notebooks/*.ipynb -> slides/
    python scripts/build_slides.py --out DIR NB.ipynb   # chosen notebooks -> DIR
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter
from traitlets.config import Config

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "reveal_offline"
ASSETS = "_assets"
REVEAL_PREFIX = f"{ASSETS}/reveal.js"
MATHJAX_URL = f"{ASSETS}/mathjax/es5/tex-svg.js"
# 1280x720 is the screen the slides are written for: reveal.js scales this canvas to the window.
SLIDE_WIDTH, SLIDE_HEIGHT = 1280, 720
# In the exported decks, code cells longer than this fold into a click-to-open block (RISE, live,
# shows them whole) and figures are at most this tall, so that a result fits on its slide.
FOLD_CODE_LINES = 8
IMAGE_MAX_HEIGHT = 480
TEXT_MAX_HEIGHT = 240  # px of printed output before it scrolls in its box

# Files of reveal.js a deck loads (relative to the package's revealjs folder).
REVEAL_FILES = (
    "LICENSE",
    "dist/reveal.css",
    "dist/reveal.js",
    "dist/theme/white.css",
    "dist/theme/fonts/source-sans-pro",
    "plugin/notes/notes.js",
)
MATHJAX_FILES = ("LICENSE", "es5/tex-svg.js")


def package_dir(name: str) -> Path:
    """Folder of an installed package, found without importing it (a missing one is a clear error)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {name!r} is not installed: run `make install` (it is in requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


def reveal_source() -> Path:
    """reveal.js as shipped inside sphinx-revealjs."""
    return package_dir("sphinx_revealjs") / "_static" / "revealjs"


def mathjax_source() -> Path:
    """MathJax 3 as shipped by django-static-mathjax (top-level package `mathjax`)."""
    return package_dir("mathjax") / "static" / "mathjax"


def _copy(src_root: Path, names: tuple[str, ...], dest_root: Path) -> None:
    """Copy files or folders `names` from src_root to dest_root, keeping their relative paths."""
    for name in names:
        src, dest = src_root / name, dest_root / name
        if not src.exists():
            raise SystemExit(f"{src} is missing: is the pinned version of its package installed?")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest)


def copy_assets(out_dir: Path) -> None:
    """Put reveal.js and MathJax under out_dir/_assets, where every deck's template points."""
    _copy(reveal_source(), REVEAL_FILES, out_dir / REVEAL_PREFIX)
    _copy(mathjax_source(), MATHJAX_FILES, out_dir / ASSETS / "mathjax")


def make_exporter() -> SlidesExporter:
    """A SlidesExporter on the offline template with a 1280x720 canvas."""
    config = Config()
    config.SlidesExporter.extra_template_basedirs = [str(TEMPLATE_DIR)]
    config.SlidesExporter.template_name = TEMPLATE_NAME
    config.SlidesExporter.reveal_url_prefix = REVEAL_PREFIX
    config.SlidesExporter.reveal_theme = "white"
    config.SlidesExporter.reveal_width = str(SLIDE_WIDTH)
    config.SlidesExporter.reveal_height = str(SLIDE_HEIGHT)
    config.SlidesExporter.mathjax_url = MATHJAX_URL
    config.SlidesExporter.exclude_input_prompt = True
    config.SlidesExporter.exclude_output_prompt = True
    config.SlidesExporter.embed_images = True  # images a markdown cell links travel inside the deck
    return SlidesExporter(config=config)


def deck_name(notebook: Path) -> str:
    """File name of a notebook's deck: 05_grad_cam.ipynb -> 05_grad_cam.slides.html."""
    return notebook.stem + ".slides.html"


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """Text of the notebook's first markdown heading, for the index page."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


_MD_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def relink(nb: nbformat.NotebookNode, decks: set[str]) -> list[str]:
    """Point a notebook's markdown links at the decks: `NN_name.ipynb` becomes `NN_name.slides.html`
    when that deck is built too, and a relative link to anything else (README.md, utils/...), which
    the slides folder does not hold, becomes its plain text. Images stay (they are embedded).
    Returns the targets turned into text."""
    dropped: list[str] = []

    def fix(match: re.Match) -> str:
        bang, text, target = match.groups()
        if bang or re.match(r"^(https?:|mailto:|#|data:)", target):
            return match.group(0)
        path, _, fragment = target.partition("#")
        if "/" not in path and path.endswith(".ipynb") and path[: -len(".ipynb")] in decks:
            return f"[{text}]({deck_name(Path(path))}{'#' + fragment if fragment else ''})"
        dropped.append(target)
        return text

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _MD_LINK.sub(fix, cell.source)
    return dropped


def write_index(out_dir: Path, decks: list[tuple[str, str]]) -> Path:
    """A plain index.html that links every deck (file name, title), so the folder opens as one page."""
    items = "\n".join(
        f'<li><a href="{html.escape(name)}">{html.escape(title)}</a></li>' for name, title in decks
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Course slides</title>\n"
        "<style>body{font-family:sans-serif;max-width:48em;margin:2em auto;line-height:1.6}</style>\n"
        "</head>\n<body>\n<h1>Course slides</h1>\n"
        "<p>Open a deck; press <kbd>S</kbd> for the speaker view with the notes, <kbd>Esc</kbd> for an overview.</p>\n"
        f"<ul>\n{items}\n</ul>\n</body>\n</html>\n"
    )
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def build(notebooks: list[Path], out_dir: Path) -> list[Path]:
    """Export each notebook to out_dir/NAME.slides.html (no execution) and copy the assets once."""
    out_dir.mkdir(parents=True, exist_ok=True)
    copy_assets(out_dir)
    exporter = make_exporter()
    written, titles = [], []
    decks = {notebook.stem for notebook in notebooks}
    for notebook in notebooks:
        nb = nbformat.read(notebook, as_version=4)
        for target in relink(nb, decks):
            print(f"{notebook.name}: link to {target} shown as text (the slides folder does not hold it)")
        resources = {
            "metadata": {"name": notebook.stem},
            "slides_fold_code_lines": FOLD_CODE_LINES,
            "slides_image_max_height": IMAGE_MAX_HEIGHT,
            "slides_text_max_height": TEXT_MAX_HEIGHT,
        }
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        deck = out_dir / deck_name(notebook)
        deck.write_text(body, encoding="utf-8")
        written.append(deck)
        titles.append((deck.name, notebook_title(nb, notebook.stem)))
    write_index(out_dir, titles)
    return written


def find_notebooks(paths: list[str]) -> list[Path]:
    """Notebook files named, or found (sorted) in the folders named; default notebooks/."""
    found: list[Path] = []
    for raw in paths or [str(ROOT / "notebooks")]:
        path = Path(raw)
        found.extend(sorted(path.glob("*.ipynb")) if path.is_dir() else [path])
    return found


def main(argv: list[str] | None = None) -> int:
    """Command line: build the decks and say where they are and how long it took."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks or folders (default: notebooks/)")
    parser.add_argument("--out", default=str(ROOT / "slides"), help="output folder (default: slides/)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    decks = build(find_notebooks(args.notebooks), Path(args.out))
    print(f"{len(decks)} decks in {args.out} ({time.perf_counter() - start:.1f} s); open index.html there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
