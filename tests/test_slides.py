"""Slides: the offline reveal.js export (scripts/build_slides.py) and the slide-metadata rules
(scripts/add_slide_metadata.py). Fast: small synthetic notebooks, and the course notebooks read
only (every write goes to a temporary folder)."""

from __future__ import annotations

import copy
import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))

import add_slide_metadata as meta  # noqa: E402
import build_slides  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
TINY_PNG = (  # a 3x2 PNG, enough for the height estimate to read its size
    "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAIAAAASFvFNAAAAEklEQVR4nGP4z8DAwMDAwMAAAB0AAv2BvhgAAAAASUVORK5CYII="
)


def md(text: str, **metadata) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata.update(metadata)
    return cell


def code(text: str, printed: str | None = None, png: bool = False) -> nbformat.NotebookNode:
    outputs = []
    if printed is not None:
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=printed))
    if png:
        outputs.append(nbformat.v4.new_output("display_data", data={"image/png": TINY_PNG, "text/plain": "<Figure>"}))
    return nbformat.v4.new_code_cell(text, outputs=outputs, execution_count=1 if outputs else None)


def words(n: int, word: str = "word") -> str:
    return " ".join([word] * n)


def lecture() -> nbformat.NotebookNode:
    """A notebook shaped like the course's: title, setup, sections, a long explanation, exercises."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        md("# 99 · A lecture\n\n**Learning goals.** " + words(30)),
        code("from utils.notebook import setup\nsetup(seed=0)", printed="versions\n"),
        code("import numpy as np\nmodel = load()"),
        md("## 1. The method\n\n" + words(40)),
        code("x = np.arange(3)\nprint(x)", printed="[0 1 2]\n"),
        md("Short reading of the result."),
        code("plot(x)", png=True),
        md(words(130, "long")),
        code("import scipy"),
        code("assert x.sum() == 3"),
        md("### A detail\n\n" + words(20)),
        md(words(90)),
        md(words(60)),
        md("## Exercises"),
        md("**Exercise 1.** Do it."),
        code("q1.check(None)", printed="not attempted yet\n"),
        md("## Summary\n\n" + words(50)),
    ]
    return nb


def without_slideshow(nb: dict) -> list[dict]:
    """The cells with metadata.slideshow removed (what the metadata script must leave alone)."""
    cells = copy.deepcopy(nb["cells"])
    for cell in cells:
        cell["metadata"].pop("slideshow", None)
    return cells


# --- the template and the assets -------------------------------------------------------------


def test_template_names_no_external_url():
    for path in (SCRIPTS / "templates" / "reveal_offline").iterdir():
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text, path
        assert not EXTERNAL.search(text), path


def test_exported_deck_loads_only_local_files(tmp_path):
    nb = lecture()
    meta.apply(nb)
    source = tmp_path / "99_lecture.ipynb"
    nbformat.write(nb, source)
    [deck] = build_slides.build([source], tmp_path / "slides")
    page = deck.read_text(encoding="utf-8")
    assert not EXTERNAL.search(page), EXTERNAL.search(page).group(0)
    for forbidden in ("unpkg.com", "cdnjs", "jsdelivr", "require.js", "jquery", "mermaid"):
        assert forbidden not in page.lower(), forbidden
    # every script and stylesheet the deck names exists next to it
    for target in re.findall(r"""(?:src|href)="([^"#:]+)\"""", page):
        assert (deck.parent / target).is_file(), target
    assert 'src="_assets/reveal.js/dist/reveal.js"' in page
    assert 'src="_assets/mathjax/es5/tex-svg.js"' in page
    assert (deck.parent / "index.html").read_text(encoding="utf-8").count(".slides.html") == 1
    # nbconvert's sections follow the metadata: a <section> per slide holding one per subslide;
    # title (1 + 1), section 1 (1 + 3), exercises (1 + 2), summary (1 + 1)
    assert page.count("<section") == 11


def test_assets_come_from_the_pinned_packages(tmp_path):
    build_slides.copy_assets(tmp_path)
    reveal = (tmp_path / build_slides.REVEAL_PREFIX / "dist" / "reveal.js").read_text(encoding="utf-8")
    assert re.search(r"reveal\.js \d+\.\d+\.\d+", reveal[:200])
    assert (tmp_path / build_slides.REVEAL_PREFIX / "LICENSE").is_file()
    assert (tmp_path / build_slides.REVEAL_PREFIX / "plugin" / "notes" / "notes.js").is_file()
    assert (tmp_path / build_slides.MATHJAX_URL).stat().st_size > 1_000_000  # the self-contained SVG build
    assert (tmp_path / build_slides.ASSETS / "mathjax" / "LICENSE").is_file()


