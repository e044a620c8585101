"""The JupyterLab server of the browser test, and its settings (shared by conftest.py and the test)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = Path(os.environ.get("NANOINFER_E2E_NOTEBOOK_DIR") or REPO / "notebooks")
CHROMIUM = os.environ.get("NANOINFER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1280, "height": 1000}   # a laptop-sized JupyterLab window, file browser open


def _browser_available() -> bool:
    import importlib.util
    return os.access(CHROMIUM, os.X_OK) and importlib.util.find_spec("playwright") is not None


# NANOINFER_E2E=1: always run (a missing browser is an error); =0: never; unset: when a browser is here
ENABLED = {"1": True, "0": False}.get(os.environ.get("NANOINFER_E2E", ""), None)
if ENABLED is None:
    ENABLED = _browser_available()

# JupyterLab settings for a quiet, deterministic page: no news or update toasts, and every cell kept
# in the page (no virtual scrolling), so widgets and plots below the fold render too.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def artifacts_dir() -> Path:
    """Where screenshots and the server log go: $NANOINFER_E2E_ARTIFACTS or a temp folder."""
    d = Path(os.environ.get("NANOINFER_E2E_ARTIFACTS") or Path(tempfile.gettempdir()) / "nanoinfer-e2e-artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_notebook(src: Path, dst: Path) -> None:
    """Copy a notebook without its outputs and execution counts, so all the page shows is what ran."""
    nb = json.loads(src.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    dst.write_text(json.dumps(nb, indent=1), encoding="utf-8")


class JupyterLab:
    """``python -m jupyterlab`` serving ``root`` on 127.0.0.1:<free port> with no token."""

    def __init__(self, root: Path, home: Path, log_path: Path):
        self.root, self.home, self.log_path = root, home, log_path
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        settings = self.home / "lab-settings"
        for rel, value in LAB_SETTINGS.items():
            path = settings / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(self.home / "config"),
                   JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
                   JUPYTER_DATA_DIR=str(self.home / "data"), PYTHONUNBUFFERED="1")
        env.setdefault("OMP_NUM_THREADS", "1")
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={self.root}",
               "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={self.home / 'workspaces'}", "--LabServerApp.open_browser=False"]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer on {self.url} within {timeout:.0f}s:\n{self.log_tail()}")

    def log_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def stop(self) -> None:
        """Stop the server and its kernels (the whole process group), politely then firmly."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        try:   # kernels are in the same session and group; make sure none outlives the server
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()
        self.proc = None
