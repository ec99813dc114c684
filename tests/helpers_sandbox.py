"""Run a command without root's power over file permissions, or with a tiny full disk.

Root (as in CI) can write read-only folders, so read-only tests drop every capability with
``setpriv``; full-disk tests mount a small tmpfs in a private mount namespace (``unshare -rm``).
Each helper skips the test, with the reason, where this machine cannot do it.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

DROP_CAPS = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]


def why_not(command: list[str]) -> str | None:
    """None if ``command`` succeeds here, else why not."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return str(err)
    return None if result.returncode == 0 else (result.stderr.strip() or f"exit {result.returncode}")


def read_only_dir(parent: Path) -> Path:
    """A folder (mode 555) that commands run under :data:`DROP_CAPS` cannot write; restore it with chmod."""
    folder = parent / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    why = why_not(DROP_CAPS + ["sh", "-c", f'! touch "{folder}/probe" 2>/dev/null'])
    if why:
        folder.chmod(0o755)
        pytest.skip(f"cannot drop the capability to write read-only folders here ({why})")
    return folder


def full_disk(folder: Path, size: str = "24k", after: str = "") -> list[str]:
    """A command prefix that runs its command with a ``size`` tmpfs mounted on ``folder`` (private to
    it), then the shell code ``after`` (e.g. list what is left) before the tmpfs goes; keeps the exit status."""
    folder.mkdir(parents=True, exist_ok=True)
    script = f'mount -t tmpfs -o size={size} tmpfs "{folder}" || exit 99; "$@"; status=$?; {after or ":"}; exit $status'
    prefix = ["unshare", "-rm", "sh", "-c", script, "sh"]
    why = why_not(prefix + ["true"])
    if why:
        pytest.skip(f"no private mount namespace with a small tmpfs here ({why})")
    return prefix