def test_long_code_folds_in_the_deck(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [md("# T"), code("\n".join(f"a{i} = {i}" for i in range(20))), code("b = 1")]
    source = tmp_path / "t.ipynb"
    nbformat.write(nb, source)
    [deck] = build_slides.build([source], tmp_path / "out")
    assert deck.read_text(encoding="utf-8").count('<details class="slides-code">') == 1


# --- the metadata rules ----------------------------------------------------------------------


def test_rules_on_a_lecture():
    kinds = meta.slide_types(lecture())
    assert kinds == [
        "slide",  # title
        "skip",  # setup() call
        "skip",  # imports before the first section
        "slide",  # ## heading
        "-",
        "fragment",  # short reading right after a printed result
        "-",
        "notes",  # over WORD_LIMIT words, no heading
        "skip",  # import-only cell
        "skip",  # asserts that print nothing
        "subslide",  # ### heading
        "-",
        "subslide",  # 20 + 90 + 60 words would exceed the limit
        "slide",
        "subslide",  # **Exercise
        "-",
        "slide",
    ]


def test_apply_is_idempotent_and_touches_only_slideshow():
    nb = lecture()
    before = without_slideshow(nb)
    assert meta.apply(nb) is True
    assert meta.apply(nb) is False
    assert without_slideshow(nb) == before
    assert all(set(c.metadata["slideshow"]) == {"slide_type"} for c in nb.cells)


def test_old_metadata_is_recomputed_and_other_keys_kept():
    nb = lecture()
    nb.cells[4].metadata["slideshow"] = {"slide_type": "notes", "data": {"x": 1}}
    meta.apply(nb)
    assert nb.cells[4].metadata["slideshow"] == {"slide_type": "-", "data": {"x": 1}}


def test_tag_overrides_a_rule():
    nb = lecture()
    nb.cells[7].metadata["tags"] = ["slideshow-subslide"]
    assert meta.slide_types(nb)[7] == "subslide"


def test_tall_content_starts_a_subslide():
    nb = nbformat.v4.new_notebook()
    long_code = "\n".join(f"x{i} = {i}" for i in range(20))
    nb.cells = [md("## S"), code(long_code, printed="a\n" * 5), code(long_code, printed="b\n" * 5)]
    assert meta.slide_types(nb) == ["slide", "-", "subslide"]


def test_report_counts_leaf_slides_and_words():
    nb = lecture()
    meta.apply(nb)
    result = meta.report(nb)
    assert result.slides == len(meta.leaf_slides(nb)) == 7
    assert result.notes == 1 and result.skipped == 4
    assert result.longest_words <= meta.WORD_LIMIT and result.over_limit == []


def test_visible_words_ignore_markup():
    assert meta.visible_words("## A [link](http://x.org/a/b) to `code` and <b>bold</b> - | --- |") == 6


def test_png_size_reads_the_header():
    assert meta.png_size(TINY_PNG) == (3, 2)


def test_split_long_keeps_the_text_and_is_idempotent():
    nb = nbformat.v4.new_notebook()
    long_heading_cell = (
        "# Title\n\n" + words(80) + "\n\n" + words(80) + "\n- item " + words(70) + "\n\n## Next\n\n" + words(5)
    )
    nb.cells = [md(long_heading_cell), code("x = 1")]
    assert meta.split_long_cells(nb) == 1
    pieces = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert [p.split("\n")[0] for p in pieces][0] == "# Title" and any(p.startswith("## Next") for p in pieces)
    assert re.sub(r"\s+", " ", " ".join(pieces)) == re.sub(r"\s+", " ", long_heading_cell)
    assert all(meta.visible_words(p) <= meta.WORD_LIMIT for p in pieces)
    assert len({c.id for c in nb.cells}) == len(nb.cells)
    assert meta.split_long_cells(nb) == 0
    assert "".join(meta.split_paragraphs(long_heading_cell)) == long_heading_cell


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_course_notebook_gets_a_deck_and_only_metadata_changes(path):
    nb = nbformat.read(path, as_version=4)
    before = without_slideshow(nb)
    meta.apply(nb)
    assert without_slideshow(nb) == before
    assert meta.apply(nb) is False
    assert all(c.metadata["slideshow"]["slide_type"] in meta.SLIDE_TYPES for c in nb.cells)
    assert 10 <= meta.report(nb).slides <= 80


def test_cli_check_and_write(tmp_path, capsys):
    path = tmp_path / "lecture.ipynb"
    nbformat.write(lecture(), path)
    assert meta.main(["--check", str(path)]) == 1
    assert meta.main([str(path)]) == 0
    assert meta.main(["--check", str(path)]) == 0
    assert "7 slides" in capsys.readouterr().out


def test_jupyterlab_rise_reads_the_same_key():
    # RISE for JupyterLab reads cell.metadata.slideshow.slide_type, the key this script writes.
    spec = importlib.util.find_spec("jupyterlab_rise")
    assert spec is not None and spec.submodule_search_locations
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    bundles = " ".join(p.read_text(encoding="utf-8", errors="ignore") for p in static.glob("*.js"))
    assert 'getMetadata("slideshow")' in bundles and ".slide_type" in bundles
    for kind in ("subslide", "fragment", "skip", "notes"):
        assert f'"{kind}"' in bundles
