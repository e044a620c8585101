"""Driving a notebook in JupyterLab through the page: open, run all, inspect outputs, move sliders.

Uses ``window.jupyterapp`` (the server runs with ``--LabApp.expose_app_in_browser=True``) to run
cells and read the notebook model, and the rendered DOM for what a learner sees.
"""
from __future__ import annotations

import re
import time

ANSI = re.compile(r"\x1b\[[0-9;]*m")     # colours in IPython tracebacks
WIDGET_PROBE_FOLLOW_UP = re.compile(r"No such comm: [0-9a-f-]+")

# JS: the NotebookPanel of the notebook at `path` (relative to the server root).
_PANEL = """
const panelOf = (path) => Array.from(window.jupyterapp.shell.widgets('main'))
    .find(w => w.context && w.context.path === path && w.content && w.sessionContext);
"""

_STATE = _PANEL + """
(path) => {
  const p = panelOf(path);
  if (!p) return null;
  const kernel = p.sessionContext.session && p.sessionContext.session.kernel;
  const cells = [];
  p.content.widgets.forEach((c, i) => {
    if (c.model.type !== 'code') return;
    const outs = [];
    for (let j = 0; j < c.model.outputs.length; j++) outs.push(c.model.outputs.get(j).toJSON());
    cells.push({index: i, source: c.model.sharedModel.getSource(), count: c.model.executionCount,
                outputs: outs.map(o => ({type: o.output_type, ename: o.ename, evalue: o.evalue,
                                         mimes: Object.keys(o.data || {}), name: o.name,
                                         text: o.output_type === 'stream' ? String(o.text).slice(0, 300) : ''}))});
  });
  return {status: kernel ? kernel.status : null, cells: cells};
}
"""

_RENDERED = _PANEL + """
(path) => {
  const p = panelOf(path);
  const widgets = [], images = [], tracebacks = [];
  p.content.widgets.forEach((c, i) => {
    if (c.model.type !== 'code') return;
    const children = Array.from(c.outputArea.node.children).filter(e => e.classList.contains('jp-OutputArea-child'));
    for (let j = 0; j < c.model.outputs.length; j++) {
      const mimes = Object.keys(c.model.outputs.get(j).toJSON().data || {});
      const el = children[j];
      const text = el ? el.innerText : '';
      if (text.includes('Traceback (most recent call last)')) tracebacks.push(`cell ${i}: ` + text.slice(0, 1500));
      if (mimes.includes('application/vnd.jupyter.widget-view+json')) {
        const view = el && el.querySelector('.jupyter-widgets');
        const r = view ? view.getBoundingClientRect() : {width: 0, height: 0};
        const ok = !!view && r.width > 0 && r.height > 0 && !text.includes('Error displaying widget')
                   && !text.includes('Loading widget');
        widgets.push({cell: i, ok: ok, text: text.slice(0, 200)});
      } else if (mimes.includes('image/png') || mimes.includes('image/jpeg')) {
        const img = el && el.querySelector('img');
        images.push({cell: i, ok: !!img && img.complete && img.naturalWidth > 0});
      }
    }
    // tracebacks printed inside widgets (an Output widget shows a callback's exception)
    c.outputArea.node.querySelectorAll('.widget-output .jp-OutputArea-output').forEach(el => {
      if (el.innerText.includes('Traceback (most recent call last)')) tracebacks.push(`cell ${i} (widget): ` + el.innerText.slice(0, 1500));
    });
  });
  return {widgets: widgets, images: images, tracebacks: tracebacks};
}
"""


class NotebookFailure(AssertionError):
    pass


