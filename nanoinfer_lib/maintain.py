"""Maintainers' commands, run in a checkout of the course (not needed to follow it):

    python -m nanoinfer_lib.maintain colab [--check] [NOTEBOOK ...]
        the Colab install line (first code cell) and the "Open in Colab" badges (first markdown cell,
        README table) written from the one setting, pyproject's ``[project.urls] Repository``
    python -m nanoinfer_lib.maintain chapter-times [NOTEBOOK ...] [--render-only]
        run each notebook under strict nbval as the test suite does, record its wall time and the
        hardware in docs/chapter_times.json, and render the table in docs/teaching.md from it
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from . import cli
from .course import BADGE_RE, COLAB_INSTALL, INSTALL_CELL, ROOT, colab_badge, repository_url
from .paths import atomic_write_text

NOTEBOOKS = ROOT / "notebooks"
TIMES_FILE = ROOT / "docs" / "chapter_times.json"
GUIDE = ROOT / "docs" / "teaching.md"
TABLE_START, TABLE_END = "<!-- chapter-times:start -->", "<!-- chapter-times:end -->"
INSTALL_RE = re.compile(r'%pip install -q "[^"]*"')
CLONE_RE = re.compile(r"git clone \S+")


def notebooks() -> list[Path]:
    """Every chapter notebook of the checkout, in order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


# ---- colab ----------------------------------------------------------------------------------------

def _with_badge(markdown: str, badge: str) -> str:
    """``markdown`` (a notebook's first cell) with ``badge`` on the line after its title."""
    if BADGE_RE.search(markdown):
        return BADGE_RE.sub(lambda _: badge, markdown, count=1)
    title, _, rest = markdown.partition("\n")
    return f"{title}\n\n{badge}\n" + (rest if rest.startswith("\n") else "\n" + rest)


def sync_notebook(path: Path, write: bool = True) -> list[str]:
    """Make a notebook's first markdown cell carry its badge and its first code cell install
    ``COLAB_INSTALL``; returns what was (or, with ``write=False``, would be) changed."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    changed = []
    md = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    src = "".join(md["source"])
    new = _with_badge(src, colab_badge(path.name))
    if new != src:
        md["source"] = new.splitlines(keepends=True)
        changed.append(f"{path.name}: badge in the first markdown cell")
    src = "".join(code["source"])
    new = (INSTALL_RE.sub(f'%pip install -q "{COLAB_INSTALL}"', src) if INSTALL_RE.search(src)
           else INSTALL_CELL.rstrip("\n"))
    if new != src:
        code["source"] = new.splitlines(keepends=True)
        changed.append(f"{path.name}: install line in the first code cell")
    if changed and write:
        atomic_write_text(path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return changed


def sync_readme(path: Path, paths: list[Path], write: bool = True) -> list[str]:
    """Put each notebook's badge in the README table row that links it (its second column), and the
    repository in the README's ``git clone`` line."""
    lines = path.read_text(encoding="utf-8").split("\n")
    changed = []
    clone = f"git clone {repository_url()}.git"
    for i, line in enumerate(lines):
        new = CLONE_RE.sub(clone, line)
        if new != line:
            lines[i] = new
            changed.append(f"{path.name}: the git clone line")
    for nb in paths:
        rows = [i for i, line in enumerate(lines) if line.startswith("|") and f"(notebooks/{nb.name})" in line]
        if not rows:
            changed.append(f"{path.name}: no table row links notebooks/{nb.name}: add one")
            continue
        line, badge = lines[rows[0]], colab_badge(nb.name)
        cells = line.split("|")                              # "", first cell, second cell, ..., ""
        if len(cells) > 3 and (not cells[2].strip() or BADGE_RE.fullmatch(cells[2].strip())):
            cells[2] = f" {badge} "                          # fill (or refresh) the Colab column
        else:
            cells.insert(2, f" {badge} ")
        new = "|".join(cells)
        if new != line:
            lines[rows[0]] = new
            changed.append(f"{path.name}: badge of {nb.name}")
    if changed and write:
        atomic_write_text(path, "\n".join(lines))
    return changed


