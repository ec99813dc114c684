"""Build the course website from the committed, executed notebooks (`make site`), offline.

Sphinx with myst-nb renders each notebook with its committed outputs (nothing is executed; see
docs/site/conf.py). This script stages the sources in a scratch folder and runs Sphinx on them:

* the notebooks, copied; in the copies (never in notebooks/), code cells that print an exercise's
  hint or solution (`q1.hint()`, `q1.solution()`) get myst-nb's `hide-output` tag, so the site
  shows those outputs folded behind a click (a markdown `<details>` block folds as it does in
  Jupyter), images a markdown cell links are copied along, and links to files the site does not
  hold (README.md, utils/...) become plain text;
* a home page (index.md): the README's title and first paragraph, then its course map (the table
  whose rows link `notebooks/NN_name.ipynb`) with a thumbnail per notebook, the first figure among
  that notebook's outputs (or of a cell tagged `thumbnail`), shrunk to THUMB_WIDTH pixels;
* a hidden table of contents, which gives every page the sidebar, previous/next links and search.

    python scripts/build_site.py                 # -> _site/index.html
    python scripts/build_site.py --out DIR NB... # chosen notebooks -> DIR
"""

from __future__ import annotations

import argparse
import base64
import io
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "docs" / "site"
THUMB_WIDTH = 320
HIDE_OUTPUT_TAG = "hide-output"
THUMBNAIL_TAG = "thumbnail"
_REVEALS_ANSWER = re.compile(r"\.\s*(hint|solution)\s*\(")
_NOTEBOOK_LINK = re.compile(r"\[([^\]]+)\]\((?:\./)?notebooks/([\w.-]+)\.ipynb\)")
_LINKED_IMAGE = re.compile(r"\[!\[[^\]]*\]\([^)]*\)\]\([^)]*\)")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_RELATIVE_LINK = re.compile(r"\[([^\]]+)\]\((?!https?:|mailto:|#)[^)]*\)")
_MD_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


@dataclass
class Entry:
    """One notebook on the home page."""

    stem: str
    title: str
    thumbnail: str | None  # path relative to the staged source folder


