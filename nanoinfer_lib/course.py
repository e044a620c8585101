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


def versions() -> dict[str, str]:
    """Versions of the packages the course depends on (missing ones are left out)."""
    out = {"python": platform.python_version()}
    for name in ("nanoinfer_lib", "torch", "tiktoken", "numpy", "matplotlib", "ipywidgets"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def setup(seed: int = 0) -> torch.device:
    """Seed everything, print versions and hardware, and return the best device.

    Demos whose printed output is checked run on CPU anyway; the device is for measurements.
    """
    seed_everything(seed)
    device = pick_device()
    print(" | ".join(f"{k} {v}" for k, v in versions().items()))
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device: {device} ({name}), torch threads: {torch.get_num_threads()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, colab: {IN_COLAB}")
    return device


# What the notebooks' first cell installs on Colab (and nowhere else): the course from its repository.
COLAB_INSTALL = "nanoinfer_lib @ git+https://github.com/nanoinfer/nanoinfer.git"
