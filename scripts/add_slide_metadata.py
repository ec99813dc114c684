"""Give every cell of a notebook RISE / reveal.js slide metadata, by fixed rules.

Both JupyterLab's RISE extension (`jupyterlab-rise`) and `jupyter nbconvert --to slides`
(`make slides`) read `cell.metadata.slideshow.slide_type`: "slide" starts a new slide, "subslide" a
new vertical slide under it, "fragment" appears on the next key press, "skip" is hidden, "notes" goes
to the speaker view (key S), and "-" continues the current slide. This script writes that one key,
for every cell, from the cell's source and outputs alone, so running it twice changes nothing and it
never touches sources, outputs or any other metadata.

The rules, in order (a cell tag `slideshow-TYPE`, e.g. `slideshow-notes`, overrides them for that cell):

1. a markdown cell with a `#` or `##` heading starts a slide, one with `###` (or deeper) or one that
   opens with `**Exercise` starts a subslide;
2. setup and plumbing code is skipped: code cells between the title cell and the first section
   heading (the `setup()` call, imports, loading the model), import-only cells, and cells of asserts
   only that print nothing;
3. a markdown cell without a heading and longer than WORD_LIMIT words becomes speaker notes;
4. otherwise the cell continues the current slide, unless that slide would then hold more than
   WORD_LIMIT words of visible markdown or grow taller than one 1280x720 screen (estimated from the
   text, code lines, printed lines and the PNGs' pixel sizes; a slide holding only a heading or a
   line keeps its next cell whatever its size), in which case it starts a subslide;
5. a short markdown cell (at most FRAGMENT_WORDS words) right after a code cell's output on the same
   slide is a fragment: the result is shown first, its reading one key press later.

A heading cell longer than WORD_LIMIT stays visible (a slide without its title is worse) and is
listed by `--report`; `--split-long` cuts such cells (and any markdown cell with a heading in its
middle) at paragraph breaks into several cells, the only option that changes sources: the text is
kept character for character, only distributed over more cells.

    python scripts/add_slide_metadata.py notebooks/*.ipynb            # write the metadata
    python scripts/add_slide_metadata.py --report notebooks/*.ipynb   # only print slide counts
    python scripts/add_slide_metadata.py --check notebooks/*.ipynb    # exit 1 if a file would change
"""

from __future__ import annotations

import argparse
import base64
import math
import re
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

WORD_LIMIT = 120
FRAGMENT_WORDS = 50
SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes", "-")
TAG_PREFIX = "slideshow-"
# The slide canvas (scripts/build_slides.py) and the share of it content may fill before a new
# subslide starts; the pixel sizes below are those of nbconvert's reveal template at that size.
CANVAS_WIDTH, CANVAS_HEIGHT = 1280, 720
HEIGHT_BUDGET = 0.92 * CANVAS_HEIGHT
MIN_FILLED_PX = 0.25 * CANVAS_HEIGHT  # a slide holding less (a heading, a line) keeps the next cell
TEXT_LINE_PX, CODE_LINE_PX, OUTPUT_LINE_PX = 30.0, 25.0, 24.0
CHARS_PER_LINE = 100
HEADING_PX = {1: 70.0, 2: 58.0, 3: 46.0}
CELL_PADDING_PX = 16.0
TABLE_ROW_PX = 33.0

_HEADING = re.compile(r"^(#{1,6})\s+\S")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LIST_ITEM = re.compile(r"^([-*+]|\d+[.)])\s")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>]+>")
_WORD = re.compile(r"[A-Za-z0-9]")


def markdown_lines(source: str) -> list[tuple[str, bool]]:
    """Each line of a markdown source with whether it lies inside a fenced code block."""
    lines, fenced = [], False
    for line in source.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            lines.append((line, True))
        else:
            lines.append((line, fenced))
    return lines


def heading_levels(source: str) -> list[tuple[int, int]]:
    """(line number, level) of every markdown heading outside code fences."""
    found = []
    for number, (line, fenced) in enumerate(markdown_lines(source)):
        match = None if fenced else _HEADING.match(line)
        if match:
            found.append((number, len(match.group(1))))
    return found


