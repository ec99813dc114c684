"""Sphinx configuration of the course website (`make site`, see scripts/build_site.py).

The pages are the committed notebooks with their committed outputs: myst-nb reads them and never
runs them (nb_execution_mode = "off"). Everything a page loads is in the built folder, so the site
builds and reads without a network: the theme (sphinx-book-theme on pydata-sphinx-theme) ships its
fonts and scripts, Sphinx's search runs in the browser on its own index, and MathJax 3 (the SVG
build, one file, from the PyPI package django-static-mathjax) is copied next to the pages instead
of Sphinx's default CDN address. scripts/build_site.py stages the sources (notebooks, the home page
made from the README's course map, thumbnails) and calls Sphinx with this folder as its -c.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

project = "Knowing What and Why"
author = "the course authors"
copyright = "the course authors, MIT licence"

extensions = ["myst_nb"]

# Notebooks are shown as committed: never executed at build time.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # notebooks number their sections "## 1 ·", not by level

exclude_patterns = ["_build", "**.ipynb_checkpoints"]

html_theme = "sphinx_book_theme"
html_title = project
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "navigation_with_keys": False,
    # The home page's course map needs the width more than a one-entry page outline.
    "secondary_sidebar_items": {"**": ["page-toc"], "index": []},
}
# An explicit default colour mode: with none, the theme logs a console error on a first visit.
html_context = {"default_mode": "light"}
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_show_sourcelink = False
html_last_updated_fmt = None

# MathJax 3 from the built folder, not a CDN (copied there at the end of the build, below).
MATHJAX_FILES = ("es5/tex-svg.js", "LICENSE")
mathjax_path = "mathjax/es5/tex-svg.js"  # relative to _static


def mathjax_source() -> Path:
    """MathJax 3 as installed by django-static-mathjax (its top-level package is `mathjax`)."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("package django-static-mathjax is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"


def copy_mathjax(app, exception) -> None:
    """After a successful HTML build, put the MathJax file the pages load into _static/mathjax."""
    if exception is not None or app.builder.format != "html":
        return
    for name in MATHJAX_FILES:
        dest = Path(app.outdir) / "_static" / "mathjax" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(mathjax_source() / name, dest)


def setup(app) -> dict:
    """Register the MathJax copy step."""
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
