"""The course in a real JupyterLab in headless Chromium: the sampling notebook runs all its cells
from a clean copy without error outputs, its widgets render and the explorer's sliders change the
distribution and the sampled text it shows; every other notebook's committed outputs render
without errors. Runs only with NANOINFER_E2E=1 (see conftest.py).

Extra switches: NANOINFER_E2E_RUN_ALL=1 (run every notebook's cells in the browser, ~5 min),
NANOINFER_E2E_ARTIFACTS=DIR (screenshots, server log; default a temp folder),
NANOINFER_E2E_UPDATE_DOCS=1 (also write the README's screenshot docs/images/sampling_explorer.png),
NANOINFER_E2E_BREAK_CALLBACK=1 (break the explorer's callback before the slider test, which must
then fail: a check of this test itself).
"""
from __future__ import annotations

import json
import os

import pytest
from lab_env import NOTEBOOKS, REPO, VIEWPORT, artifacts_dir
from lab_page import Explorer, LabNotebook

NOTEBOOK_FILES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
SAMPLING = "03_sampling_strategies.ipynb"
RUN_ALL = os.environ.get("NANOINFER_E2E_RUN_ALL") == "1"
RUN_TIMEOUT = float(os.environ.get("NANOINFER_E2E_RUN_TIMEOUT", "150"))   # seconds per notebook
DOCS_SCREENSHOT = REPO / "docs" / "images" / "sampling_explorer.png"

# The explorer of nanoinfer_lib.widgets.SamplingExplorer: its root and output regions (CSS classes it sets).
EXPLORER = ".nanoinfer-explorer"
EXPLORER_OUTPUTS = {"summary": ".nanoinfer-summary", "distribution": ".nanoinfer-chart",
                    "text": ".nanoinfer-continuation"}
INTERACT = ".nanoinfer-interact"      # interact_sampling(...): sliders and a printed report
# Code run in the live kernel to make every explorer update raise, as a broken callback would.
BREAK_CALLBACK = """
import nanoinfer_lib.widgets as _w
def _broken_update(self):
    raise RuntimeError("explorer callback broken on purpose by the browser test")
_w.SamplingExplorer.update = _broken_update
"""


@pytest.fixture(scope="module")
def open_notebook(lab_server, browser_context):
    """open_notebook(name) opens a notebook in a new tab, once per notebook, and checks what renders.

    The sampling notebook (and every notebook with NANOINFER_E2E_RUN_ALL=1) starts from a copy
    without outputs and runs all its cells (Run All) in the browser; it stays open, with its kernel,
    for the explorer tests. The other notebooks open as committed (executed, the outputs nbval
    replays) to check that those outputs render; running them all here would take about 5 minutes
    on 2 cores instead of under 2."""
    done: dict[str, tuple[LabNotebook, dict]] = {}
    failed: dict[str, str] = {}

    def open_(name: str) -> tuple[LabNotebook, dict]:
        if name in failed:
            pytest.fail(f"{name} failed in JupyterLab earlier: {failed[name]}")
        if name in done:
            return done[name]
        execute = name == SAMPLING or RUN_ALL
        page = browser_context.new_page()
        nb = LabNotebook(page, lab_server.url, ("run/" if execute else "saved/") + name)
        try:
            nb.open()
            st = nb.run_all(timeout=RUN_TIMEOUT) if execute else nb.state()
            rendered = nb.check_rendered()
        except Exception as e:
            page.screenshot(path=str(artifacts_dir() / f"{name}.failure.png"))
            failed[name] = str(e)[:2000]
            raise AssertionError(f"{e}\n--- server log (tail) ---\n{lab_server.log_tail(30)}") from e
        result = dict(state=st, executed=execute, complaints=nb.kernel_complaints(), **rendered)
        if name != SAMPLING:           # free the CPU and memory for the next notebook
            nb.shutdown_kernel()
            page.close()
        done[name] = (nb, result)
        return done[name]

    return open_