def first_heading_level(source: str) -> int | None:
    """Level of the heading a cell opens with (its first non-blank line), else None."""
    for line in source.splitlines():
        if line.strip():
            match = _HEADING.match(line)
            return len(match.group(1)) if match else None
    return None


def visible_words(source: str) -> int:
    """Words a reader sees in rendered markdown: link targets, HTML tags and markup symbols dropped."""
    text = _TAG.sub(" ", _LINK.sub(r"\1", source))
    return sum(1 for token in text.split() if _WORD.search(token))


def png_size(data: str) -> tuple[int, int]:
    """(width, height) in pixels of a base64 PNG, read from its header."""
    head = "".join(data[:200].split())[:32]  # 24 bytes: signature, IHDR length and type, width, height
    width, height = struct.unpack(">II", base64.b64decode(head)[16:24])
    return width, height


def _text_px(text: str, line_px: float) -> float:
    """Height of wrapped plain text at line_px per line."""
    return sum(max(1, math.ceil(len(line) / CHARS_PER_LINE)) for line in text.splitlines()) * line_px


def output_height(output: dict) -> float:
    """Estimated height (px on the canvas) of one code-cell output."""
    if output.get("output_type") == "stream":
        return _text_px(output.get("text", ""), OUTPUT_LINE_PX)
    data = output.get("data", {})
    if "image/png" in data:
        width, height = png_size(data["image/png"])
        return height * min(1.0, (CANVAS_WIDTH - 80) / max(width, 1))
    if "text/html" in data:
        html = data["text/html"]
        return max(1, html.count("<tr")) * TABLE_ROW_PX
    if "text/plain" in data:
        return _text_px(data["text/plain"], OUTPUT_LINE_PX)
    return 0.0


def cell_height(cell: dict) -> float:
    """Estimated height (px on the 1280x720 canvas) of a cell as nbconvert's slides draw it."""
    if cell["cell_type"] == "markdown":
        height = CELL_PADDING_PX
        for line, _ in markdown_lines(cell["source"]):
            match = _HEADING.match(line)
            if match:
                height += HEADING_PX.get(len(match.group(1)), HEADING_PX[3])
            elif line.strip():
                height += _text_px(line, TEXT_LINE_PX)
            else:
                height += TEXT_LINE_PX / 3
        return height
    if cell["cell_type"] == "code":
        height = CELL_PADDING_PX + len(cell["source"].splitlines()) * CODE_LINE_PX
        return height + sum(output_height(o) for o in cell.get("outputs", []))
    return 0.0


