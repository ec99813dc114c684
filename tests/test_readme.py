"""The README's measured figures must match what the committed notebooks record."""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from notebook_times import notebook_times  # noqa: E402

README = (ROOT / "README.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| (\d\d) \| \[[^]]+\]\(notebooks/(\d\d_\w+)\.ipynb\) \|.*\| (\d+) s \| (\d+) s \|$", re.M)


def test_course_map_lists_every_notebook_with_its_recorded_time():
    recorded = notebook_times()
    rows = {name: (int(total), int(slowest)) for _, name, total, slowest in ROW.findall(README)}
    assert sorted(rows) == sorted(recorded), "the README's course map must list every notebook once"
    for name, (total, slowest) in rows.items():
        true_total, true_slowest = recorded[name]
        assert abs(total - true_total) <= max(2, 0.1 * true_total), (name, total, true_total)
        assert abs(slowest - true_slowest) <= max(2, 0.1 * true_slowest), (name, slowest, true_slowest)


def test_readme_states_the_slowest_cell():
    slowest = max(s for _, s in notebook_times().values())
    match = re.search(r"the slowest cell takes (\d+) s", README)
    assert match, "the README says how long the slowest cell takes"
    assert abs(int(match.group(1)) - slowest) <= max(2, 0.1 * slowest), (match.group(1), slowest)


def test_course_map_thumbnails_are_current_and_shown():
    """docs/thumbnails/ holds each notebook's first figure as committed (scripts/thumbnails.py), and the
    README's course map shows each of them."""
    from thumbnails import FOLDER, main

    assert main(["--check"]) == 0, "stale thumbnails: run python scripts/thumbnails.py"
    for path in sorted(FOLDER.glob("*.png")):
        assert f"(docs/thumbnails/{path.name})" in README, path.name
