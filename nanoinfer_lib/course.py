"""Notebook set-up shared by every chapter: device detection, seeding, versions."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import sys

import numpy as np
import torch

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


COURSE_PACKAGES = ("nanoinfer_lib", "torch", "tiktoken", "numpy", "matplotlib", "ipywidgets")


def versions(names: tuple[str, ...] = COURSE_PACKAGES) -> dict[str, str]:
    """Python's version and those of ``names`` (missing packages are left out)."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def setup(seed: int = 0) -> torch.device:
    """Seed everything, print versions and hardware, and return the best device.

    Demos whose printed output is checked run on CPU anyway; the device is for measurements.
    """
    from .benchmark.hardware import describe, device_info
    seed_everything(seed)
    device = pick_device()
    print(" | ".join(f"{k} {v}" for k, v in versions().items()))
    print(f"device: {device} | CPU: {describe(device_info('cpu'))}")
    if device.type == "cuda":
        print(f"GPU: {describe(device_info(device))}")
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, colab: {IN_COLAB}")
    return device


# What the notebooks' first cell installs on Colab (and nowhere else): the course from its repository.
COLAB_INSTALL = "nanoinfer_lib @ git+https://github.com/nanoinfer/nanoinfer.git"
