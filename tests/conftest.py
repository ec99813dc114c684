"""Shared pytest set-up: quiet TensorFlow, and tell nbval which outputs are not worth comparing."""
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the package is installed editable by `make`; this covers a bare pytest
    sys.path.insert(0, str(ROOT))

# nbval compares the outputs of cells marked `# NBVAL_CHECK_OUTPUT`. Progress bars (tqdm) and library
# warnings go to stderr and vary from run to run; HTML renderings duplicate the text/plain output.
NBVAL_SKIP = ("stderr", "text/html", "application/javascript")


def pytest_collection_modifyitems(items):
    for item in items:
        notebook = item.parent
        if type(notebook).__name__ == "IPyNbFile" and "stderr" not in notebook.skip_compare:
            notebook.skip_compare = tuple(notebook.skip_compare) + NBVAL_SKIP
