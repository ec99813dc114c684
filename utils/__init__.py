"""The course's shared code: data, models, explainers, metrics and plots.

Notebooks import from here instead of copying code between each other. Each module's docstring
says which notebook introduces it.
"""
import os
import re
import sys
import tempfile

__version__ = "0.1.0"

# TensorFlow's C++ start-up chatter (oneDNN notices, absl's "before InitializeLog" warning) ignores
# TF_CPP_MIN_LOG_LEVEL in 2.21 and lands in every notebook's output; students should not have to
# read it. The pattern matches only those known lines: anything else TensorFlow prints is kept.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_CHATTER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog|I0000 .*(oneDNN custom operations|"
    r"cpu_feature_guard)|To enable the following instructions|.*rebuild TensorFlow with the appropriate)"
)


def import_tensorflow_quietly():
    """Import TensorFlow with its known start-up chatter removed from stderr; return the module."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    try:
        saved = os.dup(2)
    except OSError:  # no usable file descriptor 2 (rare embedded setups): import normally
        import tensorflow

        return tensorflow
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        lines = captured.read().decode(errors="replace").splitlines()
    kept = [line for line in lines if line.strip() and not _CHATTER.match(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr)
    return tensorflow