def first_png(nb: nbformat.NotebookNode) -> bytes | None:
    """The first PNG among the outputs of the cells tagged `thumbnail`, or else of the whole
    notebook, as bytes."""
    tagged = [c for c in nb.cells if THUMBNAIL_TAG in c.get("metadata", {}).get("tags", [])]
    for cell in tagged + list(nb.cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                return base64.b64decode(data["image/png"])
    return None


def write_thumbnail(png: bytes, dest: Path | io.BytesIO, width: int = THUMB_WIDTH) -> None:
    """Shrink a PNG to `width` pixels wide (never enlarge) and save it to dest (a path or a buffer)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    if image.width > width:
        image = image.resize((width, max(1, round(image.height * width / image.width))), Image.LANCZOS)
    if isinstance(dest, Path):
        dest.parent.mkdir(parents=True, exist_ok=True)
    image.save(dest, format="PNG", optimize=True)


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The text of the notebook's first heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def fold_answers(nb: nbformat.NotebookNode) -> int:
    """Tag code cells that call .hint() or .solution() with hide-output; returns how many."""
    tagged = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and _REVEALS_ANSWER.search(cell.source):
            tags = cell.metadata.setdefault("tags", [])
            if HIDE_OUTPUT_TAG not in tags:
                tags.append(HIDE_OUTPUT_TAG)
                tagged += 1
    return tagged


def localise_links(nb: nbformat.NotebookNode, notebook_dir: Path, src: Path, pages: set[str]) -> list[str]:
    """Make a notebook copy's relative markdown links work on the site: images are copied into the
    staged tree at the same relative place, links to other staged notebooks stay, and links to
    anything else in the repository (README.md, utils/...), which the site does not hold, become
    their plain text. Returns the targets turned into text."""
    dropped: list[str] = []

    def fix(match: re.Match) -> str:
        bang, text, target = match.groups()
        if re.match(r"^(https?:|mailto:|#|data:)", target):
            return match.group(0)
        path = target.split("#", 1)[0]
        if not bang and Path(path).suffix == ".ipynb" and Path(path).stem in pages and "/" not in path:
            return match.group(0)
        source = (notebook_dir / path).resolve()
        if bang and source.is_file() and source.is_relative_to(ROOT):
            dest = src / "notebooks" / path
            dest.resolve().parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest.resolve())
            return match.group(0)
        dropped.append(target)
        return text

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _MD_LINK.sub(fix, cell.source)
    return dropped


def readme_parts(readme: str) -> tuple[str, str, list[str]]:
    """(title, first paragraph, course-map table lines) of the README; the table is the first one
    with a row linking a notebook (empty when there is none)."""
    lines = readme.splitlines()
    title = next((line.lstrip("#").strip() for line in lines if line.startswith("# ")), "Course")
    paragraph, started = [], False
    for line in lines:
        if line.startswith("#"):
            if started:
                break
            continue
        if line.strip():
            started = True
            paragraph.append(line)
        elif started:
            break
    table: list[str] = []
    block: list[str] = []
    for line in lines + [""]:
        if line.lstrip().startswith("|"):
            block.append(line.strip())
            continue
        if any(_NOTEBOOK_LINK.search(row) for row in block):
            table = block
            break
        block = []
    return title, " ".join(paragraph), table


def _cells(row: str) -> list[str]:
    """The cells of a markdown table row (no escaped pipes in our README)."""
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def course_map(table: list[str], entries: dict[str, Entry]) -> str:
    """The README's table (without run-time columns) with a thumbnail column in front and its
    notebook links pointing at the site's pages, as a MyST list-table of class `course-map`; rows
    of notebooks the site does not hold are dropped, and notebooks the table does not list are
    added at the end with their title."""
    if len(table) < 2:
        header, rows = ["notebook"], []
    else:
        header, rows = _cells(table[0]), [_cells(row) for row in table[2:]]
        # Run times are about executing a notebook, not reading it: the site leaves them out.
        # The README's own thumbnails point into docs/: the site draws its own column of them.
        rows = [[_IMAGE.sub("", _LINKED_IMAGE.sub("", c)).strip() for c in cells] for cells in rows]
        keep = [i for i, name in enumerate(header) if "time" not in name.lower()
                and (not rows or any(i < len(cells) and cells[i] for cells in rows))]
        header = [header[i] for i in keep]
        rows = [[cells[i] if i < len(cells) else "" for i in keep] for cells in rows]
    body: list[tuple[Entry, list[str]]] = []
    for cells in rows:
        match = _NOTEBOOK_LINK.search(" | ".join(cells))
        if not match or match.group(2) not in entries:
            continue
        link = lambda m: f"[{m.group(1)}](notebooks/{m.group(2)}.ipynb)"  # noqa: E731
        body.append((entries[match.group(2)], [_NOTEBOOK_LINK.sub(link, _IMAGE.sub("", c)) for c in cells]))
    listed = {entry.stem for entry, _ in body}
    for entry in entries.values():
        if entry.stem not in listed:
            body.append((entry, [f"[{entry.title}](notebooks/{entry.stem}.ipynb)"] + [""] * (len(header) - 1)))
    lines = ["```{list-table}", ":header-rows: 1", ":class: course-map", ""]
    for row in [("", header)] + [(thumbnail_cell(entry), cells) for entry, cells in body]:
        first, cells = row
        lines.append(f"* - {first or ' '}")
        lines.extend(f"  - {_escape_list_cell(cell)}" for cell in cells)
    lines.append("```")
    return "\n".join(lines)


def _escape_list_cell(cell: str) -> str:
    """A table cell as list-table item text: a leading '#' would start a heading, an empty cell is a space."""
    return "\\" + cell if cell.startswith("#") else (cell or " ")


def thumbnail_cell(entry: Entry) -> str:
    """A thumbnail that links to the notebook's page (empty if the notebook has no figure)."""
    if entry.thumbnail is None:
        return ""
    return f"[![{entry.stem}]({entry.thumbnail})](notebooks/{entry.stem}.ipynb)"


def home_page(readme: str, entries: dict[str, Entry]) -> str:
    """index.md: title, the README's opening paragraph (its relative links as plain text), the
    course map, and the hidden table of contents."""
    title, paragraph, table = readme_parts(readme)
    paragraph = _RELATIVE_LINK.sub(r"\1", paragraph)
    toc = "\n".join(f"notebooks/{stem}" for stem in entries)
    return (
        f"# {title}\n\n{paragraph}\n\n## Course map\n\n"
        "Each notebook as a page, with the outputs it was committed with. Click a figure or a title.\n\n"
        f"{course_map(table, entries)}\n\n"
        f"```{{toctree}}\n:hidden:\n:maxdepth: 1\n\n{toc}\n```\n"
    )


def stage(notebooks: list[Path], readme: Path, src: Path) -> dict[str, Entry]:
    """Fill the scratch source folder: notebook copies, thumbnails and the home page."""
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    entries: dict[str, Entry] = {}
    pages = {path.stem for path in notebooks}
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        fold_answers(nb)
        for target in localise_links(nb, path.resolve().parent, src, pages):
            print(f"{path.name}: link to {target} shown as text (the site does not hold it)")
        nbformat.write(nb, src / "notebooks" / path.name)
        png = first_png(nb)
        thumb = None
        if png is not None:
            thumb = f"thumbs/{path.stem}.png"
            write_thumbnail(png, src / thumb)
        entries[path.stem] = Entry(path.stem, notebook_title(nb, path.stem), thumb)
    text = readme.read_text(encoding="utf-8") if readme.exists() else "# Course\n"
    (src / "index.md").write_text(home_page(text, entries), encoding="utf-8")
    return entries


def run_sphinx(src: Path, out: Path, doctrees: Path, jobs: str) -> int:
    """Sphinx's HTML builder on the staged folder with docs/site as its configuration folder."""
    from sphinx.cmd.build import build_main

    return build_main(["-b", "html", "-q", "-j", jobs, "-c", str(CONF_DIR), "-d", str(doctrees), str(src), str(out)])


def build(notebooks: list[Path], out: Path, work: Path, jobs: str = "1") -> int:
    """Stage and build in `work`, then copy the finished site to `out`; Sphinx's exit status.

    Sphinx writes into work/html, not straight into `out`: myst-nb puts the outputs it extracts in
    a `jupyter_execute` folder beside the output folder, which would otherwise land in the
    repository's root."""
    if out.exists() and any(out.iterdir()) and not (out / "searchindex.js").is_file():
        raise SystemExit(f"{out} exists and is not a site built by this script: choose another --out")
    stage(notebooks, ROOT / "README.md", work / "src")
    status = run_sphinx(work / "src", work / "html", work / "doctrees", jobs)
    if status == 0:
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(work / "html", out)
    return status


def find_notebooks(paths: list[str]) -> list[Path]:
    """Notebook files named, or found (sorted) in the folders named; default notebooks/."""
    found: list[Path] = []
    for raw in paths or [str(ROOT / "notebooks")]:
        path = Path(raw)
        found.extend(sorted(path.glob("*.ipynb")) if path.is_dir() else [path])
    return found


def main(argv: list[str] | None = None) -> int:
    """Command line: build the site and say where it is and how long it took."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks or folders (default: notebooks/)")
    parser.add_argument("--out", default=str(ROOT / "_site"), help="output folder (default: _site/)")
    parser.add_argument("--work", default=str(ROOT / "build" / "site"), help="scratch folder (default: build/site/)")
    parser.add_argument("--jobs", default="1", help="Sphinx's -j (default: 1; 11 pages gain nothing from more)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    status = build(find_notebooks(args.notebooks), Path(args.out), Path(args.work), args.jobs)
    if status == 0:
        print(f"site in {args.out} ({time.perf_counter() - start:.1f} s); open {Path(args.out) / 'index.html'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
