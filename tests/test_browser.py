"""Every slide deck and every page of the website, opened in a real headless Chromium.

Builds the decks (`scripts/build_slides.py`) and the site (`scripts/build_site.py`) from the committed
notebooks into a temporary folder (the notebooks are never written). Each page is opened
with the browser's network switched off and must show: no console error (SEVERE log entry), no
request to anything but local files, every <img> decoded (naturalWidth > 0) and every internal link
resolving (the file exists, and so does the #anchor). Decks must start (reveal.js marks `.reveal`
ready), hold 10 to 80 slides, and every slide must fit one 1280x720 screen (the deck shrinks a taller
slide, but not below MIN_FIT) with at most MAX_WORDS words of visible markdown. A screenshot of each
deck's first slide and each page's first screen (1280x720) goes to test-artifacts/browser/, with
summary.json (counts, slide words, timings).

Skipped, with the reason, where Chromium or chromedriver is missing (Debian: `apt-get install
chromium chromium-driver`, which .ci/run does).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import build_site  # noqa: E402
import build_slides  # noqa: E402

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
CHROMEDRIVER = shutil.which("chromedriver")
try:
    import selenium  # noqa: F401

    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False

pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="no headless browser: install Debian's chromium and chromium-driver "
        "(apt-get install chromium chromium-driver; .ci/run does) to open the slides and the site",
    ),
    pytest.mark.skipif(not HAVE_SELENIUM, reason="selenium is not installed (it is in requirements.txt)"),
    # sphinx-book-theme 1.4 and myst-parser 5.2 read a transform's `.app`, deprecated in Sphinx 9.
    pytest.mark.filterwarnings("ignore::sphinx.deprecation.RemovedInSphinx11Warning"),
]

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
STEMS = [p.stem for p in NOTEBOOKS]
SITE_PAGES = ["index", "search", "genindex"] + [f"notebooks/{stem}" for stem in STEMS]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
WIDTH, HEIGHT = 1280, 720
LOAD_TIMEOUT = 30.0
MIN_SLIDES, MAX_SLIDES = 10, 80
MAX_WORDS = 125  # "no slide over ~120 words": scripts/add_slide_metadata.py splits at 120
MIN_FIT = 0.7  # the smallest shrink factor the deck template applies to a tall slide
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    f"--window-size={WIDTH},{HEIGHT}",
)
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:", "chrome:", "chrome-extension:", "devtools:")

SUMMARY: dict = {"decks": {}, "pages": {}, "build_seconds": {}}

# Per leaf slide: its natural height, the factor the deck shrank it by to fit the canvas, and the words
# of its visible markdown (speaker notes excluded), and the factor its figures were shrunk by (1: not).
SLIDE_STATS_JS = """
Reveal.configure({transition: 'none', backgroundTransition: 'none'});
const out = [];
for (const s of Reveal.getSlides()) {
  const i = Reveal.getIndices(s);
  Reveal.slide(i.h, i.v, 0);
  const words = [...s.querySelectorAll('.jp-MarkdownCell')].filter(c => !c.closest('aside'))
    .map(c => c.innerText.split(/\\s+/).filter(w => /[A-Za-z0-9]/.test(w)).length)
    .reduce((a, b) => a + b, 0);
  out.push([Number(s.dataset.naturalHeight || s.scrollHeight), Number(s.dataset.fit || 1), words,
            Number(s.dataset.figuresShrunk || 1)]);
}
Reveal.slide(0, 0, 0);
return out;
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The decks and the site, built once for the module."""
    base = tmp_path_factory.mktemp("browser")
    start = time.perf_counter()
    build_slides.build(NOTEBOOKS, base / "slides")
    SUMMARY["build_seconds"]["slides"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    # one Sphinx process: -j would fork this pytest process, which may hold TensorFlow's threads
    assert build_site.build(NOTEBOOKS, base / "site", base / "site_work", jobs="1") == 0
    SUMMARY["build_seconds"]["site"] = round(time.perf_counter() - start, 1)
    return {"slides": base / "slides", "site": base / "site"}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium for the module, network off, console and network events logged."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(LOAD_TIMEOUT * 2)
    screen = {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", screen)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0},
    )
    yield driver
    driver.quit()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "summary.json").write_text(json.dumps(SUMMARY, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _wait(driver, script: str, what: str, timeout: float = LOAD_TIMEOUT) -> None:
    """Poll a JavaScript condition until it is true, else fail naming what did not happen."""
    deadline = time.monotonic() + timeout
    while not driver.execute_script(script):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def _ids_in(path: Path, cache: dict[Path, set[str]]) -> set[str]:
    """The id and name attributes of an HTML file (what a #fragment may point at)."""
    if path not in cache:
        text = path.read_text(encoding="utf-8", errors="replace")
        cache[path] = set(re.findall(r"""\s(?:id|name)=["']([^"']+)["']""", text))
    return cache[path]


def check_page(driver, path: Path, ready_js: str, screenshot: Path) -> dict:
    """Open a built page and check console, requests, images and links; returns what it counted."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get_log("performance")
    driver.get(path.as_uri())
    _wait(driver, "return document.readyState === 'complete'", f"{path.name} to load")
    _wait(driver, ready_js, f"{path.name} to start")
    _wait(driver, "return [...document.images].every(i => i.complete)", f"the images of {path.name}")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(screenshot))

    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors on {path.name}: {errors}"

    requests = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.add(message["params"]["request"]["url"])
    external = sorted(u for u in requests if not u.startswith(LOCAL_SCHEMES))
    assert not external, f"{path.name} asked the network for {external}"

    images = driver.execute_script("return [...document.images].map(i => [i.naturalWidth, i.src.slice(0, 80)])")
    broken = [src for width, src in images if not width]
    assert not broken, f"images that did not decode on {path.name}: {broken}"

    hrefs = driver.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.href)")
    ids_js = "return [...document.querySelectorAll('[id],[name]')].map(e => e.id || e.name)"
    page_ids = set(driver.execute_script(ids_js))
    cache: dict[Path, set[str]] = {path: page_ids}
    missing, internal, outside = [], 0, 0
    for href in hrefs:
        url = urlparse(href)
        if url.scheme in ("http", "https", "mailto", "javascript"):
            outside += 1
            continue
        internal += 1
        target = Path(unquote(url.path))
        if not target.is_file():
            missing.append(href)
        elif url.fragment and not {url.fragment, unquote(url.fragment)} & _ids_in(target, cache):
            missing.append(href)  # a browser matches the fragment as written, then percent-decoded
    assert not missing, f"internal links of {path.name} that do not resolve: {missing[:10]}"
    return {"images": len(images), "internal_links": internal, "external_links": outside, "requests": len(requests)}


@pytest.mark.parametrize("stem", STEMS)
def test_deck(built, browser, stem):
    deck = built["slides"] / f"{stem}.slides.html"
    counts = check_page(
        browser, deck, "return !!document.querySelector('.reveal.ready')", ARTIFACTS / "slides" / f"{stem}.png"
    )
    total = browser.execute_script("return Reveal.getTotalSlides()")
    stats = browser.execute_script(SLIDE_STATS_JS)
    fits = [fit for _, fit, _, _ in stats]
    SUMMARY["decks"][stem] = {
        **counts,
        "slides": total,
        "longest_slide_words": max(words for _, _, words, _ in stats),
        "slides_shrunk_to_fit": sum(fit < 1 for fit in fits),
        "smallest_fit": min(fits),
        "tallest_natural_px": max(height for height, _, _, _ in stats),
        "slides_with_figures_shrunk": sum(scale < 1 for _, _, _, scale in stats),
    }
    assert MIN_SLIDES <= total <= MAX_SLIDES, f"{stem}: {total} slides"
    wordy = [(n, words) for n, (_, _, words, _) in enumerate(stats, 1) if words > MAX_WORDS]
    assert not wordy, f"{stem}: slides over {MAX_WORDS} words (slide number, words): {wordy}"
    too_tall = [(n, height) for n, (height, _, _, _) in enumerate(stats, 1) if height * MIN_FIT > HEIGHT + 1]
    assert not too_tall, f"{stem}: slides taller than {HEIGHT / MIN_FIT:.0f} px even shrunk (slide, px): {too_tall}"


@pytest.mark.parametrize("page", SITE_PAGES)
def test_site_page(built, browser, page):
    path = built["site"] / f"{page}.html"
    assert path.is_file(), f"the site has no {page}.html"
    name = page.replace("/", "__")
    ready = "return !!document.querySelector('.bd-main, main')"
    counts = check_page(browser, path, ready, ARTIFACTS / "site" / f"{name}.png")
    SUMMARY["pages"][page] = counts
    if page.startswith("notebooks/"):
        nb = nbformat.read(ROOT / f"{page}.ipynb", as_version=4)
        figures = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
        assert counts["images"] >= figures, f"{page}: {counts['images']} images for {figures} figures"
        from utils.exercises import all_exercises

        exercises = all_exercises().get(f"nb{Path(page).name[:2]}", [])
        hints = browser.execute_script(
            "return [...document.querySelectorAll('details')].filter(d => !d.open && "
            "d.querySelector('summary') && d.querySelector('summary').innerText.trim() === 'Hint').length")
        SUMMARY["pages"][page]["folded_hints"] = hints
        assert hints >= len(exercises), f"{page}: {hints} folded hints for {len(exercises)} exercises"


def test_site_search_works_offline(built, browser):
    page = built["site"] / "search.html"
    browser.get(page.as_uri() + "?q=Shapley")
    _wait(browser, "return document.querySelectorAll('#search-results li').length > 0", "search results for 'Shapley'")
    hits = browser.execute_script("return [...document.querySelectorAll('#search-results li a')].map(a => a.href)")
    SUMMARY["search_hits_for_Shapley"] = len(hits)
    assert any("06_shap" in hit for hit in hits), hits
