"""Remove progress-bar noise from executed notebooks before they are committed, and name the kernel
as JupyterLab does.

Libraries draw tqdm bars on stderr (lime 0.2.0.1's image explainer has no argument to switch its
bar off; only the environment variable ``TQDM_DISABLE=1`` does), and a bar redrawn a hundred
times makes a committed notebook hard to read on a code-hosting site. This drops stderr outputs
that contain only progress-bar redraws; every other output (warnings included) is kept. nbval
never compares stderr (tests/conftest.py), so this changes nothing that the tests check.

It also sets the kernelspec's display name to the installed kernel's, "Python 3 (ipykernel)":
with any other name JupyterLab rewrites it on open and shows the notebook as modified.

    python scripts/clean_notebook_outputs.py notebooks/*.ipynb
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
_BAR = re.compile(r"^\s*(\S.*?:\s*)?\d+%\|.*\|\s*\d+/\d+ \[.*\]\s*$")


def is_progress_only(text: str) -> bool:
    """True when every non-empty line (split at carriage returns too) is a tqdm progress bar
    (a stderr output of whitespace only, the bar's last line break, counts too)."""
    parts = [p for p in re.split(r"[\r\n]+", text) if p.strip()]
    return all(_BAR.match(p) for p in parts)


def clean(path: Path) -> int:
    """Drop progress-only stderr outputs from the notebook at ``path``; return how many were dropped."""
    nb = nbformat.read(path, as_version=4)
    changed = nb.metadata.get("kernelspec") != KERNELSPEC
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    dropped = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = [o for o in cell.outputs
                if not (o.output_type == "stream" and o.name == "stderr" and is_progress_only(o.text))]
        dropped += len(cell.outputs) - len(kept)
        cell.outputs = kept
    if dropped or changed:
        nbformat.write(nb, path)
    return dropped


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: dropped {clean(Path(name))} progress-bar outputs")