def _code_lines(source: str) -> list[str]:
    """Non-blank, non-comment lines of a code cell."""
    return [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def is_import_only(source: str) -> bool:
    """True for a cell of import statements only (continuation lines of a parenthesised import included)."""
    lines = _code_lines(source)
    if not lines:
        return False
    open_paren = False
    for line in lines:
        stripped = line.strip()
        if open_paren:
            open_paren = ")" not in stripped
            continue
        if not stripped.startswith(("import ", "from ")):
            return False
        open_paren = "(" in stripped and ")" not in stripped
    return True


def is_silent_check(cell: dict) -> bool:
    """True for a code cell of assert statements only that prints nothing."""
    lines = _code_lines(_source(cell))
    if not lines or cell.get("outputs") or not lines[0].startswith("assert"):
        return False
    return all(line.startswith(("assert", " ", "\t", ")", "]")) for line in lines)


def tag_override(cell: dict) -> str | None:
    """The slide type named by a `slideshow-TYPE` cell tag, if any."""
    for tag in cell.get("metadata", {}).get("tags", []):
        if tag.startswith(TAG_PREFIX) and tag[len(TAG_PREFIX):] in SLIDE_TYPES:
            return tag[len(TAG_PREFIX):]
    return None


@dataclass
class _Slide:
    """What the slide being filled holds so far (visible content only)."""

    words: int = 0
    height: float = 0.0
    last_was_output: bool = False
    cells: list[int] = field(default_factory=list)


def slide_types(nb: dict) -> list[str]:
    """The slide type of every cell, computed from sources and outputs only (never from old metadata)."""
    cells = nb["cells"]
    types: list[str] = []
    in_setup = False
    current = _Slide()
    for index, cell in enumerate(cells):
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        is_md = cell["cell_type"] == "markdown"
        level = first_heading_level(source) if is_md else None
        if is_md and level is None and heading_levels(source):
            level = min(lvl for _, lvl in heading_levels(source))
        words = visible_words(source) if is_md else 0
        height = cell_height({**cell, "source": source})
        if is_md and level == 1 and index == 0:
            in_setup = True
        elif is_md and level is not None and level <= 2:
            in_setup = False

        kind = tag_override(cell)
        if kind is None:
            if cell["cell_type"] not in ("markdown", "code"):
                kind = "skip"
            elif is_md and level is not None:
                kind = "slide" if level <= 2 else "subslide"
            elif is_md and source.lstrip().startswith("**Exercise"):
                kind = "subslide"
            elif not is_md and (in_setup or is_import_only(source) or is_silent_check(cell)):
                kind = "skip"
            elif is_md and words > WORD_LIMIT:
                kind = "notes"
            elif current.cells and (
                current.words + words > WORD_LIMIT
                or (current.height >= MIN_FILLED_PX and current.height + height > HEIGHT_BUDGET)
            ):
                kind = "subslide"
            elif is_md and words <= FRAGMENT_WORDS and current.last_was_output:
                kind = "fragment"
            else:
                kind = "-"
        if index == 0 and kind == "-":
            kind = "slide"

        if kind in ("slide", "subslide"):
            current = _Slide()
        if kind not in ("skip", "notes"):
            current.words += words
            current.height += height
            current.cells.append(index)
            current.last_was_output = not is_md and bool(cell.get("outputs"))
        types.append(kind)
    return types


def apply(nb: nbformat.NotebookNode) -> bool:
    """Write metadata.slideshow.slide_type into every cell; True if anything changed."""
    changed = False
    for cell, kind in zip(nb.cells, slide_types(nb), strict=True):
        slideshow = cell.metadata.get("slideshow", {})
        if slideshow.get("slide_type") != kind:
            cell.metadata["slideshow"] = {**slideshow, "slide_type": kind}
            changed = True
    return changed


def leaf_slides(nb: dict) -> list[list[int]]:
    """Cell indices of each leaf slide (what Reveal.getTotalSlides counts), as nbconvert groups them:
    skip cells belong to no slide, notes cells to none of the visible content."""
    slides: list[list[int]] = []
    for index, cell in enumerate(nb["cells"]):
        kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")
        if kind in ("skip", "notes"):
            continue
        if kind in ("slide", "subslide") or not slides:
            slides.append([])
        slides[-1].append(index)
    return slides


@dataclass
class Report:
    """Slide statistics of a notebook whose metadata is set."""

    slides: int
    longest_words: int
    longest_slide: int
    over_limit: list[tuple[int, int]]  # (slide number from 1, words) of slides over WORD_LIMIT
    tall: int  # slides estimated taller than the canvas
    notes: int
    skipped: int


def report(nb: dict) -> Report:
    """Count the slides and measure each one's visible markdown words and estimated height."""
    slides = leaf_slides(nb)
    words, heights = [], []
    for members in slides:
        cells = [nb["cells"][i] for i in members]
        words.append(sum(visible_words(_source(c)) for c in cells if c["cell_type"] == "markdown"))
        heights.append(sum(cell_height({**c, "source": _source(c)}) for c in cells))
    kinds = [c.get("metadata", {}).get("slideshow", {}).get("slide_type", "-") for c in nb["cells"]]
    longest = max(range(len(words)), key=words.__getitem__) if words else 0
    return Report(
        slides=len(slides),
        longest_words=words[longest] if words else 0,
        longest_slide=longest + 1,
        over_limit=[(i + 1, w) for i, w in enumerate(words) if w > WORD_LIMIT],
        tall=sum(h > CANVAS_HEIGHT for h in heights),
        notes=kinds.count("notes"),
        skipped=kinds.count("skip"),
    )


def _source(cell: dict) -> str:
    """A cell's source as one string."""
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def split_paragraphs(source: str) -> list[str]:
    """Cut a markdown source into chunks of whole paragraphs (a top-level list item counts as one),
    each at most WORD_LIMIT words where a paragraph allows, with every heading starting a chunk;
    "".join(chunks) == source."""
    blocks: list[str] = []
    buffer = ""
    fenced = False
    for line in source.splitlines(keepends=True):
        starts_block = not fenced and (_HEADING.match(line) or _LIST_ITEM.match(line))
        if _FENCE.match(line):
            fenced = not fenced
        if starts_block and buffer.strip():
            blocks.append(buffer)
            buffer = ""
        buffer += line
        if not fenced and not line.strip():
            blocks.append(buffer)
            buffer = ""
    if buffer:
        blocks.append(buffer)
    chunks: list[str] = []
    for block in blocks:
        if chunks and not _HEADING.match(block.lstrip("\n")) and (
            not chunks[-1].strip() or visible_words(chunks[-1]) + visible_words(block) <= WORD_LIMIT
        ):
            chunks[-1] += block
        else:
            chunks.append(block)
    return chunks


def split_long_cells(nb: nbformat.NotebookNode) -> int:
    """Split markdown cells over WORD_LIMIT words, or with a heading after their first line, at
    paragraph breaks (sources change; the notebook's text does not). Returns how many cells were split."""
    new_cells, split = [], 0
    for cell in nb.cells:
        source = _source(cell)
        late_heading = any(number > 0 for number, _ in heading_levels(source.lstrip("\n")))
        if cell.cell_type != "markdown" or (visible_words(source) <= WORD_LIMIT and not late_heading):
            new_cells.append(cell)
            continue
        chunks = split_paragraphs(source)
        if len(chunks) == 1:
            new_cells.append(cell)
            continue
        split += 1
        for number, chunk in enumerate(chunks):
            piece = nbformat.v4.new_markdown_cell(chunk.rstrip("\n") if number < len(chunks) - 1 else chunk)
            piece.metadata = {k: v for k, v in cell.metadata.items() if k != "slideshow"}
            piece.attachments = cell.get("attachments", {}) if number == 0 else {}
            if not piece.attachments:
                del piece["attachments"]
            piece.id = cell.get("id", "md") if number == 0 else f"{cell.get('id', 'md')}-{number}"
            new_cells.append(piece)
    nb.cells = new_cells
    return split


def format_report(name: str, result: Report) -> str:
    """One line per notebook for the console."""
    over = ", ".join(f"slide {n}: {w} words" for n, w in result.over_limit) or "none"
    return (
        f"{name}: {result.slides} slides, longest {result.longest_words} words (slide {result.longest_slide}), "
        f"{result.notes} notes, {result.skipped} skipped, {result.tall} estimated taller than "
        f"{CANVAS_WIDTH}x{CANVAS_HEIGHT}; over {WORD_LIMIT} words: {over}"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: write (default), check or report the slide metadata of the notebooks named."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook would change")
    mode.add_argument("--report", action="store_true", help="write nothing; print the slides the rules give")
    parser.add_argument("--split-long", action="store_true",
                        help="first split long markdown cells at paragraph breaks (changes sources)")
    args = parser.parse_args(argv)
    stale = []
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        split = split_long_cells(nb) if args.split_long else 0
        changed = apply(nb) or split > 0
        print(format_report(path.name, report(nb)) + (f"; split {split} cells" if split else ""))
        if args.check or args.report:
            stale += [path] if changed else []
        elif changed:
            nbformat.write(nb, path)
    if args.check and stale:
        print("slide metadata out of date: " + " ".join(str(p) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
