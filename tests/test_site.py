"""The course website (scripts/build_site.py, docs/site/conf.py): configuration, staging, and one
small build of a synthetic notebook (a few seconds). The full site is checked in a real browser by
tests/test_browser.py."""

from __future__ import annotations

import base64
import io
import re
import runpy
import sys
from pathlib import Path

import nbformat
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_site  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def png(width: int, height: int, colour=(200, 30, 30)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def figure_output(width: int = 640, height: int = 320, colour=(200, 30, 30)) -> dict:
    return nbformat.v4.new_output("display_data", data={"image/png": png(width, height, colour), "text/plain": "fig"})


def tiny_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# 98 · Tiny\n\nA formula $a^2 + b^2$, [the README](../README.md) and [99](99_other.ipynb).\n\n"
            "<details><summary>Hint</summary>\n\nUse the **logit**.\n\n</details>"
        ),
        nbformat.v4.new_code_cell("plot()", outputs=[figure_output()], execution_count=1),
        nbformat.v4.new_code_cell(
            "q1.hint()",
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="Hint: the logit, not the softmax\n")],
            execution_count=2,
        ),
        nbformat.v4.new_code_cell("raise SystemExit('executed!')"),  # never run: execution is off
    ]
    return nb


def test_config_never_executes_and_loads_nothing_remote():
    conf = runpy.run_path(str(ROOT / "docs" / "site" / "conf.py"))
    assert conf["nb_execution_mode"] == "off"
    assert "myst_nb" in conf["extensions"]
    assert "://" not in conf["mathjax_path"] and conf["mathjax_path"].endswith("tex-svg.js")
    assert conf["mathjax_source"]().joinpath(*conf["MATHJAX_FILES"][0].split("/")).is_file()
    assert not conf["html_theme_options"].get("use_repository_button")
    for css in (ROOT / "docs" / "site" / "_static").glob("*.css"):
        assert "http" not in css.read_text(encoding="utf-8"), css


def test_readme_course_map_lists_every_notebook():
    title, paragraph, table = build_site.readme_parts((ROOT / "README.md").read_text(encoding="utf-8"))
    assert title and paragraph
    entries = {p.stem: build_site.Entry(p.stem, p.stem, f"thumbs/{p.stem}.png") for p in NOTEBOOKS}
    page = build_site.course_map(table, entries)
    for stem in entries:
        assert f"[![{stem}](thumbs/{stem}.png)](notebooks/{stem}.ipynb)" in page, stem
    assert "run time" not in page


def test_course_map_without_a_table_falls_back_to_titles():
    entries = {"05_x": build_site.Entry("05_x", "05 · X", None)}
    page = build_site.course_map([], entries)
    assert "[05 · X](notebooks/05_x.ipynb)" in page


def test_readme_parts_finds_the_notebook_table():
    readme = (
        "# Course\n\nFirst paragraph\nstill first.\n\nSecond.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "| # | notebook | run time |\n|---|---|---|\n| 00 | [intro](notebooks/00_intro.ipynb) | 3 s |\n"
    )
    title, paragraph, table = build_site.readme_parts(readme)
    assert (title, paragraph) == ("Course", "First paragraph still first.")
    assert table[0] == "| # | notebook | run time |" and len(table) == 3
    page = build_site.course_map(table, {"00_intro": build_site.Entry("00_intro", "00", None)})
    assert "\\#" in page and "3 s" not in page and "[intro](notebooks/00_intro.ipynb)" in page


def test_fold_answers_tags_hint_and_solution_cells_only():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in ("q1.hint()", "q2.solution( )", "q1.check(x)", "hint = 1")]
    assert build_site.fold_answers(nb) == 2
    assert [c.metadata.get("tags", []) for c in nb.cells] == [["hide-output"], ["hide-output"], [], []]
    assert build_site.fold_answers(nb) == 0