@pytest.mark.parametrize("name", NOTEBOOK_FILES)
def test_notebook_in_jupyterlab(open_notebook, name):
    """No error outputs, every code cell ran, every plot and widget renders."""
    _, r = open_notebook(name)
    cells = [c for c in r["state"]["cells"] if c["source"].strip()]
    assert cells, f"{name} has no code cells"
    assert all(c["count"] is not None for c in cells), f"{name}: not every code cell ran"
    assert not LabNotebook.error_outputs(r["state"])
    n_images = sum(("image/png" in o["mimes"]) for c in cells for o in c["outputs"])
    assert r["images"] == n_images
    if r["executed"]:
        assert not r["complaints"], f"{name}: the kernel wrote to stderr: {r['complaints']}"
    if name == SAMPLING:
        assert r["widgets"] >= 2, "the sampling notebook should show its explorer and interact widget"


def _explorer(open_notebook) -> Explorer:
    if SAMPLING not in NOTEBOOK_FILES:
        pytest.fail(f"{SAMPLING} is missing from {NOTEBOOKS}")
    nb, _ = open_notebook(SAMPLING)
    explorer = Explorer(nb, EXPLORER, EXPLORER_OUTPUTS)
    assert nb.page.locator(EXPLORER).count() >= 1, f"no {EXPLORER} widget in {SAMPLING}"
    explorer.root.scroll_into_view_if_needed()
    return explorer


def test_sampling_explorer_sliders_change_distribution_and_text(open_notebook):
    explorer = _explorer(open_notebook)
    if os.environ.get("NANOINFER_E2E_BREAK_CALLBACK") == "1":
        explorer.nb.execute_silently(BREAK_CALLBACK)
    update_s = {}
    for description, presses in (("temperature", 6), ("top-p", 10)):   # down 0.30 and 0.10 (steps 0.05, 0.01)
        before, after, readout = explorer.move(description, "ArrowLeft", presses)
        update_s[f"{description} x{presses}"] = explorer.last_update_s
        assert after["distribution"] != before["distribution"], f"{description}: the distribution did not change"
        assert after["text"] != before["text"], f"{description}: the sampled text did not change"
        summary = explorer.root.locator(EXPLORER_OUTPUTS["summary"]).inner_text()
        assert f"{description} {readout}" in summary, f"summary does not show {description} {readout}: {summary!r}"
    (artifacts_dir() / "slider_update_seconds.json").write_text(json.dumps(update_s, indent=1))
    print("seconds from the last key press to a visible change:", update_s)
    hidden = explorer.hidden_slider_text()
    explorer.page.screenshot(path=str(artifacts_dir() / "sampling_explorer_page.png"))
    # the README's picture: a viewport tall enough for the whole explorer (JupyterLab scrolls inside)
    explorer.page.set_viewport_size({"width": 1280, "height": 1800})
    explorer.root.scroll_into_view_if_needed()
    shot = artifacts_dir() / "sampling_explorer.png"
    explorer.root.screenshot(path=str(shot), animations="disabled")
    explorer.page.set_viewport_size(VIEWPORT)
    assert not hidden, f"slider text a learner cannot read in a {VIEWPORT['width']}px-wide JupyterLab: {hidden}"
    if os.environ.get("NANOINFER_E2E_UPDATE_DOCS") == "1":
        _save_small_png(shot, DOCS_SCREENSHOT)


def test_interact_explorer_slider_changes_report(open_notebook):
    """The compact ipywidgets.interactive explorer reprints its report when a slider moves."""
    nb, _ = open_notebook(SAMPLING)
    if nb.page.locator(INTERACT).count() == 0:
        pytest.skip(f"{SAMPLING} shows no interact_sampling widget")
    interact = Explorer(nb, INTERACT, {"report": ".widget-output"})
    interact.root.scroll_into_view_if_needed()
    before, after, readout = interact.move("temperature", "ArrowLeft", 4)      # 1.00 -> 0.80
    assert f"temperature {readout}" in interact.root.locator(".widget-output").inner_text()


def test_broken_explorer_callback_is_detected(open_notebook):
    """The slider check above fails when the explorer's callback raises (checked on the live page)."""
    explorer = _explorer(open_notebook)
    explorer.nb.execute_silently(BREAK_CALLBACK)
    with pytest.raises(AssertionError, match="callback raised") as failure:
        explorer.move("temperature", "ArrowRight", 1, timeout=10)
    assert "broken on purpose" in str(failure.value)


def _save_small_png(src, dst) -> None:
    """Write a palette PNG (a few tens of kB) for the README."""
    from PIL import Image
    dst.parent.mkdir(parents=True, exist_ok=True)
    img = Image.open(src).convert("RGB")
    img.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)
