"""What a measurement ran on, and the machine's limits: the CPU's model and the features that decide
the course's claims, the GPU, memory in use (``peak_memory`` of a call), and the roofs of a roofline.

Three roofs, each the best of several runs at the thread count already set (``roofline_roofs``):
- compute: GFLOP/s of a large matrix product (``compute_roof``);
- cache read: GB/s of a reduction (``x.sum()``) over a buffer that fits in the last-level cache,
  whose size is read from the machine (``last_level_cache_bytes``);
- DRAM read: the same over a buffer far larger than that cache (``read_bandwidth``'s default).
Buffers are filled first (a never-written buffer reads from the zero page and looks impossibly
fast). Copy bandwidth is kept as another reference: a copy reads and writes every byte, so on many
CPUs it reaches well under the read rate. ``place_on_roofline`` says which roof bounds a workload.
"""
from __future__ import annotations

import datetime
import gc
import importlib.metadata
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from .. import validate
from ..cpu import CPU_FEATURES, cpu_features, cpu_name
from ..memory import measure_call, model_bytes
from .timing import time_fn

# features that compute in a 16-bit format natively (dot products or tiles); without them the
# CPU converts to float32 and back, and a 16-bit model pays for the conversion
NATIVE_16BIT = {"bfloat16": ("AVX512-BF16", "AMX-BF16", "BF16 (Arm)"),
                "float16": ("AVX512-FP16", "AMX-FP16", "FP16 (Arm)")}


def native_16bit(features: list[str] | None = None) -> dict[str, list[str]]:
    """{"bfloat16": [...], "float16": [...]}: the features of this CPU (or of ``features``, names as
    ``cpu_features`` gives them) that compute in each 16-bit format natively; an empty list means
    that format is converted to float32 in software."""
    have = set(cpu_features() if features is None else features)
    return {dtype: [f for f in names if f in have] for dtype, names in NATIVE_16BIT.items()}


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


def last_level_cache_bytes() -> int | None:
    """Size of the CPU's largest cache as the system reports it (Linux: sysfs, the caches of cpu0;
    macOS: sysctl), or None where it does not say."""
    sizes = []
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        m = re.fullmatch(r"(\d+)([KMG]?)", f.read_text().strip())
        if m:
            sizes.append(int(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)])
    if not sizes and platform.system() == "Darwin":
        for key in ("hw.l3cachesize", "hw.l2cachesize"):
            try:
                out = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=5).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                continue
            if out.isdigit() and int(out) > 0:
                sizes.append(int(out))
    return max(sizes) if sizes else None


def gpu_info(device: torch.device | str = "cuda") -> dict:
    """The card, its memory, the driver (from nvidia-smi when present) and torch's CUDA version."""
    props = torch.cuda.get_device_properties(device)
    driver = None
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=10).stdout.split("\n")[0].strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"gpu": props.name, "gpu_memory_gb": round(props.total_memory / 1e9, 1), "driver": driver,
            "torch_cuda": torch.version.cuda, "compute_capability": f"{props.major}.{props.minor}"}