def test_thumbnail_is_the_first_figure_or_the_tagged_one(tmp_path):
    nb = nbformat.v4.new_notebook()
    first = nbformat.v4.new_code_cell("a", outputs=[figure_output(800, 400, (255, 0, 0))])
    second = nbformat.v4.new_code_cell("b", outputs=[figure_output(100, 100, (0, 0, 255))])
    nb.cells = [first, second]
    build_site.write_thumbnail(build_site.first_png(nb), tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as image:
        assert image.size == (build_site.THUMB_WIDTH, 160) and image.getpixel((5, 5))[0] > 200
    second.metadata["tags"] = ["thumbnail"]
    build_site.write_thumbnail(build_site.first_png(nb), tmp_path / "b.png")
    with Image.open(tmp_path / "b.png") as image:
        assert image.size == (100, 100) and image.getpixel((5, 5))[2] > 200  # never enlarged
    assert build_site.first_png(nbformat.v4.new_notebook()) is None


def test_links_the_site_does_not_hold_become_text(tmp_path):
    (tmp_path / "repo" / "data").mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(
        "[next](01_b.ipynb), [readme](../README.md), [web](https://example.org), [top](#top), "
        "![photo](../data/cat.png) ![gone](../data/none.png)"
    )]
    image_source = build_site.ROOT / "data" / "images"
    photo = next(image_source.glob("*.jpg"), None) if image_source.is_dir() else None
    if photo is None:
        pytest.skip("no bundled photo to link")
    nb.cells[0].source = nb.cells[0].source.replace("../data/cat.png", f"../data/images/{photo.name}")
    dropped = build_site.localise_links(nb, build_site.ROOT / "notebooks", tmp_path / "src", {"01_b"})
    assert dropped == ["../README.md", "../data/none.png"]
    text = nb.cells[0].source
    assert "[next](01_b.ipynb)" in text and "[web](https://example.org)" in text and "[top](#top)" in text
    assert "readme" in text and "README.md" not in text
    assert (tmp_path / "src" / "data" / "images" / photo.name).is_file()


# sphinx-book-theme 1.4 and myst-parser 5.2 read a transform's `.app`, which Sphinx 9 deprecates
# (removed in Sphinx 11); the pinned versions work, and the warning is theirs to fix.
SPHINX_11_DEPRECATION = "ignore::sphinx.deprecation.RemovedInSphinx11Warning"


@pytest.mark.filterwarnings(SPHINX_11_DEPRECATION)
def test_small_site_build_is_offline_and_folds_hints(tmp_path):
    source = tmp_path / "98_tiny.ipynb"
    nbformat.write(tiny_notebook(), source)
    status = build_site.build([source], tmp_path / "site", tmp_path / "work", jobs="1")
    assert status == 0
    page = (tmp_path / "site" / "notebooks" / "98_tiny.html").read_text(encoding="utf-8")
    home = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    for html in (page, home):
        assert not EXTERNAL.search(html), EXTERNAL.search(html).group(0)
    assert "executed!" in page and "SystemExit" in page  # the source is shown, nothing was run
    assert re.search(r'<details class="[^"]*hide[^"]*">', page)  # q1.hint()'s output folded by myst-nb
    assert "<details><summary>Hint</summary>" in page  # a markdown <details> block as written
    assert 'src="../_static/mathjax/es5/tex-svg.js"' in page
    assert (tmp_path / "site" / "_static" / "mathjax" / "es5" / "tex-svg.js").is_file()
    assert 'href="98_tiny.html"' in home.replace("notebooks/", "") and "thumbs/98_tiny.png" not in home
    assert re.search(r'<img [^>]*src="_images/98_tiny[^"]*\.png"', home)  # the thumbnail, copied by Sphinx
    assert (tmp_path / "site" / "search.html").is_file() and (tmp_path / "site" / "searchindex.js").is_file()
    assert not (tmp_path / "jupyter_execute").exists()  # myst-nb's scratch folder stays in the work folder
    assert build_site.build([source], tmp_path / "site", tmp_path / "work", jobs="1") == 0  # a rebuild replaces it


def test_build_refuses_to_replace_a_folder_that_is_not_a_site(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match="not a site"):
        build_site.build([], tmp_path, tmp_path / "work")
    assert (tmp_path / "notes.txt").read_text() == "mine"
