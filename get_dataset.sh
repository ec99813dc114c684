#!/usr/bin/env bash
# Fetch optional data for the course while online (Imagenette subset, COCO sample, Keras weights).
# The course works offline without any of it. Usage: ./get_dataset.sh --help
# A thin wrapper: the work is done by utils/data/download.py (pooch: checksums, atomic downloads).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -x "$here/.venv/bin/python" ]]; then
    python="$here/.venv/bin/python"
else
    python="$(command -v python3 || true)"
    if [[ -z "$python" ]]; then
        echo "get_dataset: no .venv and no python3 found; run 'make install' first" >&2
        exit 2
    fi
fi
cd "$here"
exec "$python" -m utils.data.download "$@"