def device_info(device: torch.device | str | None = None) -> dict:
    """Where a measurement ran: the device and its name, the CPU's model, features and cores, the
    GPU (card, driver, CUDA) when the device is one, torch and its thread count, and the date (UTC)."""
    device = torch.device(device or "cpu")
    info = {"device": str(device), "device_name": cpu_name(), "cpu": cpu_name(), "cpu_features": cpu_features(),
            "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "torch": torch.__version__,
            "platform": platform.platform(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if device.type == "cuda":
        info.update(gpu_info(device))
        info["device_name"] = info["gpu"]
    return info


def describe(info: dict, features: bool = True) -> str:
    """One line for titles and captions: "AMD EPYC (x86_64), 2 cores, AVX-512, ..., 1 thread", or
    with ``features=False`` the short "CPU AMD EPYC (x86_64), 1 thread"; a GPU: its card, driver, CUDA."""
    if not isinstance(info, dict):
        raise TypeError(f"info must be a dict from device_info(), got {type(info).__name__}")
    if info.get("gpu"):
        return f"{info['gpu']} (driver {info.get('driver') or '?'}, CUDA {info.get('torch_cuda')})"
    threads = info.get("threads")
    thr = f"{threads} thread{'s' if threads != 1 else ''}"
    cpu = info.get("cpu") or info.get("device_name")
    if not features:
        return f"CPU {cpu}, {thr}"
    feats = ", ".join(info.get("cpu_features") or []) or "no vector features reported"
    return f"{cpu}, {info.get('cpu_count')} cores, {feats}, {thr}"


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all CPUs since boot (Linux /proc/stat; steal counts as busy)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + fields[4]                         # idle + iowait
    return sum(fields) - idle, sum(fields)


class OtherLoad:
    """``with OtherLoad() as load: ...`` then ``load.fraction``: the share of all CPUs that other
    programs kept busy meanwhile (this process's own CPU time left out), or None where the system
    does not tell (not Linux). A thread-count measurement means little while it is high."""
    fraction: float | None = None

    def __enter__(self) -> "OtherLoad":
        self._ticks, self._own = _cpu_ticks(), sum(os.times()[:2])
        return self

    def __exit__(self, *exc) -> None:
        end = _cpu_ticks()
        if self._ticks is None or end is None or end[1] <= self._ticks[1]:
            return
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        busy, total = end[0] - self._ticks[0], end[1] - self._ticks[1]
        own = (sum(os.times()[:2]) - self._own) * hz
        self.fraction = min(1.0, max(0.0, (busy - own) / total))


def process_memory() -> dict:
    """This process's memory from the OS (psutil): resident set (RSS) and virtual size (VMS), in MB."""
    import psutil
    info = psutil.Process().memory_info()
    return {"rss_mb": info.rss / 2**20, "vms_mb": info.vms / 2**20}


def gpu_memory(device: torch.device | str | None = None) -> dict:
    """PyTorch's CUDA allocator: memory held by tensors (allocated), kept by the caching allocator
    (reserved) and the peak allocated since the last reset, in MB. Values are None without CUDA."""
    if not torch.cuda.is_available():
        return {"allocated_mb": None, "reserved_mb": None, "peak_allocated_mb": None}
    return {"allocated_mb": torch.cuda.memory_allocated(device) / 2**20,
            "reserved_mb": torch.cuda.memory_reserved(device) / 2**20,
            "peak_allocated_mb": torch.cuda.max_memory_allocated(device) / 2**20}


def model_memory(model: nn.Module) -> int:
    """Bytes of the model's parameters and buffers, each storage counted once (tied weights once)."""
    return model_bytes(model)["total"]


def _roof_buffer_bytes(device: torch.device) -> int:
    if device.type != "cpu":
        return 1 << 30
    return max(256 << 20, 8 * (last_level_cache_bytes() or 32 << 20))


def read_bandwidth(nbytes: int | None = None, device: torch.device | str = "cpu", num_runs: int = 7) -> float:
    """GB/s read by a reduction over a filled ``nbytes`` fp32 buffer (default: at least 8 times the
    last-level cache, 256 MiB or more), at the current thread count: the best of ``num_runs`` (a roof
    is what memory can deliver; slower runs were interrupted, as STREAM reports its best trial)."""
    device = torch.device(device)
    nbytes = validate.integer("nbytes", nbytes if nbytes is not None else _roof_buffer_bytes(device), 2**20)
    x = torch.ones(nbytes // 4, dtype=torch.float32, device=device)       # written: real pages
    times = time_fn(lambda: x.sum(), num_runs=validate.integer("num_runs", num_runs, 1), warmup=1, device=device)
    return x.numel() * 4 / min(times) / 1e9


def copy_bandwidth(nbytes: int = 256 * 2**20, device: torch.device | str = "cpu", num_runs: int = 5) -> float:
    """GB/s of traffic while copying a ``nbytes`` buffer (best of runs): a copy reads and writes
    every byte, so 2 * nbytes move per copy. A second reference beside ``read_bandwidth``."""
    nbytes = validate.integer("nbytes", nbytes, 2**20)
    src = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
    dst = torch.zeros_like(src)
    times = time_fn(lambda: dst.copy_(src), num_runs=validate.integer("num_runs", num_runs, 1), warmup=1, device=device)
    return 2 * src.numel() * 4 / min(times) / 1e9


def roofs(device: torch.device | str = "cpu") -> dict:
    """Both bandwidth references (GB/s), measured now, at the current thread count."""
    return {"read_GBps": read_bandwidth(device=device), "copy_GBps": copy_bandwidth(device=device),
            "threads": torch.get_num_threads()}


def fraction_of_roof(achieved_GBps: float, roof_GBps: float) -> float | None:
    """achieved / roof, or None when it exceeds 1: a figure above the roof is a measurement error
    (a cache-resident working set, a wrong byte count), never a result to print."""
    achieved_GBps = validate.number("achieved_GBps", achieved_GBps, 0.0)
    roof_GBps = validate.number("roof_GBps", roof_GBps, 0.0, low_open=True)
    f = achieved_GBps / roof_GBps
    return f if f <= 1.0 else None


def peak_memory(fn: Callable[[], object], device: torch.device | str = "cpu") -> dict:
    """Peak bytes of tensors allocated while ``fn()`` runs, above what was allocated before it.

    CUDA: the caching allocator's ``max_memory_allocated`` (reset first). CPU: PyTorch keeps no
    allocator statistics there, so every operator's outputs are counted (a ``TorchDispatchMode``)
    from their allocation until their last tensor is freed; scratch memory inside one operator
    is not seen. Returns ``{"peak_bytes", "method"}``; ``fn`` runs once, slower on CPU while counted."""
    gc.collect()
    peak = measure_call(fn, device)["peak_bytes"]
    cuda = torch.device(device).type == "cuda"
    return {"peak_bytes": peak, "method": "torch.cuda.max_memory_allocated" if cuda else "tensors counted at every operator (CPU)"}