# ---- chapter-times --------------------------------------------------------------------------------

NBVAL = ["--nbval", "--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "-p", "no:cacheprovider", "-q"]


def time_notebook(path: Path) -> dict:
    """Run one notebook under strict nbval, as the test suite does; its wall time and result."""
    cmd = [sys.executable, "-m", "pytest", str(path.relative_to(ROOT)), *NBVAL]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    summary = (out.stdout.strip().splitlines() or [""])[-1]
    return {"seconds": round(seconds, 1), "passed": out.returncode == 0, "pytest": summary.strip("= ")}


def render_table(times: dict) -> str:
    """The guide's run-time table (Markdown) from a chapter-times results file."""
    rows = ["| Chapter | Run time (strict nbval) | Result | Hardware | Measured |", "|---|---|---|---|---|"]
    for name, r in sorted(times["data"]["notebooks"].items()):
        minutes, seconds = divmod(round(r["seconds"]), 60)
        rows.append(f"| {name} | {minutes} min {seconds:02d} s | {'passed' if r['passed'] else 'FAILED'} "
                    f"({r['pytest']}) | {r['hardware']} | {r['date'][:10]}, commit {r['commit'] or '?'} |")
    return "\n".join(rows)


def render_guide(guide: str, times: dict) -> str:
    """``guide`` with the text between the table markers replaced by ``render_table(times)``."""
    start, end = guide.find(TABLE_START), guide.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"the guide has no {TABLE_START} ... {TABLE_END} markers")
    return guide[:start + len(TABLE_START)] + "\n" + render_table(times) + "\n" + guide[end:]


def chapter_times(paths: list[Path], render_only: bool = False) -> int:
    from .benchmark.hardware import describe, device_info
    from .benchmark.results import library_commit, make_results, read_results, write_results
    old = read_results(TIMES_FILE)
    entries = dict(old["data"]["notebooks"]) if old else {}
    if not render_only:
        hardware = describe(device_info("cpu")) + f", OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
        for path in paths:
            r = time_notebook(path)
            r.update(hardware=hardware, commit=library_commit(),
                     date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            entries[path.stem] = r
            print(f"{path.stem}: {r['seconds']:.1f} s, {r['pytest']}", flush=True)
        command = "python -m nanoinfer_lib.maintain chapter-times " + " ".join(p.name for p in paths)
        write_results(TIMES_FILE, make_results("chapter-times", {"notebooks": entries}, command=command, repeats=1))
    times = read_results(TIMES_FILE)
    if times is None:
        print(f"no {TIMES_FILE.name} yet: run without --render-only first", file=sys.stderr)
        return 1
    atomic_write_text(GUIDE, render_guide(GUIDE.read_text(encoding="utf-8"), times))
    return 0 if all(r["passed"] for r in entries.values()) else 1


def main(argv: list[str] | None = None) -> int:
    p = cli.ArgumentParser(prog="python -m nanoinfer_lib.maintain", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("colab", help="write the Colab install line and badges from pyproject's repository URL")
    c.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    c.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is out of date")
    t = sub.add_parser("chapter-times", help="time each notebook under strict nbval; render docs/teaching.md's table")
    t.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    t.add_argument("--render-only", action="store_true", help="only re-render the table from chapter_times.json")
    args = p.parse_args(argv)
    if not NOTEBOOKS.is_dir():
        print(f"{NOTEBOOKS} not found: these commands run in a checkout of the course", file=sys.stderr)
        return 2
    paths = [p.resolve() for p in args.notebooks] or notebooks()
    if args.command == "chapter-times":
        return chapter_times(paths, args.render_only)
    changes = [line for path in paths for line in sync_notebook(path, write=not args.check)]
    changes += sync_readme(ROOT / "README.md", paths, write=not args.check)
    print("\n".join(changes) if changes else f"{len(paths)} notebook(s) and the README agree with {repository_url()}")
    return 1 if args.check and changes else 0


if __name__ == "__main__":
    sys.exit(cli.guarded(main))
