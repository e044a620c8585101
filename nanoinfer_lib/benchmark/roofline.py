"""The roofline of decoding (chapter 04): this machine's three roofs, and the roof that bounds a step.

A step that does F floating-point operations and reads N bytes has an arithmetic intensity
I = F / N (FLOPs per byte). It can run no faster than min(compute roof, I x bandwidth), where the
bandwidth is that of the memory its bytes come from: the last-level cache when its working set fits
in that cache, DRAM when it does not. Below the ridge intensity (compute / bandwidth) a step is
memory-bound: only fewer bytes or more work per byte (a larger batch) make it faster. Above it,
compute-bound. A measured point above its roof means a wrong byte or FLOP count, or a wrong roof:
``place_on_roofline`` never reports such a fraction as a result.
"""
from __future__ import annotations

import torch

from .. import validate
from .hardware import fraction_of_roof, last_level_cache_bytes, read_bandwidth
from .timing import time_fn

CACHE_SHARE = 0.5          # the cache roof reads a buffer of half the last-level cache: resident, yet large


def compute_roof(n: int = 1024, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
                 num_runs: int = 5) -> float:
    """GFLOP/s of an (n, n) @ (n, n) matrix product (2 n^3 FLOPs), best of ``num_runs``, at the
    current thread count: what the machine's arithmetic can deliver to a large, dense product."""
    n = validate.integer("n", n, 64)
    x = torch.randn(n, n, device=device).to(dtype)
    y = torch.randn(n, n, device=device).to(dtype)
    times = time_fn(lambda: x @ y, num_runs=validate.integer("num_runs", num_runs, 1), warmup=1, device=device)
    return 2 * n ** 3 / min(times) / 1e9


def cache_size(device: torch.device | str = "cpu") -> int | None:
    """Bytes of the last-level cache: the CPU's (as the OS reports it) or the GPU's L2."""
    device = torch.device(device)
    if device.type == "cuda":
        return getattr(torch.cuda.get_device_properties(device), "L2_cache_size", None) or None
    return last_level_cache_bytes()


def roofline_roofs(device: torch.device | str = "cpu", quick: bool = False) -> dict:
    """The three roofs, measured now at the current thread count: ``compute_GFLOPs`` (fp32 matrix
    product), ``cache_GBps`` (a read of ``CACHE_SHARE`` of the last-level cache) and ``dram_GBps``
    (a read of a buffer at least 8 times that cache, 256 MiB or more), with the sizes used.
    quick: small buffers and one run each, for tests (the figures are then no roofs)."""
    device = torch.device(device)
    llc = cache_size(device)
    cache_buf = max(2**20, int((llc or 32 * 2**20) * CACHE_SHARE)) // 2**20 * 2**20
    dram_buf = (16 << 20) if quick else max(256 << 20, 8 * (llc or 32 << 20))
    runs = 1 if quick else 7
    return {"compute_GFLOPs": compute_roof(256 if quick else 1024, device=device, num_runs=runs),
            "cache_GBps": read_bandwidth(cache_buf, device=device, num_runs=1 if quick else 25),
            "dram_GBps": read_bandwidth(dram_buf, device=device, num_runs=runs),
            "llc_bytes": llc, "cache_buffer_bytes": cache_buf, "dram_buffer_bytes": dram_buf,
            "threads": torch.get_num_threads(), "device": str(device)}


def memory_roof(roofs: dict, working_set_bytes: int) -> tuple[str, float]:
    """("cache", GB/s) when the working set fits in the last-level cache, else ("DRAM", GB/s)."""
    working_set_bytes = validate.integer("working_set_bytes", working_set_bytes, 0)
    llc = roofs.get("llc_bytes")
    if llc is not None and working_set_bytes <= llc:
        return "cache", roofs["cache_GBps"]
    return "DRAM", roofs["dram_GBps"]


def place_on_roofline(flops: float, nbytes: int, seconds: float, roofs: dict, working_set_bytes: int | None = None) -> dict:
    """Where a step that does ``flops`` FLOPs and reads ``nbytes`` bytes in ``seconds`` sits.

    Returns intensity (FLOPs/byte), memory ("cache" or "DRAM": where its bytes come from, by its
    working set, default ``nbytes``), bound ("compute" or that memory: the roof that limits it at
    this intensity), attainable_GFLOPs (that roof), achieved_GFLOPs and achieved_GBps, fraction
    (achieved / attainable; None when above 1, which is a measurement error, never a result) and
    ridge (the intensity where this memory's roof meets the compute roof)."""
    flops = validate.number("flops", flops, 0.0, low_open=True)
    nbytes = validate.integer("nbytes", nbytes, 1)
    seconds = validate.number("seconds", seconds, 0.0, low_open=True)
    memory, bw = memory_roof(roofs, nbytes if working_set_bytes is None else working_set_bytes)
    intensity = flops / nbytes
    compute = roofs["compute_GFLOPs"]
    attainable = min(compute, intensity * bw)
    achieved = flops / seconds / 1e9
    return {"intensity": intensity, "memory": memory, "bound": "compute" if compute <= intensity * bw else memory,
            "attainable_GFLOPs": attainable, "achieved_GFLOPs": achieved, "achieved_GBps": nbytes / seconds / 1e9,
            "fraction": fraction_of_roof(achieved, attainable), "ridge": compute / bw}


def compute_bound_batch(flops_per_row: float, weight_bytes: int, row_bytes: int, roofs: dict,
                        max_batch: int = 4096) -> int | None:
    """The smallest batch size B at which a decode step of B rows turns compute-bound: its intensity
    B F / (W + B R) (F FLOPs and R bytes of KV cache per row, W bytes of weights read once for all
    rows) reaches the ridge of the memory it reads from. None if not up to ``max_batch`` (the cache's
    bytes grow with B too, so the intensity levels off at F / R)."""
    for B in range(1, validate.integer("max_batch", max_batch, 1) + 1):
        nbytes = weight_bytes + B * row_bytes
        _, bw = memory_roof(roofs, nbytes)
        if B * flops_per_row / nbytes >= roofs["compute_GFLOPs"] / bw:
            return B
    return None