class LabNotebook:
    """One notebook open in its own JupyterLab tab."""

    def __init__(self, page, base_url: str, path: str):
        self.page, self.base_url, self.path = page, base_url, path

    # ---- opening and running ------------------------------------------------------------------
    def open(self, timeout: float = 60.0) -> None:
        # ?reset: a fresh workspace, so tabs from an earlier notebook do not reopen (and start kernels)
        self.page.goto(f"{self.base_url}/lab/tree/{self.path}?reset", wait_until="domcontentloaded")
        self.page.wait_for_function(_PANEL + """(path) => {
            if (!window.jupyterapp) return false;
            const p = panelOf(path);
            const k = p && p.sessionContext.session && p.sessionContext.session.kernel;
            return !!(p && p.context.isReady && k && k.status === 'idle');
        }""", arg=self.path, timeout=timeout * 1000, polling=250)
        # Record what the kernel writes to stderr or raises outside any cell (an exception in a widget
        # callback is logged to stderr on the comm message, which no cell shows).
        self.page.evaluate(_PANEL + """(path) => {
            const k = panelOf(path).sessionContext.session.kernel;
            window.__kernelComplaints = [];
            k.iopubMessage.connect((_, msg) => {
              const t = msg.header.msg_type, c = msg.content;
              if (t === 'error') window.__kernelComplaints.push(c.ename + ': ' + c.evalue + '\\n' + (c.traceback || []).join('\\n'));
              if (t === 'stream' && c.name === 'stderr') window.__kernelComplaints.push(c.text);
            });
        }""", self.path)

    def kernel_complaints(self) -> list[str]:
        """Everything the kernel sent to stderr or raised since the notebook opened, in order, less the
        widget manager's probe: on connecting, JupyterLab's widget manager opens a comm to ipywidgets'
        ``jupyter.widget.control`` target (to restore widgets), and when that reaches the kernel before the
        notebook imported ipywidgets, ipykernel logs "No such comm target registered" and then "No such
        comm" for each message on that comm. The race is JupyterLab's, and no cell's output shows it."""
        out, probed = [], False
        for text in (ANSI.sub("", t) for t in self.page.evaluate("() => window.__kernelComplaints.slice()")):
            if text.strip() == "No such comm target registered: jupyter.widget.control":
                probed = True
            elif not (probed and WIDGET_PROBE_FOLLOW_UP.fullmatch(text.strip())):
                out.append(text)
        return out

    def state(self) -> dict:
        return self.page.evaluate(_STATE, self.path)

    def run_all(self, timeout: float) -> dict:
        """Run every cell (JupyterLab's Run All) and wait until all ran and the kernel is idle.
        Raises NotebookFailure at the first error output, or when time runs out."""
        self.page.evaluate(_PANEL + """(path) => {
            const p = panelOf(path);
            window.jupyterapp.shell.activateById(p.id);
            window.jupyterapp.commands.execute('notebook:run-all-cells');
        }""", self.path)
        deadline = time.monotonic() + timeout
        while True:
            st = self.state()
            errors = self.error_outputs(st)
            if errors:
                raise NotebookFailure(f"{self.path}: error output(s): {errors}")
            pending = [c["index"] for c in st["cells"] if c["count"] is None and c["source"].strip()]
            if not pending and st["status"] == "idle":
                return st
            if time.monotonic() > deadline:
                raise NotebookFailure(f"{self.path}: not finished after {timeout:.0f}s; cells not run: "
                                      f"{pending[:10]}, kernel {st['status']}")
            time.sleep(0.25)

    @staticmethod
    def error_outputs(st: dict) -> list[str]:
        return [f"cell {c['index']}: {o['ename']}: {o['evalue']}"
                for c in st["cells"] for o in c["outputs"] if o["type"] == "error"]

    # ---- what the learner sees ----------------------------------------------------------------
    def check_rendered(self, timeout: float = 30.0) -> dict:
        """Every widget output shows a widget (not 'Loading widget...' or 'Error displaying widget'),
        every image output an image, and no output area shows a traceback."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.page.evaluate(_RENDERED, self.path)
            if r["tracebacks"]:
                raise NotebookFailure(f"{self.path}: traceback shown in the page:\n" + "\n---\n".join(r["tracebacks"]))
            bad_widgets = [w for w in r["widgets"] if not w["ok"]]
            bad_images = [i["cell"] for i in r["images"] if not i["ok"]]
            if not bad_widgets and not bad_images:
                return dict(widgets=len(r["widgets"]), images=len(r["images"]))
            if time.monotonic() > deadline:
                raise NotebookFailure(f"{self.path}: outputs not rendered after {timeout:.0f}s: widgets "
                                      f"{bad_widgets}, images in cells {bad_images}")
            time.sleep(0.25)

    def kernel_status(self) -> str | None:
        return self.page.evaluate(_PANEL + """(path) => {
            const p = panelOf(path); const k = p && p.sessionContext.session && p.sessionContext.session.kernel;
            return k ? k.status : null; }""", self.path)

    def execute_silently(self, code: str) -> None:
        """Run code in the notebook's kernel without adding a cell (used to break a callback on purpose)."""
        self.page.evaluate(_PANEL + """async ([path, code]) => {
            const p = panelOf(path);
            await p.sessionContext.session.kernel.requestExecute({code: code, silent: false}).done;
        }""", [self.path, code])

    def shutdown_kernel(self) -> None:
        self.page.evaluate(_PANEL + """async (path) => {
            const p = panelOf(path); if (p) await p.sessionContext.shutdown(); }""", self.path)


