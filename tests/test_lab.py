"""`make lab` must give students a working JupyterLab: start the server the way the Makefile does
(without a browser, on a free port) and check that it answers."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_server_answers(tmp_path):
    port = _free_port()
    jupyter = Path(sys.executable).parent / "jupyter"
    cmd = [str(jupyter), "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.root_dir={ROOT}", "--ServerApp.token=", "--allow-root"]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline, answer = time.time() + 60, None
        while time.time() < deadline and answer is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2) as response:
                    answer = json.load(response)
            except OSError:
                time.sleep(0.5)
        assert answer is not None and "version" in answer, "JupyterLab did not answer within 60 s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/notebooks", timeout=5) as response:
            listing = json.load(response)
        assert any(item["name"] == "00_introduction.ipynb" for item in listing["content"])
    finally:
        server.terminate()
        server.wait(timeout=20)
