"""Fixtures for the real-browser test: a JupyterLab server on a free port of 127.0.0.1 and headless
Debian Chromium driven by playwright, both started once for the module and always shut down.

The test runs when a browser is here (Chromium at $NANOINFER_CHROMIUM or /usr/bin/chromium, from
``bash tests/e2e/install_browser.sh``, and the playwright package) and takes about two minutes.
``NANOINFER_E2E=1`` makes it run always, a missing browser being an error, not a skip (CI sets it);
``NANOINFER_E2E=0`` turns it off.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from lab_env import CHROMIUM, CHROMIUM_ARGS, ENABLED, NOTEBOOKS, VIEWPORT, JupyterLab, artifacts_dir, copy_notebook


def pytest_collection_modifyitems(config, items):
    if ENABLED:
        return
    skip = pytest.mark.skip(reason="real-browser test: no browser here (bash tests/e2e/install_browser.sh), "
                                   "or NANOINFER_E2E=0")
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def lab_home():
    d = Path(tempfile.mkdtemp(prefix="nanoinfer-e2e-"))
    (d / "notebooks").mkdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def lab_server(lab_home):
    """A running JupyterLab serving copies of the course notebooks: run/ without outputs, saved/ as committed."""
    for folder in ("run", "saved"):
        (lab_home / "notebooks" / folder).mkdir()
    for nb in sorted(NOTEBOOKS.glob("*.ipynb")):
        copy_notebook(nb, lab_home / "notebooks" / "run" / nb.name)      # to run all cells
        shutil.copy(nb, lab_home / "notebooks" / "saved" / nb.name)      # as committed
    server = JupyterLab(lab_home / "notebooks", lab_home, artifacts_dir() / "jupyterlab.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser_context(lab_home):
    """Headless Debian Chromium (no downloaded browser) with a fresh user-data dir."""
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} not found: run `bash tests/e2e/install_browser.sh` (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser test needs playwright: pip install -e '.[dev]'")
    pw = sync_playwright().start()
    try:
        context = pw.chromium.launch_persistent_context(
            str(lab_home / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport=VIEWPORT, device_scale_factor=1)
        try:
            yield context
        finally:
            context.close()
    finally:
        pw.stop()
