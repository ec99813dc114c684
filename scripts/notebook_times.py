"""Run times of the committed notebooks, read from the execution timestamps nbconvert records in each cell.

The README's course map quotes these times; ``tests/test_readme.py`` checks that it still does.

    python scripts/notebook_times.py          # one line per notebook: total and slowest cell, in seconds
"""
from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _seconds(start: str, end: str) -> float:
    parse = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def cell_times(path: Path) -> list[float]:
    """Seconds each executed code cell of the notebook at ``path`` took, in cell order (0 when not recorded)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    times = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        stamps = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            times.append(_seconds(stamps["iopub.execute_input"], stamps["shell.execute_reply"]))
        else:
            times.append(0.0)
    return times


def notebook_times(folder: Path = NOTEBOOKS) -> dict[str, tuple[float, float]]:
    """``{notebook stem: (total seconds, slowest cell's seconds)}`` for every committed notebook."""
    result = {}
    for path in sorted(folder.glob("*.ipynb")):
        times = cell_times(path)
        result[path.stem] = (sum(times), max(times, default=0.0))
    return result


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else NOTEBOOKS
    for name, (total, slowest) in notebook_times(folder).items():
        print(f"{name}: {total:.0f} s in all, slowest cell {slowest:.0f} s")
