"""Notebook set-up shared by every chapter: device detection, seeding, versions; and the one
setting from which the Colab install line and the "Open in Colab" badges are made: the repository
URL, ``[project.urls] Repository`` in pyproject.toml (``python -m nanoinfer_lib.maintain colab``
writes them into the notebooks and the README).
"""
from __future__ import annotations

import importlib.metadata
import os
import random
import re
import sys
from pathlib import Path

import numpy as np
import torch

from .benchmark.hardware import COURSE_PACKAGES, describe, device_info, versions

IN_COLAB = "google.colab" in sys.modules


def pick_device() -> torch.device:
    """The fastest device present: CUDA, then Apple's MPS, then CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (all devices) so sampled demos repeat."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(seed: int = 0) -> torch.device:
    """Seed everything, print versions and hardware, and return the best device.

    Demos whose printed output is checked run on CPU anyway; the device is for measurements.
    """
    seed_everything(seed)
    device = pick_device()
    print(" | ".join(f"{k} {v}" for k, v in versions().items()))
    print(f"device: {device} | CPU: {describe(device_info('cpu'))}")
    if device.type == "cuda":
        print(f"GPU: {describe(device_info(device))}")
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, colab: {IN_COLAB}")
    return device




# ---- the repository URL and what is made from it -------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]          # the checkout (pyproject.toml, README.md, notebooks/)
PACKAGE = "nanoinfer_lib"
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def _url_from_pyproject(path: Path) -> str | None:
    """``[project.urls] Repository`` of a pyproject.toml (a few lines: tomllib is Python >= 3.11)."""
    section = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", path.read_text(encoding="utf-8"), re.M | re.S)
    m = section and re.search(r'^\s*Repository\s*=\s*"([^"]+)"', section.group(1), re.M)
    return m.group(1) if m else None


def repository_url(pyproject: Path | None = ROOT / "pyproject.toml") -> str:
    """The course's repository, read from ``pyproject.toml`` in a checkout, else from the installed
    package's metadata (its ``Project-URL: Repository``). The only place the URL is written down."""
    if pyproject is not None and pyproject.is_file():
        url = _url_from_pyproject(pyproject)
        if url:
            return url.rstrip("/")
    try:
        for entry in importlib.metadata.metadata(PACKAGE).get_all("Project-URL") or []:
            label, _, url = entry.partition(",")
            if label.strip().lower() == "repository":
                return url.strip().rstrip("/")
    except importlib.metadata.PackageNotFoundError:
        pass
    raise RuntimeError("no repository URL: pyproject.toml has no [project.urls] Repository and the installed "
                       f"{PACKAGE} carries no Project-URL")


def _github_path(url: str) -> str:
    m = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(\.git)?", url)
    if not m:
        raise ValueError(f"repository URL must be https://github.com/OWNER/REPO for Colab, got {url!r}")
    return m.group(1)


def colab_url(notebook: str, url: str | None = None, branch: str = "main") -> str:
    """Colab's address for ``notebooks/<notebook>`` (a file name, with or without ``.ipynb``)."""
    name = Path(notebook).name
    name = name if name.endswith(".ipynb") else name + ".ipynb"
    return f"https://colab.research.google.com/github/{_github_path(url or repository_url())}/blob/{branch}/notebooks/{name}"


def colab_badge(notebook: str, url: str | None = None) -> str:
    """The Markdown "Open in Colab" badge for one notebook."""
    return f"[![Open in Colab]({COLAB_BADGE_IMAGE})]({colab_url(notebook, url)})"


def colab_install(url: str | None = None) -> str:
    """What the notebooks' first cell installs on Colab: the course from its repository."""
    return f"{PACKAGE} @ git+{url or repository_url()}.git"


def install_cell(url: str | None = None) -> str:
    """The notebooks' first code cell: it installs the course library on Colab, and nowhere else."""
    return f"""# Runs only on Google Colab: installs the course library there (elsewhere it is installed already).
import sys
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    %pip install -q "{colab_install(url)}"
"""


def __getattr__(name: str) -> str:
    """``COLAB_INSTALL`` and ``INSTALL_CELL``, made on first use (they read the repository URL)."""
    if name == "COLAB_INSTALL":
        return colab_install()
    if name == "INSTALL_CELL":
        return install_cell()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


BADGE_RE = re.compile(r"\[!\[Open in Colab\]\([^)]*\)\]\([^)]*\)")   # a badge, as colab_badge writes it