class Explorer:
    """A widget with sliders and an output region, located by a CSS selector for its root."""

    def __init__(self, nb: LabNotebook, root: str, output_selectors: dict[str, str]):
        self.last_update_s: float | None = None    # seconds from the last key press to a visible change
        self.nb, self.page = nb, nb.page
        self.root = self.page.locator(root).first
        self.output_selectors = output_selectors

    def slider(self, description: str):
        label = self.page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"))
        return self.root.locator(".widget-slider", has=label).first

    def readout(self, description: str) -> str:
        return self.slider(description).locator(".widget-readout").inner_text().strip()

    def snapshot(self) -> dict[str, str]:
        """The visible output: the inner HTML of each output region (numbers, bars, colours, text)."""
        return {name: self.root.locator(sel).first.inner_html() for name, sel in self.output_selectors.items()}

    def hidden_slider_text(self) -> list[str]:
        """Slider labels and value readouts a learner cannot read in full: text wider than its box,
        or an end of the box covered or clipped away (e.g. by a container narrower than the slider)."""
        return self.root.evaluate("""root => {
            // as a learner sees it: no horizontal scrolling inside the widget, sliders on screen
            root.querySelectorAll('*').forEach(e => { if (e.scrollLeft) e.scrollLeft = 0; });
            root.scrollIntoView({block: 'start', inline: 'nearest'});
            const visible = (el) => {
              const b = el.getBoundingClientRect(), y = b.top + b.height / 2;
              const shows = (x) => { const hit = document.elementFromPoint(x, y); return !!hit && (hit === el || el.contains(hit)); };
              return el.scrollWidth <= el.clientWidth && shows(b.left + 2) && shows(b.right - 2);
            };
            const bad = [];
            root.querySelectorAll('.widget-slider').forEach(s => {
              const label = s.querySelector('.widget-label'), readout = s.querySelector('.widget-readout');
              if (!visible(label)) bad.push('label ' + JSON.stringify(label.innerText));
              if (!visible(readout)) bad.push(label.innerText + ' readout ' + JSON.stringify(readout.innerText));
            });
            return bad; }""")

    def press(self, description: str, key: str, times: int = 1) -> None:
        handle = self.slider(description).locator(".noUi-handle").first
        handle.focus()
        for _ in range(times):
            handle.press(key)

    def move(self, description: str, key: str, times: int, timeout: float = 30.0) -> tuple[dict, dict, str]:
        """Press ``key`` ``times`` on the slider's handle; wait for the outputs to change and settle.

        Returns (before, after, new readout). Raises AssertionError when the readout does not move,
        when the outputs do not change within ``timeout``, or when the kernel reports an exception
        or writes to stderr meanwhile (a callback that raised)."""
        before, readout0 = self.snapshot(), self.readout(description)
        self.last_update_s = None
        n_complaints = len(self.nb.kernel_complaints())
        self.press(description, key, times)
        pressed = time.monotonic()
        readout = self.readout(description)
        assert readout != readout0, f"slider {description!r} did not move ({readout0} after {times}x {key})"
        deadline = time.monotonic() + timeout
        last, stable_since = None, None
        while True:
            complaints = self.nb.kernel_complaints()[n_complaints:]
            if complaints:
                raise AssertionError(f"a callback raised or warned after moving {description!r}:\n"
                                     + "".join(complaints)[-3000:])
            now = self.snapshot()
            changed = now != before
            if changed and self.last_update_s is None:
                self.last_update_s = time.monotonic() - pressed      # key presses -> output visibly changed
            idle = self.nb.kernel_status() == "idle"
            if changed and idle and now == last:
                if stable_since is None:
                    stable_since = time.monotonic()
                elif time.monotonic() - stable_since > 0.6:
                    return before, now, readout
            else:
                stable_since = None
            last = now
            if time.monotonic() > deadline:
                raise AssertionError(f"moving {description!r} from {readout0} to {readout} did not change the "
                                     f"visible output within {timeout:.0f}s (changed: {changed}, kernel idle: {idle})")
            time.sleep(0.2)
